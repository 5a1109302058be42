"""The outbox: every accepted mail, written before the client hears about it.

SQLite in WAL mode, so that several uvicorn workers can share one file; a committed row survives a crash of
the process that wrote it. A namespace (the `X-Mock-Namespace` request header) partitions the rows, so that
parallel test runs do not see each other's mail.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]  # what a request does in a shared transaction (`Outbox.together`)

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
    user TEXT,
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
"""

# A WAL this large (4 KiB pages, so ~400 MB) is checkpointed on commit even if nothing calls `checkpoint`.
SAFETY_CHECKPOINT_PAGES = 100_000

SUMMARY_COLUMNS = (
    "id, namespace, operation, message_id, envelope_from, recipients, subject, from_header, to_header, size, "
    "status, error, note, smtp_target, imap_target, imap_folder, imap_uid, reference_id, user, created_at, updated_at"
)


def now_text() -> str:
    return instant_text(datetime.now(UTC))


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


_INSERT_COLUMNS = (
    "namespace, operation, message_id, envelope_from, recipients, subject, from_header, to_header, raw, size, "
    "request, status, note, reference_id, user, created_at, updated_at"
)
_INSERT = f"INSERT INTO mails ({_INSERT_COLUMNS}) VALUES ({', '.join(['?'] * 17)})"
LARGE_MESSAGE = 256 * 1024  # from this size on, a message is kept in `mail_raw`


