"""The least work SendEMails and Genesys Send can do on the mock's own app and still keep their contracts: the bench's
`work-floor` peer.

The own floor (own_floor.py) is the framework with no handler work at all. This peer keeps the same app, the
same command line and the same outbox, and replaces the SendEMails handler with the least its contract asks of
it, written plainly, without the mock's realism:

- per mail, a MIME message whose length is the answer's `Size`: headers as they are where they are short
  printable ASCII, else RFC 2047 encoded words (written here directly: the stdlib's `email.header` and
  `formataddr` cost more than the mock's own writer, and a floor must not); bodies 7-bit where they can be,
  else base64; multipart/alternative when both bodies are there; Bcc kept in the stored copy, as the mock keeps it;
- per mail, an EMailEntity carrier with every property, the client's values and the assigned ones, and rights
  that are one constant (no CRM directory, no drawn rights, no seeded generator, one date for the request);
- every mail's outbox row committed before the answer, by the mock's own group commit (`Outbox.file`);
- one orjson answer.

So `work-floor / own floor` is about the most that a SendEMails handler doing the contract's work can keep of
the framework's rate on this app, and a goal the work floor misses is out of reach of that work itself, not only
of this mock's way of doing it. Mails with
attachments are not written here (the bench runs this peer on the scenarios without them). Genesys Send
(`gws_send`) writes its one mail the same way and answers the user's next reference id. Every other operation
answers a constant, as in the own floor.

Usage: python bench/work_floor.py serve --host 127.0.0.1 --port PORT [any other `mockserver serve` flag]
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import random
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import orjson
from connexion import context as cx
from starlette.responses import Response

sys.path.insert(0, str(Path(__file__).resolve().parent))

from own_floor import constant_like, resolving, serve

from mockserver.call import caller
from mockserver.contract.bodies import BODY_KEY, RUNTIME_KEY
from mockserver.genesys.sessions import count_request
from mockserver.mail.outbox import NOT_SENT, Record, journal_json, now_text
from mockserver.runtime import Runtime

OPERATION = "v1EMailAgent_SendEMails"
GWS_OPERATION = "gwsEmail_Send"
CRLF = "\r\n"
# One right for every carrier: drawing them is the mock's realism, not the contract's.
RIGHTS = {"TableRight": {"Mask": "Select, Update, Delete", "Reason": ""}, "FieldProperties": {}}
_ids = random.Random()
SPECIALS = re.compile(r'[][\\()<>@,:;".]')  # a display name with one of these is quoted (RFC 5322)


def words(text: str) -> str:
    """RFC 2047 encoded words for any text, folded between words: base64 of UTF-8, at most 45 bytes a word (so
    none passes 75 characters): the whole text when it fits (a display name should), else eleven characters a
    word (at most 44 bytes, and none splits a character)."""
    whole = len(text) <= 11 or len(text.encode("utf-8")) <= 45
    chunks = [text] if whole else (text[start : start + 11] for start in range(0, len(text), 11))
    encoded = (base64.b64encode(chunk.encode("utf-8")).decode("ascii") for chunk in chunks)
    return (CRLF + " ").join(f"=?utf-8?b?{word}?=" for word in encoded)


def header_value(text: str, name: str) -> str:
    """A header's value as it may stand in a message: unchanged when it is short printable ASCII, else encoded
    words."""
    if text.isascii() and text.isprintable() and len(name) + len(text) < 76:
        return text
    return words(text)


def mailbox(item: dict[str, Any]) -> str:
    name, address = item.get("Name") or "", item["Address"]
    if not name:
        return str(address)
    if not (name.isascii() and name.isprintable()):
        return f"{words(name)} <{address}>"
    if SPECIALS.search(name):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'
    return f"{name} <{address}>"


def listed(items: list[dict[str, Any]]) -> str:
    return ("," + CRLF + " ").join(mailbox(item) for item in items)


def part(text: str, subtype: str) -> str:
    """A text body as a MIME part, ending with a line end (as the stdlib's `set_content` leaves it)."""
    text = text if text.endswith("\n") else text + "\n"
    if text.isascii():
        lines = text.replace("\r\n", "\n").replace("\r", "\n")
        if len(lines) <= 998 or max(map(len, lines.split("\n"))) <= 998:
            head = f'Content-Type: text/{subtype}; charset="us-ascii"{CRLF}Content-Transfer-Encoding: 7bit'
            return f"{head}{CRLF}{CRLF}{lines.replace(chr(10), CRLF)}"
    payload = base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", CRLF)
    head = f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: base64'
    return f"{head}{CRLF}{CRLF}{payload}"


def message(email: dict[str, Any], message_id: str, date: str, sender: str | None, to: str) -> bytes:
    head = [f"From: {sender}"] if sender else []
    if to:
        head.append(f"To: {to}")
    for key in ("Cc", "Bcc"):  # the stored copy keeps its Bcc, as the mock's does
        if email.get(key):
            head.append(f"{key}: {listed(email[key])}")
    head.append(f"Subject: {header_value(email.get('Subject') or '', 'Subject')}")
    head.append(f"Date: {date}")
    head.append(f"Message-ID: {message_id}")
    for custom in email.get("CustomHeaderList") or ():
        head.extend(f"{custom['Name']}: {header_value(value, custom['Name'])}" for value in custom.get("Values") or ())
    head.append("MIME-Version: 1.0")
    bodies = ((email.get("PlainBody"), "plain"), (email.get("HTMLBody"), "html"))
    given = [(text, subtype) for text, subtype in bodies if text] or [("", "plain")]
    if len(given) == 1:
        body = part(*given[0])
    else:
        boundary = f"=_{_ids.getrandbits(96):024x}"
        head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        parts = "".join(f"--{boundary}{CRLF}{part(*item)}{CRLF}" for item in given)
        body = f"{CRLF}{parts}--{boundary}--{CRLF}"
    return f"{CRLF.join(head)}{CRLF}{body}".encode("ascii")


def address(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "ContactId": item.get("ContactId") or 0,
        "ContactName": item.get("ContactName"),
        "PersonId": item.get("PersonId") or 0,
        "PersonName": item.get("PersonName"),
        "AssociateId": item.get("AssociateId") or 0,
        "Address": item.get("Address"),
        "EmailId": item.get("EmailId") or 0,
        "DuplicatePersonIds": item.get("DuplicatePersonIds") or [],
        "Name": item.get("Name"),
        **RIGHTS,
    }


def entity(email: dict[str, Any], message_id: str, sent: str, size: int) -> dict[str, Any]:
    sender = email.get("From")
    return {
        "To": [address(item) for item in email.get("To") or ()],
        "Cc": [address(item) for item in email.get("Cc") or ()],
        "Bcc": [address(item) for item in email.get("Bcc") or ()],
        "Subject": email.get("Subject"),
        "HTMLBody": email.get("HTMLBody"),
        "From": address(sender) if sender else None,
        "Sent": sent,
        "Size": size,
        "Priority": email.get("Priority") or "Normal",
        "Flags": "Seen",
        "MessageID": message_id,
        "PlainBody": email.get("PlainBody"),
        "IsSent": True,
        "EMailSOInfo": None,
        "ServerId": 1000 + _ids.getrandbits(16),
        "ServerIdentifier": email.get("ServerIdentifier"),
        "Attachments": [],
        "CustomHeaderList": [{**custom, **RIGHTS} for custom in email.get("CustomHeaderList") or ()],
        "FolderName": None,
        "EmailItemId": 1 + _ids.getrandbits(16),
        "AccountId": email.get("AccountId") or 1,
        "ReceivedAt": None,
        "InReplyTo": None,
        "RepliedAt": None,
        "HasCalendarData": False,
        "CalMethod": "Unknown",
        "CalReplyStatus": "Unknown",
        **RIGHTS,
    }


async def send_emails() -> Response:
    scope = cx.scope._get_current_object()
    runtime: Runtime = scope[RUNTIME_KEY]
    now = datetime.now(UTC)
    date, sent = format_datetime(now), now.isoformat()
    answers, records = [], []
    for email in scope[BODY_KEY].get("Emails") or ():
        if email.get("Attachments"):
            return Response(b'{"Error": "work_floor.py writes no attachments"}', 501, media_type="application/json")
        sender = (email.get("From") or {}).get("Address")
        message_id = f"<{_ids.getrandbits(128):032x}@{sender.rpartition('@')[2] if sender else 'localhost'}>"
        from_header = mailbox(email["From"]) if email.get("From") else None
        to_header = listed(email.get("To") or [])
        raw = message(email, message_id, date, from_header, to_header)
        answers.append(entity(email, message_id, sent, len(raw)))
        recipients = [item["Address"] for key in ("To", "Cc", "Bcc") for item in email.get(key) or ()]
        records.append(
            Record(
                namespace="",
                operation=OPERATION,
                message_id=message_id,
                envelope_from=sender,
                recipients=recipients,
                subject=email.get("Subject"),
                from_header=from_header,
                to_header=to_header,
                raw=raw,
                journal=journal_json({"Email": email}),
                status=NOT_SENT,
            )
        )
    await runtime.mail.outbox.file(records)
    return Response(orjson.dumps(answers), media_type="application/json")


async def gws_send(id: str) -> Response:  # noqa: A002 - the contract names the path parameter `id`
    """Genesys Send: the message and its row, the user's next reference id counted in the same transaction as
    the row (the mock counts it in a transaction of its own first); no notification is prepared (no client
    subscribes in the bench)."""
    scope = cx.scope._get_current_object()
    runtime: Runtime = scope[RUNTIME_KEY]
    body = scope[BODY_KEY]
    email = body["email"]
    user = str(caller(scope) or "")
    html, plain = email.get("body"), email.get("bodyAsPlainText")
    if html and email.get("mime") == "text/plain":
        plain, html = html, None
    entity = {
        "From": {"Address": email["from"]},
        "To": [{"Address": item} for item in email["to"]],
        "Cc": [{"Address": item} for item in email.get("cc") or ()],
        "Bcc": [{"Address": item} for item in email.get("bcc") or ()],
        "Subject": email.get("subject") or "",
        "PlainBody": plain,
        "HTMLBody": html,
    }
    sender = email["from"]
    message_id = f"<{_ids.getrandbits(128):032x}@{sender.rpartition('@')[2] or 'localhost'}>"
    to_header = listed(entity["To"])
    raw = message(entity, message_id, format_datetime(datetime.now(UTC)), sender, to_header)
    record = Record(
        namespace="",
        operation=GWS_OPERATION,
        message_id=message_id,
        envelope_from=sender,
        recipients=[item["Address"] for key in ("To", "Cc", "Bcc") for item in entity[key]],
        subject=entity["Subject"],
        from_header=sender,
        to_header=to_header,
        raw=raw,
        journal=journal_json({"id": id, **body}),
        status=NOT_SENT,
        user=user,
    )
    outbox = runtime.mail.outbox
    stamp = now_text()

    def count_and_file(conn: Any) -> int:  # the mock's own count and insert, in one shared transaction
        record.reference_id = count_request(conn, user)
        outbox._insert(conn, [(record, stamp)])
        return record.reference_id

    reference_id = await outbox.together(count_and_file)
    return Response(orjson.dumps({"statusCode": 0, "referenceId": reference_id}), media_type="application/json")


LEAST: dict[str, Callable[..., Any]] = {OPERATION: send_emails, GWS_OPERATION: gws_send}


def least_work_handlers() -> contextlib.AbstractContextManager[None]:
    """While active, every app built answers SendEMails and Genesys Send with the handlers above, every other
    operation with a constant (each keeps its handler's signature, so Connexion prepares the same arguments)."""

    def choose(operation_id: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        least = LEAST.get(operation_id)
        if least is None:
            return constant_like(handler)
        least.__signature__ = inspect.signature(handler)  # type: ignore[attr-defined]
        return least

    return resolving(choose)


def main(argv: list[str]) -> int:
    return serve(argv, least_work_handlers, "work_floor.py")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
