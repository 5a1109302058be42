"""The one door every accepted mail passes through, whichever API operation it came from.

`accept()` writes the outbox row (committed before anything else happens), delivers according to the plan,
and records the outcome on the row. Nothing accepted disappears silently: a mail that cannot be delivered is
kept with status `failed` and the reason.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from mockserver.mail import delivery, mime
from mockserver.mail.outbox import FAILED, NOT_SENT, QUEUED, SENT, Outbox, Record, journal_json

logger = logging.getLogger("mockserver.delivery")
IMAP_DATES = (1971, 2100)
# A kept submission holds its whole message, attachments included: a thousand 1 MB mails kept for inspection
# were gigabytes of RSS. The outbox is the record; this is only for looking at the latest ones in-process.
ACCEPTED_KEPT = 8


@dataclass(frozen=True)
class Notice:
    """How the outcome of a mail accepted in the background is to be reported (GWS: a CometD notification).

    `source` is the mock's origin as the request addressed it (for the notification's links), or the parts of the
    request's scope Starlette's `base_url` reads it from (`of_request`): read only when the notification is made,
    which most under load never are (nobody subscribed)."""

    source: str | Mapping[str, Any]
    delay_ms: int = 0

    @classmethod
    def of_request(cls, scope: Mapping[str, Any], delay_ms: int = 0) -> Notice:
        return cls({key: scope[key] for key in _BASE_URL_SCOPE if key in scope}, delay_ms)

    @functools.cached_property
    def origin(self) -> str:
        if isinstance(self.source, str):
            return self.source
        return str(Request(dict(self.source)).base_url).rstrip("/")


# What Starlette's `Request.base_url` reads of a scope.
_BASE_URL_SCOPE = ("type", "scheme", "server", "root_path", "app_root_path", "headers")


@dataclass
class Submission:
    """One accepted mail: what was asked for and the message that stands for it.

    `mail` is the message as written (for RelayMessage, the client's own text, which travels unchanged).
    `request` never holds a password once the mail is accepted.
    """

    operation: str
    message_id: str | None
    envelope_from: str | None
    recipients: list[str]
    mail: mime.Written
    request: dict[str, Any] = field(default_factory=dict)
    user: str | None = None
    reference_id: int | None = None
    accepted_at: datetime | None = None
    namespace: str = ""
    notice: Notice | None = None

    def stored_bytes(self) -> bytes:
        """The message as kept in the outbox and in IMAP folders (Bcc included, as in Sent Items)."""
        return self.mail.stored

    def transmitted_bytes(self) -> bytes:
        """The message as SMTP carries it: Bcc recipients get it, but not the header naming them."""
        return self.mail.transmitted()

    def size(self) -> int:
        return len(self.mail.stored)


@dataclass
class Outcome:
    """What happened to an accepted mail."""

    row_id: int
    status: str
    imap_uid: int | None = None
    imap_folder: str | None = None
    error: str | None = None


_SECRET_KEYS = frozenset({"password"})  # all eight letters long (see _is_secret)


def without_secrets(value: Any) -> Any:
    """A copy of a request with every password dropped (set to None), for anything that is kept or shown."""
    if isinstance(value, dict):
        return {k: (None if _is_secret(k) else without_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


def _journal(submission: Submission) -> str:
    """The request as the journal keeps it (JSON); `submission.request` loses its passwords on the way.

    Most requests carry none, and finding a password key in the JSON text is cheaper than copying every
    request to look for one.
    """
    text = journal_json(submission.request)
    if _SECRET_KEY_IN_JSON.search(text):
        submission.request = without_secrets(submission.request)
        text = journal_json(submission.request)
    return text


_SECRET_KEY_IN_JSON = re.compile(r'"password"\s*:', re.IGNORECASE)


def _is_secret(key: str) -> bool:
    return len(key) == 8 and key.lower() in _SECRET_KEYS  # the length first: most keys are no "password"


# Told of background outcomes in batches: those reported in the same turn of the event loop, in the order reported.
Listener = Callable[[Sequence[tuple[Submission, Outcome]]], Awaitable[None]]


class Mailroom:
    """What the ingestion door needs of the app, and nothing else of it: the outbox, how to deliver, and the
    background work that delivery leaves running.

    One per app (the Runtime holds it as `runtime.mail`); handlers pass it to `accept`.
    """

    def __init__(self, outbox: Outbox, options: delivery.DeliveryOptions) -> None:
        self.outbox = outbox
        self.options = options
        # The most recent accepted mails of this process, newest last (the outbox is the durable record).
        self.accepted: collections.deque[Submission] = collections.deque(maxlen=ACCEPTED_KEPT)
        # Told about every background delivery's outcome (the wiring adds the GWS notification here).
        self.listeners: list[Listener] = []
        self._reports: list[tuple[Submission, Outcome]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        # Background deliveries, one courier (queue and open sessions) per SMTP server.
        self.couriers: dict[delivery.Endpoint, Courier] = {}

    def courier(self, endpoint: delivery.Endpoint) -> Courier:
        found = self.couriers.get(endpoint)
        if found is None:
            found = self.couriers[endpoint] = Courier(self, endpoint)
        return found

    def report(self, submission: Submission, outcome: Outcome) -> None:
        """Tell the listeners of a background outcome, with the others reported in the same turn of the event loop:
        one task and one call of each listener for all of them. Under load a task per mail (each with its own look
        for CometD subscribers) cost as much as a tenth of a Genesys Send."""
        if not self._reports:
            self.spawn(self._tell())
        self._reports.append((submission, outcome))

    async def _tell(self) -> None:
        reports, self._reports = self._reports, []
        # Listeners hear of an outcome once it is on its row: write what the couriers gathered first.
        for courier in list(self.couriers.values()):
            courier.flush()
        await _notify(self, reports)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work in the background, kept referenced until done (asyncio only keeps weak references)."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


async def accept(
    mailroom: Mailroom, submission: Submission, plan: delivery.Plan, *, background: bool = False
) -> Outcome:
    """Record an accepted mail, then deliver it as planned (see `accept_all`)."""
    [outcome] = await accept_all(mailroom, [submission], plan, background=background)
    return outcome


async def accept_all(
    mailroom: Mailroom, submissions: Sequence[Submission], plan: delivery.Plan, *, background: bool = False
) -> list[Outcome]:
    """Record a request's mails in one outbox transaction (shared with the requests filing mail at the same moment),
    then deliver them one by one as planned.

    Raises DeliveryFailed (after recording the failure) when delivery is refused or fails, unless it runs in
    the background: then the outcome of each mail that carries a Notice reaches the listeners (the GWS
    notification) instead, once it is on the row. A mail that
    was recorded but not attempted because an earlier one of the same request failed is marked failed too.
    """
    status = NOT_SENT if plan.empty and not plan.refused else QUEUED
    journals = [_journal(submission) for submission in submissions]
    row_ids = await mailroom.outbox.file(
        [
            Record(
                namespace=submission.namespace,
                operation=submission.operation,
                message_id=submission.message_id,
                envelope_from=submission.envelope_from,
                recipients=submission.recipients,
                subject=submission.mail.subject,
                from_header=submission.mail.from_header,
                to_header=submission.mail.to_header,
                raw=submission.mail.stored,
                journal=journal,
                status=status,
                note=plan.note,
                reference_id=submission.reference_id,
                user=submission.user,
            )
            for submission, journal in zip(submissions, journals, strict=True)
        ]
    )
    mailroom.accepted.extend(submissions)
    pairs = list(zip(submissions, row_ids, strict=True))
    if plan.refused:
        mailroom.outbox.update_all(row_ids, status=FAILED, error=plan.refused)
        outcomes = [Outcome(row_id, FAILED, error=plan.refused) for row_id in row_ids]
        if not background:
            raise delivery.DeliveryFailed(plan.refused, refused=True)
        for (submission, _), outcome in zip(pairs, outcomes, strict=True):
            if submission.notice is not None:
                mailroom.report(submission, outcome)
        return outcomes
    if plan.empty:
        outcomes = [Outcome(row_id, NOT_SENT) for row_id in row_ids]
        if background:
            for (submission, _), outcome in zip(pairs, outcomes, strict=True):
                if submission.notice is not None:
                    mailroom.report(submission, outcome)
        return outcomes
    if background:
        assert plan.smtp is not None  # an empty or refused plan was dealt with above; background is SMTP
        courier = mailroom.courier(plan.smtp)
        for submission, row_id in pairs:
            await courier.put(submission, plan, row_id)
        return [Outcome(row_id, QUEUED) for row_id in row_ids]
    outcomes = []
    for index, (submission, row_id) in enumerate(pairs):
        try:
            outcomes.append(await _deliver(mailroom, submission, plan, row_id))
        except delivery.DeliveryFailed as exc:
            rest = row_ids[index + 1 :]
            if rest:
                mailroom.outbox.update_all(
                    rest, status=FAILED, error=f"not attempted: an earlier mail of the request failed ({exc.reason})"
                )
            raise
    return outcomes


RecordOutcome = Callable[..., None]  # (row_id, **columns): writes what happened on the outbox row


async def _deliver(
    mailroom: Mailroom,
    submission: Submission,
    plan: delivery.Plan,
    row_id: int,
    connection: delivery.SmtpConnection | delivery.PipelinedConnection | None = None,
    record: RecordOutcome | None = None,
) -> Outcome:
    """Deliver one recorded mail as planned and record the outcome (by default at once, on its row); over
    `connection` when a session is kept open."""
    options = mailroom.options
    record = record or mailroom.outbox.update
    notes: list[str] = []
    uid = None
    folder = plan.imap_folder
    try:
        if plan.smtp is not None:
            good, bad = delivery.deliverable(submission.recipients)
            if bad:
                notes.append("not deliverable (invalid address): " + ", ".join(bad))
            if good:
                data = submission.transmitted_bytes()
                if connection is not None:
                    refused = await connection.send(submission.envelope_from, good, data)
                else:
                    refused = await delivery.send_smtp(plan.smtp, submission.envelope_from, good, data, options)
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
                plan.imap, plan.imap_folder, submission.stored_bytes(), plan.imap_flags, when, options
            )
    except delivery.DeliveryFailed as exc:
        logger.warning("delivery of outbox row %s failed: %s", row_id, exc.reason)
        record(
            row_id,
            status=FAILED,
            error=exc.reason,
            note="; ".join(notes) or None,
            smtp_target=plan.smtp.url if plan.smtp else None,
            imap_target=plan.imap.url if plan.imap else None,
        )
        raise
    status = SENT if plan.smtp is not None or uid is not None or plan.imap is not None else NOT_SENT
    record(
        row_id,
        status=status,
        note="; ".join(notes) or plan.note,
        smtp_target=plan.smtp.url if plan.smtp else None,
        imap_target=plan.imap.url if plan.imap else None,
        imap_folder=folder if plan.imap else None,
        imap_uid=uid,
    )
    return Outcome(row_id, status, imap_uid=uid, imap_folder=folder if plan.imap else None)


class Courier:
    """Background deliveries to one SMTP server: a queue, and sessions kept open.

    A mail server takes several mails per session; a new connection (and EHLO, and QUIT) per mail, with a task
    per mail and no bound, made the embedded sink time out under load. Mail waits here for its turn; when
    `BACKLOG_BYTES` of it waits, `put` waits too: a client that sends faster than the server takes mail is
    slowed down rather than let the backlog grow without bound. Outcomes are written to the outbox in
    batches (one transaction per `FLUSH_SECONDS`), not one commit per mail.
    """

    SESSIONS = 32
    BACKLOG_BYTES = 64 * 1024 * 1024
    FLUSH_SECONDS = 0.05

    def __init__(self, mailroom: Mailroom, endpoint: delivery.Endpoint) -> None:
        self.mailroom = mailroom
        self.endpoint = endpoint
        self.queue: asyncio.Queue[tuple[Submission, delivery.Plan, int]] = asyncio.Queue()
        self.waiting_bytes = 0
        self._room = asyncio.Event()
        self._room.set()
        self._outcomes: list[tuple[int, dict[str, Any]]] = []
        self.workers: list[asyncio.Task[None]] = []

    async def put(self, submission: Submission, plan: delivery.Plan, row_id: int) -> None:
        if not self.workers:
            loop = asyncio.get_running_loop()
            self.workers = [loop.create_task(self._work()) for _ in range(self.SESSIONS)]
            self.workers.append(loop.create_task(self._flush_every()))
        while self.waiting_bytes >= self.BACKLOG_BYTES:
            self._room.clear()
            await self._room.wait()
        self.waiting_bytes += submission.size()
        self.queue.put_nowait((submission, plan, row_id))

    def _record(self, row_id: int, **columns: Any) -> None:
        self._outcomes.append((row_id, columns))

    def flush(self) -> None:
        """Write the outcomes gathered so far (one transaction)."""
        outcomes, self._outcomes = self._outcomes, []
        if outcomes:
            self.mailroom.outbox.update_each(outcomes)

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(self.FLUSH_SECONDS)
            self.flush()

    async def _work(self) -> None:
        connection = delivery.connection_for(self.endpoint, self.mailroom.options)
        try:
            while True:
                submission, plan, row_id = await self.queue.get()
                try:
                    outcome = await _deliver(self.mailroom, submission, plan, row_id, connection, self._record)
                except delivery.DeliveryFailed as exc:
                    outcome = Outcome(row_id, FAILED, error=exc.reason)
                except Exception as exc:  # the row must not stay queued, whatever went wrong
                    logger.exception("delivery of outbox row %s failed", row_id)
                    self._record(row_id, status=FAILED, error=f"{type(exc).__name__}: {exc}")
                    outcome = Outcome(row_id, FAILED, error=str(exc))
                finally:
                    self.waiting_bytes -= submission.size()
                    self._room.set()
                    self.queue.task_done()
                if submission.notice is not None:
                    # Listeners may wait (a GWS notification's delay): never in the way of the next mail. They
                    # hear of the outcome once it is on the row (`Mailroom._tell` flushes first).
                    self.mailroom.report(submission, outcome)
        finally:
            await connection.close()

    async def settle(self) -> None:
        """Wait until every queued mail has been delivered (or has failed) and recorded; close the sessions."""
        await self.queue.join()
        self.flush()
        for worker in self.workers:
            worker.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        self.workers = []


async def _notify(mailroom: Mailroom, reports: Sequence[tuple[Submission, Outcome]]) -> None:
    for listener in list(mailroom.listeners):
        try:
            await listener(reports)
        except Exception:
            rows = ", ".join(str(outcome.row_id) for _, outcome in reports)
            logger.exception("delivery listener failed for outbox row(s) %s", rows)


async def settle(mailroom: Mailroom) -> None:
    """Wait for background deliveries and their notifications to finish (server shutdown, tests)."""
    for courier in list(mailroom.couriers.values()):
        await courier.settle()
    while mailroom.tasks:
        await asyncio.gather(*list(mailroom.tasks), return_exceptions=True)
