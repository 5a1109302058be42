"""EMailEntity ⇄ RFC 5322 messages, built and parsed with the stdlib `email` package."""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from email import message_from_bytes, policy
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from email.policy import EmailPolicy, Policy
from email.utils import format_datetime, getaddresses
from typing import Any

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
    return _CONTROL.sub(" ", str(value)).strip()


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
    if not _LOCAL_PART.fullmatch(local):
        local = _NOT_LOCAL.sub("_", local).strip(".").replace("..", "._") or "_"
    if domain and not _HOST.fullmatch(domain):
        domain = re.sub(r"[^A-Za-z0-9.-]", "-", domain).strip(".").replace("..", ".-") or "-"
    return Address(display_name=display, username=local, domain=domain)


# Headers set without address parsing, for the rare values CPython's address parser cannot take back.
_RAW_HEADERS = HeaderRegistry(default_class=UnstructuredHeader, use_default_map=False)


# Printable ASCII, not empty, no space at either end: such a value needs neither RFC 2047 encoding nor (when
# short) folding, and the registry would write it back unchanged.
_PLAIN_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


class _LeanPolicy(EmailPolicy):
    """`policy.SMTP`, minus the header registry's parse-and-refold round trip for values that need neither.

    The registry parses every header value when it is set and refolds it from the parse tree when the message
    is written; for a short printable-ASCII value both steps give back the value itself, and together they
    were most of the CPU time of a SendEMails call. Anything else (non-ASCII, long, Address objects) still
    goes through the registry, and reading a header back still parses it.
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if isinstance(value, str) and self.writes_unchanged(name, value):
            return name, value
        return super().header_store_parse(name, value)

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name"):
            return value
        # Writing a message reads Content-Type and friends again and again; the same few values recur.
        return _fetched(self, name, value)

    def writes_unchanged(self, name: str, value: str) -> bool:
        return (
            len(name) + len(value) + 2 <= (self.max_line_length or 78)
            and _PLAIN_VALUE.fullmatch(value) is not None
            # Encoded words and RFC 2231 parameters: the registry decodes and re-encodes them its own way.
            and "=?" not in value
            and "*=" not in value
        )


@functools.lru_cache(maxsize=4096)
def _fetched(lean: _LeanPolicy, name: str, value: str) -> Any:
    """A stored plain value read back as a registry header object (immutable, so shared between messages)."""
    return EmailPolicy.header_fetch_parse(lean, name, value)


LEAN_SMTP = _LeanPolicy(linesep="\r\n")


def policy_for(addresses: Iterable[Address]) -> Policy:
    """SMTP with RFC 2047 words, or SMTPUTF8 when an address needs UTF-8 itself (RFC 6531/6532).

    An encoded word is not allowed inside an address, and CPython folds such headers into broken lines.
    """
    if all(a.username.isascii() and a.domain.isascii() for a in addresses):
        return LEAN_SMTP
    # The registry writes RFC 2047 words and RFC 2231 parameters back as raw UTF-8 under SMTPUTF8, which a raw
    # value would not get: this rare case keeps the full round trip.
    return policy.SMTPUTF8


def set_addresses(msg: EmailMessage, header: str, addresses: list[Address]) -> None:
    """Set an address header from Address objects.

    Some inputs (a bare "." or quotes and brackets in odd places) make CPython's header parser raise on a
    value it formatted itself; such a header is written as plain text instead, so the message is still
    built and delivered.
    """
    if not addresses:
        return
    if isinstance(msg.policy, _LeanPolicy):
        spelled = ", ".join(_spelled(a) for a in addresses)
        if msg.policy.writes_unchanged(header, spelled):
            # What the registry would write for these addresses, without its parse and refold.
            msg[header] = spelled
            return
    try:
        msg[header] = addresses
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
        if isinstance(carrier, Mapping):
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
    cleaned = re.sub(r"\s+", "", str(value))
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        return b""


def entity_to_message(entity: Mapping[str, Any], *, message_id: str, date: datetime) -> EmailMessage:
    """The RFC 5322 message an EMailEntity describes.

    Bcc stays in the headers, as in the copy a client keeps in Sent Items; SMTP delivery removes it.
    """
    sender = entity.get("From")
    by_header = {"From": _addresses([sender] if isinstance(sender, Mapping) else [])}
    for header in ("To", "Cc", "Bcc"):
        by_header[header] = _addresses(entity.get(header))
    msg = EmailMessage(policy=policy_for([a for found in by_header.values() for a in found]))
    for header, found in by_header.items():
        set_addresses(msg, header, found)
    msg["Subject"] = header_text(entity.get("Subject") or "")
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    reply_to = entity.get("InReplyTo")
    if isinstance(reply_to, Mapping):
        parent = _msg_id(reply_to.get("MessageId"))
        if parent:
            msg["In-Reply-To"] = parent
            msg["References"] = parent
    priority = entity.get("Priority")
    if priority in _X_PRIORITY:
        msg["X-Priority"] = _X_PRIORITY[priority]
        msg["Importance"] = _IMPORTANCE[priority]
    for custom in entity.get("CustomHeaderList") or ():
        if not isinstance(custom, Mapping):
            continue
        name = str(custom.get("Name") or "")
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS:
            continue
        for value in custom.get("Values") or ():
            if value is not None:
                msg[name] = header_text(value)

    html_part = set_bodies(msg, entity.get("PlainBody"), entity.get("HTMLBody"))
    attachments = [a for a in entity.get("Attachments") or () if isinstance(a, Mapping)]
    # Inline images join the HTML in multipart/related first: once a plain attachment has made an HTML-only
    # message multipart/mixed, the email package cannot turn it into related any more (a 500, before).
    attachments.sort(key=lambda a: not _is_related(a, html_part))
    for attachment in attachments:
        _attach(msg, attachment, html_part)
    return msg


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


def _disposition(attachment: Mapping[str, Any]) -> str:
    disposition = header_text(attachment.get("Disposition") or "").lower()
    return "inline" if disposition.startswith("inline") else "attachment"


def _is_related(attachment: Mapping[str, Any], html_part: EmailMessage | None) -> bool:
    return html_part is not None and _disposition(attachment) == "inline" and bool(_msg_id(attachment.get("Id")))


def _attach(msg: EmailMessage, attachment: Mapping[str, Any], html_part: EmailMessage | None) -> None:
    data = decode_stream(attachment.get("Stream"))
    maintype, subtype = _split_type(attachment.get("Type"))
    filename = header_text(attachment.get("Filename") or attachment.get("Description") or "") or None
    disposition = _disposition(attachment)
    cid = _msg_id(attachment.get("Id"))
    options: dict[str, Any] = {"filename": filename, "disposition": disposition}
    if cid:
        options["cid"] = cid
    if html_part is not None and _is_related(attachment, html_part):
        # An inline part the HTML refers to by cid: belongs in multipart/related with the HTML, inside the
        # alternative (the structure Outlook and Thunderbird write).
        html_part.add_related(data, maintype, subtype, **options)
    else:
        msg.add_attachment(data, maintype, subtype, **options)


def message_bytes(msg: Message) -> bytes:
    return msg.as_bytes(policy=msg.policy)


def safe_header(msg: Message, name: str) -> str | None:
    """A header of a client-supplied message as text; unparseable values count as absent."""
    try:
        value = msg[name]
    except Exception:  # the email package raises assorted errors on hostile header values
        return None
    return header_text(value) if value is not None else None


def header_address(msg: Message, name: str) -> str | None:
    """The first address of an address header (`Anna Berg <anna@nordlys.no>` → `anna@nordlys.no`), as an SMTP
    envelope needs it; None when there is none."""
    text = safe_header(msg, name)
    if not text:
        return None
    found = [addr for _, addr in getaddresses([text]) if addr]
    return found[0] if found else None


def parse_rfc822_bytes(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parse_rfc822(text: str) -> EmailMessage:
    """Parse as leniently as a mail server: anything that is not a header block is body."""
    data = text.encode("utf-8", "surrogateescape")
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed
