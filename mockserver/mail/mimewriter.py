"""A `Draft` written straight to RFC 5322 bytes, for the shapes the mock builds.

The stdlib `email` package (`mime.reference_message`) parses every header value it is given and refolds it
from a parse tree when it writes; for a 7-mail SendEMails that was about 90 % of the request's CPU. The
messages the mock builds have a handful of shapes (text/plain, text/html, multipart/alternative,
multipart/related with inline `cid:` parts, multipart/mixed with attachments), so they are written here
directly: ASCII headers as they are; RFC 2047 encoded words and RFC 2231 parameters where text needs them;
bodies encoded exactly as the stdlib encodes them (the same heuristics and the same `quoprimime`/`binascii`
helpers), so that a body's bytes equal the reference's. Attachments are the client's base64, re-wrapped
into 76-column lines without decoding the whole blob.

The reference stays the definition: `tests/mail/test_mimewriter.py` parses what this module writes with
`BytesParser(policy=policy.default)` and requires the same headers, bodies, attachments and structure as the
stdlib's build of the same draft. An address that only SMTPUTF8 can carry makes the header block raw UTF-8
(RFC 6532). What this writer does not write (a message id that is no RFC 5322 msg-id, a line that cannot be kept
under 998 characters) is built by the reference instead, so every draft still becomes a message.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import urllib.parse
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from email import quoprimime
from email.headerregistry import Address
from email.utils import format_datetime

from mockserver.mail.mime import (
    _IMPORTANCE,
    _X_PRIORITY,
    MSG_ID,
    Attachment,
    Draft,
    Written,
    mailbox,
    reference_message,
)

LINE = 78  # policy.SMTP.max_line_length: lines are folded to this where they can be
MAX_LINE = 998  # RFC 5322 §2.1.1: never longer
CRLF = "\r\n"
_CHROME = len("=?utf-8?b??=")
_ENCODED_WORD = 75  # RFC 2047 §2
# What RFC 2047 §5(3) allows unencoded in a 'Q' word standing in a phrase; the stdlib's header map.
_Q_SAFE = frozenset(b"-!*+/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_Q_MAP = [chr(c) if c in _Q_SAFE else f"={c:02X}" for c in range(256)]
_Q_MAP[ord(" ")] = "_"
_Q_SAFE_BYTES = bytes(_Q_SAFE) + b" "  # each written as one character
_SPECIALS = frozenset('()<>@,:;."[]\\')


class _Unwritable(Exception):
    """This draft needs something only the stdlib's full header machinery does."""


def write(draft: Draft) -> Written:
    """The message a draft describes, as the outbox keeps it and as SMTP carries it."""
    try:
        return _write(draft)
    except _Unwritable:
        pass
    try:
        return Written.of_message(reference_message(draft))
    except Exception:
        # Still a message rather than a 500: a line over 998 characters, which a mail server may refuse (and
        # the outbox row then says so).
        return _write(draft, strict=False)


def _write(draft: Draft, strict: bool = True) -> Written:
    # An address only SMTPUTF8 can carry makes the whole header block UTF-8 (RFC 6532): no encoded words.
    utf8 = draft.needs_utf8
    head: list[str] = []
    bcc_index = None
    for name, found in draft.address_headers():
        if found:
            if name == "Bcc":
                bcc_index = len(head)
            head.append(_address_header(name, found, utf8, strict))
    head.append(_unstructured("Subject", draft.subject, utf8, strict))
    head.append(_date(draft.date))
    if strict and (not MSG_ID.fullmatch(draft.message_id) or len(draft.message_id) > MAX_LINE - 12):
        raise _Unwritable("message id")  # handlers only make and keep RFC 5322 msg-ids
    head.append("Message-ID: " + draft.message_id)
    if draft.in_reply_to:
        head.append(_unstructured("In-Reply-To", draft.in_reply_to, utf8, strict))
        head.append(_unstructured("References", draft.in_reply_to, utf8, strict))
    if draft.priority:
        head.append("X-Priority: " + _X_PRIORITY[draft.priority])
        head.append("Importance: " + _IMPORTANCE[draft.priority])
    for name, value in draft.custom:
        head.append(_unstructured(name, value, utf8, strict))
    head.append("MIME-Version: 1.0\r\n")
    entity = _entity(draft, _Boundaries(draft.message_id), utf8, strict)
    subject, from_header, to_header = draft.summary()
    bcc = None
    if bcc_index is not None:
        start = len(CRLF.join(head[:bcc_index]).encode("utf-8")) + (2 if bcc_index else 0)
        bcc = (start, start + len(head[bcc_index].encode("utf-8")) + 2)
    return Written(b"".join([CRLF.join(head).encode("utf-8"), *entity]), subject, from_header, to_header, bcc)


