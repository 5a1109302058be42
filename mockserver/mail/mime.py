"""EMailEntity ⇄ RFC 5322 messages.

A request's mail becomes a `Draft` (what the message says, made safe for headers). The stdlib `email` package
builds the reference message from it (`reference_message`); the server writes the same message directly
(`mockserver.mail.mimewriter`), which the property tests hold to the reference. Client-supplied messages
(RelayMessage, the outbox) are parsed with the stdlib.
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import Policy
from email.utils import format_datetime, getaddresses
from typing import Any

from mockserver.formats.base64text import base64_text

# Control characters never reach a header: a value with "\r\nBcc: x" must not become a second header.
# U+0085, U+2028 and U+2029 count too: str.splitlines() (and so the email package) treats them as line ends.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
# Headers the message builder owns; a custom header with one of these names would corrupt the structure.
_RESERVED_HEADERS = frozenset(
    {
        "bcc",
        "cc",
        "content-disposition",
        "content-id",
        "content-transfer-encoding",
        "content-type",
        "date",
        "from",
        "importance",
        "in-reply-to",
        "message-id",
        "mime-version",
        "references",
        "subject",
        "to",
        "x-priority",
    }
)
_X_PRIORITY = {
    "Highest": "1 (Highest)",
    "High": "2 (High)",
    "Normal": "3 (Normal)",
    "Low": "4 (Low)",
    "Lowest": "5 (Lowest)",
}
_IMPORTANCE = {"Highest": "high", "High": "high", "Normal": "normal", "Low": "low", "Lowest": "low"}


def header_text(value: object) -> str:
    """A value made safe for a header: control characters become single spaces."""
    text = str(value)
    if text.isprintable():  # every character _CONTROL matches is unprintable: the common case needs no regex
        return text.strip()
    return _CONTROL.sub(" ", text).strip()


def _domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        return domain


# What an unquoted local part and a host name may hold (RFC 5322 dot-atom; RFC 6531 adds non-ASCII).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+"
_LOCAL_PART = re.compile(rf"{_ATOM}(\.{_ATOM})*")
_NOT_LOCAL = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~\-.\u0080-\U0010ffff]")
_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


def address(name: object, addr: object) -> Address | None:
    """An Address for a header, or None when there is nothing to address (see `_address`)."""
    if isinstance(name, str | None) and isinstance(addr, str | None):
        return _known_address(name, addr)
    return _address(name, addr)


@functools.lru_cache(maxsize=8192)
def _known_address(name: str | None, addr: str | None) -> Address | None:
    # A CRM writes to the same people again and again; an Address is immutable, so it can be shared.
    return _address(name, addr)


def _address(name: object, addr: object) -> Address | None:
    """An Address for a header, or None when there is nothing to address.

    Addresses that are not plain `local@host` (quotes, brackets, spaces, bare dots …) are spelled with the
    offending characters replaced: such an address cannot be delivered anyway, and CPython's header
    parser and folder break on them.
    """
    text = header_text(addr or "")
    display = header_text(name or "")
    if not text:
        return None
    local, at, domain = text.rpartition("@")
    if not at:
        local, domain = text, ""
    domain = _domain(domain)
    # "=?" would read as the start of an encoded word, which CPython's address parser trips over.
    if not _LOCAL_PART.fullmatch(local) or "=?" in local:
        local = _NOT_LOCAL.sub("_", local).strip(".").replace("..", "._").replace("=?", "=_") or "_"
    if domain and not _HOST.fullmatch(domain):
        domain = re.sub(r"[^A-Za-z0-9.-]", "-", domain).strip(".").replace("..", ".-") or "-"
    return Mailbox(display_name=display, username=local, domain=domain)


class Mailbox(Address):
    """An Address with what the writer asks of every one, every time, worked out once: the addresses of a
    request are cached and shared (`_known_address`), and Address reads each part through a property."""

    def __init__(self, display_name: str, username: str, domain: str) -> None:
        super().__init__(display_name=display_name, username=username, domain=domain)
        # (display name, addr-spec) as the writer spells a mailbox; `addr_spec` would quote an odd local part.
        self.pair = (display_name, f"{username}@{domain}" if domain else username)
        self.ascii = username.isascii() and domain.isascii()

    @functools.cached_property
    def spelled(self) -> str:
        """How the outbox lists it (`_spelled`)."""
        return _spelled(self)


def mailbox(found: Address) -> Mailbox:
    """`found` as a Mailbox: drafts made from requests hold them already (`_address`), others are wrapped."""
    return found if isinstance(found, Mailbox) else Mailbox(found.display_name, found.username, found.domain)


# Headers set without address parsing, for the rare values CPython's address parser cannot take back.
_RAW_HEADERS = HeaderRegistry(default_class=UnstructuredHeader, use_default_map=False)


def policy_for(addresses: Iterable[Address]) -> Policy:
    """SMTP with RFC 2047 words, or SMTPUTF8 when an address needs UTF-8 itself (RFC 6531/6532).

    An encoded word is not allowed inside an address, and CPython folds such headers into broken lines.
    """
    if all(mailbox(a).ascii for a in addresses):
        return policy.SMTP
    return policy.SMTPUTF8


def set_addresses(msg: EmailMessage, header: str, addresses: Sequence[Address]) -> None:
    """Set an address header from Address objects.

    Some inputs (a bare "." or quotes and brackets in odd places) make CPython's header parser raise on a
    value it formatted itself; such a header is written as plain text instead, so the message is still
    built and delivered.
    """
    if not addresses:
        return
    try:
        msg[header] = list(addresses)
    except Exception:  # the parser raises HeaderParseError, TypeError, IndexError … on such values
        msg[header] = _RAW_HEADERS(header, ", ".join(_spelled(a) for a in addresses))


def _spelled(found: Address) -> str:
    try:
        return str(found)
    except Exception:  # formatting an address can trip over the same parser bugs
        return f"{found.username}@{found.domain}" if found.domain else found.username


def _addresses(carriers: Iterable[Any] | None) -> list[Address]:
    result = []
    for carrier in carriers or ():
        if isinstance(carrier, dict):
            found = address(carrier.get("Name") or carrier.get("PersonName"), carrier.get("Address"))
            if found is not None:
                result.append(found)
    return result


_DOMAIN = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")


def message_id_domain(addr: object, fallback: str) -> str:
    """The sender's domain for a Message-ID (`<...@nordlys.no>`), when it is a plain DNS name."""
    if isinstance(addr, str) and "@" in addr:
        domain = addr.rpartition("@")[2].strip().lower()
        if _DOMAIN.fullmatch(domain):
            return domain
    return fallback


