"""UTF-8 checks of TEXT messages (`proxy.ws.utf8`): whole payloads and fragment by fragment."""

from __future__ import annotations

import codecs
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.ws.utf8 import Utf8Stream, valid_utf8

BAD = [
    b"\xff",  # never in UTF-8
    b"\xc0\xaf",  # overlong "/"
    b"\xed\xa0\x80",  # a surrogate (U+D800)
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xce",  # a sequence cut short
    b"\x80",  # a lone continuation byte
]


def starts_utf8(data: bytes) -> bool:
    """`data` is valid UTF-8 or the start of some."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@given(st.binary(max_size=64) | st.text(max_size=32).map(str.encode))
def test_valid_utf8_agrees_with_the_codec(data: bytes) -> None:
    assert valid_utf8(data) is decodes(data)


@pytest.mark.parametrize("bad", BAD)
def test_invalid_sequences_are_refused(bad: bytes) -> None:
    assert not valid_utf8(b'{"a":"' + bad + b'"}')


def test_ascii_and_multibyte_text_pass() -> None:
    assert valid_utf8(b'{"type":"response.output_audio.delta","delta":"AAAA"}')
    assert valid_utf8("κόσμε 𝄞 é".encode())
    assert valid_utf8(b"")


@given(st.binary(max_size=48), st.lists(st.integers(0, 48), max_size=6))
def test_pieces_agree_with_the_whole(data: bytes, cuts: list[int]) -> None:
    """Split anywhere and fed piece by piece: valid at the end exactly when the whole is, and
    refused at the first piece after which the bytes so far cannot start valid UTF-8."""
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    stream, last = Utf8Stream(), len(bounds) - 2
    for i, (start, end) in enumerate(itertools.pairwise(bounds)):
        if not stream.feed(data[start:end], final=i == last):
            assert not decodes(data)
            assert not starts_utf8(data[:end]) or i == last
            assert i == 0 or starts_utf8(data[:start])
            return
    assert decodes(data)


def test_a_bad_byte_fails_with_its_piece_not_at_the_end() -> None:
    """Autobahn 6.4.2: the fragment holding the first impossible byte is the one refused."""
    stream = Utf8Stream()
    assert stream.feed("κόσμε".encode(), final=False)
    assert stream.feed(b"\xf4", final=False)  # could still become U+10xxxx
    assert not stream.feed(b"\x90", final=False)  # cannot: above U+10FFFF


def test_a_sequence_open_at_the_end_fails_only_when_final() -> None:
    stream = Utf8Stream()
    assert stream.feed(b"abc\xce", final=False)
    assert not stream.feed(b"", final=True)


def test_the_stream_is_reusable_after_a_message() -> None:
    stream = Utf8Stream()
    assert not stream.feed(b"\xff", final=True)
    assert stream.feed(b"ok \xce", final=False)
    assert stream.feed(b"\xba", final=True)
    assert stream.feed(b"next", final=True)
