"""The outbox: every accepted mail, written before the client hears about it.

Kept in the store (`mail/store.py`): a SQLite file in WAL mode shared by the workers of one machine, or one
PostgreSQL database shared by every replica; a committed row survives a crash of the process that wrote it. A
namespace (the `X-Mock-Namespace` request header) partitions the rows, so that parallel test runs do not see
each other's mail.

Each serving process holds a lease (a row in `leases` it renews every second) and signs the rows it writes:
rows a process left `queued` when it died are marked failed by whichever process notices its lease lapse
first, never rows of a live one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson

from mockserver.mail.store import Store, StoreUnavailable, open_store

logger = logging.getLogger("mockserver.outbox")
T = TypeVar("T")
# What a request does in a shared transaction (`Outbox.together`), on the store's connection.
Work = Callable[[Any], Any]
Batch = list[tuple[Work, "asyncio.Future[Any]"]]
Outcomes = list[tuple["asyncio.Future[Any]", Any, BaseException | None]]

QUEUED = "queued"
SENT = "sent"
FAILED = "failed"
NOT_SENT = "not-sent"
STATUSES = (QUEUED, SENT, FAILED, NOT_SENT)

SCHEMA = """
CREATE TABLE IF NOT EXISTS mails (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL DEFAULT '',
    operation TEXT NOT NULL,
    message_id TEXT,
    envelope_from TEXT,
    recipients TEXT NOT NULL,
    subject TEXT,
    from_header TEXT,
    to_header TEXT,
    raw BLOB NOT NULL,
    size INTEGER NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    note TEXT,
    smtp_target TEXT,
    imap_target TEXT,
    imap_folder TEXT,
    imap_uid INTEGER,
    reference_id INTEGER,
    "user" TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mails_namespace ON mails (namespace, id);
-- A large message, apart from its row (whose raw is then empty): a blob in the middle of a record is copied
-- whole while SQLite assembles the record; the last (here: only) column can be written in place, in pieces.
CREATE TABLE IF NOT EXISTS mail_raw (
    id INTEGER PRIMARY KEY,
    raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sink (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mail_from TEXT,
    rcpt_tos TEXT NOT NULL,
    message_id TEXT,
    raw BLOB NOT NULL,
    received_at TEXT NOT NULL
);
-- One row per serving process, renewed every HEARTBEAT_SECONDS (`renewed_at`: the database's clock).
CREATE TABLE IF NOT EXISTS leases (
    owner TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    renewed_at REAL NOT NULL
);
-- Values every process of the store agrees on, the first one proposed (`agreed`): the run seed.
CREATE TABLE IF NOT EXISTS agreed (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# Added to outboxes an earlier version made: the process that wrote the row (its lease's owner).
COLUMNS = (("mails", "owner", "TEXT"),)
# Only the rows a crash could leave behind are indexed: finding them stays cheap however large the outbox grows.
AFTER = "CREATE INDEX IF NOT EXISTS mails_queued ON mails (owner) WHERE status = 'queued';"

HEARTBEAT_SECONDS = 1.0
# A process that has not renewed its lease for this long is taken for dead (a busy event loop does not delay
# the renewal: it runs in a thread of its own).
LEASE_SECONDS = 5.0
INTERRUPTED = "delivery interrupted: the server stopped before it finished"

SUMMARY_COLUMNS = (
    "id, namespace, operation, message_id, envelope_from, recipients, subject, from_header, to_header, size, "
    'status, error, note, smtp_target, imap_target, imap_folder, imap_uid, reference_id, "user", created_at, updated_at'
)


def now_text() -> str:
    """`instant_text` of the current instant."""
    return epoch_text(time.time_ns())


# The text of the second the last stamp fell in: every request files a stamp, and `isoformat` of an aware
# datetime (~0.9 µs, ~2.6 µs in the app under load) was most of its cost. (second, "YYYY-MM-DDTHH:MM:SS.")
_SECOND: tuple[int, str] = (-1, "")


def epoch_text(ns: int) -> str:
    """`instant_text` of the instant `ns` nanoseconds after the epoch (the microseconds truncated)."""
    global _SECOND
    second, micros = divmod(ns // 1000, 1_000_000)
    known, prefix = _SECOND  # one read: another thread may replace it meanwhile, never half of it
    if known != second:
        prefix = datetime.fromtimestamp(second, UTC).isoformat()[:19] + "."
        _SECOND = (second, prefix)
    return f"{prefix}{micros:06d}+00:00"


def instant_text(moment: datetime) -> str:
    """`moment` in the form created_at and updated_at are stored in.

    Always UTC with six fractional digits, so that comparing the texts compares the instants. A naive moment is
    taken as UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        # Outside datetime's range once moved to UTC: before every row, or after every row.
        offset = moment.utcoffset()
        utc = datetime.min.replace(tzinfo=UTC) if offset and offset > timedelta(0) else datetime.max.replace(tzinfo=UTC)
    return utc.isoformat(timespec="microseconds")


_OFFSET_AFTER_SPACE = re.compile(r"(.*\d) (\d{2}(?::?\d{2})?)")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date-time (`Z` or an offset); one without an offset is taken as UTC.

    Raises ValueError for anything else.
    """
    # RFC 3339 allows a lower-case `t` and `z`, which fromisoformat does not.
    value = text.strip().upper()
    # A `+` left unencoded in a URL arrives as a space: `since=2025-01-01T10:00:00+01:00` typed into curl.
    unencoded = _OFFSET_AFTER_SPACE.fullmatch(value)
    candidates = [value] + ([f"{unencoded.group(1)}+{unencoded.group(2)}"] if unencoded else [])
    for candidate in candidates:
        try:
            moment = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    raise ValueError(f"not an ISO 8601 date-time: {text!r}")


@dataclass(frozen=True)
class Filters:
    """What a list or wait-for request looks for; text filters match case-insensitively."""

    namespace: str = ""
    to: str | None = None
    sender: str | None = None
    subject: str | None = None
    operation: str | None = None
    status: str | None = None
    since: datetime | None = None
    after_id: int | None = None
    message_id: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses = ["namespace = ?"]
        args: list[Any] = [self.namespace]
        if self.to:
            clauses.append("(instr(lower(recipients), lower(?)) > 0 OR instr(lower(to_header), lower(?)) > 0)")
            args += [self.to, self.to]
        if self.sender:
            clauses.append(
                "(instr(lower(coalesce(envelope_from, '')), lower(?)) > 0 "
                "OR instr(lower(coalesce(from_header, '')), lower(?)) > 0)"
            )
            args += [self.sender, self.sender]
        if self.subject:
            clauses.append("instr(lower(coalesce(subject, '')), lower(?)) > 0")
            args.append(self.subject)
        if self.operation:
            clauses.append("operation = ?")
            args.append(self.operation)
        if self.status:
            clauses.append("status = ?")
            args.append(self.status)
        if self.since is not None:
            clauses.append("created_at >= ?")
            args.append(instant_text(self.since))
        if self.after_id is not None:
            clauses.append("id > ?")
            args.append(self.after_id)
        if self.message_id:
            clauses.append("message_id = ?")
            args.append(self.message_id)
        return " AND ".join(clauses), args


# The inserted columns with PostgreSQL's types (its insert unpacks them from one JSON parameter), written once.
_COLUMN_TYPES: tuple[tuple[str, str], ...] = (
    ("namespace", "text"),
    ("operation", "text"),
    ("message_id", "text"),
    ("envelope_from", "text"),
    ("recipients", "text"),
    ("subject", "text"),
    ("from_header", "text"),
    ("to_header", "text"),
    ("raw", "bytea"),
    ("size", "bigint"),
    ("request", "text"),
    ("status", "text"),
    ("note", "text"),
    ("reference_id", "bigint"),
    ('"user"', "text"),
    ("created_at", "text"),
    ("updated_at", "text"),
    ("owner", "text"),
)
_INSERT = (
    f"INSERT INTO mails ({', '.join(name for name, _ in _COLUMN_TYPES)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMN_TYPES)})"
)
LARGE_MESSAGE = 256 * 1024  # from this size on, a message is kept in `mail_raw`


def journal_json(value: Any) -> str:
    """A request as the journal keeps it (JSON; what JSON has no word for is written as text)."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # beyond orjson (an integer past 64 bits, a lone surrogate …): the stdlib's slower way
        return json.dumps(value, default=str)


@dataclass(slots=True)  # per mail: not frozen, as `mime.Draft` says why
class Record:
    """One accepted mail as the outbox files it."""

    namespace: str
    operation: str
    message_id: str | None
    envelope_from: str | None
    recipients: Sequence[str]
    subject: str | None
    from_header: str | None
    to_header: str | None
    raw: bytes
    journal: str  # the request, without passwords, as JSON (`journal_json`)
    status: str = QUEUED
    note: str | None = None
    reference_id: int | None = None
    user: str | None = None

    def row(self, stamp: str, owner: str | None, raw: bytes | None = None) -> tuple[Any, ...]:
        """The INSERT's parameters; `raw` stands in for the message, kept elsewhere (its `size` stays)."""
        return (
            self.namespace,
            self.operation,
            self.message_id,
            self.envelope_from,
            journal_json(list(self.recipients)),
            self.subject,
            self.from_header,
            self.to_header,
            self.raw if raw is None else raw,
            len(self.raw),
            self.journal,
            self.status,
            self.note,
            self.reference_id,
            self.user,
            stamp,
            stamp,
            owner,
        )


@dataclass
class Row:
    """One outbox row as the control API shows it."""

    values: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        data = {k: v for k, v in self.values.items() if k not in ("raw", "request")}
        data["recipients"] = json.loads(data.get("recipients") or "[]")
        return data


class _Filing:
    """A request's rows, waiting for the shared transaction (`Outbox.file`): the rows of every request of the
    moment go into the store in one insert."""

    def __init__(self, outbox: Outbox, records: Sequence[Record], stamp: str) -> None:
        self.outbox = outbox
        self.records = records
        self.stamp = stamp

    def __call__(self, conn: Any) -> list[int]:  # alone, under its own savepoint
        return self.outbox._insert(conn, [(record, self.stamp) for record in self.records])


class Outbox:
    """The journal of accepted mail, shared by every worker and replica that opens the same store."""

    def __init__(self, path: str) -> None:
        self.store: Store = open_store(path)
        self.store.create(SCHEMA, COLUMNS, AFTER)
        self.owner = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        self._leased = False
        self._renewing_since: float | None = None  # since when this process has renewed its lease without a break
        self._arrivals: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        # Work waiting for the next shared transaction, per event loop (`together`).
        self._together: dict[asyncio.AbstractEventLoop, Batch] = {}
        self._committing: set[asyncio.AbstractEventLoop] = set()  # loops whose batch is being committed
        self._writer: ThreadPoolExecutor | None = None  # commits off the event loop (see `together`)
        self._heartbeat: threading.Thread | None = None
        self._stopping = threading.Event()
        self.store.listen(self._changed_elsewhere)

    @contextmanager
    def locked(self) -> Iterator[Any]:
        """A connection to the store for the block (SQLite: the one shared connection under its lock, and the
        file's among processes); the GWS session and CometD tables live in the store too."""
        with self.store.locked() as conn:
            yield conn

    def close(self) -> None:
        self.release_lease()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        self.store.close()

    def checkpoint(self) -> None:
        """The store's housekeeping (SQLite: the WAL copied back into the database). Blocking: run it in a thread."""
        self.store.checkpoint()

    def agreed(self, name: str, proposed: str) -> str:
        """The value of `name` every process sharing the store uses: the first one proposed."""
        with self.locked() as conn:
            conn.execute(
                "INSERT INTO agreed (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, proposed)
            )
            return str(conn.execute("SELECT value FROM agreed WHERE name = ?", (name,)).fetchone()[0])

    # -- leases ---------------------------------------------------------------------------------------------

    def hold_lease(self) -> None:
        """Take this process's lease, recover what lapsed owners left, and keep renewing it in a thread of its
        own until `close` (a serving process; tools that only read the outbox hold none)."""
        self.renew()
        self.recover()
        if self._heartbeat is None:
            self._stopping = threading.Event()
            self._heartbeat = threading.Thread(
                target=self._beat, args=(self._stopping,), name="mockserver-lease", daemon=True
            )
            self._heartbeat.start()

    def release_lease(self) -> None:
        """Stop renewing and give the lease back (a clean stop: nothing of this process is left in flight)."""
        self._stopping.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=HEARTBEAT_SECONDS * 3)
            self._heartbeat = None
        if self._leased:
            self._leased = False
            with suppress(StoreUnavailable), self.locked() as conn:
                conn.execute("DELETE FROM leases WHERE owner = ?", (self.owner,))

    def renew(self) -> None:
        clock = self.store.clock
        with self.locked() as conn:
            conn.execute(
                f"INSERT INTO leases (owner, host, pid, started_at, renewed_at) VALUES (?, ?, ?, ?, {clock}) "
                f"ON CONFLICT (owner) DO UPDATE SET renewed_at = {clock}",
                (self.owner, socket.gethostname(), os.getpid(), now_text()),
            )
        self._leased = True
        if self._renewing_since is None:
            self._renewing_since = time.monotonic()

    def recover(self, legacy_after_seconds: float = 60.0, settled_after: float = LEASE_SECONDS) -> int:
        """Rows left `queued` by processes whose lease lapsed are marked failed, and the lapsed leases dropped.

        Rows written before rows had owners are recovered as before: queued and untouched for
        `legacy_after_seconds`. Never a row of a live process: its lease is fresh, or it is this process. Others'
        leases are judged only once this process has renewed its own for `settled_after` seconds without a
        break: after the database was away, every live process needs that long to renew again, and a lease
        that lapsed during the outage is no sign of a dead process.
        """
        settled = self._renewing_since is not None and time.monotonic() - self._renewing_since >= settled_after
        owner = self.owner if settled else None
        clock = self.store.clock
        stamp = now_text()
        cutoff = instant_text(datetime.fromtimestamp(time.time() - legacy_after_seconds, UTC))
        with self.store.transaction() as conn:
            lapsed = 0
            if owner is not None:
                lapsed = conn.execute(
                    "UPDATE mails SET status = ?, error = ?, updated_at = ? WHERE status = ? AND owner IS NOT NULL "
                    f"AND owner <> ? AND owner NOT IN (SELECT owner FROM leases WHERE renewed_at >= {clock} - ?)",
                    (FAILED, INTERRUPTED, stamp, QUEUED, owner, LEASE_SECONDS),
                ).rowcount
                conn.execute(
                    f"DELETE FROM leases WHERE renewed_at < {clock} - ? AND owner <> ?", (LEASE_SECONDS, owner)
                )
            legacy = conn.execute(
                "UPDATE mails SET status = ?, error = ?, updated_at = ? "
                "WHERE status = ? AND owner IS NULL AND updated_at < ?",
                (FAILED, INTERRUPTED, stamp, QUEUED, cutoff),
            ).rowcount
        found = int(lapsed) + int(legacy)
        if found:
            logger.warning("marked %d mail(s) failed that a stopped server left queued", found)
            self._announce()
        return found

    def _beat(self, stopping: threading.Event) -> None:
        while not stopping.wait(HEARTBEAT_SECONDS):
            self.beat()

    def beat(self) -> None:
        """One heartbeat: renew the lease, then recover what lapsed owners left."""
        try:
            self.renew()
            self.recover()
        except StoreUnavailable:
            self._renewing_since = None  # the store logged it; the lease is renewed once the database is back
        except Exception:
            logger.exception("lease renewal failed")

    def record(self, *, request: dict[str, Any], **values: Any) -> int:
        """One accepted mail (the fields of `Record`, the request as it is); its row id."""
        return self.record_all([Record(journal=journal_json(request), **values)])[0]

    def record_all(self, records: Sequence[Record]) -> list[int]:
        """A request's mails, in one transaction (one write to the journal, however many mails); their row ids."""
        if not records:
            return []
        stamp = now_text()
        with self.store.transaction() as conn:
            ids = self._insert(conn, [(record, stamp) for record in records])
            self.store.notify(conn, "outbox")
        self._announce()
        return ids

    async def file(self, records: Sequence[Record]) -> list[int]:
        """`record_all` as a request does it: in the transaction it shares with the other requests writing at the
        same moment (`together`); the ids once they are committed."""
        if not records:
            return []
        stamp = now_text()
        ids: list[int] = await self.together(_Filing(self, records, stamp))
        return ids

    async def together(self, work: Callable[[Any], T]) -> T:
        """`work(connection)` inside one transaction with the work of every other request that writes at the same
        moment (group commit); its result once the transaction is committed.

        A transaction's fixed cost (the commit writes the touched pages to the WAL) was most of the outbox's
        share of a one-mail request under load; requests that arrive together now share it. One request whose
        work fails hears its error alone: the batch is then run again with each request under a savepoint.

        SQLite commits on the event loop, in the turn after the requests filed (a commit is microseconds of
        work in this process), unless another worker holds the database at that moment: then, like PostgreSQL
        always, it commits in a thread of its own, one transaction at a time, while the loop goes on serving;
        the requests that file during a commit are the next batch. A database across a network would otherwise
        leave the loop waiting on every round trip, and two workers on one SQLite file would take turns
        standing still.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        waiting = self._together.setdefault(loop, [])
        waiting.append((work, done))
        if len(waiting) == 1 and loop not in self._committing:
            loop.call_soon(self._commit_together, loop)
        result: T = await done
        return result

    def _commit_together(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._together.pop(loop, [])
        if not batch:
            return
        if self.store.writes_at_once():
            self._settle(self._run_batch(batch))
            return
        self._committing.add(loop)
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mockserver-commit")
        committed = loop.run_in_executor(self._writer, self._run_batch, batch)
        committed.add_done_callback(lambda future: self._committed(loop, batch, future))

    def _committed(self, loop: asyncio.AbstractEventLoop, batch: Batch, future: asyncio.Future[Outcomes]) -> None:
        self._committing.discard(loop)
        error = future.exception() if not future.cancelled() else asyncio.CancelledError()
        self._settle([(done, None, error) for _, done in batch] if error is not None else future.result())
        if self._together.get(loop):
            self._commit_together(loop)

    def _run_batch(self, batch: Batch) -> Outcomes:
        """The batch in one transaction, the rows every request files in one insert; with a savepoint per request
        only when one of them failed."""
        try:
            with self.store.transaction() as conn:
                values: list[Any] = [None] * len(batch)
                filings = [(index, work) for index, (work, _) in enumerate(batch) if isinstance(work, _Filing)]
                if filings:
                    ids = self._insert(conn, [(r, filing.stamp) for _, filing in filings for r in filing.records])
                    for index, filing in filings:
                        values[index], ids = ids[: len(filing.records)], ids[len(filing.records) :]
                for index, (other, _) in enumerate(batch):
                    if not isinstance(other, _Filing):
                        values[index] = other(conn)
                self.store.notify(conn, "outbox")
            return [(done, value, None) for (_, done), value in zip(batch, values, strict=True)]
        except StoreUnavailable as exc:
            return [(done, None, exc) for _, done in batch]
        except Exception as exc:
            if len(batch) == 1:
                return [(batch[0][1], None, exc)]
        outcomes: Outcomes = []
        try:
            with self.store.transaction() as conn:
                for work, done in batch:
                    conn.execute("SAVEPOINT request")
                    try:
                        outcomes.append((done, work(conn), None))
                    except StoreUnavailable:
                        raise  # the connection is gone: the whole batch fails
                    except Exception as exc:
                        conn.execute("ROLLBACK TO request")
                        outcomes.append((done, None, exc))
                    conn.execute("RELEASE request")
                self.store.notify(conn, "outbox")
        except Exception as exc:
            outcomes = [(done, None, exc) for _, done in batch]
        return outcomes

    def _settle(self, outcomes: Outcomes) -> None:
        for done, value, error in outcomes:
            if done.done():
                continue
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(value)
        self._announce()

    def _insert(self, conn: Any, records: Sequence[tuple[Record, str]]) -> list[int]:
        """Insert the rows (each with its time stamp) inside the caller's transaction; their ids."""
        owner = self.owner if self._leased else None
        if self.store.dialect != "sqlite":
            # One statement for all the rows; a large message is a TOASTed value like any other.
            rows = [record.row(stamp, owner) for record, stamp in records]
            ids: list[int] = conn.insert_ids("mails", _COLUMN_TYPES, rows)
            return ids
        small: list[tuple[Any, ...]] = []
        for record, stamp in records:
            if len(record.raw) < LARGE_MESSAGE:
                small.append(record.row(stamp, owner))
                continue
            conn.executemany(_INSERT, small)
            small = []
            conn.execute(_INSERT, record.row(stamp, owner, raw=b""))
            row_id = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            # Bound as a parameter, the message would first be copied whole by SQLite; it is written into the pages
            # of a zero-filled blob of its length instead, in pieces.
            conn.execute("INSERT INTO mail_raw (id, raw) VALUES (?, zeroblob(?))", (row_id, len(record.raw)))
            with conn.blobopen("mail_raw", "raw", row_id) as blob:
                view = memoryview(record.raw)
                for start in range(0, len(view), LARGE_MESSAGE):
                    blob.write(view[start : start + LARGE_MESSAGE])
        conn.executemany(_INSERT, small)
        last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        # One writer holds the file for the whole transaction, so the ids are consecutive.
        return list(range(last - len(records) + 1, last + 1))

    def update(self, row_id: int, **values: Any) -> None:
        self.update_all([row_id], **values)

    def update_each(self, updates: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Several rows, each with its own values, in one transaction."""
        if not updates:
            return
        stamp = now_text()
        with self.store.transaction() as conn:
            for row_id, values in updates:
                columns = ", ".join(f"{name} = ?" for name in values)
                conn.execute(
                    f"UPDATE mails SET {columns}, updated_at = ? WHERE id = ?", (*values.values(), stamp, row_id)
                )
            self.store.notify(conn, "outbox")
        self._announce()

    def update_all(self, row_ids: Sequence[int], **values: Any) -> None:
        if not values or not row_ids:
            return
        columns = ", ".join(f"{name} = ?" for name in values)
        stamp = now_text()
        with self.store.transaction() as conn:  # one commit for them all, not one per row
            conn.executemany(
                f"UPDATE mails SET {columns}, updated_at = ? WHERE id = ?",
                [(*values.values(), stamp, row_id) for row_id in row_ids],
            )
            self.store.notify(conn, "outbox")
        self._announce()

    def _changed_elsewhere(self, topic: str, payload: str) -> None:
        """Another process's change (PostgreSQL's NOTIFY); "*": the listener reconnected, anything may have."""
        if topic in ("outbox", "*"):
            self._announce()

    def _announce(self) -> None:
        for loop, event in list(self._arrivals):
            loop.call_soon_threadsafe(event.set)

    def find(self, filters: Filters, limit: int = 50) -> list[Row]:
        where, args = filters.where()
        with self.locked() as conn:
            rows = conn.execute(
                f"SELECT {SUMMARY_COLUMNS} FROM mails WHERE {where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [Row(dict(row)) for row in rows]

    def count(self, filters: Filters) -> int:
        where, args = filters.where()
        with self.locked() as conn:
            found = conn.execute(f"SELECT count(*) FROM mails WHERE {where}", args).fetchone()
        return int(found[0])

    def get(self, namespace: str, row_id: int) -> Row | None:
        with self.locked() as conn:
            row = conn.execute(
                f"SELECT {SUMMARY_COLUMNS}, raw, request FROM mails WHERE namespace = ? AND id = ?", (namespace, row_id)
            ).fetchone()
            if row is None:
                return None
            values = dict(row)
            if not values["raw"] and values["size"]:
                kept = conn.execute("SELECT raw FROM mail_raw WHERE id = ?", (row_id,)).fetchone()
                values["raw"] = kept[0] if kept is not None else b""
        return Row(values)

    def delete(self, namespace: str, row_id: int | None = None) -> int:
        where, args = (
            ("namespace = ?", (namespace,)) if row_id is None else ("namespace = ? AND id = ?", (namespace, row_id))
        )
        with self.store.transaction() as conn:
            conn.execute(f"DELETE FROM mail_raw WHERE id IN (SELECT id FROM mails WHERE {where})", args)
            cursor = conn.execute(f"DELETE FROM mails WHERE {where}", args)
            self.store.notify(conn, "outbox")
            return int(cursor.rowcount)

    async def wait_for(self, filters: Filters, timeout: float) -> Row | None:
        """The oldest matching mail, waiting up to `timeout` seconds for one to arrive.

        Writers in this process wake the waiter at once, and so do other processes on PostgreSQL (NOTIFY); rows
        written by other workers on SQLite are noticed by looking again every `store.poll_seconds`.
        """
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        event = asyncio.Event()
        entry = (loop, event)
        self._arrivals.append(entry)
        try:
            while True:
                event.clear()
                found = self._oldest(filters)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                with suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=min(remaining, self.store.poll_seconds))
        finally:
            self._arrivals.remove(entry)

    def _oldest(self, filters: Filters) -> Row | None:
        where, args = filters.where()
        with self.locked() as conn:
            row = conn.execute(
                f"SELECT {SUMMARY_COLUMNS} FROM mails WHERE {where} ORDER BY id ASC LIMIT 1", args
            ).fetchone()
        return Row(dict(row)) if row is not None else None

    def record_received(
        self, mail_from: str | None, rcpt_tos: Sequence[str], message_id: str | None, raw: bytes
    ) -> int:
        with self.locked() as conn:
            row = conn.execute(
                "INSERT INTO sink (mail_from, rcpt_tos, message_id, raw, received_at) VALUES (?, ?, ?, ?, ?) "
                "RETURNING id",
                (mail_from, json.dumps(list(rcpt_tos)), message_id, raw, now_text()),
            ).fetchone()
            return int(row[0])

    def received(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.locked() as conn:
            rows = conn.execute(
                "SELECT id, mail_from, rcpt_tos, message_id, length(raw) AS size, received_at FROM sink "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [{**dict(row), "rcpt_tos": json.loads(row["rcpt_tos"])} for row in rows]
