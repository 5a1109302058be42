"""Two workers writing one outbox: does the shared SQLite file keep two workers from doing twice the work of one?

Each process stands for a worker: about 2 ms of CPU per request (the mock's cost of a 7-mail SendEMails), then
`Outbox.record_all` of seven 3 KB rows, one transaction, as a request does. Writers take turns on the database's
write lock, and a writer that finds it taken sleeps in SQLite's busy handler (1, 2, 5 … ms between retries), so
this shows what that costs: requests per second of two such processes against one, and the time of a write.

Usage: python bench/outbox_contention.py [--requests 1500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mockserver.mail.outbox import Outbox, Record

WORK_MS = 2.0


def _spin(ms: float) -> None:
    end = time.thread_time() + ms / 1000
    while time.thread_time() < end:
        pass


def _worker(path: str, requests: int, results: Any) -> None:
    outbox = Outbox(path)
    records = [
        Record(
            namespace="",
            operation="v1EMailAgent_SendEMails",
            message_id=f"<{index}@bench.invalid>",
            envelope_from="anna@nordlys.no",
            recipients=["kari@fjordtech.no"],
            subject="Møte",
            from_header="anna@nordlys.no",
            to_header="kari@fjordtech.no",
            raw=b"x" * 3000,
            journal="{}",
        )
        for index in range(7)
    ]
    writing: list[float] = []
    started = time.perf_counter()
    for _ in range(requests):
        _spin(WORK_MS)
        before = time.perf_counter()
        outbox.record_all(records)
        writing.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    writing.sort()
    results.put((requests / elapsed, statistics.fmean(writing) * 1000, writing[int(len(writing) * 0.99)] * 1000))


def measure(workers: int, requests: int, directory: Path) -> tuple[float, float, float]:
    """Requests per second of all workers together, mean and p99 ms of a write transaction."""
    path = str(directory / f"outbox-{workers}-{time.monotonic_ns()}.sqlite3")
    Outbox(path).close()  # schema and WAL mode first, not raced
    results: Any = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=_worker, args=(path, requests, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    found = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    return (
        sum(rps for rps, _, _ in found),
        statistics.fmean(mean for _, mean, _ in found),
        max(p99 for _, _, p99 in found),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1500, help="per worker and run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(1, args.rounds + 1):
            alone = measure(1, args.requests, Path(tmp))
            together = measure(2, args.requests, Path(tmp))
            print(
                f"round {round_}  1 worker {alone[0]:6.0f} rps,"
                f" write {alone[1]:.2f} ms (p99 {alone[2]:.2f})"
                f"  2 workers {together[0]:6.0f} rps = {together[0] / alone[0]:.2f}x,"
                f" write {together[1]:.2f} ms (p99 {together[2]:.2f})",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
