"""The one door every accepted mail passes through, whichever API operation it came from.

`accept()` writes the outbox row (committed before anything else happens), delivers according to the plan,
and records the outcome on the row. Nothing accepted disappears silently: a mail that cannot be delivered is
kept with status `failed` and the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from mockserver import delivery, mime
from mockserver.outbox import FAILED, NOT_SENT, QUEUED, SENT

if TYPE_CHECKING:
    from mockserver.runtime import Runtime

logger = logging.getLogger("mockserver.delivery")
IMAP_DATES = (1971, 2100)


@dataclass(frozen=True)
class Notice:
    """How the outcome of a mail accepted in the background is to be reported (GWS: a CometD notification)."""

    origin: str
    delay_ms: int = 0


@dataclass
class Submission:
    """One accepted mail: what was asked for and the message that stands for it.

    `raw` is set when the client supplied the message text itself (RelayMessage), which must travel
    unchanged; otherwise the message is `message`, built from the request. `request` never holds a
    password.
    """

    operation: str
    message_id: str | None
    envelope_from: str | None
    recipients: list[str]
    message: EmailMessage | None = None
    raw: bytes | None = None
    request: dict[str, Any] = field(default_factory=dict)
    user: str | None = None
    reference_id: int | None = None
    accepted_at: datetime | None = None
    namespace: str = ""
    notice: Notice | None = None
    # Writing a message out is the costliest step of a send; the answer's Size and the outbox need the same bytes.
    _stored: bytes | None = field(default=None, repr=False, compare=False)

    def stored_bytes(self) -> bytes:
        """The message as kept in the outbox and in IMAP folders (Bcc included, as in Sent Items)."""
        if self.raw is not None:
            return self.raw
        if self._stored is None:
            assert self.message is not None
            self._stored = mime.message_bytes(self.message)
        return self._stored

    def transmitted_bytes(self) -> bytes:
        """The message as SMTP carries it: Bcc recipients get it, but not the header naming them."""
        if self.raw is not None:
            return self.raw
        assert self.message is not None
        if "Bcc" not in self.message:
            return self.stored_bytes()
        copy = deepcopy(self.message)
        del copy["Bcc"]
        return mime.message_bytes(copy)

    def size(self) -> int:
        return len(self.stored_bytes())


@dataclass
class Outcome:
    """What happened to an accepted mail."""

    row_id: int
    status: str
    imap_uid: int | None = None
    imap_folder: str | None = None
    error: str | None = None


_SECRET_KEYS = frozenset({"password"})


def without_secrets(value: Any) -> Any:
    """A copy of a request with every password dropped (set to None), for anything that is kept or shown."""
    if isinstance(value, dict):
        return {k: (None if k.lower() in _SECRET_KEYS else without_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


Listener = Callable[[Submission, Outcome], Awaitable[None]]


async def accept(runtime: Runtime, submission: Submission, plan: delivery.Plan, *, background: bool = False) -> Outcome:
    """Record an accepted mail, then deliver it as planned.

    Raises DeliveryFailed (after recording the failure) when delivery is refused or fails, unless it runs in
    the background: then the outcome reaches the listeners (e.g. the GWS notification) instead.
    """
    submission.request = without_secrets(submission.request)
    raw = submission.stored_bytes()
    message = submission.message if submission.message is not None else mime.parse_rfc822_bytes(raw)
    row_id = runtime.outbox.record(
        namespace=submission.namespace,
        operation=submission.operation,
        message_id=submission.message_id,
        envelope_from=submission.envelope_from,
        recipients=submission.recipients,
        subject=mime.safe_header(message, "Subject"),
        from_header=mime.safe_header(message, "From"),
        to_header=mime.safe_header(message, "To"),
        raw=raw,
        request=submission.request,
        status=NOT_SENT if plan.empty and not plan.refused else QUEUED,
        note=plan.note,
        reference_id=submission.reference_id,
        user=submission.user,
    )
    runtime.accepted.append(submission)
    if plan.refused:
        runtime.outbox.update(row_id, status=FAILED, error=plan.refused)
        outcome = Outcome(row_id, FAILED, error=plan.refused)
        if background:
            runtime.spawn(_notify(runtime, submission, outcome))
            return outcome
        raise delivery.DeliveryFailed(plan.refused, refused=True)
    if plan.empty:
        outcome = Outcome(row_id, NOT_SENT)
        if background:
            runtime.spawn(_notify(runtime, submission, outcome))
        return outcome
    if background:
        runtime.spawn(_deliver_and_notify(runtime, submission, plan, row_id))
        return Outcome(row_id, QUEUED)
    return await _deliver(runtime, submission, plan, row_id)


async def _deliver(runtime: Runtime, submission: Submission, plan: delivery.Plan, row_id: int) -> Outcome:
    settings = runtime.settings
    notes: list[str] = []
    uid = None
    folder = plan.imap_folder
    try:
        if plan.smtp is not None:
            good, bad = delivery.deliverable(submission.recipients)
            if bad:
                notes.append("not deliverable (invalid address): " + ", ".join(bad))
            if good:
                refused = await delivery.send_smtp(
                    plan.smtp, submission.envelope_from, good, submission.transmitted_bytes(), settings
                )
                if refused:
                    notes.append(refused)
            else:
                notes.append("no deliverable recipient: nothing sent over SMTP")
        if plan.imap is not None and plan.imap_folder:
            when = submission.accepted_at or datetime.now(UTC)
            if not IMAP_DATES[0] <= when.year <= IMAP_DATES[1]:
                # IMAP servers refuse internal dates far from today (Dovecot: before 1970); keep it near now.
                when = datetime.now(UTC)
            uid, folder = await delivery.append_imap(
                plan.imap, plan.imap_folder, submission.stored_bytes(), plan.imap_flags, when, settings
            )
    except delivery.DeliveryFailed as exc:
        logger.warning("delivery of outbox row %s failed: %s", row_id, exc.reason)
        runtime.outbox.update(
            row_id,
            status=FAILED,
            error=exc.reason,
            note="; ".join(notes) or None,
            smtp_target=plan.smtp.url if plan.smtp else None,
            imap_target=plan.imap.url if plan.imap else None,
        )
        raise
    status = SENT if plan.smtp is not None or uid is not None or plan.imap is not None else NOT_SENT
    runtime.outbox.update(
        row_id,
        status=status,
        note="; ".join(notes) or plan.note,
        smtp_target=plan.smtp.url if plan.smtp else None,
        imap_target=plan.imap.url if plan.imap else None,
        imap_folder=folder if plan.imap else None,
        imap_uid=uid,
    )
    return Outcome(row_id, status, imap_uid=uid, imap_folder=folder if plan.imap else None)


async def _deliver_and_notify(runtime: Runtime, submission: Submission, plan: delivery.Plan, row_id: int) -> None:
    try:
        outcome = await _deliver(runtime, submission, plan, row_id)
    except delivery.DeliveryFailed as exc:
        outcome = Outcome(row_id, FAILED, error=exc.reason)
    await _notify(runtime, submission, outcome)


async def _notify(runtime: Runtime, submission: Submission, outcome: Outcome) -> None:
    for listener in list(runtime.listeners):
        try:
            await listener(submission, outcome)
        except Exception:
            logger.exception("delivery listener failed for outbox row %s", outcome.row_id)


async def settle(runtime: Runtime) -> None:
    """Wait for background deliveries to finish (server shutdown, tests)."""
    while runtime.tasks:
        await asyncio.gather(*list(runtime.tasks), return_exceptions=True)
