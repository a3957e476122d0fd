"""Response streaming: the event sequence that delivers one reply.

``ResponseRun`` turns a ``replies.Plan`` into the GA event sequence of audio, text and tool-call
responses (docs/emulator.md#text-turns-and-responses and #tool-calls), handed out in batches so
the I/O shell can pace it and a barge-in or ``response.cancel`` can cut it short.
"""

import copy
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .audio import reply_audio_ms, synthesize_reply
from .conversation import Conversation
from .ids import Event, IdFactory
from .replies import Plan, ToolCall
from .settings import EmulatorSettings

__all__ = ["ResponseRun", "new_response"]

_ARGUMENT_DELTA_CHARS = 16
_AUDIO_MS_PER_TOKEN = 50  # fake usage: one audio token per 50 ms
_CHARS_PER_TOKEN = 4  # fake usage: one text token per 4 characters


def new_response(
    ids: IdFactory, session: Event, request: Mapping[str, Any], *, echo_metadata: bool
) -> Event:
    """A fresh ``realtime.response`` object (``in_progress``, empty ``output``).

    ``output_modalities`` come from the ``response.create`` request when it gives a non-empty
    list, else from the session. ``metadata`` is echoed only when ``echo_metadata``.
    """
    modalities = request.get("output_modalities")
    if not isinstance(modalities, list) or not modalities:
        modalities = session["output_modalities"]
    output = session["audio"]["output"]
    metadata = request.get("metadata") if echo_metadata else None
    return {
        "object": "realtime.response",
        "id": ids.prefixed("resp"),
        "status": "in_progress",
        "status_details": None,
        "output": [],
        "output_modalities": list(modalities),
        "audio": {"output": {"format": output.get("format"), "voice": output.get("voice")}},
        "max_output_tokens": session.get("max_output_tokens", "inf"),
        "usage": None,
        "metadata": copy.deepcopy(metadata),
    }


