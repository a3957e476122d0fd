"""One session's route: the variant it gets, the dial with connect-time fallback, its labels.

`SessionRoute` applies the pure choice of `proxy.config.routes` to one connection:

- the candidates are the sticky variant, then the route's fallback list (a session no route
  covers has one candidate: `[models]` as configured);
- `dial()` (the callable the `Relay` is given) opens each candidate in turn. A candidate is
  passed over when its handshake is refused (`UpstreamRefused`) or, for an Inworld candidate
  that is not the last, when Inworld answers the proxy's initial `session.update` with an
  error or closes: that check runs on a throwaway `Translator` and the relay's own translator
  then sends its initial update as usual (Inworld answers it again with `session.updated`,
  which the client sees as `session.created`). The last candidate is dialled plainly, so its
  failure reaches the client exactly as without routing;
- before returning, `dial()` points the session's translator at the winner: its rules (the
  variant's model for the client's model name) and, for `openai`, pass-through mode.

The winner's route, variant and provider label the session's log lines and route metrics.
A variant with its own `url` is dialled there instead of the provider's URL. A route's
`shadow`, when this caller is in its share, is `shadow` (a `Candidate`; `open_upstream` dials
it, `proxy.session.shadow` runs it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from proxy.config import Config, Rules
from proxy.config.routes import (
    Route,
    Shadow,
    Variant,
    candidates,
    find_route,
    shadowed,
    sticky_value,
)
from proxy.core.commands import ToUpstream
from proxy.core.dialect import Dialect
from proxy.core.passthrough import RoutedTranslator
from proxy.core.sniff import sniff_type
from proxy.core.translate import Translator
from proxy.core.turn_detection import rules_for_route
from proxy.metrics.collectors import Metrics
from proxy.metrics.labels import model_labeler
from proxy.metrics.observe import SessionObserver
from proxy.metrics.routes import PRIMARY, RouteLabels, RouteMetrics, account_variant
from proxy.session.relay import SessionEnd
from proxy.upstream.inworld import UpstreamRefused, connect, new_session_key
from proxy.upstream.openai import connect_openai
from proxy.ws.frames import CLOSE, TEXT
from proxy.ws.link import LOST, Link

__all__ = ["Candidate", "ClientSide", "SessionRoute", "variant_rules"]


def variant_rules(rules: Rules, name: str | None, variant: Variant) -> Rules:
    """`rules` with the client's model name (or, with none, the fallback) mapped to the
    variant's Inworld model."""
    if variant.provider != "inworld":
        return rules
    if name:
        return dataclasses.replace(rules, model_map={**rules.model_map, name: variant.model})
    return dataclasses.replace(rules, model_fallback=variant.model)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One upstream to try: a variant (None: no route) and the rules to translate with."""

    variant: Variant | None
    rules: Rules

    @property
    def provider(self) -> str:
        """`inworld` or `openai`."""
        return self.variant.provider if self.variant else "inworld"


@dataclass(frozen=True, slots=True)
class ClientSide:
    """What the dial needs from the client's handshake."""

    url_model: str | None = None
    intent: str | None = None
    beta_header: str | None = None
    client_key: str | None = None


