"""What the emulated Inworld service accepts: model, STT, TTS and voice ids
(docs/protocol-notes.md#inworld-model-ids, cited as ``#inworld-model-ids`` below).

Pure data plus predicates. The lists hold only ids seen in Inworld's documentation or code;
anything else an OpenAI client might send (``gpt-realtime``, ``marin``, ``whisper-1``) is
rejected, so a test that passes through the emulator proves the proxy translated it.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "KNOWN_BARE_LLMS",
    "KNOWN_LLM_PROVIDERS",
    "KNOWN_STT_MODELS",
    "KNOWN_TTS_MODELS",
    "KNOWN_VOICES",
    "SYSTEM_VOICES",
    "SystemVoice",
    "is_known_stt",
    "is_known_tts",
    "is_known_voice",
    "is_routable_llm",
]

# #inworld-model-ids: provider prefixes (documented LLM ids and the Inworld router/hosted forms).
KNOWN_LLM_PROVIDERS: frozenset[str] = frozenset(
    {"openai", "anthropic", "google-ai-studio", "groq", "inworld"}
)

# #inworld-model-ids: documented bare ids, plus the model half of each documented
# `provider/model` id: the router accepts a bare id and picks the provider itself
# (docs/protocol-notes.md#inworld-router). Inferred for the latter.
KNOWN_BARE_LLMS: frozenset[str] = frozenset(
    {
        "claude-sonnet-4-6",
        "llama-3.3-70b-versatile",
        "gpt-4o-mini",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "gpt-5.2",
        "gpt-5.4",
        "gpt-5.4-mini",
        "gemini-2.5-flash",
        "gemini-3.1-flash-lite",
        "gpt-oss-120b",
    }
)

# #inworld-model-ids: STT ids (documented).
KNOWN_STT_MODELS: frozenset[str] = frozenset(
    {
        "inworld/inworld-stt-1",
        "assemblyai/u3-rt-pro",
        "assemblyai/universal-streaming-multilingual",
        "assemblyai/universal-streaming-english",
        "soniox/stt-rt-v4",
    }
)

# #inworld-model-ids: TTS ids (documented, current and older).
KNOWN_TTS_MODELS: frozenset[str] = frozenset(
    {
        "inworld-tts-2",
        "inworld-tts-2-flash",
        "inworld-tts-1.5-max",
        "inworld-tts-1.5-mini",
        "inworld-tts-1",
        "inworld-tts-1-max",
    }
)


@dataclass(frozen=True, slots=True)
class SystemVoice:
    """One voice of the emulated catalogue, as the voices API lists it
    (docs/protocol-notes.md#inworld-voices-api).

    Only what a source gives is filled in: the id, the gender (the prototype's grouping) and
    English; `description`, `tags`, `categories` and `age_group` only for ``Alex`` (the docs'
    own example). Everything else stays empty rather than invented.
    """

    voice_id: str
    gender: str
    lang_code: str = "EN_US"
    description: str = ""
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    age_group: str = ""


_FEMALE = ("Ashley", "Deborah", "Hana", "Luna", "Olivia", "Pixie", "Sarah", "Wendy")
_MALE = (
    "Blake", "Carter", "Clive", "Craig", "Dennis", "Dominus", "Edward", "Hades", "Mark",
    "Ronald", "Theodore", "Timothy", "Jason",
)  # fmt: skip

# #inworld-model-ids: English system voices (prototype list, Jan 2026) plus `Jason` (tau2
# default); `Alex` as the list-voices documentation shows it.
SYSTEM_VOICES: tuple[SystemVoice, ...] = (
    SystemVoice(
        "Alex",
        "male",
        description="Energetic and expressive mid-range male voice",
        tags=("friendly", "expressive"),
        categories=("companions",),
        age_group="middle_aged",
    ),
    *(SystemVoice(name, "female") for name in _FEMALE),
    *(SystemVoice(name, "male") for name in _MALE),
)

KNOWN_VOICES: frozenset[str] = frozenset(v.voice_id for v in SYSTEM_VOICES)

# #inworld-model-ids: custom (cloned or designed) voices: `<workspace>__<name>[_<timestamp>]`.
_CUSTOM_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*__[A-Za-z0-9][A-Za-z0-9_.-]*")
_ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")


def is_routable_llm(model: str, extra_providers: Iterable[str] = ()) -> bool:
    """Whether Inworld would route ``model`` (``#inworld-model-ids``).

    ``provider/model`` is routable when the provider is known (or in ``extra_providers``) and
    the model half is a plausible id, so unlisted models of a known provider pass
    (``openai/gpt-5.5``). A bare id is routable only if it is in ``KNOWN_BARE_LLMS``, so
    OpenAI realtime ids such as ``gpt-realtime`` are rejected.
    """
    provider, sep, rest = model.partition("/")
    if not sep:
        return model in KNOWN_BARE_LLMS
    providers = KNOWN_LLM_PROVIDERS.union(extra_providers)
    return provider in providers and _ID_PART.fullmatch(rest) is not None


def is_known_stt(model: str) -> bool:
    """Whether ``model`` is a documented Inworld realtime STT id (exact match)."""
    return model in KNOWN_STT_MODELS


def is_known_tts(model: str) -> bool:
    """Whether ``model`` is a documented Inworld TTS id (exact match)."""
    return model in KNOWN_TTS_MODELS


def is_known_voice(
    voice: str,
    extra_voices: Iterable[str] = (),
    custom: Callable[[str], bool] | None = None,
) -> bool:
    """Whether ``voice`` is a system voice, an extra voice, or a ``<workspace>__<name>`` id.

    Case-sensitive, as Inworld's voice ids are (``#inworld-model-ids``): ``ashley`` is not
    ``Ashley``. With ``custom`` (the voices store's lookup), a ``<workspace>__<name>`` id must
    also pass it: a voice that was never cloned, or was deleted, is then unknown.
    """
    if voice in KNOWN_VOICES or voice in set(extra_voices):
        return True
    if _CUSTOM_VOICE.fullmatch(voice) is None:
        return False
    return custom is None or custom(voice)
