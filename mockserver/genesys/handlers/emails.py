"""Genesys Web Services e-mail operations on /api/v2/me/emails/{id}."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from email.headerregistry import Address
from typing import Any

from starlette.responses import Response

from mockserver.call import GWS_MEDIA_TYPES, begin
from mockserver.genesys import state
from mockserver.mail import delivery, ingest, mime, mimewriter

FORCED_FAILURE = "Unable to send the e-mail: the mail server refused it (requested by Prefer: notification=error)"


def _draft(email: dict[str, Any], message_id: str, date: datetime) -> mime.Draft:
    def addresses(key: str) -> tuple[Address, ...]:
        values = email.get(key) or ()
        items = [values] if isinstance(values, str) else values
        return tuple(a for a in (mime.address("", item) for item in items) if a is not None)

    html = email.get("body")
    plain = email.get("bodyAsPlainText")
    if html and email.get("mime") == "text/plain":
        plain, html = html, None
    return mime.Draft(
        senders=addresses("from"),
        to=addresses("to"),
        cc=addresses("cc"),
        bcc=addresses("bcc"),
        subject=mime.header_text(email.get("subject") or ""),
        date=date,
        message_id=message_id,
        plain=plain,
        html=html,
    )


async def send(id: str) -> Response:  # noqa: A002 - the contract names the path parameter `id`
    call = await begin(GWS_MEDIA_TYPES)
    body = call.body
    email: dict[str, Any] = body["email"]
    message_id = call.gen.message_id(mime.message_id_domain(email["from"], call.runtime.settings.hostname))
    reference_id = await state.of(call.scope).next_reference_id(call.user or "")
    settings = call.runtime.settings
    plan = delivery.plan_gws(call.runtime.mail.options)
    if call.controls.notification == "error":
        # Rehearsing the failure path: nothing is delivered, the outbox row and the notification say why.
        plan = dataclasses.replace(plan, refused=FORCED_FAILURE)
    delay = call.controls.notification_delay
    # One instant for the message's Date and the row: neither shows the seventh digit `now` would draw for.
    moment = call.instant()
    await ingest.accept(
        call.runtime.mail,
        ingest.Submission(
            operation=call.operation_id,
            message_id=message_id,
            envelope_from=email["from"],
            recipients=[*email["to"], *(email.get("cc") or ()), *(email.get("bcc") or ())],
            mail=mimewriter.write(_draft(email, message_id, moment)),
            request={"id": id, **body},
            user=call.user,
            reference_id=reference_id,
            accepted_at=moment,
            namespace=call.namespace,
            notice=ingest.Notice.of_request(call.scope, settings.notification_delay if delay is None else delay),
        ),
        plan,
        # GWS answers at once; the outcome of the send is reported later as a CometD notification.
        background=True,
    )
    return call.respond({"statusCode": 0, "referenceId": reference_id})