def journal_json(value: Any) -> str:
    """A request as the journal keeps it (JSON; what JSON has no word for is written as text)."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # beyond orjson (an integer past 64 bits, a lone surrogate …): the stdlib's slower way
        return json.dumps(value, default=str)


@dataclass(frozen=True)
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

    def row(self, stamp: str, raw: bytes | None = None) -> tuple[Any, ...]:
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
        )


@dataclass
class Row:
    """One outbox row as the control API shows it."""

    values: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        data = {k: v for k, v in self.values.items() if k not in ("raw", "request")}
        data["recipients"] = json.loads(data.get("recipients") or "[]")
        return data


class _ProcessLock:
    """One writer at a time among the processes (workers) that share a database file, woken the moment the
    previous one is done.

    SQLite alone makes a writer that finds the file locked sleep and retry (1, 2, 5, 10 … ms): with two
    workers writing a few short transactions per request, they spent most of their time asleep, and two
    workers answered fewer requests than one. A `flock` on a file beside the database queues them in the
    kernel instead; the wait is another worker's transaction, a fraction of a millisecond.
    """

    def __init__(self, path: str) -> None:
        self._fd: int | None = None
        if fcntl is not None and path != ":memory:" and not path.startswith("file:"):
            self._fd = os.open(f"{path}-lock", os.O_RDWR | os.O_CREAT, 0o644)

    def __enter__(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Outbox:
    """The journal of accepted mail, shared by every worker that opens the same file."""

    def __init__(self, path: str) -> None:
        self.path = path
        # One connection per Outbox, used from the event loop and from delivery threads under a lock.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._between_processes = _ProcessLock(path)
        with self.locked() as conn:
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a committed row survives a crash of this process (it is in the WAL file); only a power
            # cut before the next checkpoint could lose it.
            conn.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints (the WAL copied back into the database, with an fsync) run in a thread of their own
            # (`checkpoint`, every second while the app runs): in the commit that crossed the threshold they
            # stalled every request for tens of milliseconds. This one only guards a process that never calls it.
            conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_CHECKPOINT_PAGES}")
            # 512 KiB of page cache rather than 2 MiB: the rows are written once and listed now and then, and a
            # large message would otherwise stay in memory as cached pages.
            conn.execute("PRAGMA cache_size=-512")
            conn.executescript(SCHEMA)
        self._arrivals: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        # Work waiting for the next shared transaction, per event loop (`together`).
        self._together: dict[asyncio.AbstractEventLoop, list[tuple[Work, asyncio.Future[Any]]]] = {}
        self._checkpointer: sqlite3.Connection | None = None

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The shared connection under its lock, and the file's among processes; the GWS session and CometD
        tables live in this file too."""
        with self._lock, self._between_processes:
            yield self._conn

    def close(self) -> None:
        with self.locked() as conn:
            conn.close()
        self._between_processes.close()
        if self._checkpointer is not None:
            self._checkpointer.close()

    def checkpoint(self) -> None:
        """Copy what the WAL holds back into the database, without waiting for anyone (a PASSIVE checkpoint:
        writers go on meanwhile). Blocking: run it in a thread; SQLite releases the GIL while it works."""
        if self.path == ":memory:":
            return
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5)
        with suppress(sqlite3.Error):  # busy (another worker is checkpointing) or closing: next time
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def record(self, *, request: dict[str, Any], **values: Any) -> int:
        """One accepted mail (the fields of `Record`, the request as it is); its row id."""
        return self.record_all([Record(journal=journal_json(request), **values)])[0]

    def record_all(self, records: Sequence[Record]) -> list[int]:
        """A request's mails, in one transaction (one write to the journal, however many mails); their row ids."""
        if not records:
            return []
        stamp = now_text()
        with self.locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                ids = self._insert(conn, records, stamp)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._announce()
        return ids

    async def file(self, records: Sequence[Record]) -> list[int]:
        """`record_all` as a request does it: in the transaction it shares with the other requests writing at the
        same moment (`together`); the ids once they are committed."""
        if not records:
            return []
        stamp = now_text()
        return await self.together(lambda conn: self._insert(conn, records, stamp))

    async def together(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` inside one transaction with the work of every other request that writes in the same
        turn of the event loop (group commit); its result once the transaction is committed.

        A transaction's fixed cost (the commit writes the touched pages to the WAL) was most of the outbox's
        share of a one-mail request under load; requests that arrive together now share it. Each request's work
        runs under a savepoint of its own: one that fails is rolled back and hears its error alone.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        waiting = self._together.setdefault(loop, [])
        waiting.append((work, done))
        if len(waiting) == 1:
            loop.call_soon(self._commit_together, loop)
        result: T = await done
        return result

    def _commit_together(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._together.pop(loop, [])
        outcomes: list[tuple[asyncio.Future[Any], Any, Exception | None]] = []
        try:
            with self.locked() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for work, done in batch:
                        conn.execute("SAVEPOINT request")
                        try:
                            outcomes.append((done, work(conn), None))
                        except Exception as exc:
                            conn.execute("ROLLBACK TO request")
                            outcomes.append((done, None, exc))
                        conn.execute("RELEASE request")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except Exception as exc:
            outcomes = [(done, None, exc) for _, done in batch]
        for done, value, error in outcomes:
            if done.done():
                continue
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(value)
        self._announce()

    @staticmethod
    def _insert(conn: sqlite3.Connection, records: Sequence[Record], stamp: str) -> list[int]:
        """Insert the rows inside the caller's transaction; their ids."""
        small: list[tuple[Any, ...]] = []
        for record in records:
            if len(record.raw) < LARGE_MESSAGE:
                small.append(record.row(stamp))
                continue
            conn.executemany(_INSERT, small)
            small = []
            conn.execute(_INSERT, record.row(stamp, raw=b""))
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
        with self.locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for row_id, values in updates:
                    columns = ", ".join(f"{name} = ?" for name in values)
                    conn.execute(
                        f"UPDATE mails SET {columns}, updated_at = ? WHERE id = ?", (*values.values(), stamp, row_id)
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._announce()

    def update_all(self, row_ids: Sequence[int], **values: Any) -> None:
        if not values or not row_ids:
            return
        columns = ", ".join(f"{name} = ?" for name in values)
        stamp = now_text()
        with self.locked() as conn:
            conn.execute("BEGIN IMMEDIATE")  # one commit for them all, not one per row
            try:
                conn.executemany(
                    f"UPDATE mails SET {columns}, updated_at = ? WHERE id = ?",
                    [(*values.values(), stamp, row_id) for row_id in row_ids],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
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
            row = conn.execute("SELECT * FROM mails WHERE namespace = ? AND id = ?", (namespace, row_id)).fetchone()
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
        with self.locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"DELETE FROM mail_raw WHERE id IN (SELECT id FROM mails WHERE {where})", args)
                cursor = conn.execute(f"DELETE FROM mails WHERE {where}", args)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return int(cursor.rowcount)

    async def wait_for(self, filters: Filters, timeout: float) -> Row | None:
        """The oldest matching mail, waiting up to `timeout` seconds for one to arrive.

        Writers in this process wake the waiter at once; rows written by other workers are noticed by polling.
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
                    await asyncio.wait_for(event.wait(), timeout=min(remaining, 0.1))
        finally:
            self._arrivals.remove(entry)

    def _oldest(self, filters: Filters) -> Row | None:
        where, args = filters.where()
        with self.locked() as conn:
            row = conn.execute(
                f"SELECT {SUMMARY_COLUMNS} FROM mails WHERE {where} ORDER BY id ASC LIMIT 1", args
            ).fetchone()
        return Row(dict(row)) if row is not None else None

    def mark_interrupted(self, older_than_seconds: float = 60.0) -> int:
        """Rows a stopped server left queued are marked failed, so nothing accepted disappears silently."""
        cutoff = instant_text(datetime.fromtimestamp(time.time() - older_than_seconds, UTC))
        with self.locked() as conn:
            cursor = conn.execute(
                "UPDATE mails SET status = ?, error = ?, updated_at = ? WHERE status = ? AND updated_at < ?",
                (FAILED, "delivery interrupted: the server stopped before it finished", now_text(), QUEUED, cutoff),
            )
            return int(cursor.rowcount)

    def record_received(
        self, mail_from: str | None, rcpt_tos: Sequence[str], message_id: str | None, raw: bytes
    ) -> int:
        with self.locked() as conn:
            cursor = conn.execute(
                "INSERT INTO sink (mail_from, rcpt_tos, message_id, raw, received_at) VALUES (?, ?, ?, ?, ?)",
                (mail_from, json.dumps(list(rcpt_tos)), message_id, raw, now_text()),
            )
            return int(cursor.lastrowid or 0)

    def received(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.locked() as conn:
            rows = conn.execute(
                "SELECT id, mail_from, rcpt_tos, message_id, length(raw) AS size, received_at FROM sink "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [{**dict(row), "rcpt_tos": json.loads(row["rcpt_tos"])} for row in rows]
