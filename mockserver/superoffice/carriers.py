"""SuperOffice carriers as the server returns them: every property present, in the vendor's order.

What the client sent comes back unchanged; what a server would know or assign (CRM ids and names for an
address, rights, ids, sizes) is filled in where the client left it empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mockserver.call import Call
from mockserver.formats.base64text import has_whitespace
from mockserver.superoffice import state
from mockserver.superoffice.directory import Person

UNSAFE_EXTENSIONS = frozenset(
    {
        "bat",
        "cmd",
        "com",
        "cpl",
        "exe",
        "hta",
        "jar",
        "js",
        "jse",
        "lnk",
        "msi",
        "ps1",
        "scr",
        "vb",
        "vbe",
        "vbs",
        "wsf",
    }
)


def _given(source: Mapping[str, Any], key: str) -> Any:
    """A value the client really set: None, 0 and "" are .NET defaults, meaning "not set"."""
    value = source.get(key)
    return None if value is None or value == 0 or value == "" else value


def rights(call: Call, carrier: str) -> dict[str, Any]:
    return call.gen.rights(carrier, call.moment)


def _people(call: Call) -> Callable[[str], Person]:
    """Who an address is, in the CRM directory of the call's language."""
    return state.of(call.scope).directory(call.texts.faker_locale).lookup


def address(call: Call, item: Any, people: Callable[[str], Person] | None = None) -> Any:
    if not isinstance(item, dict):
        return item
    addr = item.get("Address")
    person = (people or _people(call))(addr) if isinstance(addr, str) and addr.strip() else None
    if person is None:
        # Nobody the CRM knows: the client's values, .NET defaults for the rest.
        def pick(key: str, default: Any) -> Any:
            given = _given(item, key)
            return given if given is not None else item.get(key, default)

        contact_id, contact_name = pick("ContactId", 0), pick("ContactName", None)
        person_id, person_name = pick("PersonId", 0), pick("PersonName", None)
        associate_id, email_id, name = pick("AssociateId", 0), pick("EmailId", 0), pick("Name", None)
        duplicates = item.get("DuplicatePersonIds")
        duplicates = duplicates if duplicates is not None else []
    else:
        get = item.get
        contact_id = get("ContactId") or person.contact_id
        contact_name = get("ContactName") or person.contact_name
        person_id = get("PersonId") or person.person_id
        person_name = get("PersonName") or person.person_name
        associate_id = get("AssociateId") or person.associate_id
        email_id = get("EmailId") or person.email_id
        name = get("Name") or person.name
        duplicates = get("DuplicatePersonIds")
        duplicates = duplicates if duplicates is not None else list(person.duplicate_person_ids)
    return {
        "ContactId": contact_id,
        "ContactName": contact_name,
        "PersonId": person_id,
        "PersonName": person_name,
        "AssociateId": associate_id,
        "Address": addr,
        "EmailId": email_id,
        "DuplicatePersonIds": duplicates,
        "Name": name,
        **rights(call, "EMailAddress"),
    }


def addresses(call: Call, items: Any, people: Callable[[str], Person] | None = None) -> list[Any]:
    if not items:
        return []
    people = people or _people(call)
    return [address(call, item, people) for item in items]


def decoded_length(stream: str) -> int:
    """Bytes in a base64 text without decoding it (the contract has already checked it is base64), and
    without copying it when it has no whitespace (an attachment can be megabytes)."""
    cleaned = "".join(stream.split()) if has_whitespace(stream) else stream
    padding = 2 if cleaned.endswith("==") else 1 if cleaned.endswith("=") else 0
    return len(cleaned) * 3 // 4 - padding


