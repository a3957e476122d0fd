"""proxy.core.sniff: the hot path's type detection is right when sure and None when not."""

import pytest

from proxy.core.sniff import sniff_type


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type":"input_audio_buffer.append","audio":"AAAA"}', "input_audio_buffer.append"),
        ('{"type": "input_audio_buffer.append", "audio": "AA"}', "input_audio_buffer.append"),
        ('{"event_id":"e1","type":"response.output_audio.delta"}', "response.output_audio.delta"),
        ('{\n  "type" :  "ping"}', "ping"),
        # a nested "type" first: not the top-level one, so unsure
        ('{"session":{"type":"realtime"},"type":"session.update"}', None),
        ('{"items":["type"],"type":"x"}', None),
        ('{"audio":"' + "A" * 300 + '","type":"input_audio_buffer.append"}', None),
        ('{"type":"a\\"b"}', None),
        ('{"type":42}', None),
        ('{"event_id":"x\\"type\\":\\"input_audio_buffer.append"}', None),
        ("not json", None),
        ('{"type"', None),
        ('{"type":"' + "x" * 300 + '"}', None),  # the value runs past the window
        ('{"type":"a\\\\b"}', None),
        ('{"type": "response.output_audio.delta", "delta": "AA"}', "response.output_audio.delta"),
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_sniff_type(text: str, expected: str | None, as_bytes: bool) -> None:
    """sniff_type returns the top-level type only when it is certain (str or raw bytes)."""
    assert sniff_type(text.encode() if as_bytes else text) == expected
