"""`inworld-realtime-proxy voices list|show|delete|clone|suggest`: Inworld's voices API.

Base URL: `--api-url`, else `upstream.api_url` (`INWORLD_API_URL`, default
`https://api.inworld.ai`); credentials as for `serve` (`INWORLD_API_KEY` /
`INWORLD_API_SECRET`). Results go to standard output, notes, warnings and the upload progress
bar (only on a terminal) to standard error. Exit status: 0 done, 1 refused by Inworld or by
the local audio checks, 2 usage or configuration error. Every failure is one line
`inworld-realtime-proxy: error: ...`. `suggest` lives in `proxy.cli.voice_suggest`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

from proxy.cli.audio_check import AudioCheckError, check_total, inspect
from proxy.cli.output import stdout_closed, table
from proxy.cli.voice_suggest import suggest
from proxy.cli.voices_api import ApiError, ApiUnreachable, VoicesClient
from proxy.config import Config

__all__ = ["ProgressBar", "add_parser", "lang_code", "run"]

_PREFIX = "inworld-realtime-proxy: error:"
_LANG_CODES = {
    "en": "EN_US", "zh": "ZH_CN", "ko": "KO_KR", "ja": "JA_JP", "ru": "RU_RU", "auto": "AUTO",
    "it": "IT_IT", "es": "ES_ES", "pt": "PT_BR", "de": "DE_DE", "fr": "FR_FR", "ar": "AR_SA",
    "pl": "PL_PL", "nl": "NL_NL", "hi": "HI_IN", "he": "HE_IL",
}  # fmt: skip
_TIMEOUT = 120.0  # seconds for one API call (a clone is processed before Inworld answers)


def add_parser(sub: Any) -> None:
    """Register `voices` and its actions on the main parser's subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="TOML config file (or PROXY_CONFIG)")
    common.add_argument(
        "--api-url", help="voices API base URL (or INWORLD_API_URL; default https://api.inworld.ai)"
    )
    voices = sub.add_parser("voices", help="list, show, delete, clone or suggest Inworld voices")
    actions = voices.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("list", parents=[common], help="list voices (every page)")
    ls.add_argument("--lang", help="language: en, en-US, en_US ... (Inworld's lang_code filter)")
    ls.add_argument("--source", choices=("system", "cloned"), help="system or cloned voices")
    ls.add_argument("--json", action="store_true", help="print the voices as a JSON array")
    ls.add_argument("--page-size", type=int, default=100, help="voices per request (default 100)")
    for name, text in (("show", "show one voice"), ("delete", "delete a cloned voice")):
        one = actions.add_parser(name, parents=[common], help=text)
        one.add_argument("voice_id", help="the voice id (e.g. Ashley, workspace__name_...)")
        if name == "show":
            one.add_argument("--json", action="store_true", help="print the voice as JSON")
    clone = actions.add_parser("clone", parents=[common], help="clone a voice from recordings")
    clone.add_argument("files", nargs="+", metavar="FILE", help="WAV or MP3 samples")
    clone.add_argument("--name", required=True, help="display name of the new voice")
    clone.add_argument("--lang", required=True, help="language: en, de, ja ... or EN_US, auto")
    clone.add_argument(
        "--transcript", action="append", help="what a sample says (once per FILE, in order)"
    )
    clone.add_argument("--remove-noise", action="store_true", help="ask Inworld to denoise")
    clone.add_argument("--json", action="store_true", help='print {"voiceId", "warnings"}')
    sug = actions.add_parser(
        "suggest", parents=[common], help="Inworld voices for each OpenAI voice"
    )
    sug.add_argument("--lang", default="en", help="language of the candidates (default en)")
    sug.add_argument("--write", type=Path, help="also write the [voices.map] block to this file")


def lang_code(text: str) -> str | None:
    """Inworld's `langCode` for `en`, `en-US`, `en_US`, `EN_US` or `auto`; None if unknown."""
    norm = text.strip().replace("-", "_")
    if norm.upper() in _LANG_CODES.values():
        return norm.upper()
    return _LANG_CODES.get(norm.lower())


def _fail(message: str, status: int = 1) -> int:
    print(f"{_PREFIX} {message}", file=sys.stderr)
    return status


def run(args: argparse.Namespace, cfg: Config) -> int:
    """Run one `voices` action; return the exit status."""
    credential = cfg.upstream.credential
    if credential is None:
        return _fail(
            "INWORLD_API_KEY is not set (set it together with INWORLD_API_SECRET, or alone as "
            "the portal's base64 key)",
            2,
        )
    base = (args.api_url or cfg.upstream.api_url).rstrip("/")
    if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", base):
        return _fail(f"--api-url must be an http:// or https:// URL, got {base!r}", 2)
    client = VoicesClient(
        base, credential, connect_timeout=cfg.upstream.connect_timeout, timeout=_TIMEOUT
    )
    try:
        return asyncio.run(_dispatch(args, cfg, client))
    except ApiUnreachable as exc:
        return _fail(f"{exc} (--api-url, INWORLD_API_URL)")
    except ApiError as exc:
        return _fail(_explain(args, exc))
    except BrokenPipeError:
        return stdout_closed()


def _explain(args: argparse.Namespace, exc: ApiError) -> str:
    said = f"HTTP {exc.status}: {exc.message}"
    if exc.status == 401:
        return (
            f"Inworld refused the credentials ({said}); check INWORLD_API_KEY and "
            "INWORLD_API_SECRET"
        )
    if exc.status == 403:
        return (
            f"Inworld refused the request ({said}); clone and delete need the key's "
            "Voice API write permission"
        )
    if exc.status == 409 and args.action == "clone":
        return (
            f"the voice name {args.name!r} is already taken in this workspace ({said}); "
            "choose another --name"
        )
    if exc.status == 400 and args.action == "clone":
        return f"Inworld refused the samples ({said})"
    if exc.status == 404:
        return f"no such voice ({said})"
    if exc.status == 429:
        return f"rate limited by Inworld ({said}); voice cloning allows 5 requests a minute"
    return f"Inworld answered {said}"


