"""The ``filter`` expression of the emulated list-voices call (pure).

Inworld documents ``source = "SYSTEM" AND lang_code = "en"``; a third-party client also sends
``OR`` inside parentheses (docs/protocol-notes.md#inworld-voices-api). Grammar accepted here::

    expr := conj ("OR" conj)*        conj := term ("AND" term)*
    term := "(" expr ")" | field "=" '"' value '"'      field := source | lang_code

Keywords are case-insensitive. ``source`` is ``SYSTEM`` or ``IVC``; ``lang_code`` accepts
BCP-47 (``en-US``), underscore (``en_US``) or a language prefix (``en``), matched against the
upper-snake ``langCode`` (``EN_US``). Other fields are unknown for Inworld and refused.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FilterError", "parse_filter"]

Predicate = Callable[[Mapping[str, Any]], bool]
_TOKEN = re.compile(r'\s*(?:(\()|(\))|(=)|"([^"]*)"|([A-Za-z_]+))')


class FilterError(ValueError):
    """The filter cannot be parsed; the message is what the API answers (HTTP 400)."""


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FilterError(f"Invalid filter: unexpected text at position {pos}.")
        lparen, rparen, eq, string, word = match.groups()
        out.append(lparen or rparen or eq or ('"' + string if string is not None else word))
        pos = match.end()
    return out


def _lang_matches(wanted: str) -> Predicate:
    code = wanted.replace("-", "_").upper()

    def matches(voice: Mapping[str, Any]) -> bool:
        lang = str(voice.get("langCode", ""))
        return lang == code or lang.startswith(code + "_")

    return matches


def _term(field: str, value: str) -> Predicate:
    if field == "source":
        return lambda v: v.get("source") == value
    if field == "lang_code":
        return _lang_matches(value)
    raise FilterError(f"Invalid filter: unsupported field '{field}'.")


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise FilterError("Invalid filter: unexpected end.")
        self.pos += 1
        return token

    def expr(self) -> Predicate:
        parts = [self.conj()]
        while (self.peek() or "").upper() == "OR":
            self.take()
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else (lambda v: any(p(v) for p in parts))

    def conj(self) -> Predicate:
        parts = [self.term()]
        while (self.peek() or "").upper() == "AND":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda v: all(p(v) for p in parts))

    def term(self) -> Predicate:
        token = self.take()
        if token == "(":
            inner = self.expr()
            if self.take() != ")":
                raise FilterError("Invalid filter: missing ')'.")
            return inner
        field = token.lower()
        if self.take() != "=":
            raise FilterError(f"Invalid filter: expected '=' after '{token}'.")
        value = self.take()
        if not value.startswith('"'):
            raise FilterError(f"Invalid filter: expected a quoted value for '{token}'.")
        return _term(field, value[1:])


def parse_filter(text: str) -> Predicate:
    """A predicate over voice objects for a ``filter`` expression.

    Raises:
        FilterError: the expression is malformed or names a field other than source/lang_code.
    """
    parser = _Parser(_tokens(text))
    predicate = parser.expr()
    if parser.peek() is not None:
        raise FilterError(f"Invalid filter: unexpected '{parser.peek()}'.")
    return predicate
