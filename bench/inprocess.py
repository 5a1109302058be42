"""In-process cost of one request, with no sockets: the mock's ASGI app driven by httpx, optionally under cProfile.

The same bodies as the load runs (bench/bodies.py). `--floor` builds the mock's own app with every operation
resolved to a constant answer (bench/own_floor.py), so `ours / floor` here is the in-process twin of the load
runs' `ours / own floor`.

Usage:
  python bench/inprocess.py [--scenario send7nb] [--requests 300] [--warmup 30] [--floor] [--top 25]
                          [--sort tottime|cumulative] [--delivery none]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bodies import load_bodies
from own_floor import constant_handlers

HEADERS = {"Authorization": "Basic dGplMDpUamUw", "Content-Type": "application/json", "Accept": "application/json"}


def asgi_scope(path: str, body: bytes) -> dict[str, Any]:
    headers = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
    headers += [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


class _Exchange:
    """One request's ASGI channel: the body once, then the answer collected."""

    def __init__(self, body: bytes) -> None:
        self.body: bytes | None = body
        self.status = 0
        self.chunks: list[bytes] = []

    async def receive(self) -> dict[str, Any]:
        if self.body is None:
            return {"type": "http.disconnect"}
        body, self.body = self.body, None
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))


async def drive(app: Any, path: str, body: bytes, count: int) -> float:
    """`count` requests straight into the ASGI app, one after the other (no client library in the profile)."""
    start = time.perf_counter()
    for _ in range(count):
        exchange = _Exchange(body)
        await app(asgi_scope(path, body), exchange.receive, exchange.send)
        if exchange.status >= 300:
            raise SystemExit(f"{exchange.status}: {b''.join(exchange.chunks)[:300]!r}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", default="send7nb")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--floor", action="store_true", help="constant handlers (the mock's own framework floor)")
    parser.add_argument("--profile", action="store_true", help="run the measured requests under cProfile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime")
    args = parser.parse_args()

    from mockserver import create_app
    from mockserver.settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix="mockserver-profile-"))
    bodies = load_bodies(workdir / "bodies")
    chosen = bodies[args.scenario]
    settings = Settings(delivery="none", store=str(workdir / "outbox.sqlite3"), gws_csrf=False, seed=42)
    app = create_app(settings)
    data = chosen.file.read_bytes()
    # Connexion resolves handlers when the app first handles a request, so the patch must outlive create_app.
    floor = constant_handlers() if args.floor else contextlib.nullcontext()
    floor.__enter__()
    asyncio.run(drive(app, chosen.path, data, args.warmup))
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    elapsed = asyncio.run(drive(app, chosen.path, data, args.requests))
    if profiler is not None:
        profiler.disable()
    label = "own floor" if args.floor else "the mock"
    print(f"{label}, {chosen.description}: {1000 * elapsed / args.requests:.3f} ms per request ({args.requests})")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