@functools.lru_cache(maxsize=1024)
def _date_header(wall: datetime, offset: timedelta | None) -> str:
    return "Date: " + format_datetime(wall.replace(tzinfo=timezone(offset) if offset is not None else None))


def _date(moment: datetime) -> str:
    # RFC 5322 dates name whole seconds: the mails of a request (and of a second) share one. The key is the wall
    # time and its offset: aware datetimes of one instant compare equal whatever their zone.
    return _date_header(moment.replace(microsecond=0, tzinfo=None), moment.utcoffset())


# -- headers ----------------------------------------------------------------------------------------------------


class _Folder:
    """One header's lines: atoms separated by single spaces, folded before an atom that would pass LINE.

    A fold replaces the space before an atom, so unfolding gives back exactly the text that was added.
    """

    def __init__(self, name: str, strict: bool = True) -> None:
        self.strict = strict
        self.done: list[str] = []
        self.line = name + ":"
        self.bare = True  # nothing after the colon yet: never fold there

    def room(self) -> int:
        return LINE - len(self.line) - 1

    def add(self, atom: str) -> None:
        # Never fold before an empty atom (a run of spaces): a line of only whitespace is not a folded line.
        if not self.bare and atom and len(self.line) + 1 + len(atom) > LINE:
            self.done.append(self.line)
            self.line = " " + atom
        else:
            self.line += " " + atom
        self.bare = False

    def add_encoded(self, text: str) -> None:
        """Text as RFC 2047 encoded words, split where the text has spaces.

        The whitespace between two encoded words is no part of the text (RFC 2047 §6.2), so a space of the
        text goes inside the word it starts (as CPython does since gh-92081); a word is cut only when it
        alone is too long for one encoded word.
        """
        data = text.encode("utf-8")
        if _word_length(data) <= self._word_room():  # most names and short subjects: one word
            self.add(_encoded_word(data))
            return
        current = b""
        for index, word in enumerate(text.split(" ")):
            piece = (" " + word if index else word).encode("utf-8")
            if current and _word_length(current + piece) > self._word_room():
                self._add_word(current)
                current = b""
            current += piece
        self._add_word(current)

    def _word_room(self) -> int:
        """The longest encoded word that still fits this line, or one on a new line when this one is full."""
        room = self.room()
        return min(_ENCODED_WORD, room) if room >= _CHROME + 8 or self.bare else _ENCODED_WORD

    def _add_word(self, data: bytes) -> None:
        word = _encoded_word(data)
        if len(word) <= self._word_room():
            self.add(word)
            return
        while data:  # one word too long for a single encoded word: cut it, between whole characters
            room = self._word_room()
            size = max((room - _CHROME) // 4 * 3, 3)
            while 0 < size < len(data) and data[size] & 0xC0 == 0x80:
                size -= 1
            if size == 0:  # not even one character fits (a very long header name): take one anyway
                size = 1
                while size < len(data) and data[size] & 0xC0 == 0x80:
                    size += 1
            self.add(_encoded_word(data[:size], q=False))
            data = data[size:]

    def text(self, value: str, utf8: bool = False) -> None:
        """Unstructured text: ASCII words as they are, the span from the first to the last word that needs
        encoding as encoded words (UTF-8 words as they are in an SMTPUTF8 message)."""
        words = value.split(" ")
        marked = [i for i, word in enumerate(words) if _needs_encoding(word, utf8)]
        if not marked:
            for word in words:
                self.add(word)
            return
        for word in words[: marked[0]]:
            self.add(word)
        self.add_encoded(" ".join(words[marked[0] : marked[-1] + 1]))
        for word in words[marked[-1] + 1 :]:
            self.add(word)

    def close(self) -> str:
        lines = [*self.done, self.line]
        if self.strict and any(len(line.encode("utf-8")) > MAX_LINE for line in lines):
            raise _Unwritable("line too long")
        return CRLF.join(lines)


def _needs_encoding(word: str, utf8: bool) -> bool:
    """Non-ASCII text (outside an SMTPUTF8 message), what a reader would take for an encoded word, and a word
    too long for any line."""
    return (not utf8 and not word.isascii()) or "=?" in word or len(word) > MAX_LINE - 80


def _word_length(data: bytes) -> int:
    """How long the encoded word for `data` is: Q's length when it is no longer than B's (SHORTEST), else B's."""
    return _CHROME + min(len(data) + 2 * len(data.translate(None, _Q_SAFE_BYTES)), (len(data) + 2) // 3 * 4)


def _encoded_word(data: bytes, q: bool = True) -> str:
    """One RFC 2047 word: Q when it is no longer than B (the stdlib's SHORTEST), else B."""
    if q and len(data) + 2 * len(data.translate(None, _Q_SAFE_BYTES)) <= (len(data) + 2) // 3 * 4:
        return "=?utf-8?q?" + data.decode("latin-1").translate(_Q_MAP) + "?="
    return "=?utf-8?b?" + binascii.b2a_base64(data, newline=False).decode("ascii") + "?="


def _unstructured(name: str, value: str, utf8: bool = False, strict: bool = True) -> str:
    if not value:
        return name + ":"
    if len(name) + 2 + len(value) <= LINE and value.isascii() and "=?" not in value:
        return f"{name}: {value}"
    folder = _Folder(name, strict)
    folder.text(value, utf8)
    return folder.close()


def _address_header(name: str, addresses: Sequence[Address], utf8: bool = False, strict: bool = True) -> str:
    # mime.address() leaves only dot-atom local parts, which need no quoting.
    mailboxes = tuple(mailbox(a).pair for a in addresses)
    return _address_line(name, mailboxes, utf8, strict)


@functools.lru_cache(maxsize=4096)
def _address_line(name: str, mailboxes: tuple[tuple[str, str], ...], utf8: bool, strict: bool) -> str:
    """An address header (cached: a CRM writes to the same people, in the same groups, again and again)."""
    folder = _Folder(name, strict)
    last = len(mailboxes) - 1
    for index, (display, spec) in enumerate(mailboxes):
        atoms = _mailbox(display, spec, utf8) if display else (spec,)
        if atoms is None:  # a display name too long for one encoded word
            folder.add_encoded(display)
            atoms = (f"<{spec}>",)
        for atom in atoms[:-1]:
            folder.add(atom)
        folder.add(atoms[-1] + ("," if index < last else ""))
    return folder.close()


@functools.lru_cache(maxsize=4096)
def _mailbox(display: str, spec: str, utf8: bool) -> tuple[str, ...] | None:
    """The atoms `display <spec>` is written in (a CRM writes to the same people again and again)."""
    if any(_needs_encoding(word, utf8) for word in display.split(" ")):
        data = display.encode("utf-8")
        if _word_length(data) > _ENCODED_WORD:
            return None
        return _encoded_word(data), f"<{spec}>"
    if _SPECIALS.isdisjoint(display):
        return (*display.split(" "), f"<{spec}>")
    return '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"', f"<{spec}>"


def _disposition(part: Attachment, utf8: bool) -> str:
    head = "Content-Disposition: " + part.disposition
    filename = part.filename
    if filename is None:
        return head
    if filename.isascii() or utf8:
        param = 'filename="' + filename.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        param = "filename*=utf-8''" + urllib.parse.quote(filename, safe="")
    if len(head) + 2 + len(param) <= LINE:
        return f"{head}; {param}"
    if len(param) + 2 <= LINE or utf8:
        return f"{head};{CRLF} {param}"
    # RFC 2231 continuations, every section percent-encoded, as the stdlib folds a long parameter.
    lines = [head + ";"]
    chrome = "utf-8''"
    section = 0
    while filename:
        room = LINE - len(f" filename*{section}*={chrome};")
        cut = len(filename)
        while len(urllib.parse.quote(filename[:cut], safe="")) > room:
            cut -= 1
        if cut == 0:
            raise _Unwritable("filename")
        lines.append(f" filename*{section}*={chrome}{urllib.parse.quote(filename[:cut], safe='')}")
        filename = filename[cut:]
        chrome = ""
        section += 1
        if filename:
            lines[-1] += ";"
    return CRLF.join(lines)


# -- bodies -----------------------------------------------------------------------------------------------------


class _Boundaries:
    """Multipart boundaries derived from the message id, so the same request writes the same bytes."""

    def __init__(self, message_id: str) -> None:
        self.seed = message_id.encode("ascii")
        self.count = 0

    def around(self, parts: Sequence[Pieces]) -> str:
        """A boundary no line of the parts starts with (a piece ends at a line end, so no line spans two)."""
        while True:
            self.count += 1
            digest = hashlib.blake2b(self.seed + b"/%d" % self.count, digest_size=8).digest()
            boundary = f"==============={int.from_bytes(digest, 'big') % 10**19:019d}=="
            marker = b"--" + boundary.encode("ascii")
            if not any(marker in piece for part in parts for piece in part):
                return boundary


# A body part as the byte strings it is made of, joined once into the message: an attachment's base64 is never
# copied into a part, then into its multipart, then into the message.
Pieces = list[bytes]


def _multipart(subtype: str, parts: Sequence[Pieces], boundaries: _Boundaries) -> Pieces:
    boundary = boundaries.around(parts)
    header = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    if len(header) > LINE:
        header = f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"'
    pieces = [f"{header}\r\n\r\n--{boundary}\r\n".encode("ascii")]
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    for index, part in enumerate(parts):
        if index:
            pieces.append(delimiter)
        pieces += part
    pieces.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return pieces


def _entity(draft: Draft, boundaries: _Boundaries, utf8: bool, strict: bool = True) -> Pieces:
    """The top-level body: the same structure `reference_message` builds."""
    html, plain = draft.html, draft.plain
    body: Pieces
    if html:
        body = _text("html", html)
        if draft.related:
            body = _multipart("related", [body, *(_file(part, utf8, strict) for part in draft.related)], boundaries)
        if plain:
            body = _multipart("alternative", [_text("plain", plain), body], boundaries)
    else:
        body = _text("plain", plain or "")
    if draft.attached:
        body = _multipart("mixed", [body, *(_file(part, utf8, strict) for part in draft.attached)], boundaries)
    return body


def _text(subtype: str, text: str) -> Pieces:
    cte, data = encode_text(text)
    return [f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'.encode(), data]


def encode_text(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body bytes with CRLF line ends) exactly as the stdlib's `set_content`
    chooses and encodes a text under policy.SMTP (email.contentmanager._encode_text)."""
    lines = text.encode("utf-8").splitlines()
    if max(map(len, lines), default=0) <= LINE:
        body = b"\r\n".join(lines) + b"\r\n"
        return ("7bit" if body.isascii() else "8bit"), body
    sniff = b"\r\n".join(lines[:10]) + b"\r\n"
    sniff_qp = quoprimime.body_encode(sniff.decode("latin-1"), LINE)
    if len(sniff_qp) > (len(sniff) + 2) // 3 * 4 + 1:  # the length of binascii.b2a_base64(sniff)
        return "base64", _wrapped_base64(b"\r\n".join(lines) + b"\r\n")
    if len(lines) <= 10:
        encoded = sniff_qp
    else:
        encoded = quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), LINE)
    # body_encode ends lines with "\n" only (its input's lines come from splitlines()); the generator writes
    # every line end of the payload as CRLF.
    return "quoted-printable", encoded.replace("\n", "\r\n").encode("ascii")


def _wrapped_base64(data: bytes) -> bytes:
    step = LINE // 4 * 3
    return b"".join(binascii.b2a_base64(data[i : i + step]) for i in range(0, len(data), step)).replace(b"\n", b"\r\n")


def _file(part: Attachment, utf8: bool, strict: bool = True) -> Pieces:
    head = [
        f"Content-Type: {part.maintype}/{part.subtype}",
        "Content-Transfer-Encoding: base64",
        _disposition(part, utf8),
    ]
    if part.cid:
        head.append(_unstructured("Content-ID", part.cid, utf8, strict))
    text = (CRLF.join(head) + CRLF + CRLF).encode("utf-8")
    if strict and any(len(line) > MAX_LINE for line in text.split(b"\r\n")):
        raise _Unwritable("content type")
    return [text, *base64_lines(part.stream)]


def base64_lines(stream: str) -> Pieces:
    """Canonical base64 text in 76-column CRLF lines: what encoding its bytes again would give, without
    decoding them (57 bytes are 76 characters). In blocks of lines, each ending with a line end."""
    width = LINE // 4 * 4
    block = width * 1024
    out: Pieces = []
    for start in range(0, len(stream), block):
        chunk = stream[start : start + block].encode("ascii")  # bytes slices: cheaper than memoryview slices
        out.append(b"\r\n".join([chunk[i : i + width] for i in range(0, len(chunk), width)]) + b"\r\n")
    return out


def wrap_base64(stream: str) -> bytes:
    return b"".join(base64_lines(stream))
