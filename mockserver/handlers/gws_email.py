"""Genesys Web Services e-mail operations on /api/v2/me/emails/{id}."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from starlette.responses import Response

from mockserver import ingest, mime
from mockserver.call import GWS_MEDIA_TYPES, Call, begin


def _message(call: Call, email: dict[str, Any], message_id: str) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    sender = mime.address("", email["from"])
    if sender is not None:
        msg["From"] = sender
    for header, key in (("To", "to"), ("Cc", "cc"), ("Bcc", "bcc")):
        found = [a for a in (mime.address("", item) for item in email.get(key) or ()) if a is not None]
        if found:
            msg[header] = found
    msg["Subject"] = mime.header_text(email.get("subject") or "")
    msg["Date"] = format_datetime(call.now().value)
    msg["Message-ID"] = message_id
    html = email.get("body")
    plain = email.get("bodyAsPlainText")
    if html and email.get("mime") == "text/plain":
        plain, html = html, None
    if html and plain:
        msg.set_content(plain)
        msg.add_alternative(html, subtype="html")
    elif html:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(plain or "")
    return msg


async def send(id: str) -> Response:  # noqa: A002 - the contract names the path parameter `id`
    call = begin(GWS_MEDIA_TYPES)
    body = call.body
    email: dict[str, Any] = body["email"]
    domain = email["from"].rpartition("@")[2] or call.runtime.settings.hostname
    message_id = call.gen.message_id(domain)
    reference_id = call.runtime.next_reference_id(call.user or "")
    ingest.accept(
        call.runtime,
        ingest.Submission(
            operation=call.operation_id,
            message_id=message_id,
            envelope_from=email["from"],
            recipients=[*email["to"], *(email.get("cc") or ()), *(email.get("bcc") or ())],
            message=_message(call, email, message_id),
            request={"id": id, **body},
            user=call.user,
            reference_id=reference_id,
            accepted_at=call.now().value,
        ),
    )
    return call.respond({"statusCode": 0, "referenceId": reference_id})
