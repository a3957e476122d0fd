"""Live realtime sessions per credential (`clients.max_sessions_per_key`, `tokens.max_sessions`).

One credential must not take the whole process: the guard names the *owner* of each
authenticated request (`token:<id>` for an ephemeral token, each minted token its own;
`key:<digest>` for a configured client key) and the realtime handler asks `SessionCaps` for a
slot before it relays. Counts live in this process only: tokens are stateless, so every
replica counts its own sessions.
"""

from __future__ import annotations

import hashlib
from typing import Any

from proxy.config import Config

__all__ = [
    "SessionCaps",
    "is_token",
    "key_owner",
    "owner_cap",
    "pinned_session",
    "refusal",
    "token_owner",
]


def token_owner(token_id: str) -> str:
    """The owner name of the sessions of one token (`proxy.web.tokens.TokenClaims.token_id`)."""
    return f"token:{token_id}"


def key_owner(key: str) -> str:
    """The owner name of a client key's sessions: a digest, so the key itself is not kept."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"key:{digest}"


class SessionCaps:
    """Live sessions per owner."""

    def __init__(self) -> None:
        self._live: dict[str, int] = {}

    def acquire(self, owner: str, cap: int) -> bool:
        """Take a slot for `owner`; False (and nothing taken) if it already holds `cap`
        sessions. `cap` 0: no cap."""
        held = self._live.get(owner, 0)
        if cap and held >= cap:
            return False
        self._live[owner] = held + 1
        return True

    def release(self, owner: str) -> None:
        """Give back one slot taken by `acquire`."""
        held = self._live.get(owner, 0) - 1
        if held > 0:
            self._live[owner] = held
        else:
            self._live.pop(owner, None)

    def live(self, owner: str) -> int:
        """Sessions `owner` holds now."""
        return self._live.get(owner, 0)


def is_token(owner: str | None) -> bool:
    """True for the owner of an ephemeral token's sessions."""
    return owner is not None and owner.startswith("token:")


def owner_cap(cfg: Config, owner: str) -> int:
    """The most live sessions `owner` may hold (0: no cap of its own)."""
    return cfg.tokens.max_sessions if is_token(owner) else cfg.clients.max_sessions_per_key


def refusal(owner: str) -> tuple[str, str]:
    """(`sessions_refused` reason, `error` code) for an owner over its cap."""
    return (
        ("token_sessions", "token_session_limit")
        if is_token(owner)
        else (
            "key_sessions",
            "key_session_limit",
        )
    )


def pinned_session(
    owner: str | None, preset: dict[str, Any] | None, url_model: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """(the session a token fixes, the model the session runs) for a connection.

    Not a token: (None, `url_model`). A token: its minted session, whose model wins over the
    connection's `?model=`; a token minted without a model fixes the `?model=` it connected
    with (`proxy.core.locked`)."""
    if not is_token(owner):
        return None, url_model
    pinned = dict(preset or {})
    model = pinned.get("model")
    if isinstance(model, str) and model:
        return pinned, model
    if url_model:
        pinned["model"] = url_model
    return pinned, url_model
