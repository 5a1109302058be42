"""The store under the outbox: process leases and their recovery, on both databases, and PostgreSQL's words for
the shared dialect."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.mail.outbox import FAILED, INTERRUPTED, LEASE_SECONDS, QUEUED, SENT, Outbox, Record
from mockserver.mail.store import (
    RESTART_FRAMES,
    PgRow,
    SqliteStore,
    StoreUnavailable,
    _pg,
    open_store,
    postgres_schema,
    redacted,
)
from tests.mail.test_outbox import record
from tests.servers import Postgres


@pytest.fixture(params=["postgresql", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite3")
    url: str = request.getfixturevalue("postgres_url")
    return url


def lapse(outbox: Outbox, owner: str) -> None:
    """Age a lease past LEASE_SECONDS, as a process that stopped renewing it leaves it."""
    with outbox.locked() as conn:
        conn.execute("UPDATE leases SET renewed_at = renewed_at - ? WHERE owner = ?", (LEASE_SECONDS + 1, owner))


def test_recovery_fails_only_the_queued_rows_of_lapsed_owners(store_url: str) -> None:
    dead, live, me = Outbox(store_url), Outbox(store_url), Outbox(store_url)
    try:
        for box in (dead, live, me):
            box.renew()
        dead_queued, dead_sent = record(dead, subject="dead-queued"), record(dead, subject="dead-sent")
        dead.update(dead_sent, status=SENT)
        live_queued, mine = record(live, subject="live-queued"), record(me, subject="mine")
        lapse(me, dead.owner)

        # Not before this process has renewed its own lease for a whole lease period: after an outage every live
        # process's lease looks lapsed until it renews again.
        assert me.recover() == 0
        assert me.recover(settled_after=0) == 1
        status = {row: me.get("", row).values for row in (dead_queued, dead_sent, live_queued, mine)}  # type: ignore[union-attr]
        assert (status[dead_queued]["status"], status[dead_queued]["error"]) == (FAILED, INTERRUPTED)
        assert status[dead_sent]["status"] == SENT
        assert status[live_queued]["status"] == QUEUED and status[mine]["status"] == QUEUED
        with me.locked() as conn:
            owners = {str(row[0]) for row in conn.execute("SELECT owner FROM leases").fetchall()}
        assert owners == {live.owner, me.owner}  # the lapsed lease is gone, the live ones stay
        # A process never recovers its own rows, however old its lease looks to it.
        lapse(me, me.owner)
        assert me.recover(settled_after=0) == 0
    finally:
        for box in (dead, live, me):
            box.close()


def test_a_held_lease_is_renewed_in_the_background_and_given_back_on_a_clean_stop(store_url: str) -> None:
    box, other = Outbox(store_url), Outbox(store_url)
    try:
        box.hold_lease()
        row = record(box)
        lapse(other, box.owner)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the heartbeat thread renews it within a second
            with other.locked() as conn:
                renewed = conn.execute(
                    f"SELECT renewed_at >= {other.store.clock} - ? FROM leases WHERE owner = ?",
                    (LEASE_SECONDS, box.owner),
                ).fetchone()
            if renewed and renewed[0]:
                break
            time.sleep(0.1)
        other.renew()
        assert other.recover(settled_after=0) == 0 and other.get("", row).values["status"] == QUEUED  # type: ignore[union-attr]
        box.release_lease()
        with other.locked() as conn:
            assert conn.execute("SELECT count(*) FROM leases WHERE owner = ?", (box.owner,)).fetchone()[0] == 0
        assert (
            other.recover(settled_after=0) == 1
        )  # given back with a row still queued: nobody is delivering it any more
    finally:
        box.close()
        other.close()


def test_rows_from_before_leases_are_recovered_by_age(tmp_path: Path) -> None:
    """A row an older version left queued has no owner: it is failed once untouched for a minute, as before."""
    box = Outbox(str(tmp_path / "old.sqlite3"))
    row = record(box)  # no lease held: no owner
    assert box.recover() == 0
    assert box.recover(legacy_after_seconds=-1) == 1
    assert box.get("", row).values["status"] == FAILED  # type: ignore[union-attr]


def test_an_outbox_of_an_older_version_gains_the_owner_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "v0.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE mails (id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL DEFAULT '', "
            "operation TEXT NOT NULL, message_id TEXT, envelope_from TEXT, recipients TEXT NOT NULL, subject TEXT, "
            "from_header TEXT, to_header TEXT, raw BLOB NOT NULL, size INTEGER NOT NULL, request TEXT NOT NULL, "
            "status TEXT NOT NULL, error TEXT, note TEXT, smtp_target TEXT, imap_target TEXT, imap_folder TEXT, "
            "imap_uid INTEGER, reference_id INTEGER, user TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
        )
    box = Outbox(str(path))
    box.renew()
    row = record(box)
    with box.locked() as conn:
        assert conn.execute("SELECT owner FROM mails WHERE id = ?", (row,)).fetchone()[0] == box.owner
    box.close()


def test_two_processes_agree_on_the_first_value_proposed(store_url: str) -> None:
    one, two = Outbox(store_url), Outbox(store_url)
    try:
        assert one.agreed("run_seed", "17") == "17"
        assert two.agreed("run_seed", "99") == "17"
    finally:
        one.close()
        two.close()


def test_postgres_words_for_the_shared_dialect() -> None:
    assert _pg("SELECT * FROM t WHERE a = ? AND instr(lower(b), lower(?)) > 0", True) == (
        "SELECT * FROM t WHERE a = %s AND strpos(lower(b), lower(%s)) > 0"
    )
    assert _pg("BEGIN IMMEDIATE", False) == "BEGIN"
    assert _pg("SELECT '100%' WHERE x = ?", True) == "SELECT '100%%' WHERE x = %s"
    schema = postgres_schema("id INTEGER PRIMARY KEY AUTOINCREMENT, raw BLOB NOT NULL, at REAL, n INTEGER")
    assert (
        schema
        == "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, raw BYTEA NOT NULL, at DOUBLE PRECISION, n BIGINT"
    )
    row = PgRow((1, "a"), {"id": 0, "name": 1})
    assert (row[0], row["name"], dict(row)) == (1, "a", {"id": 1, "name": "a"})


def test_an_unreachable_database_is_reported_without_its_password() -> None:
    from mockserver.tools.testing import free_port

    url = f"postgresql://mock:s3cret@127.0.0.1:{free_port()}/nothing?connect_timeout=1"
    with pytest.raises(StoreUnavailable) as raised:
        open_store(url)
    assert "s3cret" not in str(raised.value) and "***" in str(raised.value)
    assert redacted("postgresql://u:p@h/db") == "postgresql://u:***@h/db"


_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)


@given(
    st.lists(
        st.builds(
            Record,
            namespace=_text,
            operation=_text,
            message_id=st.none() | _text,
            envelope_from=st.none() | _text,
            recipients=st.lists(_text, max_size=3),
            subject=st.none() | _text,
            from_header=st.none() | _text,
            to_header=st.none() | _text,
            raw=st.binary(max_size=300),
            journal=_text.map(lambda t: json.dumps({"t": t})),
            status=st.sampled_from([QUEUED, SENT, FAILED]),
            note=st.none() | _text,
            reference_id=st.none() | st.integers(-(2**63), 2**63 - 1),
            user=st.none() | _text,
        ),
        min_size=1,
        max_size=8,
    )
)
@settings(max_examples=40)
def test_postgresql_stores_a_requests_rows_as_sqlite_does(postgres_server: Postgres, records: list[Record]) -> None:
    """The one-statement insert PostgreSQL gets (rows as one JSON parameter) keeps every value and the rows' order:
    what SQLite's plain inserts keep, field for field."""
    url = postgres_server.create_database(f"rows{uuid.uuid4().hex[:8]}")
    kept = []
    try:
        for box in (Outbox(":memory:"), Outbox(url)):
            ids = box.record_all(records)
            assert ids == sorted(ids) and len(set(ids)) == len(records)
            rows = [box.get(record.namespace, row_id) for record, row_id in zip(records, ids, strict=True)]
            kept.append(
                [
                    {k: v for k, v in row.values.items() if k not in ("id", "created_at", "updated_at")}
                    for row in rows
                    if row is not None
                ]
            )
            box.close()
    finally:
        postgres_server.drop_database(url.rsplit("/", 1)[1])
    assert len(kept[0]) == len(records) and kept[0] == kept[1]