_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
# RFC 5322 §3.6.4 msg-id: what every reader takes back as it was written.
MSG_ID = re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>")


def _msg_id(value: object) -> str | None:
    text = header_text(value or "")
    if not text:
        return None
    return text if text.startswith("<") and text.endswith(">") else f"<{text}>"


def _split_type(value: object) -> tuple[str, str]:
    text = header_text(value or "").lower()
    match = re.fullmatch(r"([a-z0-9][a-z0-9!#$&^_.+-]*)/([a-z0-9][a-z0-9!#$&^_.+-]*)", text.split(";")[0].strip())
    if match is None:
        return "application", "octet-stream"
    return match.group(1), match.group(2)


def decode_stream(value: object) -> bytes:
    """Attachment bytes from the carrier's base64 `Stream` (whitespace allowed, as .NET allows it)."""
    if not value:
        return b""
    text = base64_text(value)
    return binascii.a2b_base64(text) if text else b""


@dataclass(frozen=True)
class Attachment:
    """A file part: its type, how it is shown, and its bytes as the client's (valid) base64 text."""

    maintype: str
    subtype: str
    filename: str | None
    disposition: str  # "inline" or "attachment"
    cid: str | None
    stream: str  # canonical base64, no whitespace ("" for an empty file)
    source: int = 0  # its place in the client's list of attachments

    def data(self) -> bytes:
        return binascii.a2b_base64(self.stream) if self.stream else b""


