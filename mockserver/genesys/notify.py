"""The CometD notification that reports a GWS Send's outcome: an EmailStateChangeMessage on `/v2/me/emails`.

Field order and style follow the Genesys Send page's sample. After a successful send (or a journal-only one
in delivery mode `none`): `notificationType: StatusChange`, `email.state: Sent`, no capabilities left. When
delivery failed, or the request asked for it (`Prefer: notification=error`): `notificationType: Error`
with `errorMessage`, and the e-mail still `Composing` with the capabilities of a draft, so the agent can try
again. (The Error payload's fields are not documented by the vendor; these are our reading.)
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mockserver.mail.ingest import Listener, Outcome, Submission
from mockserver.mail.outbox import NOT_SENT, SENT

if TYPE_CHECKING:
    from mockserver.genesys.state import Genesys

logger = logging.getLogger("mockserver.notifications")

EMAILS_CHANNEL = "/v2/me/emails"
SEND_OPERATION = "gwsEmail_Send"
COMPOSING_CAPABILITIES = [
    "Cancel",
    "Send",
    "AddComment",
    "AttachUserData",
    "UpdateUserData",
    "DeleteUserData",
    "SetDisposition",
    "SetInFocus",
    "Transfer",
]
_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def ucs_id(run_seed: int, key: str) -> str:
    """A 16-character Universal Contact Server id (`0000Wa9CAM6W018X`), the same for the same key in a run."""
    digest = int.from_bytes(hashlib.blake2b(f"{run_seed}:{key}".encode(), digest_size=12).digest(), "big")
    chars = []
    for _ in range(12):
        digest, index = divmod(digest, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[index])
    return "0000" + "".join(chars)


def state_change(submission: Submission, outcome: Outcome, run_seed: int) -> dict[str, Any]:
    request = submission.request
    email: dict[str, Any] = request.get("email") or {}
    interaction_id = str(request.get("id", ""))
    origin = submission.notice.origin if submission.notice else ""
    sent = outcome.status in (SENT, NOT_SENT)
    to = list(email.get("to") or [])
    resource: dict[str, Any] = {}
    for key in ("body", "bodyAsPlainText"):
        if email.get(key) is not None:
            resource[key] = email[key]
    resource["userData"] = {
        # The attached data of the interaction the reply belongs to: whom it answers, and from which mailbox.
        "ContactId": ucs_id(run_seed, to[0] if to else interaction_id),
        "FromAddress": to[0] if to else "",
        "Mailbox": email.get("from", ""),
        "Subject": email.get("subject") or "",
        "_AttachmentsSize": 0,
    }
    resource["from"] = email.get("from", "")
    resource["uri"] = f"{origin}/api/v2/email/{interaction_id}"
    resource["capabilities"] = [] if sent else list(COMPOSING_CAPABILITIES)
    resource["to"] = to
    for key in ("cc", "bcc"):
        if email.get(key):
            resource[key] = list(email[key])
    resource["state"] = "Sent" if sent else "Composing"
    resource["mime"] = email.get("mime") or "text/html"
    resource["id"] = interaction_id
    resource["emailType"] = "Outbound"
    if email.get("subject") is not None:
        resource["subject"] = email["subject"]
    data: dict[str, Any] = {
        "referenceId": submission.reference_id,
        "notificationType": "StatusChange" if sent else "Error",
        "messageType": "EmailStateChangeMessage",
        "email": resource,
    }
    if not sent:
        data["errorMessage"] = outcome.error or "The e-mail could not be sent."
    return data


def listener_for(genesys: Genesys) -> Listener:
    """The outcome listener that turns GWS Sends' outcomes into their notifications for the sending users (the
    wiring adds it to the Mailroom's listeners). Each waits its notice's delay, counted from when the outcomes
    were reported; those due at the same moment are published together (`Bayeux.publish_all`)."""

    async def notify(reports: Sequence[tuple[Submission, Outcome]]) -> None:
        # Stable: the same delay keeps the order the outcomes were reported in (each user's reference ids rising).
        due = sorted(
            (
                (submission.notice.delay_ms, submission, outcome)
                for submission, outcome in reports
                if submission.operation == SEND_OPERATION
                and submission.notice is not None
                and submission.user is not None
            ),
            key=lambda item: item[0],
        )
        waited = 0
        for delay_ms, group in itertools.groupby(due, key=lambda item: item[0]):
            if delay_ms > waited:
                await asyncio.sleep((delay_ms - waited) / 1000)
                waited = delay_ms
            sends = [(submission, outcome) for _, submission, outcome in group]
            reached = genesys.bayeux.publish_all(
                [
                    (
                        str(submission.user),
                        EMAILS_CHANNEL,
                        functools.partial(state_change, submission, outcome, genesys.run_seed),
                    )
                    for submission, outcome in sends
                ]
            )
            for (submission, outcome), clients in zip(sends, reached, strict=True):
                logger.debug(
                    "referenceId %s: %s sent to %d CometD client(s)", submission.reference_id, outcome.status, clients
                )

    return notify
