"""Model routing as data and pure functions: routes, weighted variants, sticky choice, fallback.

A *route* is keyed by the model name a client asks for (`?model=`, a token's session model, or
the `model` of a REST request); `"*"` is the route for any name without one of its own. It
holds weighted *variants* (live A/B, canary, provider migration) and an ordered *fallback*
list tried at connect time when the chosen variant's upstream refuses. It may also name a
*shadow*: an upstream that gets a mirror of a `share` of the route's sessions, measured and
never heard by the client (`proxy.session.shadow`). Any variant, fallback entry or shadow may
carry its own upstream `url` (a second region, a test double) instead of the provider's.

Choice is sticky: `choose(route, key)` hashes `salt`, the route name and the caller's key with
SHA-256 and maps the first 8 bytes to a point in [0, total weight); the variant whose interval
holds the point wins. The same key always gets the same variant, and growing a variant's weight
only moves callers *into* it (with variants listed in a fixed order, the first variant's
callers stay put as it grows). The key comes from `sticky_key`: the client's key, a named
header, or (when neither is present, or `"session"` is configured) a per-session value, which
makes the choice random per session.

The shadow's share is sticky the same way, on its own hash (`shadowed`): a caller is mirrored
in all its sessions or in none, whichever variant serves it.

Nothing here does I/O; `proxy.session.route` applies a plan to a connection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from proxy.config.turn_detection import (
    TurnDetection,
    TurnDetectionConfigError,
    parse_turn_detection,
)

__all__ = [
    "CATCH_ALL",
    "PROVIDERS",
    "SHADOW_TOOL_OUTPUT",
    "Provider",
    "Route",
    "RouteConfigError",
    "RoutingConfig",
    "Shadow",
    "Variant",
    "bucket",
    "candidates",
    "choose",
    "find_route",
    "parse_routing",
    "shadowed",
    "sticky_value",
]

Provider = Literal["inworld", "openai"]
PROVIDERS: tuple[Provider, ...] = ("inworld", "openai")
CATCH_ALL = "*"
_STICKY_KINDS = ("client_key", "session")
_HEADER_PREFIX = "header:"
SHADOW_TOOL_OUTPUT = '{"shadow": true}'


class RouteConfigError(ValueError):
    """A `[routing]` value is invalid; the message names the key."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One upstream choice: a provider and its model, with a weight and a label name.

    For `inworld` the model is an Inworld LLM id (the session's `model`). For `openai` it is the
    OpenAI realtime model dialled as `?model=`; empty means "the name the client asked for".
    `name` is the bounded label used in logs and metrics (unique within a route). `url`, when
    not empty, is dialled instead of the provider's configured URL (`upstream.url` or
    `providers.openai.url`), with the same credentials.
    """

    name: str
    model: str
    provider: Provider = "inworld"
    weight: float = 1.0
    url: str = ""


@dataclass(frozen=True, slots=True)
class Shadow:
    """A route's shadow: `variant` gets a mirror of `share` (0-1) of the route's sessions.

    `tool_output` is the `output` of the `function_call_output` the proxy answers each of the
    shadow's tool calls with (its calls never reach the client, nor do the client's answers
    reach it).
    """

    variant: Variant
    share: float
    tool_output: str = SHADOW_TOOL_OUTPUT


@dataclass(frozen=True, slots=True)
class Route:
    """Weighted variants for one client-visible model name, and its fallback list.

    `turn_detection`, when set, replaces `[turn_detection]` for this route's Inworld sessions.
    """

    name: str
    variants: tuple[Variant, ...]
    fallback: tuple[Variant, ...] = ()
    turn_detection: TurnDetection | None = None
    shadow: Shadow | None = None

    @property
    def total_weight(self) -> float:
        """The sum of the variants' weights (> 0 for every parsed route)."""
        return sum(v.weight for v in self.variants)

    @property
    def upstreams(self) -> tuple[Variant, ...]:
        """Every upstream the route may dial: variants, fallback entries and the shadow."""
        shadow = (self.shadow.variant,) if self.shadow is not None else ()
        return (*self.variants, *self.fallback, *shadow)


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """The `[routing]` section: how to pick the sticky key, the salt, and the routes."""

    sticky_key: str = "client_key"  # client_key | session | header:<Name>
    salt: str = ""
    routes: Mapping[str, Route] = field(default_factory=dict)

    @property
    def sticky_header(self) -> str | None:
        """The header named by `sticky_key = "header:<Name>"`, else None."""
        if self.sticky_key.startswith(_HEADER_PREFIX):
            return self.sticky_key[len(_HEADER_PREFIX) :]
        return None


