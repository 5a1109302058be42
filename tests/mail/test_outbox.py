"""The outbox journal: filters, namespaces, wait-for, WAL, and rows that survive the writer's crash."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.mail.outbox import (
    FAILED,
    LARGE_MESSAGE,
    QUEUED,
    SENT,
    Filters,
    Outbox,
    Record,
    epoch_text,
    instant_text,
    now_text,
    parse_instant,
)
from mockserver.mail.store import SqliteStore


def record(outbox: Outbox, namespace: str = "", subject: str = "Hei", to: str = "kari@fjordtech.no") -> int:
    return outbox.record(
        namespace=namespace,
        operation="v1EMailAgent_SendEMails",
        message_id=f"<{subject}@x.no>",
        envelope_from="anna@nordlys.no",
        recipients=[to],
        subject=subject,
        from_header="Anna <anna@nordlys.no>",
        to_header=f"<{to}>",
        raw=b"Subject: x\r\n\r\nbody",
        request={"Email": {"Subject": subject}},
    )


def test_filters_match_case_insensitively_and_within_a_namespace() -> None:
    outbox = Outbox(":memory:")
    first = record(outbox, subject="Kvartalsrapport")
    record(outbox, subject="Faktura", to="lars@fjordtech.no")
    record(outbox, namespace="other", subject="Kvartalsrapport")
    assert [r.values["id"] for r in outbox.find(Filters(subject="KVARTAL"))] == [first]
    assert outbox.count(Filters(to="LARS@")) == 1
    assert outbox.count(Filters(sender="nordlys")) == 2
    assert outbox.count(Filters(namespace="other")) == 1
    assert outbox.count(Filters(after_id=first)) == 1
    assert outbox.count(Filters(message_id="<Faktura@x.no>")) == 1
    outbox.update(first, status=SENT)
    assert outbox.count(Filters(status=SENT)) == 1
    assert outbox.count(Filters(status=QUEUED)) == 1
    summary = outbox.find(Filters(status=SENT))[0].summary()
    assert summary["recipients"] == ["kari@fjordtech.no"]
    assert "raw" not in summary


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-03T09:30:00+01:00", datetime(2025, 11, 3, 8, 30, tzinfo=UTC)),
        ("2025-11-03T08:30:00Z", datetime(2025, 11, 3, 8, 30, tzinfo=UTC)),
        ("2025-11-03t08:30:00.5z", datetime(2025, 11, 3, 8, 30, 0, 500_000, tzinfo=UTC)),
        ("2025-11-03T08:30:00", datetime(2025, 11, 3, 8, 30, tzinfo=UTC)),  # no offset: UTC
        ("2025-11-03", datetime(2025, 11, 3, tzinfo=UTC)),
        ("2025-11-03T03:30:00-05:00", datetime(2025, 11, 3, 8, 30, tzinfo=UTC)),
        ("2025-11-03T09:30:00 01:00", datetime(2025, 11, 3, 8, 30, tzinfo=UTC)),  # `+` unencoded in a URL
        ("2025-11-03 09:30:00 0100", datetime(2025, 11, 3, 8, 30, tzinfo=UTC)),
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["", "now", "2025-11-03T25:00:00Z", "2025-11-03T09:30:00+24:00", "09:30", "1 01:00"])
def test_parse_instant_refuses_what_is_not_a_date_time(text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 date-time"):
        parse_instant(text)


def test_instant_text_is_the_stored_form_and_sorts_like_time() -> None:
    moment = datetime(2025, 11, 3, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    assert instant_text(moment) == "2025-11-03T08:30:00.000000+00:00"
    assert instant_text(moment.replace(tzinfo=None)) == "2025-11-03T09:30:00.000000+00:00"
    assert instant_text(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == "0001-01-01T00:00:00.000000+00:00"
    assert instant_text(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-2)))).startswith("9999-12-31T23:59")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_NS = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH) // timedelta(seconds=1) * 10**9 + 999_999_999


@settings(max_examples=300)
@given(st.lists(st.integers(0, _LAST_NS), min_size=1, max_size=4))
def test_stamps_of_the_current_instant_are_instant_text_of_it(instants: list[int]) -> None:
    """`now_text` writes the stamp without `isoformat` of a datetime; the text is the same for any instant, also
    several in a row within a second and across seconds (the second's text is remembered)."""
    for ns in [*instants, *(ns + 1_000 for ns in instants if ns + 1_000 <= _LAST_NS)]:
        assert epoch_text(ns) == instant_text(_EPOCH + timedelta(microseconds=ns // 1000))
    before = datetime.now(UTC)
    stamp = now_text()
    assert instant_text(before) <= stamp <= instant_text(datetime.now(UTC) + timedelta(microseconds=1))


def test_since_compares_instants_not_texts() -> None:
    outbox = Outbox(":memory:")
    record(outbox, subject="Kvartalsrapport")
    created = datetime.fromisoformat(outbox.find(Filters())[0].values["created_at"])
    oslo = timezone(timedelta(hours=1))
    new_york = timezone(timedelta(hours=-5))
    assert outbox.count(Filters(since=created)) == 1
    assert outbox.count(Filters(since=created.astimezone(oslo))) == 1
    assert outbox.count(Filters(since=created.astimezone(new_york))) == 1
    assert outbox.count(Filters(since=(created - timedelta(minutes=5)).astimezone(oslo))) == 1
    assert outbox.count(Filters(since=(created + timedelta(microseconds=1)).astimezone(new_york))) == 0
    assert outbox.count(Filters(since=created.replace(tzinfo=None))) == 1  # naive: UTC
    assert outbox.count(Filters(since=parse_instant(created.isoformat().replace("+00:00", "Z")))) == 1


def test_delete_keeps_other_namespaces() -> None:
    outbox = Outbox(":memory:")
    record(outbox)
    record(outbox, namespace="mine")
    assert outbox.delete("mine") == 1
    assert outbox.count(Filters()) == 1


def test_wait_for_wakes_on_a_new_mail_and_times_out_otherwise() -> None:
    outbox = Outbox(":memory:")

    async def scenario() -> tuple[object, object]:
        waiter = asyncio.create_task(outbox.wait_for(Filters(subject="late"), timeout=5))
        await asyncio.sleep(0.05)
        record(outbox, subject="early")
        record(outbox, subject="late one")
        found = await waiter
        missing = await outbox.wait_for(Filters(subject="never"), timeout=0.2)
        return found, missing

    found, missing = asyncio.run(scenario())
    assert found is not None and found.values["subject"] == "late one"  # type: ignore[attr-defined]
    assert missing is None


def test_file_outbox_uses_wal_and_marks_interrupted_rows_failed(tmp_path: Path) -> None:
    path = str(tmp_path / "outbox.sqlite3")
    outbox = Outbox(path)
    row = record(outbox)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox.recover(legacy_after_seconds=-1) == 1
    assert outbox.get("", row).values["status"] == FAILED  # type: ignore[union-attr]
    assert "interrupted" in outbox.get("", row).values["error"]  # type: ignore[union-attr]


def test_a_committed_row_survives_a_crash_of_its_writer(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from mockserver.mail.outbox import Outbox
        outbox = Outbox({str(path)!r})
        outbox.record(namespace="", operation="op", message_id="<m@x>", envelope_from=None, recipients=["a@b.no"],
                      subject="crash", from_header=None, to_header=None, raw=b"x", request={{}})
        print("recorded", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30, check=False)
    assert result.returncode == -signal.SIGKILL
    assert b"recorded" in result.stdout
    assert Outbox(str(path)).count(Filters(subject="crash")) == 1


@pytest.mark.parametrize("workers", [4])
def test_two_connections_write_concurrently(tmp_path: Path, workers: int) -> None:
    path = str(tmp_path / "outbox.sqlite3")
    writers = [Outbox(path) for _ in range(workers)]

    async def write(outbox: Outbox, n: int) -> None:
        for index in range(25):
            record(outbox, subject=f"w{n}-{index}")
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(write(o, n) for n, o in enumerate(writers)))

    asyncio.run(main())
    assert Outbox(path).count(Filters()) == workers * 25
    assert os.path.exists(path + "-wal")


def test_a_large_message_is_kept_apart_and_reads_back_whole(tmp_path: Path) -> None:
    """Messages from LARGE_MESSAGE on are written in pieces into mail_raw; get() and size are unchanged."""
    outbox = Outbox(str(tmp_path / "o.sqlite3"))
    large = b"Subject: big\r\n\r\n" + os.urandom(LARGE_MESSAGE * 3 + 17)
    records = [
        Record("", "op", f"<{n}@x.no>", None, ["a@b.no"], str(n), None, None, raw, "{}")
        for n, raw in enumerate([b"small one", large, b"small two", large[:LARGE_MESSAGE]])
    ]
    ids = outbox.record_all(records)
    assert ids == list(range(ids[0], ids[0] + 4))  # consecutive, in order, whichever table holds the message
    for row_id, expected in zip(ids, records, strict=True):
        row = outbox.get("", row_id)
        assert row is not None and row.values["raw"] == expected.raw and row.values["size"] == len(expected.raw)
        assert row.values["subject"] == expected.subject
    with outbox.locked() as conn:
        apart = [r[0] for r in conn.execute("SELECT id FROM mail_raw ORDER BY id")]
    assert apart == [ids[1], ids[3]]
    assert outbox.delete("", ids[1]) == 1
    with outbox.locked() as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM mail_raw")] == [ids[3]]
    assert outbox.delete("") == 3
    with outbox.locked() as conn:
        assert conn.execute("SELECT count(*) FROM mail_raw").fetchone()[0] == 0


def test_a_writer_in_another_process_waits_for_the_one_holding_the_file(tmp_path: Path) -> None:
    """Workers queue on a lock beside the file instead of SQLite's sleep-and-retry: while one holds the outbox,
    another process's write waits (and is not refused), and goes through once it is let go."""
    path = tmp_path / "outbox.sqlite3"
    holder = Outbox(str(path))
    writer = textwrap.dedent(
        f"""
        import sys
        from mockserver.mail.outbox import Outbox
        box = Outbox({str(path)!r})
        print("open", flush=True)
        sys.stdin.readline()
        box.record(namespace="", operation="op", message_id=None, envelope_from=None, recipients=["a@b.no"],
                   subject="from B", from_header=None, to_header=None, raw=b"x", request={{}})
        print("written", flush=True)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", writer], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline().strip() == "open"
        with holder.locked():
            child.stdin.write("go\n")
            child.stdin.flush()
            with pytest.raises(subprocess.TimeoutExpired):
                child.wait(timeout=0.5)  # blocked on the lock: neither written nor refused
        assert child.stdout.readline().strip() == "written"
        assert child.wait(timeout=10) == 0
    assert [row.values["subject"] for row in holder.find(Filters())] == ["from B"]
    holder.close()


def _records(subjects: list[str]) -> list[Record]:
    return [
        Record("", "op", f"<{s}@x.no>", None, ["a@b.no"], s, None, None, b"raw " + s.encode(), "{}") for s in subjects
    ]


def test_requests_filing_together_share_one_commit_and_keep_their_own_ids(tmp_path: Path) -> None:
    """Group commit: requests that file in the same turn of the event loop are written in one transaction; each
    gets its own consecutive ids, and its rows are committed when it hears them."""
    outbox = Outbox(str(tmp_path / "o.sqlite3"))
    commits: list[str] = []
    assert isinstance(outbox.store, SqliteStore)
    outbox.store._conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    reader = sqlite3.connect(str(tmp_path / "o.sqlite3"))  # another connection sees only what is committed

    async def request(subjects: list[str]) -> list[int]:
        ids = await outbox.file(_records(subjects))
        committed = reader.execute("SELECT id FROM mails WHERE id BETWEEN ? AND ?", (ids[0], ids[-1])).fetchall()
        assert [row[0] for row in committed] == ids
        return ids

    async def main() -> list[list[int]]:
        return await asyncio.gather(request(["a1", "a2", "a3"]), request(["b1"]), request(["c1", "c2"]))

    first, second, third = asyncio.run(main())
    assert len(commits) == 1
    assert first + second + third == list(range(first[0], first[0] + 6))
    subjects = {row.values["id"]: row.values["subject"] for row in outbox.find(Filters())}
    assert [subjects[i] for i in first + second + third] == ["a1", "a2", "a3", "b1", "c1", "c2"]
    assert asyncio.run(outbox.file(_records(["d1"]))) == [third[-1] + 1] and len(commits) == 2
    reader.close()


def test_a_commit_that_would_wait_for_another_worker_waits_off_the_event_loop(tmp_path: Path) -> None:
    """Another worker holds the database: the batch waits for it in a thread while the loop goes on serving
    (before, the loop stood still in `flock` for as long as the other worker's transaction took)."""
    path = str(tmp_path / "o.sqlite3")
    outbox = Outbox(path)
    other_worker = os.open(f"{path}-lock", os.O_RDWR)  # its own open file: its lock excludes this process's
    fcntl.flock(other_worker, fcntl.LOCK_EX)
    assert not outbox.store.writes_at_once()
    ticks = 0

    async def main() -> list[int]:
        nonlocal ticks
        filing = asyncio.ensure_future(outbox.file(_records(["while-held"])))
        threading.Timer(0.3, fcntl.flock, (other_worker, fcntl.LOCK_UN)).start()
        while not filing.done():
            ticks += 1
            await asyncio.sleep(0.01)
        return await filing

    try:
        ids = asyncio.run(main())
    finally:
        os.close(other_worker)
    assert ticks >= 10  # the loop ran on while the other worker held the database
    assert [outbox.get("", i).values["subject"] for i in ids] == ["while-held"]  # type: ignore[union-attr]
    assert outbox.store.writes_at_once()
    assert asyncio.run(outbox.file(_records(["after"]))) == [ids[0] + 1]


def test_asking_whether_the_database_is_free_leaves_a_lock_this_process_holds(tmp_path: Path) -> None:
    """`writes_at_once` from the loop while a thread of the same process writes: it says no, and the thread's
    lock is still held afterwards (an flock on the same open file would have been granted, and unlocking it
    would have released the thread's lock)."""
    path = str(tmp_path / "o.sqlite3")
    store = SqliteStore(path)
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.locked():
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(5)
        assert not store.writes_at_once()
        probe = os.open(f"{path}-lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # another process would still find the database taken
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(probe)
    finally:
        release.set()
        thread.join()
    assert store.writes_at_once()
    store.close()


def test_a_failed_group_commit_reaches_every_request_in_it(tmp_path: Path) -> None:
    outbox = Outbox(str(tmp_path / "o.sqlite3"))
    with outbox.locked() as conn:
        conn.execute("DROP TABLE mails")  # every insert of the next commit fails

    async def main() -> list[BaseException | list[int]]:
        return await asyncio.gather(outbox.file(_records(["a"])), outbox.file(_records(["b"])), return_exceptions=True)

    results = asyncio.run(main())
    assert len(results) == 2 and all(isinstance(r, sqlite3.OperationalError) for r in results)


def test_work_that_fails_in_a_shared_transaction_is_rolled_back_alone(tmp_path: Path) -> None:
    outbox = Outbox(str(tmp_path / "o.sqlite3"))

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO sink (rcpt_tos, raw, received_at) VALUES ('[]', x'00', 'half')")
        raise ValueError("refused")

    async def main() -> list[BaseException | list[int]]:
        return await asyncio.gather(
            outbox.file(_records(["a"])),
            outbox.together(half_then_fail),
            outbox.file(_records(["b"])),
            return_exceptions=True,
        )

    first, failed, second = asyncio.run(main())
    assert isinstance(failed, ValueError)
    assert isinstance(first, list) and isinstance(second, list) and second == [first[0] + 1]
    assert [row.values["subject"] for row in outbox.find(Filters())] == ["b", "a"]
    with outbox.locked() as conn:
        assert conn.execute("SELECT count(*) FROM sink").fetchone()[0] == 0  # its half was rolled back