class ResponseRun:
    """One response in flight. Pull ``next_batch()`` until ``done``, or ``cancel()`` it.

    Each batch ends with one audio delta (or one text/arguments delta) except the last,
    which ends with ``response.done``. The assistant item joins ``conversation`` when its
    ``conversation.item.added`` batch is produced. Events carry snapshots, never live dicts.
    """

    def __init__(
        self,
        *,
        ids: IdFactory,
        settings: EmulatorSettings,
        conversation: Conversation,
        plan: Plan,
        response: Event,
        input_tokens: int,
    ) -> None:
        """Prepare the run; nothing is emitted until the first ``next_batch()``.

        ``response`` comes from ``new_response``; the run owns and updates it. The reply is
        spoken when its ``output_modalities`` include ``audio``, else written.
        """
        self._ids = ids
        self._settings = settings
        self._conversation = conversation
        self._response = response
        self._input_tokens = input_tokens
        self._items: list[Event] = []
        self._text_sent = ""
        self._audio_ms_sent = 0
        self._done = False
        self._stream: Iterator[list[Event]]
        if isinstance(plan, ToolCall):
            self._stream = self._tool_call(plan)
        elif "audio" in response["output_modalities"]:
            self._stream = self._audio_reply(plan.text)
        else:
            self._stream = self._text_reply(plan.text)

    @property
    def response_id(self) -> str:
        """The ``resp_...`` id."""
        return str(self._response["id"])

    @property
    def done(self) -> bool:
        """True once ``response.done`` has been produced (completed or cancelled)."""
        return self._done

    def next_batch(self) -> list[Event]:
        """The next events, up to and including the next delta; [] once done."""
        if self._done:
            return []
        batch = next(self._stream, [])
        if not batch or batch[-1]["type"] == "response.done":
            self._done = True
        return batch

    def cancel(self, reason: str) -> list[Event]:
        """End the run now: discard what is pending and return ``response.done`` with
        ``status:"cancelled"`` and ``status_details.reason`` (docs/emulator.md#barge-in-and-cancel).
        [] if already done."""
        if self._done:
            return []
        self._done = True
        self._stream = iter(())
        for item in self._items:
            if item["status"] == "in_progress":
                item["status"] = "incomplete"
        details = {"type": "cancelled", "reason": reason}
        return [self._finish("cancelled", details)]

    # -- streams -----------------------------------------------------------------------------

    def _start(self, item: Event) -> list[Event]:
        """``response.created``, ``response.output_item.added``, ``conversation.item.added``."""
        created = self._ids.event("response.created", response=copy.deepcopy(self._response))
        previous = self._conversation.append(item)
        self._items.append(item)
        self._response["output"].append(item)
        return [
            created,
            self._ids.event(
                "response.output_item.added",
                response_id=self.response_id,
                output_index=0,
                item=copy.deepcopy(item),
            ),
            self._ids.event(
                "conversation.item.added", previous_item_id=previous, item=copy.deepcopy(item)
            ),
        ]

    def _message_item(self) -> Event:
        return {
            "id": self._ids.prefixed("item"),
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }

    def _audio_reply(self, text: str) -> Iterator[list[Event]]:
        item = self._message_item()
        batch = self._start(item)
        part_type = "audio" if self._settings.content_part_type == "audio" else "output_audio"
        part: Event = {"type": part_type, "transcript": ""}
        batch.append(
            self._ids.event("response.content_part.added", **self._where(item), part=dict(part))
        )
        item["content"].append(part)
        s = self._settings
        chunks = synthesize_reply(
            text, chunk_ms=s.audio_chunk_ms, ms_per_char=s.audio_ms_per_char, max_ms=s.max_audio_ms
        )
        total_ms = reply_audio_ms(text, ms_per_char=s.audio_ms_per_char, max_ms=s.max_audio_ms)
        # word j rides with chunk floor(j * chunks / words), so the transcript leads the audio
        words = _words(text)
        groups: list[list[str]] = [[] for _ in chunks]
        for j, word in enumerate(words):
            groups[j * len(chunks) // len(words)].append(word)
        for chunk, group in zip(chunks, groups, strict=True):
            for word in group:
                self._text_sent += word
                part["transcript"] = self._text_sent
                batch.append(self._delta("response.output_audio_transcript.delta", item, word))
            self._audio_ms_sent = min(total_ms, self._audio_ms_sent + s.audio_chunk_ms)
            batch.append(self._delta("response.output_audio.delta", item, chunk))
            yield batch
            batch = []
        where = self._where(item)
        batch += [
            self._ids.event("response.output_audio_transcript.done", **where, transcript=text),
            self._ids.event("response.output_audio.done", **where),
            self._ids.event("response.content_part.done", **where, part=dict(part)),
        ]
        yield batch + self._close_item(item)

    def _text_reply(self, text: str) -> Iterator[list[Event]]:
        item = self._message_item()
        batch = self._start(item)
        part_type = "text" if self._settings.content_part_type == "audio" else "output_text"
        part: Event = {"type": part_type, "text": ""}
        batch.append(
            self._ids.event("response.content_part.added", **self._where(item), part=dict(part))
        )
        item["content"].append(part)
        for word in _words(text):
            self._text_sent += word
            part["text"] = self._text_sent
            yield [*batch, self._delta("response.output_text.delta", item, word)]
            batch = []
        where = self._where(item)
        yield [
            self._ids.event("response.output_text.done", **where, text=text),
            self._ids.event("response.content_part.done", **where, part=dict(part)),
            *self._close_item(item),
        ]

    def _tool_call(self, call: ToolCall) -> Iterator[list[Event]]:
        item: Event = {
            "id": self._ids.prefixed("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": call.name,
            "call_id": self._ids.prefixed("call"),
            "arguments": "",
        }
        batch = self._start(item)
        common = {"response_id": self.response_id, "item_id": item["id"], "output_index": 0}
        args = call.arguments
        for start in range(0, len(args), _ARGUMENT_DELTA_CHARS):
            delta = args[start : start + _ARGUMENT_DELTA_CHARS]
            self._text_sent += delta
            item["arguments"] = self._text_sent
            batch.append(
                self._ids.event(
                    "response.function_call_arguments.delta",
                    **common,
                    call_id=item["call_id"],
                    delta=delta,
                )
            )
            yield batch
            batch = []
        done = self._ids.event(
            "response.function_call_arguments.done",
            **common,
            call_id=item["call_id"],
            arguments=args,
        )
        if not self._settings.omit_function_call_name:
            done["name"] = call.name
        yield [*batch, done, *self._close_item(item)]

    # -- helpers -----------------------------------------------------------------------------

    def _where(self, item: Event) -> Event:
        return {
            "response_id": self.response_id,
            "item_id": item["id"],
            "output_index": 0,
            "content_index": 0,
        }

    def _delta(self, type_: str, item: Event, delta: str) -> Event:
        return self._ids.event(type_, **self._where(item), delta=delta)

    def _close_item(self, item: Event) -> list[Event]:
        """``conversation.item.done``, ``response.output_item.done``, ``response.done``."""
        item["status"] = "completed"
        return [
            self._ids.event("conversation.item.done", item=copy.deepcopy(item)),
            self._ids.event(
                "response.output_item.done",
                response_id=self.response_id,
                output_index=0,
                item=copy.deepcopy(item),
            ),
            self._finish("completed", None),
        ]

    def _finish(self, status: str, details: Event | None) -> Event:
        """Seal the response object and return its ``response.done`` event."""
        self._response["status"] = status
        self._response["status_details"] = details
        self._response["usage"] = self._usage()
        return self._ids.event("response.done", response=copy.deepcopy(self._response))

    def _usage(self) -> Event:
        """Fake but consistent token usage (shape: docs/protocol-notes.md#openai-session-shape)."""
        out_text = math.ceil(len(self._text_sent) / _CHARS_PER_TOKEN)
        out_audio = self._audio_ms_sent // _AUDIO_MS_PER_TOKEN
        return {
            "total_tokens": self._input_tokens + out_text + out_audio,
            "input_tokens": self._input_tokens,
            "output_tokens": out_text + out_audio,
            "input_token_details": {
                "text_tokens": self._input_tokens,
                "audio_tokens": 0,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }


def _words(text: str) -> Sequence[str]:
    """Split into word pieces that concatenate back to ``text`` (each keeps trailing spaces)."""
    pieces = re.findall(r"\s*\S+\s*", text)
    return pieces or [text]
