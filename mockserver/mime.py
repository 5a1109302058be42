"""EMailEntity ⇄ RFC 5322 messages, built and parsed with the stdlib `email` package."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import format_datetime
from typing import Any

# Control characters (CR and LF above all) never reach a header: a value with "\r\nBcc: x" must not
# become a second header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
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


def address(name: object, addr: object) -> Address | None:
    """An Address for a header, or None when there is nothing to address."""
    text = header_text(addr or "")
    display = header_text(name or "")
    if not text:
        return None
    local, at, domain = text.rpartition("@")
    if not at:
        local, domain = text, ""
    # Address(username=, domain=) does not re-parse, so odd input degrades to an odd header, never an error.
    return Address(display_name=display, username=local, domain=_domain(domain))


def _addresses(carriers: Iterable[Any] | None) -> list[Address]:
    result = []
    for carrier in carriers or ():
        if isinstance(carrier, Mapping):
            found = address(carrier.get("Name") or carrier.get("PersonName"), carrier.get("Address"))
            if found is not None:
                result.append(found)
    return result


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
    msg = EmailMessage(policy=policy.SMTP)
    sender = entity.get("From")
    if isinstance(sender, Mapping):
        found = address(sender.get("Name") or sender.get("PersonName"), sender.get("Address"))
        if found is not None:
            msg["From"] = found
    for header, key in (("To", "To"), ("Cc", "Cc"), ("Bcc", "Bcc")):
        addresses = _addresses(entity.get(key))
        if addresses:
            msg[header] = addresses
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

    plain = entity.get("PlainBody")
    html = entity.get("HTMLBody")
    if html and plain:
        msg.set_content(plain)
        msg.add_alternative(html, subtype="html")
    elif html:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(plain or "")

    for attachment in entity.get("Attachments") or ():
        if isinstance(attachment, Mapping):
            _attach(msg, attachment, has_html=bool(html))
    return msg


def _attach(msg: EmailMessage, attachment: Mapping[str, Any], *, has_html: bool) -> None:
    data = decode_stream(attachment.get("Stream"))
    maintype, subtype = _split_type(attachment.get("Type"))
    filename = header_text(attachment.get("Filename") or attachment.get("Description") or "") or None
    disposition = header_text(attachment.get("Disposition") or "").lower()
    disposition = "inline" if disposition.startswith("inline") else "attachment"
    cid = _msg_id(attachment.get("Id"))
    options: dict[str, Any] = {"filename": filename, "disposition": disposition}
    if cid:
        options["cid"] = cid
    if disposition == "inline" and cid and has_html:
        # An inline part the HTML refers to by cid: belongs in multipart/related next to the HTML.
        msg.add_related(data, maintype, subtype, **options)
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


def parse_rfc822(text: str) -> EmailMessage:
    """Parse as leniently as a mail server: anything that is not a header block is body."""
    data = text.encode("utf-8", "surrogateescape")
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed
