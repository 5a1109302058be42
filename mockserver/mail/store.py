"""Where the server's shared state lives: one SQLite file (the embedded default) or one PostgreSQL database.

Everything that several workers or replicas must agree on goes through a `Store`: outbox rows, the sink's log,
GWS sessions and `referenceId` counters, CometD clients, subscriptions and queues, and the process leases. The
SQL is written once, in the dialect both databases share; `PostgresStore` adapts the few words that differ
(placeholders, `BEGIN IMMEDIATE`, `instr`, column types in the schema).

Wake-ups: SQLite has no way to tell another process that something changed, so waiters there also look again
every `poll_seconds`; PostgreSQL's `LISTEN/NOTIFY` tells every replica at once (`notify`, `listen`), and its
waiters only look again now and then in case a notification was lost while the database was away.
"""

from __future__ import annotations

import binascii
import functools
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

import orjson

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("mockserver.store")

# A WAL this large (4 KiB pages, so ~400 MB) is checkpointed on commit even if nothing calls `checkpoint`.
SAFETY_CHECKPOINT_PAGES = 100_000
# A WAL still this long after a passive checkpoint (4 KiB pages: 4 MiB) is started over (`SqliteStore.checkpoint`).
RESTART_FRAMES = 1024
# How long the restart waits for another process's readers to leave the WAL, holding this process's writes.
RESTART_WAIT_SECONDS = 0.05
CHANNEL = "mockserver"  # the one LISTEN/NOTIFY channel; payloads say what changed
Listener = Callable[[str, str], None]  # (topic, payload) of a change another process made


class StoreUnavailable(ConnectionError):
    """The database cannot be reached (stopped, restarting, unreachable). Requests answer with the vendor's
    5xx at once; the store reconnects by itself once the database is back."""

    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}  # read by the error renderer
    backend_unavailable: ClassVar[bool] = True  # what the error renderer answers as a passing outage


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def open_store(url: str) -> Store:
    """A SQLite path (or `:memory:`), or a PostgreSQL URL."""
    return PostgresStore(url) if is_postgres(url) else SqliteStore(url)


