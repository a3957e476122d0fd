"""A small client of Inworld's voices API (docs/protocol-notes.md#inworld-voices-api).

`VoicesClient` wraps one `aiohttp.ClientSession`: `Authorization: Basic <credential>` (the
same credential as the realtime endpoint), JSON in and out. Failures are one of two exceptions
whose message is a single line fit for a terminal:

- `ApiError`: Inworld answered with an HTTP error; `message` is the body's `error.message`,
  `message` or `detail` (the fields Inworld's own tools read), else the start of the raw body;
- `ApiUnreachable`: no answer (DNS, refused connection, TLS, timeout).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from yarl import URL

__all__ = ["ApiError", "ApiUnreachable", "VoicesClient", "error_message"]

Progress = Callable[[int, int], None]
_CHUNK = 64 * 1024


class ApiError(Exception):
    """Inworld answered with HTTP `status`; `message` is what it said (one line)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class ApiUnreachable(Exception):
    """The API did not answer (the message says why, in one line)."""


def error_message(body: bytes) -> str:
    """The human part of an error body: `error.message`, `message`, `detail`, `error`, else
    the first 200 characters of the body (whitespace collapsed)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        candidates = (
            error.get("message") if isinstance(error, dict) else None,
            parsed.get("message"),
            parsed.get("detail"),
            error if isinstance(error, str) else None,
        )
        for text in candidates:
            if isinstance(text, str) and text:
                return " ".join(text.split())
    text = " ".join(body.decode("utf-8", "replace").split())
    return text[:200] or "(empty body)"


class VoicesClient:
    """The voices API at `base_url` (e.g. ``https://api.inworld.ai``); use as a context manager.

    `connect_timeout` bounds connecting, `timeout` a whole call.
    """

    def __init__(
        self, base_url: str, credential: str, *, connect_timeout: float, timeout: float
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Basic {credential}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> VoicesClient:
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    def _url(self, path: str) -> URL:
        return URL(self.base_url + path, encoded=True)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        assert self._session is not None, "use VoicesClient as an async context manager"
        try:
            async with self._session.request(
                method, self._url(path), params=params, data=data, headers=headers
            ) as response:
                body = await response.read()
                status = response.status
        except TimeoutError:
            raise ApiUnreachable(
                f"no answer from {self.base_url} within {self._timeout.total:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise ApiUnreachable(f"cannot reach {self.base_url}: {_reason(exc)}") from None
        if status >= 400:
            raise ApiError(status, error_message(body))
        try:
            parsed = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            raise ApiError(status, "the answer is not JSON") from None
        if not isinstance(parsed, dict):
            raise ApiError(status, "the answer is not a JSON object")
        return parsed

    async def list_all(self, filter_: str | None, page_size: int) -> list[dict[str, Any]]:
        """Every voice matching `filter_`, following `nextPageToken` to the last page."""
        voices: list[dict[str, Any]] = []
        params = {"pageSize": str(page_size)}
        if filter_:
            params["filter"] = filter_
        seen: set[str] = set()
        while True:
            page = await self._call("GET", "/voices/v1/voices", params=params)
            voices += [v for v in page.get("voices", []) if isinstance(v, dict)]
            token = page.get("nextPageToken")
            if not isinstance(token, str) or not token or token in seen:
                return voices
            seen.add(token)
            params = {**params, "pageToken": token}

    async def get(self, voice_id: str) -> dict[str, Any]:
        """One voice."""
        return await self._call("GET", "/voices/v1/voices/" + quote(voice_id, safe=""))

    async def delete(self, voice_id: str) -> None:
        """Delete a (cloned) voice."""
        await self._call("DELETE", "/voices/v1/voices/" + quote(voice_id, safe=""))

    async def clone(self, request: dict[str, Any], progress: Progress | None) -> dict[str, Any]:
        """`POST /voices/v1/voices:clone`; `progress(sent, total)` follows the upload."""
        body = orjson.dumps(request)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), _CHUNK):
                yield body[start : start + _CHUNK]
                if progress is not None:
                    progress(min(start + _CHUNK, len(body)), len(body))

        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        return await self._call("POST", "/voices/v1/voices:clone", data=chunks(), headers=headers)


def _reason(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return exc.os_error.strerror or str(exc.os_error)
    return str(exc) or type(exc).__name__
