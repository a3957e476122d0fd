"""A plain browser page (headless Debian Chromium, no SDK) through the proxy to the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.clients import proxy_address, require_chromium, run_node
from tests.support.stack import Stack

PAGE_DIR = Path(__file__).parent / "browser"
BROWSER_KEY = "sk-browser-test"


async def test_browser_page_text_turn(
    stack: Stack,
    aiohttp_server: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Browser WebSocket with sub-protocol auth: `realtime` negotiated, a text turn answered."""
    chromium = require_chromium()
    app = web.Application()
    app.router.add_static("/", PAGE_DIR)
    pages = await aiohttp_server(app)  # a different origin from the proxy, like a real site
    page = str(pages.make_url(f"/realtime.html?proxy={proxy_address(stack)}"))

    result = await run_node("browser.mjs", page, chromium)

    assert result["finished"] == "done", result
    assert result["protocol"] == "realtime"
    assert result["errors"] == []
    assert result["types"][0] == "session.created"
    assert result["sessionModel"] == "gpt-realtime"
    assert result["status"] == "completed"
    assert result["transcript"] == "You said: Hello from the browser"
    assert result["audioBytes"] >= 4800
    record = stack.only_session()
    assert record.headers["Authorization"].startswith("Basic ")
    assert BROWSER_KEY not in str(dict(record.headers))
    logged = capsys.readouterr()
    assert BROWSER_KEY not in logged.out + logged.err + caplog.text