def attachment(call: Call, item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    filename = item.get("Filename")
    safe = item.get("IsSafeFileExtension")
    if safe is None and isinstance(filename, str):
        extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        safe = extension not in UNSAFE_EXTENSIONS
    stream = item.get("Stream")
    size = decoded_length(stream) if isinstance(stream, str) and stream else (item.get("Size") or 0)
    return {
        # The client's own description, else its file name (what mail clients show): an invented one would not
        # follow from the request.
        "Description": item.get("Description") or filename,
        "Filename": filename,
        "Size": size,
        "Type": item.get("Type") or ("application/octet-stream" if item.get("Stream") else None),
        "Encoding": item.get("Encoding") or ("base64" if item.get("Stream") else None),
        "Id": item.get("Id"),
        "Disposition": item.get("Disposition") or "attachment",
        "IsSafeFileExtension": bool(safe) if safe is not None else True,
        "Stream": item.get("Stream"),
        **rights(call, "EMailAttachment"),
    }


def custom_header(call: Call, item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    return {"Name": item.get("Name"), "Values": item.get("Values"), **rights(call, "EMailCustomHeader")}


def so_info(call: Call, item: Any) -> Any:
    if not isinstance(item, dict):
        return None
    return {
        "DocumentId": item.get("DocumentId") or 0,
        "AppointmentId": item.get("AppointmentId") or 0,
        "ProjectId": item.get("ProjectId") or 0,
        "SaleId": item.get("SaleId") or 0,
        "Archived": bool(item.get("Archived")),
        "ArchivedAt": call.parse_datetime(item.get("ArchivedAt")),
        "ArchivedBy": item.get("ArchivedBy") or 0,
        "ArchivedDisplayName": item.get("ArchivedDisplayName"),
        **rights(call, "EMailSOInfo"),
    }


def envelope(call: Call, item: Any) -> Any:
    if not isinstance(item, dict):
        return None
    sender = item.get("From")
    return {
        "ServerId": item.get("ServerId") or 0,
        "ServerIdentifier": item.get("ServerIdentifier"),
        "MessageId": item.get("MessageId"),
        "Subject": item.get("Subject"),
        "From": address(call, sender) if isinstance(sender, dict) else None,
        "To": addresses(call, item.get("To")),
        "Sent": call.parse_datetime(item.get("Sent")),
        "Priority": item.get("Priority") or "Normal",
        "Flags": item.get("Flags") or "None",
        "Size": item.get("Size") or 0,
        "EMailSOInfo": so_info(call, item.get("EMailSOInfo")),
        **rights(call, "EMailEnvelope"),
    }


def entity(call: Call, item: Mapping[str, Any], assigned: Mapping[str, Any]) -> dict[str, Any]:
    """An EMailEntity in the vendor's property order: the client's values, then what the server assigned.

    `assigned` holds what the operation decides (MessageID, Sent, Size, Flags, FolderName, ids …) and wins
    over the client's values.
    """
    sender = item.get("From")
    people = _people(call)
    out: dict[str, Any] = {
        "To": addresses(call, item.get("To"), people),
        "Cc": addresses(call, item.get("Cc"), people),
        "Bcc": addresses(call, item.get("Bcc"), people),
        "Subject": item.get("Subject"),
        "HTMLBody": item.get("HTMLBody"),
        "From": address(call, sender, people) if isinstance(sender, dict) else None,
        "Sent": call.parse_datetime(item.get("Sent")),
        "Size": item.get("Size") or 0,
        "Priority": item.get("Priority") or "Normal",
        "Flags": item.get("Flags") or "None",
        "MessageID": item.get("MessageID"),
        "PlainBody": item.get("PlainBody"),
        "IsSent": bool(item.get("IsSent")),
        "EMailSOInfo": so_info(call, item.get("EMailSOInfo")),
        "ServerId": item.get("ServerId") or 0,
        "ServerIdentifier": item.get("ServerIdentifier"),
        "Attachments": [attachment(call, a) for a in item.get("Attachments") or ()],
        "CustomHeaderList": [custom_header(call, h) for h in item.get("CustomHeaderList") or ()],
        "FolderName": item.get("FolderName"),
        "EmailItemId": item.get("EmailItemId") or 0,
        "AccountId": item.get("AccountId") or 0,
        "ReceivedAt": call.parse_datetime(item.get("ReceivedAt")),
        "InReplyTo": envelope(call, item.get("InReplyTo")),
        "RepliedAt": call.parse_datetime(item.get("RepliedAt")),
        "HasCalendarData": bool(item.get("HasCalendarData")),
        "CalMethod": item.get("CalMethod") or "Unknown",
        "CalReplyStatus": item.get("CalReplyStatus") or "Unknown",
    }
    out.update(assigned)
    out.update(rights(call, "EMailEntity"))
    return out
