"""A small Dockerfile reader for tests: instructions by stage, exec-form arguments, ENV, and the
build context a `.dockerignore` leaves. Enough for this project's Dockerfile; not a full parser.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Dockerfile", "Instruction", "Stage", "context_includes"]


@dataclass(frozen=True)
class Instruction:
    """One instruction: upper-case keyword and its argument text (continuations joined)."""

    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form argument list; fails if the instruction uses shell form."""
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.keyword} is not in exec form: {self.args}"
        assert all(isinstance(item, str) for item in value)
        return value


@dataclass
class Stage:
    """One build stage: its base image, optional name and instructions."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"no {keyword} in stage {self.name or self.base}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """ENV key=value pairs of this stage, in order (later ones win)."""
        out: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.args):
                key, sep, value = pair.partition("=")
                assert sep, f"ENV must use key=value form: {instruction.args}"
                out[key] = value
        return out


@dataclass
class Dockerfile:
    """A parsed Dockerfile."""

    stages: list[Stage]

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        lines: list[str] = []
        pending = ""
        for raw in path.read_text().splitlines():
            stripped = raw.strip()
            if stripped.startswith("#") or not stripped:
                continue  # also inside a continuation, as Docker does
            if stripped.endswith("\\"):
                pending += stripped[:-1].rstrip() + " "
                continue
            lines.append(pending + stripped)
            pending = ""
        assert not pending, "Dockerfile ends inside a line continuation"
        stages: list[Stage] = []
        for line in lines:
            keyword, _, args = line.partition(" ")
            keyword = keyword.upper()
            if keyword == "FROM":
                words = args.split()
                name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
                stages.append(Stage(base=words[0], name=name))
                continue
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append(Instruction(keyword, args.strip()))
        return cls(stages)

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def _ignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path (or one of its parents) decides."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        for candidate in candidates:
            if fnmatch.fnmatchcase(candidate, body) or (
                body.startswith("**/") and fnmatch.fnmatchcase(candidate.split("/")[-1], body[3:])
            ):
                ignored = not negate
                break
    return ignored


def context_includes(root: Path, rel: str) -> bool:
    """Whether `rel` (a path relative to the build context root) reaches the build context."""
    ignore = root / ".dockerignore"
    if not ignore.exists():
        return True
    patterns = [
        line.strip()
        for line in ignore.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    return not _ignored(rel, patterns)
