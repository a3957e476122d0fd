"""The one vocabulary of event names the proxy knows (pure data).

OpenAI's client and server events (GA and beta), Inworld's own events, and Inworld's legacy
names with their GA equivalents. Everything that needs an event name set takes it from here:
the translator (`proxy.core.translate`), the metrics labels (`proxy.metrics.labels`).
Sources: docs/protocol-notes.md.
"""

from __future__ import annotations

__all__ = [
    "APPEND_PREFIXES",
    "BETA_EVENT_NAMES",
    "CLIENT_EVENTS",
    "DELTA_PREFIXES",
    "INWORLD_ONLY_EVENTS",
    "KNOWN_ERROR_CODES",
    "KNOWN_EVENT_TYPES",
    "LEGACY_EVENT_NAMES",
    "LIVE_CLIENT_EVENTS",
    "NOT_PARSED_FOR_METRICS",
    "SERVER_EVENTS",
    "TEXT_DELTAS",
    "UNCHANGED_FROM_CLIENT",
    "UNCHANGED_FROM_UPSTREAM",
]

# Client events forwarded unchanged (as the very bytes received) once their type is sniffed:
# no rule ever changes them.
UNCHANGED_FROM_CLIENT = frozenset({"input_audio_buffer.append"})
# Server events forwarded unchanged once the session is open (GA clients; beta clients get them
# renamed without parsing, see `proxy.core.dialect.beta_fast_rename`).
UNCHANGED_FROM_UPSTREAM = frozenset(
    {
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
        "conversation.item.input_audio_transcription.delta",
    }
)
# The most frequent frames, recognised by their first bytes alone (compact and Python-style
# JSON; the type's closing quote is part of the prefix, so no longer type can match).
APPEND_PREFIXES = (b'{"type":"input_audio_buffer.append"', b'{"type": "input_audio_buffer.append"')
DELTA_PREFIXES = (
    b'{"type":"response.output_audio.delta"',
    b'{"type": "response.output_audio.delta"',
)
# Pass-through sessions parse frames for metrics, except these (audio and text deltas, GA and
# beta names): the observer needs only their type.
NOT_PARSED_FOR_METRICS = frozenset(
    {
        "input_audio_buffer.append",
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
        "response.audio.delta",
        "response.audio_transcript.delta",
        "response.text.delta",
        "conversation.item.input_audio_transcription.delta",
    }
)
# Deltas that carry a response's text (first-text latency).
TEXT_DELTAS = frozenset({"response.output_text.delta", "response.output_audio_transcript.delta"})
# GA server event name -> beta name (beta dialect clients).
BETA_EVENT_NAMES: dict[str, str] = {
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "conversation.item.added": "conversation.item.created",
}

# Beta-style names Inworld has emitted (`docs/protocol-notes.md#inworld-legacy-event-names`)
# -> GA names.
LEGACY_EVENT_NAMES: dict[str, str] = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "input_audio_transcription.delta": "conversation.item.input_audio_transcription.delta",
    "input_audio_buffer.transcription.delta": "conversation.item.input_audio_transcription.delta",
}

# Inworld-only server events (`docs/protocol-notes.md#inworld-only-events`); dropped when
# `Rules.drop_inworld_only_events`.
INWORLD_ONLY_EVENTS = frozenset(
    {
        "response.backchannel.audio.delta",
        "response.backchannel.audio.done",
        "response.backchannel.skipped",
        "response.responsiveness.audio.delta",
        "response.responsiveness.audio.done",
        "input_audio_buffer.turn_suggestion",
        "input_audio_buffer.turn_suggestion_revoked",
        "response.memory.extracted",
        "conversation.item.input_audio_transcription.updated",
    }
)


CLIENT_EVENTS = frozenset(
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

SERVER_EVENTS = frozenset(
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

# OpenAI Live client events (docs/protocol-notes.md#openai-live-events; proxy.core.live).
LIVE_CLIENT_EVENTS = frozenset(
    {
        "session.start",
        "session.update",
        "session.input_audio.append",
        "session.input_audio.mute",
        "session.input_audio.unmute",
        "session.output_audio.fixture.play",
        "session.instructions.append",
        "session.thinking.append",
        "session.commentary.append",
        "decision.create",
        "decision.item.create",
        "decision.item.delete",
        "response.item.create",
        "response.create",
        "session.close",
        "transport.dtmf.send",
    }
)

KNOWN_EVENT_TYPES: frozenset[str] = (
    CLIENT_EVENTS
    | SERVER_EVENTS
    | INWORLD_ONLY_EVENTS
    | frozenset(LEGACY_EVENT_NAMES)
    | LIVE_CLIENT_EVENTS
)

KNOWN_ERROR_CODES = frozenset(
    {
        # OpenAI (docs/protocol-notes.md#openai-errors)
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
        # Inworld (docs/protocol-notes.md#inworld-errors)
        "item_not_found",
        "invalid_item_type",
        "no_user_message",
        "text_not_pushed",
        "no_STT_session",
        # the proxy's own (proxy.core.error_events)
        "upstream_unauthorized",
        "upstream_rate_limited",
        "upstream_unavailable",
        "upstream_connection_lost",
    }
)
