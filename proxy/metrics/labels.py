"""Bounded label values for metrics (pure).

A label value taken from the wire must come from a closed set, or a client could create
unbounded time series. `event_type_label` and `error_code_label` map anything outside the
vocabulary of `proxy.core.events` to `"other"`; `model_labeler` labels a model by the Inworld
LLM it maps to.
"""

from __future__ import annotations

from collections.abc import Callable

from proxy.config import Rules
from proxy.core.events import KNOWN_ERROR_CODES, KNOWN_EVENT_TYPES
from proxy.core.rewrite import map_model

__all__ = ["OTHER", "error_code_label", "event_type_label", "model_labeler"]

OTHER = "other"


def event_type_label(kind: str | None) -> str:
    """`kind` if it is a known OpenAI/Inworld event type, else `"other"`."""
    if kind is not None and kind in KNOWN_EVENT_TYPES:
        return kind
    return OTHER


def error_code_label(code: object) -> str:
    """A known error code as is; `"none"` for a missing code; `"other"` for anything else."""
    if code is None:
        return "none"
    return code if isinstance(code, str) and code in KNOWN_ERROR_CODES else OTHER


def model_labeler(rules: Rules) -> Callable[[str | None], str]:
    """Label a model name by the Inworld LLM it maps to: a configured id, or `"other"`.

    Accepts the client's name (`gpt-realtime`) or Inworld's id (`openai/gpt-5.5`) alike, so
    the label is the same whichever of the two a `session.updated` shows.
    """
    known = frozenset(rules.model_map.values()) | {rules.model_fallback}

    def label(name: str | None) -> str:
        model = map_model(rules, name)
        return model if model in known else OTHER

    return label
