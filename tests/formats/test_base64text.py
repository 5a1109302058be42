"""Base64 text as a `Stream` carries it: accepted exactly where the stdlib's strict decoder accepts it, in
bounded chunks."""

from __future__ import annotations

import base64
import binascii
import re

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