@dataclass(slots=True)
class Draft:
    """Everything that decides an outgoing message, already made safe for headers.

    Built once per mail from the request; the stdlib reference (`reference_message`) and the direct writer
    (`mockserver.mail.mimewriter`) both write it, and the property tests hold them to the same result.
    Bcc stays in the headers, as in the copy a client keeps in Sent Items; SMTP delivery removes it.

    Not frozen, though nothing changes one once built: a frozen dataclass sets each field through
    `object.__setattr__`, which doubled the cost of building one (3.0 against 1.6 µs for 14 fields), per mail.
    """

    senders: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    subject: str
    date: datetime
    message_id: str
    in_reply_to: str | None = None
    priority: str | None = None  # a key of _X_PRIORITY
    custom: tuple[tuple[str, str], ...] = ()
    plain: str | None = None
    html: str | None = None
    # Inline images of the HTML (multipart/related with it), then every other attachment (multipart/mixed).
    related: tuple[Attachment, ...] = ()
    attached: tuple[Attachment, ...] = ()

    def parts(self) -> tuple[Attachment, ...]:
        """The attachments in the order the message holds them (the control API's `attachments/{index}`)."""
        return (*self.related, *self.attached)

    def address_headers(self) -> tuple[tuple[str, tuple[Address, ...]], ...]:
        return (("From", self.senders), ("To", self.to), ("Cc", self.cc), ("Bcc", self.bcc))

    @property
    def needs_utf8(self) -> bool:
        """An address that only SMTPUTF8 can carry (RFC 6531): no encoded word may stand inside an address."""
        return policy_for(a for _, found in self.address_headers() for a in found) is policy.SMTPUTF8

    def summary(self) -> tuple[str, str | None, str | None]:
        """(Subject, From, To) as the outbox lists them: decoded, as `safe_header` reads a built message."""
        return self.subject, _listed(self.senders), _listed(self.to)


def _listed(found: Sequence[Address]) -> str | None:
    return header_text(", ".join(mailbox(a).spelled for a in found)) if found else None


def draft_from_entity(entity: Mapping[str, Any], *, message_id: str, date: datetime) -> Draft:
    """The message an EMailEntity describes."""
    sender = entity.get("From")
    reply_to = entity.get("InReplyTo")
    priority = entity.get("Priority")
    custom: list[tuple[str, str]] = []
    for item in entity.get("CustomHeaderList") or ():
        if not isinstance(item, dict):
            continue
        name = str(item.get("Name") or "")
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS:
            continue
        custom.extend((name, header_text(value)) for value in item.get("Values") or () if value is not None)
    html = entity.get("HTMLBody")
    related: list[Attachment] = []
    attached: list[Attachment] = []
    for index, item in enumerate(entity.get("Attachments") or ()):
        if isinstance(item, dict):
            part = _attachment(item, index)
            # An inline part the HTML refers to by cid: belongs in multipart/related with the HTML, inside the
            # alternative (the structure Outlook and Thunderbird write).
            (related if html and part.disposition == "inline" and part.cid else attached).append(part)
    return Draft(
        senders=tuple(_addresses([sender] if isinstance(sender, dict) else [])),
        to=tuple(_addresses(entity.get("To"))),
        cc=tuple(_addresses(entity.get("Cc"))),
        bcc=tuple(_addresses(entity.get("Bcc"))),
        subject=header_text(entity.get("Subject") or ""),
        date=date,
        message_id=message_id,
        in_reply_to=_msg_id(reply_to.get("MessageId")) if isinstance(reply_to, dict) else None,
        priority=priority if priority in _X_PRIORITY else None,
        custom=tuple(custom),
        plain=entity.get("PlainBody"),
        html=html,
        related=tuple(related),
        attached=tuple(attached),
    )


def _attachment(item: Mapping[str, Any], source: int) -> Attachment:
    maintype, subtype = _split_type(item.get("Type"))
    disposition = header_text(item.get("Disposition") or "").lower()
    stream = item.get("Stream")
    return Attachment(
        maintype=maintype,
        subtype=subtype,
        filename=header_text(item.get("Filename") or item.get("Description") or "") or None,
        disposition="inline" if disposition.startswith("inline") else "attachment",
        cid=_msg_id(item.get("Id")),
        stream=(base64_text(stream) or "") if stream else "",
        source=source,
    )


def entity_to_message(entity: Mapping[str, Any], *, message_id: str, date: datetime) -> EmailMessage:
    """The RFC 5322 message an EMailEntity describes, built by the stdlib (the reference)."""
    return reference_message(draft_from_entity(entity, message_id=message_id, date=date))


def reference_message(draft: Draft) -> EmailMessage:
    """The stdlib `email` package's build of a draft: the reference the direct writer is held to."""
    msg = EmailMessage(policy=policy_for(a for _, found in draft.address_headers() for a in found))
    for header, found in draft.address_headers():
        set_addresses(msg, header, found)
    msg["Subject"] = draft.subject
    msg["Date"] = format_datetime(draft.date)
    msg["Message-ID"] = draft.message_id
    if draft.in_reply_to:
        msg["In-Reply-To"] = draft.in_reply_to
        msg["References"] = draft.in_reply_to
    if draft.priority:
        msg["X-Priority"] = _X_PRIORITY[draft.priority]
        msg["Importance"] = _IMPORTANCE[draft.priority]
    for name, value in draft.custom:
        msg[name] = value
    html_part = set_bodies(msg, draft.plain, draft.html)
    # Inline images join the HTML in multipart/related first: once a plain attachment has made an HTML-only
    # message multipart/mixed, the email package cannot turn it into related any more.
    for part in draft.related:
        assert html_part is not None
        html_part.add_related(part.data(), part.maintype, part.subtype, **_options(part))
    for part in draft.attached:
        msg.add_attachment(part.data(), part.maintype, part.subtype, **_options(part))
    return msg


