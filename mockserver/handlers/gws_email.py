"""Genesys Web Services e-mail operations on /api/v2/me/emails/{id}."""

from __future__ import annotations

import dataclasses
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockserver import delivery, ingest, mime
from mockserver.call import GWS_MEDIA_TYPES, Call, begin

FORCED_FAILURE = "Unable to send the e-mail: the mail server refused it (requested by Prefer: notification=error)"


def _message(call: Call, email: dict[str, Any], message_id: str) -> EmailMessage:
    by_header = {}
    for header, key in (("From", "from"), ("To", "to"), ("Cc", "cc"), ("Bcc", "bcc")):
        values = email.get(key) or ()
        items = [values] if isinstance(values, str) else values
        by_header[header] = [a for a in (mime.address("", item) for item in items) if a is not None]
    msg = EmailMessage(policy=mime.policy_for(a for found in by_header.values() for a in found))
    for header, found in by_header.items():
        mime.set_addresses(msg, header, found)
    msg["Subject"] = mime.header_text(email.get("subject") or "")
    msg["Date"] = format_datetime(call.now().value)
    msg["Message-ID"] = message_id
    html = email.get("body")
    plain = email.get("bodyAsPlainText")
    if html and email.get("mime") == "text/plain":
        plain, html = html, None
    mime.set_bodies(msg, plain, html)
    return msg


async def send(id: str) -> Response:  # noqa: A002 - the contract names the path parameter `id`
    call = await begin(GWS_MEDIA_TYPES)
    body = call.body
    email: dict[str, Any] = body["email"]
    message_id = call.gen.message_id(mime.message_id_domain(email["from"], call.runtime.settings.hostname))
    reference_id = call.runtime.next_reference_id(call.user or "")
    settings = call.runtime.settings
    plan = delivery.plan_gws(settings)
    if call.controls.notification == "error":
        # Rehearsing the failure path: nothing is delivered, the outbox row and the notification say why.
        plan = dataclasses.replace(plan, refused=FORCED_FAILURE)
    delay = call.controls.notification_delay
    origin = str(Request(call.scope).base_url).rstrip("/")
    await ingest.accept(
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
            namespace=call.namespace,
            notice=ingest.Notice(origin, settings.notification_delay if delay is None else delay),
        ),
        plan,
        # GWS answers at once; the outcome of the send is reported later as a CometD notification.
        background=True,
    )
    return call.respond({"statusCode": 0, "referenceId": reference_id})
