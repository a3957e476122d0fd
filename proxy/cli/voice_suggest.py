"""`voices suggest`: Inworld system voices for each OpenAI voice, and a `[voices.map]` block.

For every OpenAI voice the candidates are the Inworld system voices of the asked language
whose `gender` matches (Inworld's list-voices answer carries the gender). OpenAI publishes no
genders for its voices: `OPENAI_VOICES` is this project's reading, the same one the default
`[voices.map]` follows. The suggestion keeps the configured mapping when it is a candidate, and
otherwise spreads the candidates over the OpenAI voices of that gender.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from proxy.cli.output import table
from proxy.config import Config

if TYPE_CHECKING:
    from proxy.cli.voices_api import VoicesClient

__all__ = ["OPENAI_VOICES", "plan", "suggest", "toml_block"]

OPENAI_VOICES: dict[str, str] = {
    "alloy": "female", "ash": "male", "ballad": "male", "cedar": "male", "coral": "female",
    "echo": "male", "marin": "female", "sage": "female", "shimmer": "female", "verse": "male",
}  # fmt: skip


def plan(
    catalog: list[dict[str, object]], current: dict[str, str]
) -> list[tuple[str, str, str | None, list[str]]]:
    """(OpenAI voice, gender, suggested Inworld voice or None, candidates) per OpenAI voice."""
    by_gender: dict[str, list[str]] = {}
    for voice in catalog:
        gender, voice_id = voice.get("gender"), voice.get("voiceId")
        if isinstance(gender, str) and isinstance(voice_id, str) and gender:
            by_gender.setdefault(gender.lower(), []).append(voice_id)
    used: dict[str, int] = {}
    rows = []
    for name, gender in sorted(OPENAI_VOICES.items()):
        candidates = by_gender.get(gender, [])
        if current.get(name) in candidates:
            choice: str | None = current[name]
        elif candidates:
            choice = candidates[used.get(gender, 0) % len(candidates)]
            used[gender] = used.get(gender, 0) + 1
        else:
            choice = None
        rows.append((name, gender, choice, candidates))
    return rows


def toml_block(rows: list[tuple[str, str, str | None, list[str]]], lang: str) -> str:
    """The `[voices.map]` block for the suggestions (a comment for voices without one)."""
    lines = ["[voices.map]"]
    for name, gender, choice, _ in rows:
        if choice is None:
            lines.append(f"# {name}: no {gender} system voice for language {lang}")
        else:
            lines.append(f'{name} = "{choice}"')
    return "\n".join(lines)


async def suggest(client: VoicesClient, cfg: Config, *, lang: str, write: Path | None) -> int:
    """Print the suggestions (and write the block to `write`); return the exit status."""
    if write is not None and write.exists():  # noqa: ASYNC240 (a CLI run: nothing else waits)
        print(
            f"inworld-realtime-proxy: error: {write} exists; choose another --write file",
            file=sys.stderr,
        )
        return 2
    safe = lang.replace('"', "")
    catalog = await client.list_all(f'source = "SYSTEM" AND lang_code = "{safe}"', 500)
    rows = plan(catalog, dict(cfg.rules.voice_map))
    print(
        table(
            ("OPENAI", "GENDER", "SUGGESTED", "NOW", "CANDIDATES"),
            [(n, g, c or "-", cfg.rules.voice_map.get(n, "-"), ", ".join(cands) or "-")
             for n, g, c, cands in rows],
        )
    )  # fmt: skip
    block = toml_block(rows, lang)
    print()
    print(block)
    if write is not None:
        header = (
            f"# Written by `inworld-realtime-proxy voices suggest --lang {lang}`. Pass this file "
            "with --config\n# (map tables merge entry by entry with the defaults) or copy the "
            "block into yours.\n"
        )
        write.write_text(header + block + "\n", encoding="utf-8")  # noqa: ASYNC240 (as above)
        print(f"wrote {write}", file=sys.stderr)
    return 0