def find_route(routing: RoutingConfig, name: str | None) -> Route | None:
    """The route for a client-visible model name: its own, else the catch-all, else None."""
    if name and name in routing.routes:
        return routing.routes[name]
    return routing.routes.get(CATCH_ALL)


def sticky_value(
    routing: RoutingConfig,
    *,
    client_key: str | None,
    headers: Mapping[str, str],
    fallback: str,
) -> str:
    """The value whose hash picks a caller's variant.

    Args:
        routing: the routing configuration (`sticky_key`).
        client_key: the credential the client presented, if any.
        headers: the request headers (case-insensitive mapping).
        fallback: used when the configured source is absent (the session id: random per
            session), and always for `sticky_key = "session"`.
    """
    header = routing.sticky_header
    if header is not None:
        return headers.get(header) or fallback
    if routing.sticky_key == "client_key":
        return client_key or fallback
    return fallback


def bucket(salt: str, route: str, key: str) -> float:
    """A stable point in [0, 1) for (salt, route, key): SHA-256, first 8 bytes."""
    # surrogatepass: a header value aiohttp decoded from non-UTF-8 bytes must not raise
    text = f"{salt}\x00{route}\x00{key}".encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(text).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def choose(route: Route, key: str, salt: str = "") -> Variant:
    """The variant a caller with `key` gets on `route` (sticky; weighted)."""
    point = bucket(salt, route.name, key) * route.total_weight
    upto = 0.0
    for variant in route.variants:
        upto += variant.weight
        if point < upto and variant.weight > 0:
            return variant
    # float rounding at the very top: the last variant that has a weight
    return next(v for v in reversed(route.variants) if v.weight > 0)


def candidates(route: Route, key: str, salt: str = "") -> tuple[Variant, ...]:
    """The chosen variant, then the route's fallback list (without repeats), in dial order."""
    first = choose(route, key, salt)
    rest = tuple(v for v in route.fallback if v != first)
    return (first, *rest)


def shadowed(route: Route, key: str, salt: str = "") -> Shadow | None:
    """The route's shadow if a caller with `key` is in its share, else None (sticky)."""
    shadow = route.shadow
    if shadow is None or shadow.share <= 0:
        return None
    return shadow if bucket(salt, f"{route.name}\x00shadow", key) < shadow.share else None


# -- parsing (called by proxy.config) --------------------------------------------------------


def parse_routing(table: Mapping[str, Any]) -> RoutingConfig:
    """Validate the raw `[routing]` table.

    Raises:
        RouteConfigError: a value is invalid; the message names the key.
    """
    sticky = table.get("sticky_key", "client_key")
    if not isinstance(sticky, str) or not (
        sticky in _STICKY_KINDS or (sticky.startswith(_HEADER_PREFIX) and sticky[7:].strip())
    ):
        raise RouteConfigError(
            f"'routing.sticky_key' must be client_key, session or header:<Name>, got {sticky!r}"
        )
    salt = table.get("salt", "")
    if not isinstance(salt, str):
        raise RouteConfigError("'routing.salt' must be a string")
    raw_routes = table.get("routes", {})
    if not isinstance(raw_routes, Mapping):
        raise RouteConfigError("'routing.routes' must be a table")
    routes = {name: _route(name, raw) for name, raw in raw_routes.items()}
    return RoutingConfig(sticky_key=sticky, salt=salt, routes=routes)