async def _dispatch(args: argparse.Namespace, cfg: Config, client: VoicesClient) -> int:
    if args.action == "clone":
        request = _clone_request(args)
        if isinstance(request, int):
            return request
        async with client:
            return await _clone(args, client, request)
    async with client:
        if args.action == "list":
            return await _list(args, client)
        if args.action == "show":
            voice = await client.get(args.voice_id)
            print(_pretty(voice) if args.json else _describe(voice))
            return 0
        if args.action == "delete":
            await client.delete(args.voice_id)
            print(f"deleted {args.voice_id}")
            return 0
        return await suggest(client, cfg, lang=args.lang, write=args.write)


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _list_text(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value or "")


async def _list(args: argparse.Namespace, client: VoicesClient) -> int:
    terms = []
    if args.source:
        terms.append(f'source = "{"SYSTEM" if args.source == "system" else "IVC"}"')
    if args.lang:
        if not re.fullmatch(r"[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,4})?", args.lang):
            return _fail(f"--lang must look like en, en-US or en_US, got {args.lang!r}", 2)
        terms.append(f'lang_code = "{args.lang}"')
    if args.page_size < 1:
        return _fail("--page-size must be at least 1", 2)
    voices = await client.list_all(" AND ".join(terms) or None, args.page_size)
    if args.json:
        print(_pretty(voices))
        return 0
    rows = [
        (*(str(v.get(k) or "") for k in ("voiceId", "displayName", "langCode", "gender")),
         _list_text(v.get("tags")))
        for v in voices
    ]  # fmt: skip
    print(table(("ID", "NAME", "LANGUAGE", "GENDER", "TAGS"), rows))
    print(f"{len(voices)} voice{'s' if len(voices) != 1 else ''}", file=sys.stderr)
    return 0


def _describe(voice: dict[str, Any]) -> str:
    keys = ("voiceId", "displayName", "langCode", "source", "gender", "ageGroup",
            "description", "tags", "categories", "name")  # fmt: skip
    return "\n".join(f"{k}: {_list_text(voice.get(k))}" for k in keys if k in voice)


def _clone_request(args: argparse.Namespace) -> dict[str, Any] | int:
    """The clone request after the local checks, or the exit status when they fail."""
    code = lang_code(args.lang)
    if code is None:
        return _fail(f"--lang {args.lang!r} is not one of Inworld's languages: "
                     f"{', '.join(sorted(_LANG_CODES))} (or EN_US, DE_DE, ...)", 2)  # fmt: skip
    transcripts = args.transcript or []
    if transcripts and len(transcripts) != len(args.files):
        return _fail("give --transcript once per FILE (or not at all)", 2)
    infos = []
    for name in args.files:
        try:
            info = inspect(Path(name))
        except AudioCheckError as exc:
            return _fail(f"{exc}; nothing was uploaded")
        print(info.describe(), file=sys.stderr)
        infos.append(info)
    errors, warnings = check_total(infos)
    if errors:
        return _fail(f"{errors[0]}; nothing was uploaded")
    for text in warnings:
        print(f"warning: {text}", file=sys.stderr)
    samples: list[dict[str, str]] = []
    for i, info in enumerate(infos):
        sample = {"audioData": base64.b64encode(info.path.read_bytes()).decode()}
        if transcripts:
            sample["transcription"] = transcripts[i]
        samples.append(sample)
    return {
        "displayName": args.name,
        "langCode": code,
        "voiceSamples": samples,
        "audioProcessingConfig": {"removeBackgroundNoise": bool(args.remove_noise)},
    }


class ProgressBar:
    """An upload progress bar on `stream`, drawn only when it is a terminal."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.active = stream.isatty()

    def __call__(self, sent: int, total: int) -> None:
        """Redraw for `sent` of `total` bytes; a newline once complete."""
        if not self.active or total <= 0:
            return
        filled = self.width * sent // total
        self.stream.write(
            f"\ruploading [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{100 * sent // total:3d}% {sent / 1e6:.1f}/{total / 1e6:.1f} MB"
        )
        if sent >= total:
            self.stream.write("\n")
        self.stream.flush()


async def _clone(args: argparse.Namespace, client: VoicesClient, request: dict[str, Any]) -> int:
    reply = await client.clone(request, ProgressBar(sys.stderr))
    checked = reply.get("audioSamplesValidated")
    checked = checked if isinstance(checked, list) else []
    errors, warnings = [], []
    for file, entry in zip(args.files, checked, strict=False):
        name = Path(file).name
        if isinstance(entry, dict):
            errors += [f"{name}: {e.get('text')}" for e in entry.get("errors") or []]
            warnings += [f"{name}: {w.get('text')}" for w in entry.get("warnings") or []]
    for text in warnings:
        print(f"warning: {text}", file=sys.stderr)
    if errors:
        for text in errors:
            _fail(f"Inworld refused the sample {text}")
        return 1
    voice = reply.get("voice")
    voice_id = voice.get("voiceId") if isinstance(voice, dict) else None
    if not isinstance(voice_id, str) or not voice_id:
        return _fail("Inworld's answer carries no voice id")
    if args.json:
        print(orjson.dumps({"voiceId": voice_id, "warnings": warnings}).decode())
        return 0
    print(f"voice id: {voice_id}")
    print("paste under [voices.map] (put the OpenAI voice name your clients send on the left):")
    print(f'alloy = "{voice_id}"')
    return 0