def test_a_nul_a_client_sent_is_stored_as_a_replacement_character_on_postgresql(postgres_url: str) -> None:
    """PostgreSQL's text cannot hold NUL; the mail is still accepted rather than failing its request."""
    box = Outbox(postgres_url)
    try:
        row = record(box, subject="Hei\x00du")
        assert box.get("", row).values["subject"] == "Hei\ufffddu"  # type: ignore[union-attr]
        with box.locked() as conn:
            conn.execute("INSERT INTO agreed (name, value) VALUES (?, ?)", ("nul\x00name", "v"))
    finally:
        box.close()


def test_replicas_starting_at_once_create_the_schema_once(store_url: str) -> None:
    """CREATE TABLE IF NOT EXISTS races in PostgreSQL's catalogue when two sessions run it together; the schema
    is made under an advisory lock, so every replica of a fresh database starts."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=6) as pool:
        boxes = list(pool.map(lambda _: Outbox(store_url), range(6)))
    try:
        assert len({record(box, subject=f"s{i}") for i, box in enumerate(boxes)}) == 6
    finally:
        for box in boxes:
            box.close()


def test_a_notification_too_long_for_postgresql_names_no_one_and_wakes_everyone(postgres_url: str) -> None:
    """NOTIFY refuses payloads of 8,000 bytes; a publish to hundreds of CometD clients must still commit."""
    box = Outbox(postgres_url)
    try:
        with box.store.transaction() as conn:
            box.store.notify(conn, "bayeux", ",".join(f"{i:032x}" for i in range(400)))
            assert conn.notices[-1].endswith("|bayeux|*'")
    finally:
        box.close()


def test_after_an_outage_longer_than_a_lease_no_live_process_loses_its_rows(
    postgres_server: Postgres, postgres_url: str
) -> None:
    """While the database is away no process can renew its lease, so every lease looks lapsed when it returns;
    a process judges the others only after renewing its own for a whole lease period, by which time every live
    process has renewed too. (Heartbeats called one by one: B's comes first after the outage.)"""
    a, b = Outbox(postgres_url), Outbox(postgres_url)
    try:
        a.beat()
        b.beat()
        row = record(a)
        postgres_server.stop("fast")
        a.beat()
        b.beat()
        time.sleep(LEASE_SECONDS + 0.5)
        postgres_server.start()
        deadline = time.monotonic() + 10
        while True:  # the pool reconnects by itself
            b.beat()
            if b._renewing_since is not None or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert b.get("", row).values["status"] == QUEUED  # type: ignore[union-attr]
        for _ in range(int(LEASE_SECONDS) + 1):  # A lives on, beating every second
            a.beat()
            time.sleep(1)
        b.beat()  # settled now, and A's lease is fresh
        assert b.get("", row).values["status"] == QUEUED  # type: ignore[union-attr]
        # A stops renewing: once its lease lapses, B fails its queued row at its next heartbeat.
        time.sleep(LEASE_SECONDS + 0.5)
        b.beat()
        assert b.get("", row).values["status"] == FAILED  # type: ignore[union-attr]
    finally:
        a.close()
        b.close()


def _wal_frames(path: Path) -> int:
    """Frames in the WAL now, read by a connection of its own (a passive checkpoint reports them)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        conn.close()


def test_a_wal_written_to_without_a_pause_starts_over_after_a_checkpoint(tmp_path: Path) -> None:
    """Under a steady stream of commits a passive checkpoint never catches up, and SQLite starts the WAL over only
    when a write begins with every frame copied: the WAL grew for as long as the load lasted."""
    path = tmp_path / "store.sqlite3"
    store = SqliteStore(str(path))
    store.create("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB NOT NULL);")
    commits = [0]
    last = [10**9]  # the writer stops after this many commits (set once the checkpoint is done)

    def write() -> None:  # as the event loop and the delivery threads write: under the store's lock
        while commits[0] < last[0]:
            with store.transaction() as conn:
                conn.execute("INSERT INTO filler (data) VALUES (?)", (bytes(6000),))
            commits[0] += 1

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while commits[0] < RESTART_FRAMES and time.monotonic() < deadline:  # each row is two pages and more
            time.sleep(0.01)
        before = commits[0]
        assert before >= RESTART_FRAMES
        store.checkpoint()  # the writer goes on meanwhile, as requests do
        last[0] = commits[0] + 20
    finally:
        last[0] = min(last[0], commits[0] + 20)
        writer.join(timeout=60)
    assert not writer.is_alive()
    assert commits[0] == last[0]  # the writer went on after the checkpoint: its 20 more commits were made
    # Every frame of the rows written before the checkpoint would still be in the WAL had it not started over.
    assert _wal_frames(path) < before
    with store.locked() as conn:
        assert conn.execute("SELECT count(*) FROM filler").fetchone()[0] == commits[0]
    store.close()