class SessionRoute:
    """The route of one realtime session (see the module docstring)."""

    def __init__(
        self,
        cfg: Config,
        *,
        name: str | None,
        client: ClientSide,
        headers: Mapping[str, str],
        session_id: str,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.cfg = cfg
        self.tls = tls  # for wss:// upstreams; None: a fresh default context per dial
        self.name = name
        self.client = client
        self.route: Route | None = find_route(cfg.routing, name)
        self.shadow: Shadow | None = None  # the route's shadow, if this caller is in its share
        self.shadow_candidate: Candidate | None = None
        if self.route is None:
            self.candidates: tuple[Candidate, ...] = (Candidate(None, cfg.rules),)
        else:
            key = sticky_value(
                cfg.routing, client_key=client.client_key, headers=headers, fallback=session_id
            )
            chosen = candidates(self.route, key, cfg.routing.salt)
            rules = rules_for_route(cfg.rules, self.route)  # the route's own turn_detection
            self.candidates = tuple(Candidate(v, variant_rules(rules, name, v)) for v in chosen)
            self.shadow = shadowed(self.route, key, cfg.routing.salt)
            if self.shadow is not None:
                variant = self.shadow.variant
                self.shadow_candidate = Candidate(variant, variant_rules(rules, name, variant))
        self.current = self.candidates[0]
        self.fallbacks = 0
        self.session_key: str | None = None  # Inworld's ?key= of the serving upstream
        self._labeler = model_labeler(self.current.rules)

    # -- what the session builds from the route ---------------------------------------------

    @property
    def labels(self) -> RouteLabels:
        """Route, variant and provider of the current (after `dial()`: the serving) choice."""
        variant = self.current.variant
        if self.route is None or variant is None:
            return RouteLabels()
        return RouteLabels(self.route.name, variant.name, variant.provider)

    def log_fields(self) -> dict[str, str]:
        """`route`, `variant`, `provider` for a log line (and, after a fallback, the serving
        upstream's `inworld_session_key`: each attempt has its own)."""
        route, variant, provider = self.labels.values()
        fields = {"route": route, "variant": variant, "provider": provider}
        if self.fallbacks and self.session_key is not None:
            fields["inworld_session_key"] = self.session_key
        return fields

    def translator(
        self,
        *,
        dialect: Dialect,
        preset: dict[str, Any] | None,
        transcription: bool,
    ) -> Translator:
        """The session's translator: pass-through capable only when a candidate needs it."""
        kind = Translator
        if any(c.provider == "openai" for c in self.candidates):
            kind = RoutedTranslator
        translator = kind(
            self.current.rules,
            url_model=self.client.url_model,
            dialect=dialect,
            preset=preset,
            transcription=transcription,
        )
        self._use(self.current, translator)
        return translator

    def model_label(self, name: str | None) -> str:
        """The bounded `model` label: the serving candidate's mapping (openai: its variant)."""
        variant = self.current.variant
        if variant is not None and variant.provider == "openai":
            return f"openai:{variant.model}" if variant.model else "other"
        return self._labeler(name)

    # -- the dial ------------------------------------------------------------------------------

    async def dial(
        self,
        translator: Translator,
        *,
        session_key: str,
        metrics: Metrics,
        route_metrics: RouteMetrics,
        log: structlog.typing.FilteringBoundLogger,
    ) -> Link:
        """Open the first candidate that accepts; point `translator` at it.

        Raises:
            UpstreamRefused: the last candidate's handshake failed.
        """
        for index, candidate in enumerate(self.candidates):
            final = index == len(self.candidates) - 1
            self._use(candidate, translator)
            started = time.monotonic()
            self.session_key = session_key if index == 0 else new_session_key()
            try:
                ws = await self.open_upstream(candidate, self.session_key)
            except UpstreamRefused as exc:
                if final:
                    raise
                metrics.upstream_handshake_failures.labels(str(exc.status or "none")).inc()
                self._skip(route_metrics, log, "refused", exc.detail)
                continue
            seconds = time.monotonic() - started
            metrics.upstream_connect.observe(seconds)
            log.debug("upstream_connected", seconds=round(seconds, 4), **self.log_fields())
            if not final and candidate.provider == "inworld":
                try:
                    problem = await self._setup_problem(ws, candidate, translator)
                except BaseException:  # cancelled mid-probe: the link must not outlive the dial
                    ws.abort()
                    raise
                if problem is not None:
                    await ws.close(1000, "", self.cfg.limits.close_timeout)
                    self._skip(route_metrics, log, "setup_error", problem)
                    continue
            return ws
        raise AssertionError("unreachable: the last candidate returns or raises")

    def _use(self, candidate: Candidate, translator: Translator) -> None:
        self.current = candidate
        self._labeler = model_labeler(candidate.rules)
        translator.rules = candidate.rules
        if isinstance(translator, RoutedTranslator):
            translator.passthrough = candidate.provider == "openai"

    async def open_upstream(self, candidate: Candidate, session_key: str) -> Link:
        """Dial `candidate` (at its variant's `url`, if it has one) with this client's
        handshake details; no setup check.

        Raises:
            UpstreamRefused: the handshake failed.
        """
        max_size = self.cfg.server.max_message_bytes
        heartbeat = self.cfg.limits.heartbeat_interval or None
        variant = candidate.variant
        if variant is not None and variant.provider == "openai":
            openai = self.cfg.openai
            return await connect_openai(
                dataclasses.replace(openai, url=variant.url) if variant.url else openai,
                model=variant.model or self.name or "",
                intent=self.client.intent,
                beta_header=self.client.beta_header,
                client_key=self.client.client_key,
                max_msg_size=max_size,
                heartbeat=heartbeat,
                ssl_context=self.tls,
            )
        upstream = self.cfg.upstream
        if variant is not None and variant.url:
            upstream = dataclasses.replace(upstream, url=variant.url)
        return await connect(
            upstream,
            session_key,
            max_msg_size=max_size,
            heartbeat=heartbeat,
            ssl_context=self.tls,
        )

    def _skip(
        self,
        route_metrics: RouteMetrics,
        log: structlog.typing.FilteringBoundLogger,
        reason: str,
        detail: str,
    ) -> None:
        self.fallbacks += 1
        route_metrics.fallbacks.labels(*self.labels.values(), reason).inc()
        log.warning("upstream_fallback", reason=reason, detail=detail, **self.log_fields())

    async def _setup_problem(
        self,
        ws: Link,
        candidate: Candidate,
        translator: Translator,
    ) -> str | None:
        """Send the initial `session.update` from a throwaway translator; None if Inworld
        acknowledges it, else what went wrong."""
        probe = Translator(
            candidate.rules,
            url_model=translator.url_model,
            dialect=translator.dialect,
            preset=translator.preset,
            transcription=translator.transcription,
        )
        try:
            async with asyncio.timeout(self.cfg.upstream.connect_timeout):
                for command in probe.start():
                    if isinstance(command, ToUpstream):
                        text = command.text
                        ws.send_text(text.encode() if isinstance(text, str) else text)
                while True:
                    opcode, data = await ws.receive()
                    if opcode == TEXT:
                        kind = sniff_type(data)
                        if kind == "session.updated":
                            return None
                        if kind == "error":
                            return _error_summary(data)
                    elif opcode == CLOSE:
                        return f"upstream closed ({ws.ended[0] if ws.ended else LOST})"
        except TimeoutError:
            return "no answer to the initial session.update"

    # -- accounting ----------------------------------------------------------------------------

    def account(
        self, route_metrics: RouteMetrics, observer: SessionObserver, end: SessionEnd
    ) -> None:
        """Count the ended session, its errors, tokens and audio under the serving variant."""
        route_metrics.sessions.labels(*self.labels.values(), end.outcome).inc()
        account_variant(route_metrics, self.labels, PRIMARY, observer)


def _error_summary(text: str | bytes) -> str:
    try:
        error = orjson.loads(text).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return "error event"
    code, param = error.get("code"), error.get("param")
    return f"error {code or error.get('type') or ''} {param or ''}".strip()
