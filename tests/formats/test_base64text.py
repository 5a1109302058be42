"""Base64 text as a `Stream` carries it: accepted exactly where the stdlib's strict decoder accepts it, in
bounded chunks."""

from __future__ import annotations

import base64
import binascii
import re
from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.formats import base64text
from mockserver.formats.base64text import base64_text


@given(st.text(alphabet="AQgw+/=  \nx-é", max_size=40))
def test_base64_is_accepted_exactly_when_the_stdlib_accepts_it(text: str) -> None:
    try:
        expected: bytes | None = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        expected = None
    canonical = base64_text(text)
    assert (canonical is not None) == (expected is not None)
    if expected is not None:
        assert canonical == base64.b64encode(expected).decode()


def test_base64_chunks_check_padding_only_at_the_very_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base64text, "BASE64_CHUNK", 8)
    assert base64_text("QUJDREVG" + "QUI=") == "QUJDREVGQUI="
    assert base64_text("QUI=QUJD") is None  # padding inside: refused, as by b64decode(validate=True)
    assert base64_text("QUJDQUI=" + "QUJD") is None  # padding at the end of a chunk that is not the last
    assert base64_text("QR==") == "QQ=="  # unused bits set: the canonical spelling of the same byte
    assert base64_text("AAAA=") == "AAAA"  # padding after a whole quantum: b64decode(validate=True) takes it


@given(st.text(alphabet="AQgw+/=x \n-é\x1c", max_size=40), st.sampled_from([4, 8, 12, 77_824]))
def test_the_alphabet_check_takes_what_the_strict_decoder_takes(text: str, chunk: int) -> None:
    """`_base64_ok` checks without decoding, in chunks of any size; `a2b_base64(strict_mode=True)` is the definition
    for whole quanta (other lengths go `base64_text`'s slow way, which the property above covers)."""
    try:
        binascii.a2b_base64(text, strict_mode=True)
        expected = len(text) % 4 == 0
    except (binascii.Error, ValueError):
        expected = False
    with patch.object(base64text, "BASE64_CHUNK", chunk):
        assert base64text._base64_ok(text) is expected


@given(st.text(alphabet=st.characters(max_codepoint=0x3000), max_size=30))
def test_whitespace_is_what_the_regular_expression_calls_whitespace(text: str) -> None:
    assert base64text.has_whitespace(text) is (re.search(r"\s", text) is not None)
