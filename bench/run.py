"""Benchmark harness: our mock (1 and 2 workers, and 1 worker delivering to its SMTP sink) against Stoplight
Prism (static and dynamic) on the same contract, against the mock's own framework floor (the mock with every
handler answering a constant), plain Connexion and a bare Starlette + json.loads ceiling, with the same
requests in one run.

The box this runs on has 2 cores and is shared, so absolute numbers mean little: every figure that matters
is a ratio against a peer measured minutes apart in the same run, and the machine's idle share is recorded
before each measurement. Every load run is bounded in time and in requests, and talks only to 127.0.0.1.

Run `make bench` (installs wrk and Prism first), or `.venv/bin/python bench/run.py` once they are there.
Environment knobs: BENCH_QUICK=1 (smoke run), BENCH_DURATION (seconds per load run),
BENCH_TARGETS / BENCH_SCENARIOS (comma-separated subsets), BENCH_IDLE_MIN (idle % to wait for, default 60),
BENCH_KEEP=1 (keep the work dir: bodies, outboxes, server logs), BENCH_SOAK=1 (a long single-mail soak after
the load runs; BENCH_SOAK_SECONDS, default 600, and BENCH_SOAK_REQUESTS, default 50000, bound it),
BENCH_SOAK_ONLY=1 (the soak alone). Method and how to read the output: bench/README.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import importlib.metadata
import itertools
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from bodies import Body, attachment_body, load_bodies, mail_count_body

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
SPEC = ROOT / "openapi" / "email-api.yaml"
LUA = BENCH_DIR / "post.lua"
PRISM = BENCH_DIR / "node_modules" / ".bin" / "prism"
CEILING = BENCH_DIR / "ceiling.py"
CONNEXION_FLOOR = BENCH_DIR / "connexion_floor.py"
OWN_FLOOR = BENCH_DIR / "own_floor.py"
WORK_FLOOR = BENCH_DIR / "work_floor.py"
# The scenarios whose requests work_floor.py answers with work (SendEMails without attachments, Genesys Send).
WORK_FLOOR_SCENARIOS = ("send1", "send7", "send7nb", "send100", "gws")
# The venv that runs this script is the project's: its mockserver is the one under test.
MOCKSERVER = Path(sys.executable).parent / "mockserver"

HOST = "127.0.0.1"
# Any well-formed Basic credentials pass the mock; Prism only checks that the header is there.
AUTH = "Basic dGplMDpUamUw"
REQUEST_HEADERS = {"Authorization": AUTH, "Content-Type": "application/json", "Accept": "application/json"}
MIB = 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

KEEPALIVE = "keepalive"
NEWCONN = "newconn"


# --------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Scenario:
    name: str
    connections: int
    modes: tuple[str, ...]
    duration: int | None = None  # None: the run's default duration
    max_requests: int = 200_000
    body: str | None = None  # name of the body in bodies.py; None: the scenario's name
    only: tuple[str, ...] | None = None  # the targets loaded in this scenario; None: every target

    @property
    def body_name(self) -> str:
        return self.body or self.name


@dataclass(frozen=True)
class Config:
    quick: bool
    duration: int
    newconn_duration: int
    warmup: int
    idle_min: int
    idle_wait_max: float  # per measurement
    idle_wait_total: float  # whole run: a busy box must not stretch the bench indefinitely
    wrk_timeout: int
    drain_max: float  # longest wait for a server to finish the backlog a run left behind
    cold_reps: int
    lin_sizes: tuple[int, ...]
    lin_reps: int
    mem_sizes: tuple[int, ...]
    scenarios: tuple[Scenario, ...]
    targets: tuple[str, ...]
    keep: bool
    soak: bool
    soak_only: bool
    soak_seconds: int
    soak_requests: int
    soak_warmup_requests: int

    @classmethod
    def from_env(cls) -> Config:
        quick = _flag_env("BENCH_QUICK")
        # The sink scenario: the send7 body to a mock that delivers every mail over SMTP to its embedded sink,
        # against the two peers that matter for it (Prism static for the goal, the own floor for the share).
        # At least 8 s even in quick mode: at ~7 answers/s, 32 connections wait ~5 s for their first answers.
        send7sink = Scenario(
            "send7sink",
            32,
            (KEEPALIVE,),
            duration=8 if quick else 12,
            body="send7",
            only=("prism-static", "own-floor", "ours-1w-sink"),
        )
        if quick:
            scenarios: tuple[Scenario, ...] = (
                Scenario("send7", 32, (KEEPALIVE, NEWCONN)),
                Scenario("send7nb", 32, (KEEPALIVE, NEWCONN)),
                send7sink,
                Scenario("gws", 32, (KEEPALIVE,)),
            )
        else:
            scenarios = (
                Scenario("send1", 32, (KEEPALIVE, NEWCONN)),
                Scenario("send7", 32, (KEEPALIVE, NEWCONN), duration=12),
                Scenario("send7nb", 32, (KEEPALIVE, NEWCONN), duration=12),
                send7sink,
                # A 100-mail or 1 MiB request takes the mock around half a second; 32 in flight would put
                # every answer past the end of the run. 4 keeps both workers busy and latencies readable.
                Scenario("send100", 4, (KEEPALIVE,)),
                Scenario("send_att1m", 4, (KEEPALIVE,), max_requests=2000),
                Scenario("save", 32, (KEEPALIVE,)),
                Scenario("relay", 32, (KEEPALIVE,)),
                Scenario("gws", 32, (KEEPALIVE, NEWCONN)),
            )
        wanted = _csv_env("BENCH_SCENARIOS")
        if wanted:
            scenarios = tuple(s for s in scenarios if s.name in wanted)
        targets: tuple[str, ...] = (
            "prism-static",
            "prism-dynamic",
            "own-floor",
            "work-floor",
            "ours-1w",
            "ours-2w",
            "ours-1w-sink",
            "ours-1w-pg",
            "connexion-floor",
            "ceiling",
        )
        wanted_targets = _csv_env("BENCH_TARGETS")
        if wanted_targets:
            targets = tuple(t for t in targets if t in wanted_targets)
        duration = int(os.environ.get("BENCH_DURATION", "3" if quick else "8"))
        soak_only = _flag_env("BENCH_SOAK_ONLY")
        return cls(
            quick=quick,
            duration=duration,
            newconn_duration=duration if quick else max(duration - 2, 3),
            warmup=1 if quick else 2,
            idle_min=int(os.environ.get("BENCH_IDLE_MIN", "60")),
            idle_wait_max=5 if quick else 20,
            idle_wait_total=20 if quick else 60,
            wrk_timeout=30,
            drain_max=60,
            cold_reps=1 if quick else 3,
            lin_sizes=(1, 10, 100) if quick else (1, 10, 100, 1000),
            lin_reps=2 if quick else 5,
            mem_sizes=(1024, MIB) if quick else (1024, 100 * 1024, MIB, 10 * MIB),
            scenarios=scenarios,
            targets=targets,
            keep=_flag_env("BENCH_KEEP"),
            soak=soak_only or _flag_env("BENCH_SOAK"),
            soak_only=soak_only,
            soak_seconds=int(os.environ.get("BENCH_SOAK_SECONDS", "600")),
            soak_requests=int(os.environ.get("BENCH_SOAK_REQUESTS", "50000")),
            soak_warmup_requests=2000,
        )


def _flag_env(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _csv_env(name: str) -> set[str]:
    return {item.strip() for item in os.environ.get(name, "").split(",") if item.strip()}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----------------------------------------------------------------------------------------- child processes


class Children:
    """Every process the bench starts, each in its own process group, so that a server's workers die with
    it and nothing outlives the bench (Ctrl-C, errors and SIGTERM included)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, argv: Sequence[str], *, log_file: Path | None = None, capture: bool = False, **kwargs: Any
    ) -> subprocess.Popen[bytes]:
        if capture:
            out: Any = subprocess.PIPE
        elif log_file is not None:
            out = log_file.open("ab")
        else:
            out = subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )
        finally:
            if log_file is not None and not capture:
                out.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 6.0) -> None:
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # Workers can outlive their supervisor for a moment; the group is still ours right after it exits.
        _signal_group(proc.pid, signal.SIGKILL)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        live = [p for p in self.procs if p.poll() is None]
        for proc in live:
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 6
        for proc in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for proc in list(self.procs):
            self.stop(proc, grace=0.5)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class Stopped(BaseException):
    """SIGTERM/SIGHUP: unwinds like Ctrl-C, so that every `finally` stops its servers."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


# ------------------------------------------------------------------------------------------------- /proc


def _parent_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may contain spaces and parentheses; fields after the last ')' are fixed.
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    children = _parent_map()
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_kb(root: int, key: str = "VmRSS") -> int:
    return sum(status_kb(pid, key) for pid in process_tree(root))


def reset_peak_rss(root: int) -> bool:
    """Reset VmHWM of a process tree (Linux ≥ 4.0, own or root's processes), so it tracks one request."""
    ok = True
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            ok = False
    return ok


class RssSampler:
    """Peak resident memory of a process tree, sampled every 100 ms (the tree re-read every second, so
    workers that start or restart mid-run are counted)."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        self.root = root
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        pids: list[int] = []
        n = 0
        while True:
            if n % 10 == 0:
                pids = process_tree(self.root)
            n += 1
            self.peak_kb = max(self.peak_kb, sum(status_kb(pid, "VmRSS") for pid in pids))
            if self._stop.wait(self.interval):
                return


def _cpu_times() -> list[int]:
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def idle_sample(interval: float = 1.0) -> tuple[float, float]:
    """(idle %, steal %) over `interval`, as bench_compare.sh measures it: idle + iowait over all time."""
    a = _cpu_times()
    time.sleep(interval)
    b = _cpu_times()
    d = [y - x for x, y in zip(a, b, strict=False)]
    total = sum(d[:8]) or 1
    return 100.0 * (d[3] + d[4]) / total, 100.0 * d[7] / total


class IdleGate:
    """Waits, within limits, until the box is idle enough to measure; records what it saw."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.spent = 0.0

    def wait(self) -> dict[str, Any]:
        start = time.monotonic()
        idle, steal = idle_sample()
        while idle < self.cfg.idle_min:
            waited = time.monotonic() - start
            if waited >= self.cfg.idle_wait_max or self.spent + waited >= self.cfg.idle_wait_total:
                break
            time.sleep(1)
            idle, steal = idle_sample()
        waited = time.monotonic() - start - 1.0
        self.spent += max(waited, 0.0)
        return {
            "idle_pct": round(idle, 1),
            "steal_pct": round(steal, 1),
            "waited_s": round(max(waited, 0.0), 1),
            "quiet": idle >= self.cfg.idle_min,
        }


class CpuShare:
    """Where the machine's CPU went during one run: the server's process tree (in % of one core), and
    everything that was neither the server, nor wrk, nor this script (in % of the machine, steal included).
    The idle check only looks before a run; `other_cpu_pct` shows a neighbour that started during it."""

    def __init__(self, server: int) -> None:
        self.server = server
        self.stat = _cpu_times()
        self.server_ticks = tree_cpu_ticks(server)
        self.ours = self._own_seconds()

    @staticmethod
    def _own_seconds() -> float:
        # wrk is a reaped child by the time stop() runs, so RUSAGE_CHILDREN holds its CPU time.
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def stop(self) -> dict[str, float]:
        d = [b - a for a, b in zip(self.stat, _cpu_times(), strict=False)][:8]
        total = sum(d) or 1
        busy = total - d[3] - d[4]
        server = tree_cpu_ticks(self.server) - self.server_ticks
        client = (self._own_seconds() - self.ours) * CLOCK_TICKS
        cores = os.cpu_count() or 1
        return {
            "server_cpu_pct": round(100.0 * server * cores / total, 1),
            "client_cpu_pct": round(100.0 * client * cores / total, 1),
            "other_cpu_pct": round(100.0 * max(busy - server - client, 0) / total, 1),
        }


def accepted_connections() -> int:
    """The kernel's count of accepted TCP connections (PassiveOpens), system-wide. Its growth during a run
    is how a new-connection run proves that every request really came on a fresh connection, and how a
    keep-alive run proves that it did not (TIME_WAIT counts undercount: loopback reuses those ports)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    names, values = rows[0], rows[1]
    return int(values[names.index("PassiveOpens")])


def tree_cpu_ticks(root: int) -> int:
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def wait_drained(root: int, limit: float) -> float:
    """Wait until a server has stopped working. A server keeps computing the answers to requests whose
    client (wrk, at the end of a run) already left; that backlog must not bleed into the next measurement."""
    start = time.monotonic()
    ticks = tree_cpu_ticks(root)
    while time.monotonic() - start < limit:
        time.sleep(0.25)
        now = tree_cpu_ticks(root)
        if (now - ticks) * 1000 / CLOCK_TICKS <= 20:  # at most 20 ms of CPU in 250 ms: only timers
            break
        ticks = now
    return round(time.monotonic() - start, 2)


# ---------------------------------------------------------------------------------------------------- HTTP


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]
    seconds: float


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Reply:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        start = time.perf_counter()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - start
        return Reply(resp.status, data, {k.lower(): v for k, v in resp.getheaders()}, elapsed)
    finally:
        conn.close()


def post_body(port: int, body: Body, extra: dict[str, str] | None = None, timeout: float = 60.0) -> Reply:
    return request(port, "POST", body.path, body.file.read_bytes(), {**REQUEST_HEADERS, **(extra or {})}, timeout)


# ------------------------------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    kind: str  # ours | floor (the mock without handlers) | prism | ceiling
    description: str
    argv: list[str]
    port: int
    log_file: Path
    ready_timeout: float
    delivery: str = "none"  # the mock's --delivery; "sink": each run also checks what reached the sink
    only_scenarios: tuple[str, ...] | None = None  # loaded only in these scenarios; None: any scenario
    proc: subprocess.Popen[bytes] | None = None
    ready_s: float | None = None
    # Extra request headers per scenario (the GWS session and CSRF token, when the mock demands them).
    scenario_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    validation: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def loads_in(self, scenario: Scenario) -> bool:
        if scenario.only is not None and self.name not in scenario.only:
            return False
        return self.only_scenarios is None or scenario.name in self.only_scenarios


def mock_flags() -> set[str]:
    """The flags this checkout's `mockserver serve` has: the CLI is being changed while this bench exists."""
    out = subprocess.run(
        [str(MOCKSERVER), "serve", "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return {word.strip("[],") for word in out.split() if word.startswith(("--", "[--"))}


def mock_argv(
    port: int,
    workers: int,
    outbox: Path | str,
    flags: set[str],
    extra: Sequence[str] = (),
    *,
    delivery: str = "none",
    launcher: Sequence[str] = (str(MOCKSERVER),),
) -> list[str]:
    """`mockserver serve` as the bench runs it; `launcher` replaces the `mockserver` script (the own floor)."""
    argv = [
        *launcher,
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--delivery",
        delivery,
        "--outbox",
        str(outbox),
        "--log-level",
        "warning",
    ]
    # GWS Send POSTs need a session and a CSRF token by default; the bench measures the mock, not the dance.
    if "--no-gws-csrf" in flags:
        argv.append("--no-gws-csrf")
    return argv + list(extra)


def build_targets(cfg: Config, workdir: Path, flags: set[str], pg_url: str | None = None) -> list[Target]:
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    made: dict[str, Target] = {}
    # Prism quiet (-v fatal) like the mock at --log-level warning: neither pays for per-request logging.
    for name, dynamic in (("prism-static", False), ("prism-dynamic", True)):
        port = free_port()
        argv = [str(PRISM), "mock", "-h", HOST, "-p", str(port), "-v", "fatal"]
        argv += ["-d", str(SPEC)] if dynamic else [str(SPEC)]
        mode = "dynamic (-d, json-schema-faker)" if dynamic else "static (examples)"
        made[name] = Target(name, "prism", f"Prism {mode}", argv, port, logs / f"{name}.log", 90.0)
    for workers in (1, 2):
        port = free_port()
        argv = mock_argv(port, workers, workdir / f"outbox-{workers}w.sqlite3", flags)
        made[f"ours-{workers}w"] = Target(
            f"ours-{workers}w",
            "ours",
            f"mockserver, {workers} worker(s)",
            argv,
            port,
            logs / f"ours-{workers}w.log",
            60,
        )
    # The mock's own framework floor: the same command line, every operation resolved to a constant answer.
    port = free_port()
    argv = mock_argv(port, 1, workdir / "outbox-own-floor.sqlite3", flags, launcher=(sys.executable, str(OWN_FLOOR)))
    made["own-floor"] = Target(
        "own-floor",
        "floor",
        "the mock's own app with every handler answering a constant [] (own_floor.py, 1 worker)",
        argv,
        port,
        logs / "own-floor.log",
        60,
    )
    # The least work SendEMails's and Genesys Send's contracts ask for, on the same app (work_floor.py).
    port = free_port()
    argv = mock_argv(port, 1, workdir / "outbox-work-floor.sqlite3", flags, launcher=(sys.executable, str(WORK_FLOOR)))
    made["work-floor"] = Target(
        "work-floor",
        "floor",
        "the mock's own app with SendEMails and Genesys Send doing the least their contracts ask "
        "(work_floor.py, 1 worker)",
        argv,
        port,
        logs / "work-floor.log",
        60,
        only_scenarios=WORK_FLOOR_SCENARIOS,
    )
    port = free_port()
    sink = ["--sink-port", str(free_port())]
    if "--sink-host" in flags:
        sink = ["--sink-host", HOST, *sink]
    argv = mock_argv(port, 1, workdir / "outbox-1w-sink.sqlite3", flags, sink, delivery="sink")
    made["ours-1w-sink"] = Target(
        "ours-1w-sink",
        "ours",
        "mockserver, 1 worker, delivering every mail over SMTP to its embedded sink",
        argv,
        port,
        logs / "ours-1w-sink.log",
        60,
        delivery="sink",
        only_scenarios=("send7sink",),
    )
    if pg_url is not None:
        port = free_port()
        made["ours-1w-pg"] = Target(
            "ours-1w-pg",
            "ours",
            "mockserver, 1 worker, its state in PostgreSQL (a private cluster on this machine, fsync off as "
            "SQLite's synchronous=NORMAL does not sync each commit either)",
            mock_argv(port, 1, pg_url, flags),
            port,
            logs / "ours-1w-pg.log",
            60,
            only_scenarios=("send7",),
        )
    port = free_port()
    made["connexion-floor"] = Target(
        "connexion-floor",
        "ceiling",
        "plain Connexion with its default pure-Python validators, constant answers (uvicorn, 1 worker); "
        "not the mock's floor",
        [sys.executable, str(CONNEXION_FLOOR), "--port", str(port)],
        port,
        logs / "connexion-floor.log",
        60,
    )
    port = free_port()
    made["ceiling"] = Target(
        "ceiling",
        "ceiling",
        "bare Starlette + json.loads (uvicorn, 1 worker)",
        [sys.executable, str(CEILING), "--port", str(port)],
        port,
        logs / "ceiling.log",
        60,
    )
    # A target no selected scenario loads is not started, except the two the time-per-mail probe uses.
    return [
        made[name]
        for name in cfg.targets
        if name in made and (name in ("ours-1w", "ceiling") or any(made[name].loads_in(s) for s in cfg.scenarios))
    ]


def wait_ready(target: Target, probe: Body, started: float) -> None:
    deadline = started + target.ready_timeout
    while True:
        assert target.proc is not None
        if target.proc.poll() is not None:
            raise RuntimeError(f"{target.name} exited with {target.proc.returncode}:\n{_tail(target.log_file)}")
        try:
            reply = post_body(target.port, probe, timeout=10)
            if 200 <= reply.status < 300:
                target.ready_s = round(time.perf_counter() - started, 3)
                return
        except OSError:
            pass
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{target.name} not ready after {target.ready_timeout} s:\n{_tail(target.log_file)}")
        time.sleep(0.05)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def gws_session_headers(port: int) -> dict[str, str]:
    """Session cookie and CSRF token from GET /api/v2/me, for a mock that insists on them."""
    reply = request(port, "GET", "/api/v2/me", headers={"Authorization": AUTH, "Accept": "application/json"})
    cookie = reply.headers.get("set-cookie", "")
    session = cookie.split(";", 1)[0] if cookie.startswith("JSESSIONID=") else ""
    token = reply.headers.get("x-csrf-token", "")
    header = reply.headers.get("x-csrf-header", "X-CSRF-TOKEN")
    if not session or not token:
        return {}
    return {"Cookie": session, header: token}


def validate(target: Target, loads: dict[str, Body], scenarios: Sequence[Scenario]) -> None:
    """Send each body once: only operations a target answers with 2xx are loaded and compared."""
    for scenario in scenarios:
        if not target.loads_in(scenario):
            continue
        body = loads[scenario.body_name]
        extra = target.scenario_headers.get(scenario.name, {})
        try:
            reply = post_body(target.port, body, extra)
        except OSError as exc:
            target.validation[scenario.name] = {"ok": False, "status": None, "error": str(exc)}
            continue
        if target.kind == "ours" and scenario.name == "gws" and reply.status in (401, 403):
            # An older or newer mock without --no-gws-csrf: do what a GWS client does, then retry.
            extra = gws_session_headers(target.port)
            if extra:
                target.scenario_headers[scenario.name] = extra
                target.notes.append("GWS Send loaded with a session cookie and CSRF token (no --no-gws-csrf flag)")
                reply = post_body(target.port, body, extra)
        entry: dict[str, Any] = {
            "ok": 200 <= reply.status < 300,
            "status": reply.status,
            "response_bytes": len(reply.body),
            "content_type": reply.headers.get("content-type"),
            "first_request_ms": round(reply.seconds * 1000, 2),
        }
        if not entry["ok"]:
            entry["response_excerpt"] = reply.body[:300].decode("utf-8", "replace")
        if "sl-violations" in reply.headers:
            entry["prism_violations"] = reply.headers["sl-violations"][:500]
        target.validation[scenario.name] = entry


def reset_outbox(target: Target) -> None:
    """Empty the mock's outbox between scenarios (untimed), so that its SQLite file does not grow all run."""
    if target.kind != "ours":
        return
    try:
        request(target.port, "DELETE", "/_mock/outbox", timeout=120)
    except OSError as exc:
        target.notes.append(f"outbox reset failed: {exc}")


def control(port: int, path: str) -> dict[str, Any]:
    """GET on the mock's control API (/_mock/...), decoded."""
    reply = request(port, "GET", path, headers={"Accept": "application/json"}, timeout=60)
    if reply.status != 200:
        raise RuntimeError(f"GET {path} answered {reply.status}: {reply.body[:200]!r}")
    data: dict[str, Any] = json.loads(reply.body)
    return data


def outbox_count(port: int, status: str | None = None) -> int:
    """Rows in the mock's (default namespace's) outbox; `count` covers every matching row, not one page."""
    query = f"&status={status}" if status else ""
    return int(control(port, f"/_mock/outbox?limit=1{query}")["count"])


def sink_total(port: int) -> int:
    """How many messages the embedded SMTP sink has received since the server started. GET /_mock/sink has no
    count and no paging, but its rows are never deleted (an outbox reset leaves them) and their ids come from
    AUTOINCREMENT, so the newest id is the total; a `count` is used instead should the answer ever carry one."""
    data = control(port, "/_mock/sink?limit=1")
    if "count" in data:
        return int(data["count"])
    items = data.get("items") or []
    return int(items[0]["id"]) if items else 0


def prepare_sink(target: Target, limit: float) -> int:
    """Before a measured run on a sink-delivering mock: let the deliveries of earlier requests (the warm-up)
    finish, so none of them lands during the run, empty the outbox, and return the sink's total to count from."""
    deadline = time.monotonic() + limit
    while outbox_count(target.port, "queued") > 0 and time.monotonic() < deadline:
        time.sleep(0.25)
    request(target.port, "DELETE", "/_mock/outbox", timeout=120)
    return sink_total(target.port)


def sink_catchup(target: Target, sink_before: int, wrk_ended: float, limit: float) -> dict[str, Any]:
    """After a run: wait (at most `limit` s) until the sink has received as many messages as the outbox holds
    rows. Polled every 0.25 s once the server is idle again (after the drain), so the lag is an upper bound."""
    deadline = time.monotonic() + limit
    lag: float | None = None
    while True:
        outbox_rows = outbox_count(target.port)
        sink_rows = sink_total(target.port) - sink_before
        if sink_rows >= outbox_rows:
            lag = round(time.monotonic() - wrk_ended, 2)
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    return {
        "outbox_rows": outbox_rows,
        "sink_rows": sink_rows,
        "delivery_lag_s": lag,
        "failed_rows": outbox_count(target.port, "failed"),
        "queued_rows": outbox_count(target.port, "queued"),
    }


# ------------------------------------------------------------------------------------------------ wrk runs


def run_wrk(
    children: Children,
    cfg: Config,
    target: Target,
    scenario: Scenario,
    body: Body,
    mode: str,
    duration: int,
) -> dict[str, Any]:
    headers = {**REQUEST_HEADERS, **target.scenario_headers.get(scenario.name, {})}
    max_requests = scenario.max_requests
    if mode == NEWCONN:
        headers["Connection"] = "close"
        # Bounds socket churn: each closed connection holds a TIME_WAIT entry for a minute.
        max_requests = min(max_requests, 30_000)
    url = f"http://{HOST}:{target.port}{body.path}"
    # post.lua creates <cap_file>.1 when its (only) thread reaches the cap; wrk would sleep out -d regardless.
    with tempfile.NamedTemporaryFile(prefix="wrk-cap-", delete=False) as marker:
        cap_file = Path(marker.name)
    cap_file.unlink()
    reached = cap_file.with_name(cap_file.name + ".1")
    env = {
        **os.environ,
        "BENCH_BODY": str(body.file),
        "BENCH_HEADERS": ";;".join(f"{k}: {v}" for k, v in headers.items()),
        "BENCH_MAX_REQUESTS": str(max_requests),
        "BENCH_COUNT_CLOSE": "1",
        "BENCH_CAP_FILE": str(cap_file),
    }
    argv = ["wrk", "-t", "1", "-c", str(scenario.connections), "-d", f"{duration}s"]
    argv += ["--timeout", f"{cfg.wrk_timeout}s", "-s", str(LUA), url]
    proc = children.spawn(argv, capture=True, env=env)
    deadline = time.monotonic() + duration + cfg.wrk_timeout + 15
    try:
        interrupted = False
        while proc.poll() is None and time.monotonic() < deadline:
            if not interrupted and reached.exists():
                # SIGINT makes wrk stop sleeping, join its (already stopped) thread and report as usual.
                proc.send_signal(signal.SIGINT)
                interrupted = True
            time.sleep(0.1)
        # wrk's output is a few hundred bytes, far below a pipe's buffer: nothing blocks while it is polled.
        out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 1.0))
    except subprocess.TimeoutExpired:
        children.stop(proc)
        raise RuntimeError(f"wrk against {target.name} did not finish") from None
    finally:
        reached.unlink(missing_ok=True)
    children.stop(proc)
    text = out.decode("utf-8", "replace")
    for line in text.splitlines():
        if line.startswith("BENCHRESULT "):
            result: dict[str, Any] = json.loads(line[len("BENCHRESULT ") :])
            break
    else:
        raise RuntimeError(f"wrk gave no result against {target.name}:\n{text[-2000:]}")
    result["argv"] = argv
    return result


def measure(
    children: Children,
    cfg: Config,
    gate: IdleGate,
    target: Target,
    scenario: Scenario,
    body: Body,
    mode: str,
    warm: bool,
) -> dict[str, Any]:
    duration = scenario.duration or cfg.duration
    if mode == NEWCONN:
        duration = cfg.newconn_duration
    if warm:
        run_wrk(children, cfg, target, scenario, body, mode, cfg.warmup)
        wait_drained(target.pid, cfg.drain_max)
    sink_before = prepare_sink(target, cfg.drain_max) if target.delivery == "sink" else 0
    idle = gate.wait()
    idle_rss = tree_kb(target.pid)
    accepted_before = accepted_connections()
    cpu = CpuShare(target.pid)
    with RssSampler(target.pid) as sampler:
        raw = run_wrk(children, cfg, target, scenario, body, mode, duration)
    wrk_ended = time.monotonic()
    shares = cpu.stop()
    accepted = accepted_connections() - accepted_before
    drain_s = wait_drained(target.pid, cfg.drain_max)
    requests = int(raw["requests"])
    statuses = {int(k): v for k, v in raw["status"].items()}
    non2xx = sum(v for k, v in statuses.items() if not 200 <= k < 300)
    secs = float(raw["secs"]) or float(duration)
    errors = raw["errors"]
    run: dict[str, Any] = {
        "target": target.name,
        "scenario": scenario.name,
        "mode": mode,
        "connections": scenario.connections,
        "duration_s": duration,
        "requests": requests,
        "secs": round(secs, 3),
        "rps": round(requests / secs, 1) if secs > 0 else 0.0,
        "latency_ms": raw["latency_ms"],
        "status": statuses,
        "non2xx": non2xx,
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "errors": errors,
        "capped": raw["capped"],
        "close_responses": raw["close_responses"],
        "accepted_connections": accepted,
        "drain_after_s": drain_s,
        "idle_rss_mb": round(idle_rss / 1024, 1),
        "peak_rss_mb": round(sampler.peak_kb / 1024, 1),
        **idle,
        **shares,
        "wrk_argv": raw["argv"],
    }
    if mode == NEWCONN:
        # Every answer announced the close, and the kernel accepted at least one connection per answer.
        run["new_connections_verified"] = requests > 0 and raw["close_responses"] >= requests and accepted >= requests
    if target.delivery == "sink":
        run.update(sink_catchup(target, sink_before, wrk_ended, limit=60))
    return run


# ----------------------------------------------------------------------------------- one-request probes


def cold_start(children: Children, cfg: Config, workdir: Path, flags: set[str], probe: Body) -> dict[str, Any]:
    """Seconds from spawning the server to its first 2xx answer, for the mock and, as a floor, the ceiling."""
    result: dict[str, Any] = {}
    for name in ("ours-1w", "ceiling"):
        times: list[float] = []
        for rep in range(cfg.cold_reps):
            port = free_port()
            if name == "ours-1w":
                argv = mock_argv(port, 1, workdir / f"cold-{rep}.sqlite3", flags)
            else:
                argv = [sys.executable, str(CEILING), "--port", str(port)]
            log_file = workdir / "logs" / f"cold-{name}-{rep}.log"
            started = time.perf_counter()
            proc = children.spawn(argv, log_file=log_file)
            try:
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(f"cold start of {name} failed:\n{_tail(log_file)}")
                    try:
                        reply = post_body(port, probe, timeout=10)
                        if 200 <= reply.status < 300:
                            times.append(time.perf_counter() - started)
                            break
                    except OSError:
                        pass
                    if time.perf_counter() - started > 60:
                        raise RuntimeError(f"{name} gave no 2xx within 60 s:\n{_tail(log_file)}")
                    time.sleep(0.01)
            finally:
                children.stop(proc)
        result[name] = {
            "runs_s": [round(t, 3) for t in times],
            "best_s": round(min(times), 3),
            "median_s": round(statistics.median(times), 3),
        }
    return result


def linearity(cfg: Config, targets: Sequence[Target], workdir: Path) -> dict[str, Any]:
    """Time of one SendEMails request with 1…1000 mails; per-mail cost must stay flat.

    Judged on the fastest of several runs per size: one request is a single sample, and on a shared machine a
    neighbour only ever adds time to it (the medians of 3-5 runs gave growth figures from 0.5 to 1.95 for the
    same build within minutes). The medians are kept in the rows."""
    bodies = [mail_count_body(workdir, n) for n in cfg.lin_sizes]
    result: dict[str, Any] = {}
    for target in targets:
        rows: list[dict[str, Any]] = []
        for n, body in zip(cfg.lin_sizes, bodies, strict=True):
            idle_kb = tree_kb(target.pid)
            reset_peak_rss(target.pid)
            first = post_body(target.port, body, timeout=300)
            times, statuses = [], {first.status}
            for _ in range(cfg.lin_reps if n >= 1000 else 2 * cfg.lin_reps):
                reply = post_body(target.port, body, timeout=300)
                statuses.add(reply.status)
                times.append(reply.seconds)
            peak_kb = tree_kb(target.pid, "VmHWM")
            median_ms = statistics.median(times) * 1000
            best_ms = min(times) * 1000
            rows.append(
                {
                    "mails": n,
                    "body_bytes": body.size,
                    "statuses": sorted(statuses),
                    "median_ms": round(median_ms, 2),
                    "best_ms": round(best_ms, 2),
                    "ms_per_mail": round(best_ms / n, 3),
                    "runs_ms": [round(t * 1000, 2) for t in times],
                    # RSS before this size's requests and its high-water mark during them (VmHWM reset).
                    "rss_before_mb": round(idle_kb / 1024, 1),
                    "peak_rss_mb": round(peak_kb / 1024, 1),
                }
            )
        # Marginal cost between consecutive sizes removes the fixed per-request part from the comparison.
        marginals = [(b["best_ms"] - a["best_ms"]) / (b["mails"] - a["mails"]) for a, b in itertools.pairwise(rows)]
        growth = marginals[-1] / marginals[-2] if len(marginals) >= 2 and marginals[-2] > 0 else None
        result[target.name] = {
            "rows": rows,
            "marginal_ms_per_mail": [round(m, 3) for m in marginals],
            "marginal_growth_last": round(growth, 2) if growth is not None else None,
            # Linear: the last step's per-mail cost is within 1.5x of the step before (noise allowance). Judged
            # only up to 1000 mails: below that, the first step is mostly fixed per-request cost and noise.
            "linear": (growth is not None and growth <= 1.5) if rows[-1]["mails"] >= 1000 else None,
        }
    return result


def memory(children: Children, cfg: Config, workdir: Path, flags: set[str], probe: Body) -> list[dict[str, Any]]:
    """Peak RSS above idle while the mock takes one mail with a 1 KB…10 MB attachment, fresh server each."""
    warm = attachment_body(workdir, 1024)
    rows = []
    for size in cfg.mem_sizes:
        body = attachment_body(workdir, size)
        port = free_port()
        extra: list[str] = []
        if "--max-body-bytes" in flags:
            extra = ["--max-body-bytes", str(max(64 * MIB, 4 * body.size))]
        argv = mock_argv(port, 1, workdir / f"mem-{size}.sqlite3", flags, extra)
        log_file = workdir / "logs" / f"mem-{size}.log"
        target = Target(f"mem-{size}", "ours", "memory probe", argv, port, log_file, 60)
        started = time.perf_counter()
        target.proc = children.spawn(argv, log_file=log_file)
        try:
            wait_ready(target, probe, started)
            for _ in range(3):
                post_body(port, warm)
            time.sleep(0.5)
            idle_kb = tree_kb(target.pid)
            hwm_ok = reset_peak_rss(target.pid)
            with RssSampler(target.pid, interval=0.02) as sampler:
                reply = post_body(port, body, timeout=300)
            hwm_kb = tree_kb(target.pid, "VmHWM") if hwm_ok else 0
        finally:
            children.stop(target.proc)
        peak_kb = max(sampler.peak_kb, hwm_kb)
        growth = (peak_kb - idle_kb) * 1024
        rows.append(
            {
                "attachment_bytes": size,
                "body_bytes": body.size,
                "status": reply.status,
                "seconds": round(reply.seconds, 3),
                "idle_rss_mb": round(idle_kb / 1024, 1),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "peak_source": "VmHWM" if hwm_kb >= sampler.peak_kb else "sampled",
                "growth_mb": round(growth / MIB, 2),
                "growth_per_body_byte": round(growth / body.size, 2),
                # Below 1 MiB the fixed cost of any request (a few hundred KB) dominates the ratio.
                "judged": size >= MIB,
                "ok": growth <= 4 * body.size,
            }
        )
    return rows


def soak(
    children: Children, cfg: Config, gate: IdleGate, workdir: Path, flags: set[str], loads: dict[str, Body]
) -> dict[str, Any]:
    """A long single-mail load on a fresh 1-worker mock: does it stay error-free, keep every mail it
    acknowledged, and hold its memory? Bounded by BENCH_SOAK_REQUESTS answers and BENCH_SOAK_SECONDS."""
    body = loads["send1"]
    port = free_port()
    argv = mock_argv(port, 1, workdir / "outbox-soak.sqlite3", flags)
    log_file = workdir / "logs" / "soak.log"
    target = Target("soak", "ours", "soak: mockserver, 1 worker", argv, port, log_file, 60)
    connections = 32
    started = time.perf_counter()
    target.proc = children.spawn(argv, log_file=log_file, cwd=str(ROOT))
    try:
        wait_ready(target, body, started)
        # Warm-up: bounded by its request count and by 60 s, whichever comes first.
        warm_scenario = Scenario("soak-warmup", connections, (KEEPALIVE,), max_requests=cfg.soak_warmup_requests)
        warm = run_wrk(children, cfg, target, warm_scenario, body, KEEPALIVE, 60)
        wait_drained(target.pid, cfg.drain_max)
        # The warm-up's mails are not the soak's: empty the outbox so that its count is the soak's alone.
        reset_outbox(target)
        rss_warm_kb = tree_kb(target.pid)
        idle = gate.wait()
        scenario = Scenario("soak", connections, (KEEPALIVE,), max_requests=cfg.soak_requests)
        cpu = CpuShare(target.pid)
        with RssSampler(target.pid) as sampler:
            raw = run_wrk(children, cfg, target, scenario, body, KEEPALIVE, cfg.soak_seconds)
        shares = cpu.stop()
        drain_s = wait_drained(target.pid, cfg.drain_max)
        rss_after_kb = tree_kb(target.pid)
        outbox_rows = outbox_count(port)
    finally:
        children.stop(target.proc)
    requests = int(raw["requests"])
    statuses = {int(k): v for k, v in raw["status"].items()}
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    errors = raw["errors"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    secs = float(raw["secs"]) or float(cfg.soak_seconds)
    rss_warm_mb = round(rss_warm_kb / 1024, 1)
    rss_after_mb = round(rss_after_kb / 1024, 1)
    # wrk stops with up to one request in flight per connection: the server still completes (and files) those,
    # but nobody counts their answers. So the outbox may hold up to `connections` more rows than 2xx answers.
    excess = outbox_rows - ok
    return {
        "argv": argv,
        "body": body.name,
        "connections": connections,
        "max_requests": cfg.soak_requests,
        "duration_s": cfg.soak_seconds,
        "warmup_requests": int(warm["requests"]),
        "warmup_status": warm["status"],
        "requests": requests,
        "secs": round(secs, 3),
        "capped": raw["capped"],
        "rps": round(requests / secs, 1) if secs > 0 else 0.0,
        "latency_ms": raw["latency_ms"],
        "status": statuses,
        "ok_2xx": ok,
        "non2xx": requests - ok,
        "socket_errors": socket_errors,
        "errors": errors,
        "drain_after_s": drain_s,
        "outbox_rows": outbox_rows,
        "outbox_minus_2xx": excess,
        "rss_after_warmup_mb": rss_warm_mb,
        "rss_after_soak_mb": rss_after_mb,
        "peak_rss_mb": round(sampler.peak_kb / 1024, 1),
        **idle,
        **shares,
        "wrk_argv": raw["argv"],
        "checks": {
            "no_errors": requests > 0 and requests - ok + socket_errors == 0,
            "outbox_matches_2xx": requests > 0 and 0 <= excess <= connections,
            "rss_bounded": rss_after_mb <= rss_warm_mb + 50,
        },
    }


# ------------------------------------------------------------------------------------------------ report


def clean(run: dict[str, Any]) -> bool:
    """Answers came back, and socket errors stayed under 1 % of them (wrk reconnect storms inflate nothing
    but hide that the server was not answering)."""
    return bool(run["requests"] > 0 and run["socket_errors"] <= run["requests"] // 100)


def comparable(run: dict[str, Any] | None) -> bool:
    """A run whose figures can be compared: it answered only 2xx, and cleanly."""
    return run is not None and run["non2xx"] == 0 and clean(run)


def add_ratios(runs: list[dict[str, Any]]) -> None:
    index = {(r["scenario"], r["mode"], r["target"]): r for r in runs}

    for run in runs:
        for key, peer_name in (
            ("vs_prism_static", "prism-static"),
            ("vs_prism_dynamic", "prism-dynamic"),
            ("vs_ceiling", "ceiling"),
            ("vs_connexion_floor", "connexion-floor"),
            ("vs_own_floor", "own-floor"),
            ("vs_ours_1w", "ours-1w"),
        ):
            peer = index.get((run["scenario"], run["mode"], peer_name))
            ok = comparable(run) and comparable(peer) and peer is not None and peer["rps"] > 0
            run[key] = round(run["rps"] / peer["rps"], 3) if ok and peer is not None else None


def check_targets(
    runs: list[dict[str, Any]],
    cold: dict[str, Any],
    lin: dict[str, Any],
    mem: list[dict[str, Any]],
    soak_result: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """The goals (bench/README.md). A check whose data this run did not produce is n/a (pass None); a check
    whose run exists but did not answer only 2xx, cleanly, fails."""
    index = {(r["scenario"], r["mode"], r["target"]): r for r in runs}
    checks: list[dict[str, Any]] = []

    def add(name: str, value: float | None, goal: str, ok: bool | None) -> None:
        checks.append({"check": name, "value": value, "target": goal, "pass": ok})

    def ratio(scenario: str, target: str, key: str, peer: str, goal: float, mode: str = KEEPALIVE) -> None:
        run = index.get((scenario, mode, target))
        name = f"{scenario} {mode}, {target}: rps vs {peer}"
        value = run[key] if run else None
        if value is not None:
            add(name, value, f">= {goal}", value >= goal)
        elif run is not None and not comparable(run):
            add(name, None, f">= {goal} (run not all-2xx/clean)", False)
        else:
            add(name, None, f">= {goal}", None)

    for scenario in ("send7", "send7nb"):
        ratio(scenario, "ours-1w", "vs_prism_static", "Prism static", 2.0)
        ratio(scenario, "ours-1w", "vs_own_floor", "own floor", 0.5)
        # Whether a handler doing the least SendEMails's contract asks reaches the same goals in this run: where
        # it does not, the goal is out of reach of the contract's work itself (bench/work_floor.py).
        ratio(scenario, "work-floor", "vs_prism_static", "Prism static", 2.0)
        ratio(scenario, "work-floor", "vs_own_floor", "own floor", 0.5)
        ours = index.get((scenario, KEEPALIVE, "ours-1w"))
        prism = index.get((scenario, KEEPALIVE, "prism-static"))
        name = f"{scenario} {KEEPALIVE}, ours-1w: p99 ms vs Prism static p99"
        if ours is None or prism is None or not comparable(prism):
            add(name, ours["latency_ms"]["99"] if ours else None, "<= Prism static p99", None)
        else:
            p99, goal = ours["latency_ms"]["99"], prism["latency_ms"]["99"]
            add(name, p99, f"<= {goal}", comparable(ours) and p99 <= goal)
        name = f"{scenario} {KEEPALIVE}, ours-1w: p99 / p50"
        if ours is None or ours["latency_ms"]["50"] <= 0:
            add(name, None, "<= 3.0", None)
        else:
            spread = round(ours["latency_ms"]["99"] / ours["latency_ms"]["50"], 2)
            add(name, spread, "<= 3.0", comparable(ours) and spread <= 3.0)
    for scenario in ("send1", "save", "relay", "gws"):
        ratio(scenario, "ours-1w", "vs_prism_static", "Prism static", 2.0)
    for scenario in ("send1", "gws"):
        ratio(scenario, "work-floor", "vs_prism_static", "Prism static", 2.0)
    for scenario in ("send100", "send_att1m"):
        ratio(scenario, "ours-1w", "vs_prism_static", "Prism static", 1.0)
    ratio("send100", "work-floor", "vs_prism_static", "Prism static", 1.0)

    ratio("send7sink", "ours-1w-sink", "vs_prism_static", "Prism static", 0.5)
    ratio("send7", "ours-1w-pg", "vs_ours_1w", "ours-1w (SQLite)", 0.7)
    sink = index.get(("send7sink", KEEPALIVE, "ours-1w-sink"))
    failed = sink.get("failed_rows") if sink else None
    add("send7sink, ours-1w-sink: outbox rows failed", failed, "== 0", None if failed is None else failed == 0)
    lag = sink.get("delivery_lag_s") if sink else None
    add(
        "send7sink, ours-1w-sink: s until the sink had every mail",
        lag,
        "caught up within 60 s",
        None if sink is None else lag is not None,
    )

    for size, label in ((MIB, "1 MiB"), (10 * MIB, "10 MiB")):
        row = next((r for r in mem if r["attachment_bytes"] == size), None)
        add(
            f"attachment {label}: (peak-idle RSS) / body",
            row["growth_per_body_byte"] if row else None,
            "<= 4",
            row["ok"] if row else None,
        )

    two = index.get(("send7", KEEPALIVE, "ours-2w"))
    scale = two["vs_ours_1w"] if two else None
    add("send7 keepalive: 2 workers rps vs 1 worker", scale, ">= 1.8", None if scale is None else scale >= 1.8)
    cold_s = cold.get("ours-1w", {}).get("median_s")
    add("cold start to first 2xx, s (median)", cold_s, "<= 1.5", None if cold_s is None else cold_s <= 1.5)
    lin_ours = lin.get("ours-1w")
    growth = lin_ours["marginal_growth_last"] if lin_ours else None
    add(
        "per-mail time, last size step vs previous", growth, "<= 1.5 (linear)", lin_ours["linear"] if lin_ours else None
    )

    if soak_result is not None:
        soak_checks = soak_result["checks"]
        errors = soak_result["non2xx"] + soak_result["socket_errors"]
        add("soak: non-2xx + socket errors", errors, "== 0", soak_checks["no_errors"])
        add(
            "soak: outbox rows - 2xx answers",
            soak_result["outbox_minus_2xx"],
            f"== 0 (<= {soak_result['connections']}: in flight at the stop)",
            soak_checks["outbox_matches_2xx"],
        )
        add(
            "soak: RSS after - after warm-up, MB",
            round(soak_result["rss_after_soak_mb"] - soak_result["rss_after_warmup_mb"], 1),
            "<= 50",
            soak_checks["rss_bounded"],
        )
    return checks


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def print_report(result: dict[str, Any]) -> None:
    runs = result["runs"]
    if runs:
        _print_runs(runs)
    skipped = result["skipped"]
    if skipped:
        print()
        print("Not loaded (the target did not answer 2xx to the validation request):")
        for item in skipped:
            print(f"  {item['target']:<15} {item['scenario']:<11} status {item['status']}  {item.get('excerpt', '')}")
    cold = result["cold_start"]
    if cold:
        print()
        print(
            "Cold start to first 2xx (s):",
            ", ".join(f"{k} best {v['best_s']} median {v['median_s']}" for k, v in cold.items()),
        )
    ready = ", ".join(f"{t['name']} {t['ready_s']}" for t in result["targets"] if t["ready_s"] is not None)
    if ready:
        print("Ready after start in this run (s):", ready)
    if result["linearity"]:
        print()
        print("Time per mail, one SendEMails request (best of 5-10 runs, ms; marginal = extra ms per extra mail):")
    for name, lin in result["linearity"].items():
        cells = "  ".join(
            f"{row['mails']}: {row['best_ms']:.1f} ({row['ms_per_mail']:.3f}/mail)" for row in lin["rows"]
        )
        print(f"  {name:<10} {cells}")
        print(f"  {'':<10} marginal {lin['marginal_ms_per_mail']}  growth {lin['marginal_growth_last']}")
        peaks = "  ".join(f"{row['mails']}: {row['rss_before_mb']}->{row['peak_rss_mb']}" for row in lin["rows"])
        print(f"  {'':<10} RSS MB before->peak  {peaks}")
    if result["memory"]:
        print()
        print("Attachment memory (fresh 1-worker mock each; growth = peak - idle RSS):")
    for row in result["memory"]:
        print(
            f"  attachment {row['attachment_bytes']:>9} B  body {row['body_bytes']:>9} B  status {row['status']}  "
            f"{row['seconds']:>6.2f} s  idle {row['idle_rss_mb']:>6.1f} MB  peak {row['peak_rss_mb']:>6.1f} MB  "
            f"growth {row['growth_mb']:>7.2f} MB = {row['growth_per_body_byte']:>6.2f} x body"
            + ("" if row["judged"] else "  (fixed cost dominates; not judged)")
        )
    if result["soak"] is not None:
        _print_soak(result["soak"])
    print()
    print("Targets (goals: bench/README.md; n/a = this run did not measure it):")
    for c in result["checks"]:
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[c["pass"]]
        print(f"  {verdict:<5} {c['check']:<58} {_fmt(c['value'])!s:>10}  (target {c['target']})")
    env = result["environment"]
    print()
    if runs:
        print(
            f"Idle before runs: min {env['idle_min_seen']}%, median {env['idle_median_seen']}% "
            f"(wanted >= {result['config']['idle_min']}%; {env['noisy_runs']} run(s) started below it). "
            f"Total {result['elapsed_s']:.0f} s."
        )
    else:
        print(f"Total {result['elapsed_s']:.0f} s.")


def _print_runs(runs: list[dict[str, Any]]) -> None:
    print()
    print("Load runs (ratios = rps / peer rps in the same scenario and connection mode; '-' = a side was not 2xx)")
    print("xFloor = rps / own-floor rps (the mock with every handler answering a constant)")
    print("idle% = machine idle before the run; srv% = server CPU in % of one core; oth% = CPU of other processes")
    header = (
        f"{'scenario':<11} {'mode':<9} {'c':>3} {'target':<15} {'rps':>8} {'p50 ms':>9} {'p99 ms':>9} "
        f"{'non2xx':>6} {'err':>4} {'RSS MB':>7} {'xPrismS':>7} {'xPrismD':>7} {'xFloor':>6} {'xCeil':>6} "
        f"{'idle%':>5} {'srv%':>5} {'oth%':>5}"
    )
    print(header)
    print("-" * len(header))
    previous = None
    for r in runs:
        key = (r["scenario"], r["mode"])
        if previous is not None and key != previous:
            print()
        previous = key
        print(
            f"{r['scenario']:<11} {r['mode']:<9} {r['connections']:>3} {r['target']:<15} {r['rps']:>8.1f} "
            f"{r['latency_ms']['50']:>9.1f} {r['latency_ms']['99']:>9.1f} {r['non2xx']:>6} {r['socket_errors']:>4} "
            f"{r['peak_rss_mb']:>7.1f} {_fmt(r['vs_prism_static'], '.2f'):>7} {_fmt(r['vs_prism_dynamic'], '.2f'):>7} "
            f"{_fmt(r['vs_own_floor'], '.3f'):>6} {_fmt(r['vs_ceiling'], '.3f'):>6} {r['idle_pct']:>5.0f} "
            f"{r['server_cpu_pct']:>5.0f} {r['other_cpu_pct']:>5.0f}"
            + ("" if r.get("new_connections_verified", True) else "  (new connections NOT verified)")
            + (f"  (retried: first try had {r['retry_of']['socket_errors']} socket errors)" if "retry_of" in r else "")
        )
    sink_runs = [r for r in runs if "sink_rows" in r]
    if sink_runs:
        print()
        print("Delivery to the embedded SMTP sink (counted after the run; lag = s from the end of wrk, upper bound):")
        for r in sink_runs:
            print(
                f"  {r['scenario']:<11} {r['mode']:<9} {r['target']:<15} outbox rows {r['outbox_rows']}  "
                f"sink rows {r['sink_rows']}  failed {r['failed_rows']}  queued {r['queued_rows']}  "
                f"lag {_fmt(r['delivery_lag_s'])} s"
                + ("" if r["delivery_lag_s"] is not None else "  (the sink did NOT catch up within 60 s)")
            )


def _print_soak(soak_result: dict[str, Any]) -> None:
    s = soak_result
    print()
    print(
        f"Soak (fresh 1-worker mock, {s['body']} body, {s['connections']} connections, at most "
        f"{s['max_requests']} requests / {s['duration_s']} s; after {s['warmup_requests']} warm-up requests):"
    )
    print(
        f"  answered {s['requests']} in {s['secs']:.1f} s = {s['rps']:.1f} rps ({'capped' if s['capped'] else 'timed'})"
        f"; 2xx {s['ok_2xx']}, non-2xx {s['non2xx']}, socket errors {s['socket_errors']}; "
        f"p50 {s['latency_ms']['50']:.1f} ms, p99 {s['latency_ms']['99']:.1f} ms"
    )
    print(
        f"  outbox rows {s['outbox_rows']} ({s['outbox_minus_2xx']:+d} vs 2xx); RSS after warm-up "
        f"{s['rss_after_warmup_mb']} MB, after soak {s['rss_after_soak_mb']} MB, peak {s['peak_rss_mb']} MB; "
        f"idle {s['idle_pct']:.0f}%, srv {s['server_cpu_pct']:.0f}%, oth {s['other_cpu_pct']:.0f}%"
    )


def environment() -> dict[str, Any]:
    def version(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "unknown"

    def git(*args: str) -> str:
        return version(["git", "-C", str(ROOT), *args])

    packages = {}
    for name in ("connexion", "starlette", "uvicorn", "jsonschema-rs", "orjson", "uvloop", "httptools"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            packages[name] = importlib.metadata.version(name)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True)
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "python": sys.version.split()[0],
        "packages": packages,
        "wrk": version(["wrk", "-v"]),
        "node": version(["node", "--version"]),
        "prism": version([str(PRISM), "--version"]),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty_files": len(dirty.stdout.splitlines()),
    }


# -------------------------------------------------------------------------------------------------- main


def preflight() -> None:
    missing = []
    if shutil.which("wrk") is None:
        missing.append("wrk (run bench/setup.sh)")
    if not PRISM.exists():
        missing.append(f"{PRISM} (run bench/setup.sh)")
    if not MOCKSERVER.exists():
        missing.append(f"{MOCKSERVER} (run make bench, which installs the venv)")
    if missing:
        raise SystemExit("bench: missing " + "; ".join(missing))


def start_targets(children: Children, targets: Sequence[Target], probe: Body) -> None:
    # Started together: Prism needs ~10 s to come up, and the others are idle meanwhile.
    starts = {}
    for target in targets:
        starts[target.name] = time.perf_counter()
        target.proc = children.spawn(target.argv, log_file=target.log_file, cwd=str(ROOT))
    for target in targets:
        wait_ready(target, probe, starts[target.name])
        log(f"{target.name} ready after {target.ready_s} s (port {target.port})")
    # A multi-worker uvicorn answers as soon as one worker is up; give the rest time before measuring.
    time.sleep(2)


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mockserver-bench-"))
    (path / "logs").mkdir()
    try:
        yield path
    finally:
        if keep:
            log(f"kept work dir {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def postgres_database(cfg: Config) -> Iterator[str | None]:
    """A private PostgreSQL cluster for the `ours-1w-pg` target, started the way the test suite starts it (Debian's
    binaries, a throwaway directory, a free loopback port); None when that target is not wanted."""
    if "ours-1w-pg" not in cfg.targets or not any(s.name == "send7" for s in cfg.scenarios):
        yield None
        return
    sys.path.insert(0, str(ROOT))
    from tests.servers import postgres

    with postgres() as server:
        yield server.create_database("bench")


def run(cfg: Config, children: Children, workdir: Path, pg_url: str | None = None) -> dict[str, Any]:
    began = time.monotonic()
    flags = mock_flags()
    loads = load_bodies(workdir / "bodies")
    probe = loads["send1"]
    gate = IdleGate(cfg)
    env = environment()
    kind = "soak-only" if cfg.soak_only else "quick" if cfg.quick else "full"
    log(f"{kind} run; {os.cpu_count()} CPUs; load average {env['loadavg']}")

    cold: dict[str, Any] = {}
    mem: list[dict[str, Any]] = []
    lin: dict[str, Any] = {}
    targets: list[Target] = []
    runs: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    idle_before: dict[str, Any] = {}
    if not cfg.soak_only:
        log("cold start …")
        idle_before["cold_start"] = gate.wait()
        cold = cold_start(children, cfg, workdir, flags, probe)

        log("memory per attachment size …")
        idle_before["memory"] = gate.wait()
        mem = memory(children, cfg, workdir, flags, probe)

        targets = build_targets(cfg, workdir, flags, pg_url)
        log("starting " + ", ".join(t.name for t in targets) + " …")
        start_targets(children, targets, probe)
        for target in targets:
            validate(target, loads, cfg.scenarios)
        runs, skipped = load_runs(children, cfg, gate, targets, loads)

    soak_result: dict[str, Any] | None = None
    if cfg.soak:
        log(f"soak: up to {cfg.soak_requests} requests / {cfg.soak_seconds} s …")
        soak_result = soak(children, cfg, gate, workdir, flags, loads)
        log(
            f"soak: {soak_result['requests']} answered, {soak_result['rps']} rps, non2xx {soak_result['non2xx']}, "
            f"err {soak_result['socket_errors']}, outbox {soak_result['outbox_rows']}, RSS "
            f"{soak_result['rss_after_warmup_mb']} -> {soak_result['rss_after_soak_mb']} MB"
        )

    if not cfg.soak_only:
        # After the load runs: a 1000-mail request leaves the worker hundreds of MB larger, which would
        # otherwise show up in every RSS figure of ours-1w.
        log("time per mail …")
        idle_before["linearity"] = gate.wait()
        lin = linearity(cfg, [t for t in targets if t.name in ("ours-1w", "ceiling")], workdir / "bodies")

    add_ratios(runs)
    checks = check_targets(runs, cold, lin, mem, soak_result)
    idles = [r["idle_pct"] for r in runs] or [0.0]
    env["idle_min_seen"] = min(idles)
    env["idle_median_seen"] = statistics.median(idles)
    env["noisy_runs"] = sum(1 for r in runs if not r["quiet"])
    env["idle_before_probes"] = idle_before
    env["mock_flags_used"] = sorted(f for f in ("--no-gws-csrf", "--max-body-bytes", "--sink-host") if f in flags)
    return {
        "schema": "mockserver-bench/1",
        "quick": cfg.quick,
        "config": {
            "duration_s": cfg.duration,
            "newconn_duration_s": cfg.newconn_duration,
            "warmup_s": cfg.warmup,
            "idle_min": cfg.idle_min,
            "wrk_threads": 1,
            "scenarios": [] if cfg.soak_only else [dataclasses.asdict(s) for s in cfg.scenarios],
            "soak": (
                {
                    "only": cfg.soak_only,
                    "seconds": cfg.soak_seconds,
                    "requests": cfg.soak_requests,
                    "warmup_requests": cfg.soak_warmup_requests,
                }
                if cfg.soak
                else None
            ),
        },
        "environment": env,
        "bodies": {name: {"path": b.path, "bytes": b.size, "description": b.description} for name, b in loads.items()},
        "targets": [
            {
                "name": t.name,
                "description": t.description,
                "argv": t.argv,
                "only_scenarios": t.only_scenarios,
                "ready_s": t.ready_s,
                "validation": t.validation,
                "notes": t.notes,
            }
            for t in targets
        ],
        "runs": runs,
        "skipped": skipped,
        "cold_start": cold,
        "linearity": lin,
        "memory": mem,
        "soak": soak_result,
        "checks": checks,
        "elapsed_s": round(time.monotonic() - began, 1),
    }


def load_runs(
    children: Children, cfg: Config, gate: IdleGate, targets: Sequence[Target], loads: dict[str, Body]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Scenario by scenario, each target that loads in it in turn: the measured runs, and what was not loaded."""
    for target in targets:
        reset_outbox(target)
    runs: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for scenario in cfg.scenarios:
        body = loads[scenario.body_name]
        warmed: set[str] = set()
        for mode in scenario.modes:
            for target in targets:
                if not target.loads_in(scenario):
                    continue
                check = target.validation.get(scenario.name, {})
                if not check.get("ok"):
                    if mode == scenario.modes[0]:
                        skipped.append(
                            {
                                "target": target.name,
                                "scenario": scenario.name,
                                "status": check.get("status"),
                                "excerpt": check.get("response_excerpt", check.get("error", ""))[:160],
                            }
                        )
                    continue
                if target.proc is not None and target.proc.poll() is not None:
                    raise RuntimeError(f"{target.name} died:\n{_tail(target.log_file)}")
                result = measure(children, cfg, gate, target, scenario, body, mode, warm=target.name not in warmed)
                warmed.add(target.name)
                if not clean(result):
                    # Seen once with Prism: half a million write errors in one run, none when repeated. One
                    # retry tells a hiccup from a real failure; both attempts stay in the JSON.
                    log(f"{scenario.name} {mode} {target.name}: {result['socket_errors']} socket errors; retrying")
                    first = result
                    result = measure(children, cfg, gate, target, scenario, body, mode, warm=True)
                    result["retry_of"] = first
                runs.append(result)
                log(
                    f"{scenario.name:<10} {mode:<9} {target.name:<15} rps {result['rps']:>8.1f}  "
                    f"p50 {result['latency_ms']['50']:>8.1f}  p99 {result['latency_ms']['99']:>8.1f} ms  "
                    f"non2xx {result['non2xx']}  err {result['socket_errors']}  idle {result['idle_pct']:.0f}%  "
                    f"drain {result['drain_after_s']} s"
                    + (
                        f"  outbox {result['outbox_rows']} sink {result['sink_rows']} failed {result['failed_rows']}"
                        f" lag {result['delivery_lag_s']} s"
                        if "sink_rows" in result
                        else ""
                    )
                )
        for target in targets:
            reset_outbox(target)
    return runs, skipped


def main() -> int:
    cfg = Config.from_env()
    preflight()
    children = Children()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_on_signal)
    # A shell without job control starts background jobs with SIGINT ignored; Ctrl-C must still stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with workspace(cfg.keep) as workdir, postgres_database(cfg) as pg_url:
            try:
                result = run(cfg, children, workdir, pg_url)
            finally:
                children.stop_all()
                # Server output of the last run, for when a target misbehaved; small at these log levels.
                shutil.rmtree(RESULTS_DIR / "logs", ignore_errors=True)
                RESULTS_DIR.mkdir(exist_ok=True)
                shutil.copytree(workdir / "logs", RESULTS_DIR / "logs")
    except KeyboardInterrupt:
        log("interrupted; every server stopped")
        return 130
    except Stopped as stop:
        log(f"stopped by signal {stop.signum}; every server stopped")
        return 128 + stop.signum
    RESULTS_DIR.mkdir(exist_ok=True)
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    (RESULTS_DIR / "latest.json").write_text(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    suffix = "-soak" if cfg.soak_only else "-quick" if cfg.quick else ""
    (RESULTS_DIR / f"run-{stamp}{suffix}.json").write_text(text)
    print_report(result)
    log(f"wrote {RESULTS_DIR / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