def _options(part: Attachment) -> dict[str, Any]:
    options: dict[str, Any] = {"filename": part.filename, "disposition": part.disposition}
    if part.cid:
        options["cid"] = part.cid
    return options


def set_bodies(msg: EmailMessage, plain: str | None, html: str | None) -> EmailMessage | None:
    """Plain, HTML or both as multipart/alternative; returns the HTML part (inline images attach to it)."""
    if html and plain:
        msg.set_content(plain)
        msg.add_alternative(html, subtype="html")
        html_part = list(msg.iter_parts())[-1]
        assert isinstance(html_part, EmailMessage)
        return html_part
    if html:
        msg.set_content(html, subtype="html")
        return msg
    msg.set_content(plain or "")
    return None


def message_bytes(msg: Message) -> bytes:
    return msg.as_bytes(policy=msg.policy)


@dataclass(slots=True)  # per mail, like Draft: not frozen for the same reason
class Written:
    """A message as bytes, the way the outbox keeps it (Bcc included, as in Sent Items), and its summary.

    `bcc` is where the Bcc header lies in `stored`: SMTP carries the message without it.
    """

    stored: bytes
    subject: str | None
    from_header: str | None
    to_header: str | None
    bcc: tuple[int, int] | None = None

    def transmitted(self) -> bytes:
        """The message as SMTP carries it: Bcc recipients get it, but not the header naming them."""
        if self.bcc is None:
            return self.stored
        start, end = self.bcc
        return self.stored[:start] + self.stored[end:]

    @classmethod
    def of_message(cls, msg: Message) -> Written:
        """A message the stdlib built, written by its generator."""
        stored = message_bytes(msg)
        return cls(
            stored,
            safe_header(msg, "Subject"),
            safe_header(msg, "From"),
            safe_header(msg, "To"),
            header_span(stored, b"bcc") if "Bcc" in msg else None,
        )


def header_span(raw: bytes, name: bytes) -> tuple[int, int] | None:
    """Where the first `name` header (lower case, continuation lines included) lies in a message's header block."""
    end_of_head = raw.find(b"\r\n\r\n")
    position = 0
    start = None
    while position < end_of_head + 2:
        line_end = raw.index(b"\r\n", position) + 2
        line = raw[position:line_end]
        if start is not None and line[:1] not in (b" ", b"\t"):
            return start, position
        if start is None and line.split(b":", 1)[0].strip().lower() == name:
            start = position
        position = line_end
    return (start, position) if start is not None else None


def safe_header(msg: Message, name: str) -> str | None:
    """A header of a client-supplied message as text; unparseable values count as absent."""
    try:
        value = msg[name]
    except Exception:  # the email package raises assorted errors on hostile header values
        return None
    return header_text(value) if value is not None else None


def first_address(text: str | None) -> str | None:
    """The first address in an address header's text (`Anna Berg <anna@nordlys.no>` → `anna@nordlys.no`), as an
    SMTP envelope needs it; None when there is none."""
    if not text:
        return None
    found = [addr for _, addr in getaddresses([text]) if addr]
    return found[0] if found else None


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATEXT}(?:\.{_ATEXT})*"
_MAILBOX = rf"(?:{_ATEXT}(?: {_ATEXT})* <{_DOT_ATOM}@{_DOT_ATOM}>|{_DOT_ATOM}@{_DOT_ATOM})"
_MAILBOXES = re.compile(rf"{_MAILBOX}(?:, {_MAILBOX})*")
# Values in forms policy.default gives back exactly as they are written, by header: words of printable ASCII
# between single spaces; mailboxes of plain atoms; one msg-id. (No `=?`: that could start an encoded word.)
_AS_WRITTEN = {
    "subject": re.compile(r"[!-~]+(?: [!-~]+)*"),
    "from": _MAILBOXES,
    "to": _MAILBOXES,
    "message-id": re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>"),
}


