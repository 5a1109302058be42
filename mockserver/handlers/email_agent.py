"""SuperOffice EMail agent: SendEMails, SaveToMailServer, RelayMessage."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connexion import context as cx
from starlette.responses import Response

from mockserver import carriers, delivery, ingest, mime, problems
from mockserver.bodies import RUNTIME_KEY
from mockserver.call import SUPEROFFICE_MEDIA_TYPES, Call, begin
from mockserver.dotnet import DotNetDateTime
from mockserver.runtime import Runtime

ONLINE_RESTRICTED = (
    "The EMail agent is not available in Online by default. Access must be requested specifically when app is "
    "registered."
)
MESSAGE_ID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")
DEFAULT_SENT_FOLDER = "Sent"


async def _begin(offered: tuple[str, ...] | None) -> Call:
    runtime: Runtime = cx.scope[RUNTIME_KEY]
    if runtime.settings.online_restricted:
        raise problems.forbidden(ONLINE_RESTRICTED)
    return await begin(offered)


def _domain_of(entity: Mapping[str, Any], fallback: str) -> str:
    sender = entity.get("From")
    return mime.message_id_domain(sender.get("Address") if isinstance(sender, Mapping) else None, fallback)


def _recipients(entity: Mapping[str, Any]) -> list[str]:
    found = []
    for key in ("To", "Cc", "Bcc"):
        for item in entity.get(key) or ():
            if isinstance(item, Mapping) and isinstance(item.get("Address"), str) and item["Address"].strip():
                found.append(mime.header_text(item["Address"]))
    return found


def _sender(entity: Mapping[str, Any]) -> str | None:
    sender = entity.get("From")
    if isinstance(sender, Mapping) and isinstance(sender.get("Address"), str):
        return mime.header_text(sender["Address"]) or None
    return None


async def _accept(call: Call, submission: ingest.Submission, plan: delivery.Plan) -> ingest.Outcome:
    """Accept a mail; a failed or refused delivery is answered as the vendor's service exception."""
    try:
        return await ingest.accept(call.runtime, submission, plan)
    except delivery.DeliveryFailed as exc:
        if exc.refused:
            raise problems.forbidden(exc.reason, error_type="SoSecurityException") from None
        raise problems.server_error(f"The e-mail could not be sent: {exc.reason}", error_type="SoException") from None


async def _finish(
    call: Call, out: dict[str, Any], request: Mapping[str, Any], sent: DotNetDateTime, plan: delivery.Plan
) -> ingest.Outcome:
    """Build the MIME message the entity stands for, set `Size` from it, accept and deliver it."""
    message = mime.entity_to_message(out, message_id=out["MessageID"], date=sent.value)
    submission = ingest.Submission(
        operation=call.operation_id,
        message_id=out["MessageID"],
        envelope_from=_sender(out),
        recipients=_recipients(out),
        message=message,
        request=dict(request),
        user=call.user,
        accepted_at=sent.value,
        namespace=call.namespace,
    )
    out["Size"] = submission.size()
    outcome = await _accept(call, submission, plan)
    if outcome.imap_uid is not None:
        # The id the IMAP server assigned (APPENDUID) is the mail's id on the server.
        out["ServerId"] = outcome.imap_uid
    return outcome


async def send_emails() -> Response:
    call = await _begin(SUPEROFFICE_MEDIA_TYPES)
    body = call.body
    sent_items = body.get("SentItemsConnectionInfo")
    folder = None
    if isinstance(sent_items, Mapping):
        folder = sent_items.get("Folder") or DEFAULT_SENT_FOLDER
    results: list[Any] = []
    for email in body.get("Emails") or ():
        if not isinstance(email, Mapping):
            results.append(None)
            continue
        sent = call.now()
        assigned: dict[str, Any] = {
            "Sent": sent,
            "Flags": "Seen",
            "MessageID": call.gen.message_id(_domain_of(email, call.runtime.settings.hostname)),
            "IsSent": True,
            "ServerId": call.gen.server_id(),
            "EmailItemId": call.gen.item_id(),
            "AccountId": email.get("AccountId") or call.gen.rng.randint(1, 40),
        }
        if folder is not None:
            assigned["FolderName"] = folder
        out = carriers.entity(call, email, assigned)
        plan = delivery.plan_send(call.runtime.settings, body.get("OutgoingConnectionInfo"), sent_items, folder)
        request = {
            "Email": email,
            "OutgoingConnectionInfo": body.get("OutgoingConnectionInfo"),
            "SentItemsConnectionInfo": sent_items,
        }
        await _finish(call, out, request, sent, plan)
        results.append(out)
    return call.respond(results)


async def save_to_mail_server() -> Response:
    call = await _begin(SUPEROFFICE_MEDIA_TYPES)
    email = call.body.get("Email")
    if not isinstance(email, Mapping):
        # Nothing to save: agents answer 200 with a null body when they have nothing to return.
        return call.respond(None)
    is_sent = bool(email.get("IsSent"))
    given_id = email.get("MessageID")
    sent = call.now()
    assigned: dict[str, Any] = {
        "MessageID": given_id
        if isinstance(given_id, str) and MESSAGE_ID.match(given_id)
        else call.gen.message_id(_domain_of(email, call.runtime.settings.hostname)),
        "Sent": call.parse_datetime(email.get("Sent")) or sent,
        "Flags": email.get("Flags") or ("Seen" if is_sent else "Seen, Draft"),
        "FolderName": email.get("FolderName") or (DEFAULT_SENT_FOLDER if is_sent else "Drafts"),
        "ServerId": call.gen.server_id(),
        "EmailItemId": email.get("EmailItemId") or call.gen.item_id(),
        "AccountId": email.get("AccountId") or call.gen.rng.randint(1, 40),
    }
    out = carriers.entity(call, email, assigned)
    date = assigned["Sent"] if isinstance(assigned["Sent"], DotNetDateTime) else sent
    flags = ("\\Seen",) if is_sent else ("\\Seen", "\\Draft")
    await _finish(
        call, out, {"Email": email}, date, delivery.plan_save(call.runtime.settings, out["FolderName"], flags)
    )
    return call.respond(out)


async def relay_message() -> Response:
    call = await _begin(None)
    body = call.body
    text: str = body["Rfc822"]
    message = mime.parse_rfc822(text)
    envelope_from = body.get("From") or mime.header_address(message, "From")
    await _accept(
        call,
        ingest.Submission(
            operation=call.operation_id,
            message_id=mime.safe_header(message, "Message-ID"),
            envelope_from=envelope_from,
            recipients=[mime.header_text(r) for r in body["Recipients"]],
            raw=text.encode("utf-8", "surrogateescape"),
            request=dict(body),
            user=call.user,
            accepted_at=call.now().value,
            namespace=call.namespace,
        ),
        delivery.plan_relay(call.runtime.settings, body.get("ConnectionInfoExtended")),
    )
    return call.respond(None, status=204)