def redacted(url: str) -> str:
    """The URL as a log may show it: without its password."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


class Store:
    """What the outbox, the GWS sessions and the CometD engine need of a database."""

    url: str
    dialect: str
    poll_seconds: float  # how often a waiter looks again for changes made by other processes
    clock: str  # SQL for the database's own clock, in seconds since the epoch (one clock for every replica)

    @contextmanager
    def locked(self) -> Iterator[Any]:
        """A connection of this process's own, for the block (statements commit one by one unless the block
        begins a transaction)."""
        raise NotImplementedError
        yield  # type: ignore[unreachable]

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                self._commit(conn)
            except BaseException:
                with suppress(Exception):  # the connection may be gone with the database; the error says why
                    conn.execute("ROLLBACK")
                raise

    def _commit(self, conn: Any) -> None:
        conn.execute("COMMIT")

    def create(self, schema: str, columns: Sequence[tuple[str, str, str]] = (), after: str = "") -> None:
        """Tables as `schema` describes them (SQLite's words), columns added to tables an older version made,
        then `after` (indexes on those columns); safe when several processes start at once."""
        raise NotImplementedError

    def notify(self, conn: Any, topic: str, payload: str = "") -> None:
        """Tell the other processes that `topic` changed, when the transaction of `conn` commits."""

    def listen(self, listener: Listener) -> None:
        """Call `listener(topic, payload)` (from another thread) when another process changed something."""

    def checkpoint(self) -> None:
        """Housekeeping the database wants now and then, off the request path."""

    def close(self) -> None:
        raise NotImplementedError

    def writes_at_once(self) -> bool:
        """Whether a transaction begun now would be over at once: no round trip to a server, no other writer to
        wait for. A group commit that would not is run in a thread, so that the event loop does not stand still
        meanwhile (always, for a database across a socket). A hint, not a lock."""
        return False


# -- SQLite ---------------------------------------------------------------------------------------------------


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

    def free(self) -> bool:
        """Whether no other process holds the lock now. Only while this process's own threads hold none of it:
        a lock the same open file holds would be granted, and unlocking would then release it."""
        if self._fd is None:
            return True
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        return True


class SqliteStore(Store):
    """One file in WAL mode, shared by the workers of one machine."""

    dialect = "sqlite"
    poll_seconds = 0.1
    clock = "((julianday('now') - 2440587.5) * 86400.0)"

    def __init__(self, path: str) -> None:
        self.url = path
        # One connection per store, used from the event loop and from delivery threads under a lock.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._between_processes = _ProcessLock(path)
        self._checkpointer: sqlite3.Connection | None = None
        with self.locked() as conn:
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a committed row survives a crash of this process (it is in the WAL file); only a power
            # cut before the next checkpoint could lose it.
            conn.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints (the WAL copied back into the database, with an fsync) run in a thread of their own
            # (`checkpoint`, every quarter of a second while the app runs): in the commit that crossed the
            # threshold they stalled every request for tens of milliseconds. This one only guards a process that
            # never calls it.
            conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_CHECKPOINT_PAGES}")
            # 512 KiB of page cache rather than 2 MiB: the rows are written once and listed now and then, and a
            # large message would otherwise stay in memory as cached pages.
            conn.execute("PRAGMA cache_size=-512")

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._between_processes:
            yield self._conn

    def writes_at_once(self) -> bool:
        if not self._lock.acquire(blocking=False):
            return False  # a thread of this process (delivery, the lease) is writing
        try:
            return self._between_processes.free()
        finally:
            self._lock.release()

    def create(self, schema: str, columns: Sequence[tuple[str, str, str]] = (), after: str = "") -> None:
        with self.locked() as conn:
            conn.executescript(schema)
            for table, column, declaration in columns:
                present = {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            if after:
                conn.executescript(after)

    def checkpoint(self) -> None:
        """Copy what the WAL holds back into the database, and start the WAL over once it has grown long.
        Blocking: run it in a thread; SQLite releases the GIL while it works.

        A passive checkpoint copies the bulk while the writers go on. But it only copies the frames there were
        when it began, and SQLite starts the WAL over only when a write begins with every frame copied: under a
        steady stream of commits that moment never came, and the WAL grew until the safety checkpoint above ran
        on a commit, in the event loop (send7 on one worker: +28 MB/s to ~400 MB, then a stall of every
        connection). The longer the WAL, the more each commit costs as well: in a loop, a commit of 112 rows
        costs 7.4 µs a row with ~6 MB in the WAL, 9.0 µs with ~28 MB, 13 µs with ~110 MB. So a long WAL's last
        frames are copied with this process's writers held (a RESTART checkpoint): the event loop meanwhile
        hands its commits to the writer thread (`writes_at_once`) and goes on serving, and its next write starts
        the WAL from the beginning. A second passive checkpoint first leaves the restart only what was committed
        while it ran: under send7nb's load on one worker the writers were held 3.9 ms at the median (7.9 ms
        without it) and 32 ms at the longest, when the disk was slow to sync. A request that reads the store on
        the event loop meanwhile (a GWS session's lookup) waits that long.
        """
        if self.url == ":memory:":
            return
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(
                self.url, check_same_thread=False, isolation_level=None, timeout=RESTART_WAIT_SECONDS
            )
        with suppress(sqlite3.Error):  # busy (another worker is checkpointing) or closing: next time
            _, frames, _ = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames >= RESTART_FRAMES:
                self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
                with self.locked():
                    self._checkpointer.execute("PRAGMA wal_checkpoint(RESTART)")

    def close(self) -> None:
        with self.locked() as conn:
            conn.close()
        self._between_processes.close()
        if self._checkpointer is not None:
            self._checkpointer.close()


# -- PostgreSQL -----------------------------------------------------------------------------------------------


class PgRow(tuple):  # type: ignore[type-arg]
    """A row read by name or by position, as `sqlite3.Row` is (`dict(row)` included)."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: PgRow(values, index)


@functools.lru_cache(maxsize=512)
def _pg(sql: str, parameters: bool) -> str:
    """A statement of the shared dialect in PostgreSQL's words."""
    if parameters:
        sql = sql.replace("%", "%%").replace("?", "%s")
    return re.sub(r"\binstr\(", "strpos(", sql.replace("BEGIN IMMEDIATE", "BEGIN"))


def _storable(values: Sequence[Any] | None) -> Any:
    """Parameters PostgreSQL can store: its text cannot hold NUL (SQLite's can), so a NUL a client sent becomes
    U+FFFD rather than a failed request."""
    if values is None or not any(isinstance(v, str) and "\x00" in v for v in values):
        return values
    return [v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in values]


@functools.lru_cache(maxsize=16)
def _json_insert(table: str, columns: tuple[tuple[str, str], ...]) -> str:
    values = []
    for index, (_, kind) in enumerate(columns):
        text = f"(e.value->>{index})"
        values.append(f"decode({text}, 'base64')" if kind == "bytea" else text if kind == "text" else f"{text}::{kind}")
    return (
        f"INSERT INTO {table} ({', '.join(name for name, _ in columns)}) "
        f"SELECT {', '.join(values)} FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(value, n) ORDER BY e.n "
        "RETURNING id"
    )


def postgres_schema(schema: str) -> str:
    """A schema of SQLite's words in PostgreSQL's."""
    schema = schema.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    schema = re.sub(r"\bINTEGER\b", "BIGINT", schema)
    schema = re.sub(r"\bREAL\b", "DOUBLE PRECISION", schema)
    return re.sub(r"\bBLOB\b", "BYTEA", schema)


class _PgConnection:
    """A pooled psycopg connection that speaks the shared dialect, as `sqlite3.Connection` does."""

    def __init__(self, conn: Any) -> None:
        self.raw = conn
        self.notices: list[str] = []  # NOTIFY statements sent with the transaction's COMMIT (one round trip)

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Any:
        return self.raw.execute(_pg(sql, parameters is not None), _storable(parameters))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        cursor = self.raw.cursor()
        cursor.executemany(_pg(sql, True), [_storable(row) for row in rows])
        return cursor

    def insert_ids(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> list[int]:
        """The rows inserted with one statement whose text does not depend on their number, so that psycopg
        parses it and PostgreSQL plans it once; their identity ids in the rows' order.

        The rows travel as one JSON parameter (orjson, bytes as base64) unpacked by the server: psycopg's
        pipelined executemany, a VALUES list per row count and typed arrays all spent more of this process's
        time adapting parameters than the database spent storing the rows.
        """
        if not rows:
            return []
        sql = _json_insert(table, tuple(columns))
        binary = [index for index, (_, kind) in enumerate(columns) if kind == "bytea"]
        payload = []
        for row in rows:
            values = list(row)
            for index in binary:
                if values[index] is not None:
                    values[index] = binascii.b2a_base64(values[index], newline=False).decode("ascii")
            payload.append(values)
        try:
            document = orjson.dumps(payload).decode()
        except TypeError:  # text orjson will not write (a lone surrogate): PostgreSQL could not store it either
            document = json.dumps(payload, ensure_ascii=False).encode("utf-8", "replace").decode("utf-8")
        if "\\u0000" in document:  # rare: a NUL somewhere (or the text "\u0000"); see _storable
            document = orjson.dumps([_storable(values) for values in payload]).decode()
        found = self.raw.execute(sql, (document,)).fetchall()
        # The elements are taken in order and the insert draws identities in that order, so the sorted ids are the
        # rows' ids in order.
        return sorted(int(row[0]) for row in found)

    def executescript(self, sql: str) -> None:
        self.raw.execute(postgres_schema(sql))


# After a failure, requests are answered 500 at once for this long, without waiting on the pool: a stopped
# database must not stall the event loop for every request.
DOWN_SECONDS = 0.25
POOL_WAIT_SECONDS = 5.0  # the longest a request waits for a pooled connection while the database is up
NOTIFY_PAYLOAD_LIMIT = 7000


class PostgresStore(Store):
    """One PostgreSQL database shared by every replica, through psycopg 3's connection pool."""

    dialect = "postgresql"
    # Only in case a notification was lost (the database restarted): NOTIFY wakes waiters at once.
    poll_seconds = 1.0
    clock = "extract(epoch from clock_timestamp())::double precision"

    def __init__(self, url: str, min_size: int = 1, max_size: int = 8) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool, PoolTimeout

        self.url = url
        self._errors: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
        self._conflicts = psycopg.errors.TransactionRollback
        self._literal = psycopg.sql.Literal
        self._origin = secrets.token_hex(6)  # this process, so that it skips the notifications it sent itself
        self._down_until = 0.0
        self._listeners: list[Listener] = []
        self._listening: threading.Thread | None = None
        self._closing = threading.Event()
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": _row_factory},
            open=False,
            name="mockserver",
        )
        self._pool.open()
        try:
            self._pool.wait(timeout=POOL_WAIT_SECONDS)
        except PoolTimeout:
            self._pool.close()
            raise StoreUnavailable(f"cannot connect to the store {redacted(url)}") from None

    @contextmanager
    def locked(self) -> Iterator[_PgConnection]:
        now = time.monotonic()
        if now < self._down_until:
            raise StoreUnavailable("the store's database is unavailable")
        try:
            with self._pool.connection(timeout=POOL_WAIT_SECONDS) as conn:
                yield _PgConnection(conn)
        except self._errors as exc:
            if isinstance(exc, self._conflicts):
                # A deadlock or serialization failure between replicas is no outage: the caller hears of it. A group
                # commit runs its batch again request by request (`Outbox._run_batch`); elsewhere it fails the request.
                raise
            self._down_until = time.monotonic() + DOWN_SECONDS
            logger.warning("store %s unavailable: %s", redacted(self.url), str(exc).strip().splitlines()[0])
            raise StoreUnavailable("the store's database is unavailable") from None

    def create(self, schema: str, columns: Sequence[tuple[str, str, str]] = (), after: str = "") -> None:
        with self.transaction() as conn:
            # Two replicas starting at once would race on CREATE TABLE IF NOT EXISTS (a unique violation in the
            # catalogue): one creates, the other waits here and finds the tables made.
            conn.execute("SELECT pg_advisory_xact_lock(?)", (0x6D6F636B,))
            conn.executescript(schema)
            for table, column, declaration in columns:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {postgres_schema(declaration)}")
            if after:
                conn.executescript(after)

    def _commit(self, conn: _PgConnection) -> None:
        notices, conn.notices = conn.notices, []
        conn.raw.execute("; ".join([*notices, "COMMIT"]))

    def notify(self, conn: _PgConnection, topic: str, payload: str = "") -> None:
        if len(payload) > NOTIFY_PAYLOAD_LIMIT:
            payload = "*"  # PostgreSQL refuses a payload of 8,000 bytes or more: "anything of this topic"
        # NOTIFY takes no parameters: the payload goes in as a literal, quoted by psycopg.
        message = self._literal(f"{self._origin}|{topic}|{payload}").as_string(conn.raw)
        conn.notices.append(f"NOTIFY {CHANNEL}, {message}")

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)
        if self._listening is None:
            self._listening = threading.Thread(target=self._listen, name="mockserver-listen", daemon=True)
            self._listening.start()

    def _listen(self) -> None:
        import psycopg

        while not self._closing.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Whatever was announced while this connection was away is looked for again.
                    self._dispatch("*", "")
                    while not self._closing.is_set():
                        for note in conn.notifies(timeout=1.0):
                            origin, _, rest = note.payload.partition("|")
                            if origin != self._origin:
                                topic, _, payload = rest.partition("|")
                                self._dispatch(topic, payload)
            except psycopg.Error as exc:
                logger.debug("store listener reconnecting: %s", exc)
                self._closing.wait(0.5)

    def _dispatch(self, topic: str, payload: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(topic, payload)
            except Exception:
                logger.exception("store listener failed")

    def close(self) -> None:
        self._closing.set()
        self._pool.close()
        if self._listening is not None:
            self._listening.join(timeout=3)
