"""The bounded vocabularies metrics use as label values (pure data).

A label value taken from the wire must come from a closed set, or a client could create
unbounded time series. `event_type_label` and `error_code_label` map anything outside these
sets to `"other"`. Sources: `openai-realtime.md` §2.1, §2.2, §7 and `inworld-realtime.md` §3.
"""

from __future__ import annotations

from collections.abc import Callable

from proxy.config import Rules
from proxy.rewrite import map_model
from proxy.translate import INWORLD_ONLY_EVENTS, LEGACY_EVENT_NAMES

__all__ = [
    "KNOWN_ERROR_CODES",
    "KNOWN_EVENT_TYPES",
    "OTHER",
    "error_code_label",
    "event_type_label",
    "model_labeler",
]

OTHER = "other"

_CLIENT_EVENTS = frozenset(
    {
        "session.update",
        "session.close",
        "transcription_session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
        "output_audio_buffer.clear",
    }
)

_SERVER_EVENTS = frozenset(
    {
        "error",
        "session.created",
        "session.updated",
        "transcription_session.created",
        "transcription_session.updated",
        "conversation.created",
        "conversation.item.created",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.retrieved",
        "conversation.item.truncated",
        "conversation.item.deleted",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.dtmf_event_received",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "response.created",
        "response.done",
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "rate_limits.updated",
        "ping",  # Inworld's keep-alive
    }
)

KNOWN_EVENT_TYPES: frozenset[str] = (
    _CLIENT_EVENTS | _SERVER_EVENTS | INWORLD_ONLY_EVENTS | frozenset(LEGACY_EVENT_NAMES)
)

KNOWN_ERROR_CODES = frozenset(
    {
        # OpenAI (openai-realtime.md §7)
        "invalid_value",
        "invalid_json",
        "invalid_event",
        "invalid_type",
        "unknown_parameter",
        "integer_below_min_value",
        "beta_api_shape_disabled",
        "invalid_api_key",
        "invalid_model",
        "missing_model",
        "conversation_already_has_active_response",
        "response_cancel_not_active",
        "cannot_update_voice",
        "input_audio_buffer_commit_empty",
        "session_expired",
        "bad_response_create",
        "rate_limit_exceeded",
        # Inworld (inworld-realtime.md §3)
        "item_not_found",
        "invalid_item_type",
        "no_user_message",
        "text_not_pushed",
        "no_STT_session",
        # the proxy's own (proxy.errors)
        "upstream_unauthorized",
        "upstream_rate_limited",
        "upstream_unavailable",
        "upstream_connection_lost",
    }
)


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