# The stdlib feed parser's own rules (email.feedparser): lines that start as `headerRE` says stand in a header
# block; lines are cut at CRLF, CR or LF only, as its buffer's StringIO(newline="") cuts them (never at the other
# line ends str.splitlines knows).
_HEADER_BLOCK = re.compile(r"(?:(?:From |[\041-\071\073-\176]*:|[\t ])[^\r\n]*(?:\r\n|\r|\n|\Z))*")
_SOURCE_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
# A field as `raw_header_items` reads it from a block whose lines all end at a LF: its name (what `headerRE` lets
# stand before the colon, at least one character), then the rest of its line and its continuation lines.
_FIELD_LINES = re.compile(r"^([\041-\071\073-\176]+):([^\n]*(?:\n|\Z)(?:[ \t][^\n]*(?:\n|\Z))*)", re.MULTILINE)


def raw_header_items(data: bytes) -> list[tuple[str, str]]:
    """The header fields of a message as `BytesParser(policy=compat32).parsebytes(data, headersonly=True)
    .raw_items()` gives them: (name, value) as written, continuation lines joined with their line ends.

    The same rules, without a parser object, a feed buffer and a message built around them (~15 µs of a
    RelayMessage's ~110). `tests/mail/test_mime.py` holds the two to the same items for arbitrary bytes.
    """
    # The block ends at the blank line, or at the body's first line where that is missing.
    block = _HEADER_BLOCK.match(data.decode("ascii", "surrogateescape"))
    text = block.group() if block else ""
    if "\r" not in text or text.count("\r") == text.count("\r\n"):
        # Every line ends at a LF (or the text's end), where `^` finds it: the fields in one C-speed pass. A line
        # that is no field (a unix-from line, a missing name, a continuation with no field before it) starts
        # with neither a name nor a colon after one, and is passed over as the loop below passes it over.
        return [(name, value.lstrip(" \t").rstrip("\r\n")) for name, value in _FIELD_LINES.findall(text)]
    lines = _SOURCE_LINE.findall(text)
    items: list[tuple[str, str]] = []
    field: list[str] = []
    for line in lines:
        if line[0] in " \t":
            if field:  # else a continuation before any field: a defect, ignored
                field.append(line)
            continue
        if field:
            items.append(_field(field))
            field = []
        if line.startswith("From "):
            continue  # a Unix envelope line (first), the body's first line (last), or a misplaced one: no field
        if line.find(":") > 0:  # else a missing name: a defect, ignored
            field = [line]
    if field:
        items.append(_field(field))
    return items


def _field(lines: list[str]) -> tuple[str, str]:
    """compat32's `header_source_parse`."""
    name, value = lines[0].split(":", 1)
    return name, (value.lstrip(" \t") + "".join(lines[1:])).rstrip("\r\n")


def read_headers(data: bytes, names: Sequence[str]) -> dict[str, str | None]:
    """`safe_header` of each named header of a client's message, as `parse_rfc822_headers` would give it.

    policy.default parses every value it is asked for (~70 µs an address header, most of a RelayMessage). The
    header block is split as the compat32 parser splits it instead (`raw_header_items`: its header lines are
    policy.default's, byte for byte); a value in a plain form that policy.default gives back as written is taken
    as it is, anything else still goes through policy.default. `tests/mail/test_mime.py` holds the two to the same
    answers.
    """
    first: dict[str, tuple[str, str]] = {}
    for name, value in raw_header_items(data):
        first.setdefault(name.lower(), (name, value))
    found: dict[str, str | None] = {}
    for wanted in names:
        key = wanted.lower()
        written = first.get(key)
        if written is None:
            found[wanted] = None
            continue
        name, value = written
        plain = _AS_WRITTEN.get(key)
        if plain is not None and "=?" not in value and plain.fullmatch(value):
            found[wanted] = value
            continue
        try:
            found[wanted] = header_text(policy.default.header_fetch_parse(name, value))
        except Exception:  # as safe_header: the email package raises assorted errors on hostile header values
            found[wanted] = None
    return found


def parse_rfc822_bytes(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parse_rfc822_headers(data: bytes) -> EmailMessage:
    """Only the header block of a message (the body is kept as text, not parsed into parts)."""
    parsed = BytesParser(policy=policy.default).parsebytes(data, headersonly=True)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parse_rfc822(text: str) -> EmailMessage:
    """Parse as leniently as a mail server: anything that is not a header block is body."""
    data = text.encode("utf-8", "surrogateescape")
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed
