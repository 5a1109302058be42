"""Base64 text as the vendors' `Stream` fields carry it: what .NET's Convert.FromBase64String accepts (padded
base64, whitespace anywhere), checked in bounded chunks and brought to its canonical spelling.

Shared by the contract (a `format: byte` value is valid exactly when `base64_text` reads it) and the mail
pipeline (attachments are written from the canonical text without decoding it whole).
"""

from __future__ import annotations

import base64
import binascii
import re

_WHITESPACE = re.compile(r"\s+")
# Bounded steps for checking and re-wrapping base64 text: a multiple of 4 (whole quanta) and of 76 (whole lines).
BASE64_CHUNK = 76 * 4 * 256


def base64_text(value: object) -> str | None:
    """The canonical base64 text of a client's `Stream` (.NET's Convert.FromBase64String: padded base64,
    whitespace anywhere), or None when it is not base64.

    Checked in bounded chunks, so that a large attachment is never decoded whole. Canonical means what
    encoding the decoded bytes again would give: a final quantum whose unused bits are not zero ("QR==",
    which .NET and Python both accept as "A") is rewritten, so the text can be wrapped into lines as it is.
    """
    text = str(value)
    if not _base64_ok(text):
        stripped = _WHITESPACE.sub("", text)
        if stripped == text or not _base64_ok(stripped):
            # Odd but accepted all the same ("AAAA=": padding after a whole quantum), as by b64decode(validate=True):
            # the rare case pays for a whole decode.
            try:
                return base64.b64encode(base64.b64decode(stripped, validate=True)).decode("ascii")
            except (binascii.Error, ValueError):
                return None
        text = stripped
    if text.endswith("="):
        last = text[-4:]
        canonical = binascii.b2a_base64(binascii.a2b_base64(last), newline=False).decode("ascii")
        if canonical != last:
            text = text[:-4] + canonical
    return text


_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# What str.split() and the regular expression `\s` take for whitespace among the ASCII characters.
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def _base64_ok(text: str) -> bool:
    """Whether `binascii.a2b_base64(text, strict_mode=True)` takes a text of whole quanta, without decoding it
    (CPython decodes about 0.5 GB/s; checking the alphabet is several times faster): the alphabet, and up to two
    `=` that end the text. `tests/formats/test_base64text.py` holds the two to the same answers."""
    if len(text) % 4 or not text.isascii():
        return False
    last = len(text) - BASE64_CHUNK
    for start in range(0, len(text), BASE64_CHUNK):
        chunk = text[start : start + BASE64_CHUNK].encode("ascii")
        if start >= last:  # the last chunk (whole quanta, as every chunk is): padding may end it
            body = chunk.rstrip(b"=")
            if len(chunk) - len(body) > 2:
                return False
            chunk = body
        if chunk.translate(None, _ALPHABET):
            return False
    return True


def has_whitespace(text: str) -> bool:
    """Whether the text has any character the regular expression `\\s` matches (scanned without a copy)."""
    if text.isascii():
        return any(space in text for space in _ASCII_WHITESPACE)
    return _WHITESPACE.search(text) is not None
