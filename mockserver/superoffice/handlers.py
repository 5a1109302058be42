"""SuperOffice EMail agent: SendEMails, SaveToMailServer, RelayMessage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connexion import context as cx
from starlette.responses import Response

from mockserver.call import SUPEROFFICE_MEDIA_TYPES, Call, begin
from mockserver.contract import problems
from mockserver.contract.bodies import RUNTIME_KEY
from mockserver.formats.dotnet import DotNetDateTime
from mockserver.mail import delivery, ingest, mime, mimewriter
from mockserver.runtime import Runtime
from mockserver.superoffice import carriers

ONLINE_RESTRICTED = (
    "The EMail agent is not available in Online by default. Access must be requested specifically when app is "
    "registered."
)
DEFAULT_SENT_FOLDER = "Sent"


async def _begin(offered: tuple[str, ...] | None) -> Call:
    runtime: Runtime = cx.scope._get_current_object()[RUNTIME_KEY]
    if runtime.settings.online_restricted:
        raise problems.forbidden(ONLINE_RESTRICTED)
    return await begin(offered)


def _domain_of(entity: Mapping[str, Any], fallback: str) -> str:
    sender = entity.get("From")
    return mime.message_id_domain(sender.get("Address") if isinstance(sender, dict) else None, fallback)


def _recipients(entity: Mapping[str, Any]) -> list[str]:
    found = []
    for key in ("To", "Cc", "Bcc"):
        for item in entity.get(key) or ():
            if isinstance(item, dict) and isinstance(item.get("Address"), str) and item["Address"].strip():
                found.append(mime.header_text(item["Address"]))
    return found


def _sender(entity: Mapping[str, Any]) -> str | None:
    sender = entity.get("From")
    if isinstance(sender, dict) and isinstance(sender.get("Address"), str):
        return mime.header_text(sender["Address"]) or None
    return None


async def _accept(call: Call, submissions: list[ingest.Submission], plan: delivery.Plan) -> list[ingest.Outcome]:
    """Accept a request's mails; a failed or refused delivery is answered as the vendor's service exception.

    Delivery to the embedded sink may finish after the answer (a failure is recorded on the outbox row): the
    sink stands in for a mail server that cannot refuse. A server the request names is waited for, as the
    vendor does, so that its refusal reaches the client.
    """
    try:
        return await ingest.accept_all(call.runtime.mail, submissions, plan, background=plan.to_sink_only)
    except delivery.DeliveryFailed as exc:
        if exc.refused:
            raise problems.forbidden(exc.reason, error_type="SoSecurityException") from None
        raise problems.server_error(f"The e-mail could not be sent: {exc.reason}", error_type="SoException") from None


def _submissions(
    call: Call, mails: list[tuple[dict[str, Any], dict[str, Any], DotNetDateTime]]
) -> list[ingest.Submission]:
    """The MIME messages the entities stand for, `Size` set from each: a step at a time for all of them, so that
    each step's code and data stay warm from one mail to the next (a SendEMails ×7 on one worker: ~+13 % rps
    against a mail at a time, every step)."""
    drafts = [mime.draft_from_entity(out, message_id=out["MessageID"], date=sent.value) for out, _, sent in mails]
    written = [mimewriter.write(draft) for draft in drafts]
    submissions = []
    for (out, request, sent), draft, mail in zip(mails, drafts, written, strict=True):
        out["Size"] = len(mail.stored)
        submissions.append(
            ingest.Submission(
                operation=call.operation_id,
                message_id=out["MessageID"],
                envelope_from=_sender(out),
                recipients=_recipients(out),
                mail=mail,
                request=_journaled(request, draft),
                user=call.user,
                accepted_at=sent.value,
                namespace=call.namespace,
            )
        )
    return submissions


def _journaled(request: dict[str, Any], draft: mime.Draft) -> dict[str, Any]:
    """The request as the journal keeps it: an attachment's bytes are in the stored message already, so its
    `Stream` becomes where they are (`/_mock/outbox/{id}/attachments/{attachment}`) and how many there are."""
    email = request.get("Email")
    parts = draft.parts()
    if not parts or not isinstance(email, dict):
        return request
    items = list(email.get("Attachments") or ())
    for index, part in enumerate(parts):
        item = items[part.source]
        if isinstance(item, dict) and item.get("Stream"):
            items[part.source] = {**item, "Stream": {"attachment": index, "size": carriers.decoded_length(part.stream)}}
    return {**request, "Email": {**email, "Attachments": items}}


def _server_ids(out: dict[str, Any], outcome: ingest.Outcome) -> None:
    if outcome.imap_uid is not None:
        # The id the IMAP server assigned (APPENDUID) is the mail's id on the server.
        out["ServerId"] = outcome.imap_uid


async def send_emails() -> Response:
    call = await _begin(SUPEROFFICE_MEDIA_TYPES)
    body = call.body
    sent_items = body.get("SentItemsConnectionInfo")
    folder = None
    if isinstance(sent_items, Mapping):
        folder = sent_items.get("Folder") or DEFAULT_SENT_FOLDER
    plan = delivery.plan_send(call.runtime.mail.options, body.get("OutgoingConnectionInfo"), sent_items, folder)
    results: list[Any] = []
    answers: list[tuple[dict[str, Any], dict[str, Any], DotNetDateTime]] = []
    for email in body.get("Emails") or ():
        if not isinstance(email, dict):
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
            "AccountId": email.get("AccountId") or call.gen.account_id(),
        }
        if folder is not None:
            assigned["FolderName"] = folder
        out = carriers.entity(call, email, assigned)
        answers.append((out, email, sent))
        results.append(out)
    # The messages after the answers, a step at a time (`_submissions`); the random draws above keep their order,
    # since the messages draw nothing.
    outgoing = body.get("OutgoingConnectionInfo")
    submissions = _submissions(
        call,
        [
            (out, {"Email": email, "OutgoingConnectionInfo": outgoing, "SentItemsConnectionInfo": sent_items}, sent)
            for out, email, sent in answers
        ],
    )
    for (out, _, _), outcome in zip(answers, await _accept(call, submissions, plan), strict=True):
        _server_ids(out, outcome)
    return call.respond(results)


async def save_to_mail_server() -> Response:
    call = await _begin(SUPEROFFICE_MEDIA_TYPES)
    email = call.body.get("Email")
    if not isinstance(email, dict):
        # Nothing to save: agents answer 200 with a null body when they have nothing to return.
        return call.respond(None)
    is_sent = bool(email.get("IsSent"))
    given_id = email.get("MessageID")
    sent = call.now()
    assigned: dict[str, Any] = {
        "MessageID": given_id
        # A client's own Message-ID is kept when it is one (a reader takes it back unchanged).
        if isinstance(given_id, str) and mime.MSG_ID.fullmatch(given_id)
        else call.gen.message_id(_domain_of(email, call.runtime.settings.hostname)),
        "Sent": call.parse_datetime(email.get("Sent")) or sent,
        "Flags": email.get("Flags") or ("Seen" if is_sent else "Seen, Draft"),
        "FolderName": email.get("FolderName") or (DEFAULT_SENT_FOLDER if is_sent else "Drafts"),
        "ServerId": call.gen.server_id(),
        "EmailItemId": email.get("EmailItemId") or call.gen.item_id(),
        "AccountId": email.get("AccountId") or call.gen.account_id(),
    }
    out = carriers.entity(call, email, assigned)
    date = assigned["Sent"] if isinstance(assigned["Sent"], DotNetDateTime) else sent
    flags = ("\\Seen",) if is_sent else ("\\Seen", "\\Draft")
    plan = delivery.plan_save(call.runtime.mail.options, out["FolderName"], flags)
    [outcome] = await _accept(call, _submissions(call, [(out, {"Email": email}, date)]), plan)
    _server_ids(out, outcome)
    return call.respond(out)


async def relay_message() -> Response:
    call = await _begin(None)
    body = call.body
    text: str = body["Rfc822"]
    raw = text.encode("utf-8", "surrogateescape")
    # Only the header block is read: the text itself travels unchanged.
    head = mime.read_headers(raw, ("Message-ID", "Subject", "From", "To"))
    submission = ingest.Submission(
        operation=call.operation_id,
        message_id=head["Message-ID"],
        envelope_from=body.get("From") or mime.first_address(head["From"]),
        recipients=[mime.header_text(r) for r in body["Recipients"]],
        mail=mime.Written(raw, head["Subject"], head["From"], head["To"]),
        request=dict(body),
        user=call.user,
        accepted_at=call.instant(),
        namespace=call.namespace,
    )
    await _accept(
        call, [submission], delivery.plan_relay(call.runtime.mail.options, body.get("ConnectionInfoExtended"))
    )
    return call.respond(None, status=204)