def _route(name: str, raw: Any) -> Route:
    where = f"routing.routes.{name}"
    if not name:
        raise RouteConfigError("'routing.routes' keys must not be empty")
    if not isinstance(raw, Mapping):
        raise RouteConfigError(f"'{where}' must be a table")
    unknown = set(raw) - {
        "model", "provider", "url", "variants", "fallback", "turn_detection", "shadow"
    }  # fmt: skip
    if unknown:
        raise RouteConfigError(f"unknown configuration key '{where}.{sorted(unknown)[0]}'")
    if "variants" in raw:
        if "model" in raw or "provider" in raw or "url" in raw:
            raise RouteConfigError(f"'{where}' takes either 'model' or 'variants', not both")
        items = raw["variants"]
        if not isinstance(items, list) or not items:
            raise RouteConfigError(f"'{where}.variants' must be a non-empty list of tables")
        variants = tuple(
            _variant(item, f"{where}.variants[{i}]", weighted=True) for i, item in enumerate(items)
        )
    elif "model" in raw or "provider" in raw:
        single = {k: raw[k] for k in ("model", "provider", "url") if k in raw}
        variants = (_variant(single, where, weighted=False),)
    else:
        raise RouteConfigError(f"'{where}' needs 'model' or 'variants'")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise RouteConfigError(f"'{where}.variants' names must be unique, got {names}")
    if sum(v.weight for v in variants) <= 0:
        raise RouteConfigError(f"'{where}.variants' weights must not all be 0")
    items = raw.get("fallback", [])
    if not isinstance(items, list):
        raise RouteConfigError(f"'{where}.fallback' must be a list")
    fallback = tuple(
        _variant(item, f"{where}.fallback[{i}]", weighted=False) for i, item in enumerate(items)
    )
    turns = None
    if "turn_detection" in raw:
        try:
            turns = parse_turn_detection(raw["turn_detection"], f"{where}.turn_detection")
        except TurnDetectionConfigError as exc:
            raise RouteConfigError(str(exc)) from None
    shadow = _shadow(raw["shadow"], f"{where}.shadow") if "shadow" in raw else None
    return Route(
        name=name, variants=variants, fallback=fallback, turn_detection=turns, shadow=shadow
    )


def _shadow(raw: Any, where: str) -> Shadow:
    if not isinstance(raw, Mapping):
        raise RouteConfigError(f"'{where}' must be a table")
    unknown = set(raw) - {"model", "provider", "name", "url", "share", "tool_output"}
    if unknown:
        raise RouteConfigError(f"unknown configuration key '{where}.{sorted(unknown)[0]}'")
    fields = {k: raw[k] for k in ("model", "provider", "name", "url") if k in raw}
    variant = _variant(fields, where, weighted=False)
    share = raw.get("share", 1)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise RouteConfigError(f"'{where}.share' must be a number from 0 to 1, got {share!r}")
    output = raw.get("tool_output", SHADOW_TOOL_OUTPUT)
    if not isinstance(output, str):
        raise RouteConfigError(f"'{where}.tool_output' must be a string")
    return Shadow(variant=variant, share=float(share), tool_output=output)


def _variant(raw: Any, where: str, *, weighted: bool) -> Variant:
    if isinstance(raw, str):  # a plain Inworld model id
        raw = {"model": raw}
    if not isinstance(raw, Mapping):
        raise RouteConfigError(f"'{where}' must be a table or an Inworld model id")
    allowed = {"model", "provider", "name", "url"} | ({"weight"} if weighted else set())
    unknown = set(raw) - allowed
    if unknown:
        raise RouteConfigError(f"unknown configuration key '{where}.{sorted(unknown)[0]}'")
    provider = raw.get("provider", "inworld")
    if provider not in PROVIDERS:
        raise RouteConfigError(f"'{where}.provider' must be inworld or openai, got {provider!r}")
    model = raw.get("model", "")
    if not isinstance(model, str) or (provider == "inworld" and not model):
        raise RouteConfigError(f"'{where}.model' must be a non-empty string")
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        raise RouteConfigError(f"'{where}.weight' must be a number >= 0, got {weight!r}")
    name = raw.get("name") or f"{provider}:{model or 'client'}"
    if not isinstance(name, str):
        raise RouteConfigError(f"'{where}.name' must be a string")
    url = raw.get("url", "")
    if not isinstance(url, str) or (url and not _ws_url(url)):
        raise RouteConfigError(
            f"'{where}.url' must be a ws:// or wss:// URL with a host and no query or fragment"
        )
    return Variant(name=name, model=model, provider=provider, weight=float(weight), url=url)


def _ws_url(url: str) -> bool:
    """A ws/wss URL with a host, no credentials, query or fragment (the dial adds the query)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    return (
        parts.scheme in ("ws", "wss")
        and bool(host)
        and not (parts.query or parts.fragment or parts.username or parts.password)
    )
