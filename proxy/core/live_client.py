"""Live client commands after `session.start` (pure; part of `proxy.core.live`).

docs/protocol-notes.md#openai-live-mapping, docs/live.md for what is lossy:

- `session.update`: the Responses settings (tools, tool_choice, instructions) change Inworld's
  session; `session.updated` follows Inworld's answer. `triggers` and a change of delegation
  type are refused;
- `session.input_audio.mute` / `.unmute`: acknowledged at once; while muted, appends go up as
  silence of the same length (`proxy.core.live.LiveTranslator.append`);
- `session.instructions.append`: the Inworld instructions grow; `session.thinking.append` and
  `session.commentary.append`: items (`proxy.core.live_items`), commentary also asks for a
  response; each is acknowledged (`*.appended`) at the current timeline position;
- `response.item.create` / `response.create`: Responses delegation only; a `response.create`
  while a call waits for its output is refused (`function_call_outputs_required`);
- `session.close`: `session.usage.updated`, `session.closed`, close 1000.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from proxy.core.commands import CloseClient, ToClient, ToUpstream
from proxy.core.live_events import LiveCommand, appended, session_event, simple_event
from proxy.core.live_items import ItemRefusal, call_output, context_message, response_item
from proxy.core.live_session import (
    Problem,
    function_tools,
    inworld_instructions,
    responses_tool_choice,
)

if TYPE_CHECKING:
    from proxy.core.live import LiveTranslator

__all__ = ["CLIENT_HANDLERS", "ClientCommands"]

_Handler = Callable[["ClientCommands", dict[str, Any], Any], list[LiveCommand]]


class ClientCommands:
    """The client commands of one `LiveTranslator` (mute and appended instructions live here)."""

    def __init__(self, live: LiveTranslator) -> None:
        self.live = live
        self.muted = False
        self._appended: list[str] = []  # session.instructions.append contents, in order

    def _up(self, event: dict[str, Any], cid: Any, kind: str = "command") -> ToUpstream:
        return self.live.book.up(event, kind, cid)

    def _refuse(
        self, message: str, code: str, cid: Any, param: str | None = None
    ) -> list[LiveCommand]:
        return self.live.refuse(message, code, param=param, cid=cid)

    def instructions(self) -> str:
        """Inworld's instructions now: the start's, then each appended text."""
        assert self.live.start is not None
        base = inworld_instructions(self.live.start)
        return "\n\n".join(p for p in (base, *self._appended) if p)

    # -- session -----------------------------------------------------------------------------

    def _session_update(self, event: dict[str, Any], cid: Any) -> list[LiveCommand]:
        live = self.live
        assert live.start is not None
        session = event.get("session")
        if not isinstance(session, dict):
            message = "session.update needs a 'session' object."
            return self._refuse(message, "invalid_value", cid, "session")
        out: list[LiveCommand] = []
        if session.get("triggers"):
            message = "Decisions triggers are not served from Inworld."
            out += self._refuse(message, "unsupported_feature", cid, "session.triggers")
        delegation, update = session.get("delegation"), {}
        if isinstance(delegation, dict):
            if delegation.get("type") != live.start.delegation:
                message = "The delegation type cannot change."
                return [*out, *self._refuse(message, "invalid_value", cid, "session.delegation")]
            changes = delegation.get("responses")
            if isinstance(changes, dict) and live.start.delegation == "responses":
                update = self._responses(changes, cid, out)
        if not update:
            return [*out, ToClient(session_event("session.updated", live.resource, cid))]
        return [*out, self._up({"type": "session.update", "session": update}, cid, "update")]

    def _responses(
        self, changes: dict[str, Any], cid: Any, out: list[LiveCommand]
    ) -> dict[str, Any]:
        """Merge a sparse Responses update; return the Inworld fields it changes."""
        live = self.live
        start = live.start
        assert start is not None
        problems: list[Problem] = []
        update: dict[str, Any] = {}
        responses: dict[str, Any] = {**start.responses, **changes}
        if "tools" in changes:
            start.tools = function_tools(responses, problems)
            update["tools"] = start.tools
        if "tool_choice" in changes:
            choice = responses_tool_choice(responses, problems)
            update["tool_choice"] = choice if choice is not None else "auto"
        start.responses = responses
        if "instructions" in changes:
            update["instructions"] = self.instructions()
        delegation = start.echo.get("delegation")
        if isinstance(delegation, dict):
            delegation["responses"] = responses
            live.resource["delegation"] = delegation
        out += live.problems(problems, cid)
        return update

    def _mute(self, event: dict[str, Any], cid: Any) -> list[LiveCommand]:
        self.muted = event["type"] == "session.input_audio.mute"
        kind = "session.input_audio.muted" if self.muted else "session.input_audio.unmuted"
        return [ToClient(simple_event(kind, cid))]

    def _second_start(self, event: dict[str, Any], cid: Any) -> list[LiveCommand]:
        return self._refuse("The session has already started.", "session_already_started", cid)

    def _close(self, event: dict[str, Any], cid: Any) -> list[LiveCommand]:
        closing = [ToClient(frame) for frame in self.live.closing("close_requested", cid)]
        return [*closing, CloseClient(1000, "")]

    def _audio(self, event: dict[str, Any], cid: Any) -> list[LiveCommand]:
        """An append the fast path could not take (an escape, or no audio): checked, parsed."""
        audio = event.get("audio")
        if not isinstance(audio, str) or not audio.isascii() or '"' in audio or "\\" in audio:
            return self._refuse("audio must be a base64 string.", "invalid_value", cid, "audio")
        frame = self.live.append(b'{"audio":"' + audio.encode() + b'"}')
        return [ToUpstream(frame)] if frame is not None else []

    # -- context -----------------------------------------------------------------------------

    def _context(self, event: dict[str, Any], cid: Any) -> list[LiveCommand]:
        """`session.{instructions,thinking,commentary}.append`."""
        live = self.live
        assert live.start is not None
        kind, content = event["type"], event.get("content")
        delegation_id = event.get("delegation_id")
        if not isinstance(content, str) or not content:
            return self._refuse("content must be a non-empty string.", "invalid_value", cid,
                                "content")  # fmt: skip
        if delegation_id is not None and (
            live.start.delegation == "responses" or not live.delegations.known(delegation_id)
        ):
            message = "delegation_id must be null or the id of a client delegation."
            return self._refuse(message, "invalid_value", cid, "delegation_id")
        now = live.output.ms()
        ack = ToClient(appended(kind.removesuffix("append") + "appended", now, now, cid))
        if kind == "session.instructions.append":
            self._appended.append(content)
            update = {"type": "session.update", "session": {"instructions": self.instructions()}}
            return [self._up(update, cid, "internal"), ack]
        call = live.delegations.client_answer(delegation_id)
        name = kind.split(".")[1]  # thinking | commentary
        item = call_output(call, content) if call else context_message(name, content)
        out = [self._up({"type": "conversation.item.create", "item": item}, cid)]
        if name == "commentary":
            out.append(self._up({"type": "response.create"}, cid))
        return [*out, ack]

    # -- Responses delegation ----------------------------------------------------------------

    def _responses_only(self, cid: Any) -> list[LiveCommand] | None:
        start = self.live.start
        if start is not None and start.delegation == "responses":
            return None
        message = "This command requires Responses delegation (session.delegation.type)."
        return self._refuse(message, "responses_delegation_required", cid)

    def _response_item(self, event: dict[str, Any], cid: Any) -> list[LiveCommand]:
        if (refused := self._responses_only(cid)) is not None:
            return refused
        try:
            item, call_id = response_item(event.get("item"))
        except ItemRefusal as exc:
            return self._refuse(str(exc), exc.code, cid, exc.param)
        if call_id is not None:
            self.live.delegations.answer(call_id)
        return [self._up({"type": "conversation.item.create", "item": item}, cid)]

    def _response_create(self, event: dict[str, Any], cid: Any) -> list[LiveCommand]:
        if (refused := self._responses_only(cid)) is not None:
            return refused
        waiting = self.live.delegations.unanswered()
        if waiting:
            message = f"Send the outputs of calls {', '.join(waiting)} first."
            return self._refuse(message, "function_call_outputs_required", cid)
        self.live.delegations.request()
        return [self._up({"type": "response.create"}, cid)]


CLIENT_HANDLERS: dict[str, _Handler] = {
    "session.start": ClientCommands._second_start,
    "session.update": ClientCommands._session_update,
    "session.input_audio.append": ClientCommands._audio,
    "session.input_audio.mute": ClientCommands._mute,
    "session.input_audio.unmute": ClientCommands._mute,
    "session.instructions.append": ClientCommands._context,
    "session.thinking.append": ClientCommands._context,
    "session.commentary.append": ClientCommands._context,
    "response.item.create": ClientCommands._response_item,
    "response.create": ClientCommands._response_create,
    "session.close": ClientCommands._close,
}
