"""Real sockets: `python -m mockserver serve` as a user runs it, with one and with two workers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import AUTH, SEND
from tests.genesys.test_cometd_clients import python_session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(base: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            if httpx.get(base + "/openapi.json", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError(f"server not up within {timeout} s")


@contextmanager
def serving(workers: int, env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m mockserver serve --workers N` with MOCKSERVER_* from `env`, up until the block ends; its output
    is shown if it does not come up."""
    log = cwd / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "serve", "--workers", str(workers)],
            env={**os.environ, **env},
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            wait_until_up(f"http://127.0.0.1:{env['MOCKSERVER_PORT']}", process)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from None
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        "MOCKSERVER_PORT": str(port),
        "MOCKSERVER_SEED": "77",
        "MOCKSERVER_LOG_LEVEL": "warning",
        # The default delivery (the embedded sink) and the default outbox file, in this test's own places.
        "MOCKSERVER_SINK_PORT": str(free_port()),
    }
    with serving(request.param, env, tmp_path):
        yield f"http://127.0.0.1:{port}"


def test_serves_the_contract_and_sends_mail_on_loopback(server: str) -> None:
    body = {"Emails": [{"To": [{"Address": "kari.nilsen@fjordtech.no"}], "Subject": "Hei"}]}
    with httpx.Client(base_url=server, timeout=10) as client:
        responses = [client.post(SEND, json=body, headers=AUTH) for _ in range(6)]
    assert all(r.status_code == 200 for r in responses)
    # With a seed, every worker gives the same bytes for the same request.
    assert len({r.content for r in responses}) == 1
    assert responses[0].json()[0]["To"][0]["PersonName"] == "Kari Nilsen"


def test_parallel_sends_are_each_journaled_once_across_workers(server: str) -> None:
    """Every 2xx is exactly one outbox row and one message at the sink, whichever worker served it."""
    total, in_flight = 120, 16

    async def fire() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=in_flight)
        async with httpx.AsyncClient(base_url=server, timeout=30, limits=limits) as client:
            gate = asyncio.Semaphore(in_flight)

            async def one(n: int) -> httpx.Response:
                async with gate:
                    body = {"Emails": [{"To": [{"Address": f"user{n}@fjordtech.no"}], "Subject": f"parallel {n}"}]}
                    return await client.post(SEND, json=body, headers={**AUTH, "X-Mock-Namespace": "parallel"})

            return await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(total))), timeout=120)

    responses = asyncio.run(fire())
    accepted = [r for r in responses if r.status_code == 200]
    assert len(accepted) == total
    namespace = {"X-Mock-Namespace": "parallel"}
    with httpx.Client(base_url=server, timeout=10) as client:
        # Every row exists when its answer is sent; delivery to the sink may still be finishing.
        assert client.get("/_mock/outbox", params={"limit": 1}, headers=namespace).json()["count"] == total
        deadline = time.monotonic() + 30
        while client.get("/_mock/outbox", params={"status": "queued", "limit": 1}, headers=namespace).json()["count"]:
            assert time.monotonic() < deadline, "deliveries to the sink did not finish within 30 s"
            time.sleep(0.1)
        listed = client.get("/_mock/outbox", params={"limit": 1000}, headers=namespace).json()
        sink = client.get("/_mock/sink", params={"limit": 1000}).json()["items"]
    assert listed["count"] == len(accepted)
    ids = [item["message_id"] for item in listed["items"]]
    assert len(set(ids)) == len(ids)
    assert {r.json()[0]["MessageID"] for r in accepted} == set(ids)
    assert all(item["status"] == "sent" for item in listed["items"])
    assert sorted(m["message_id"] for m in sink if m["message_id"] in set(ids)) == sorted(ids)


def test_cometd_notifications_reach_the_client_whichever_worker_serves_it(server: str) -> None:
    """Handshake, connects and the Send may each land on a different worker; the client hears about its Send."""
    for prefer, kind in ((None, "StatusChange"), ("notification=error", "Error")):
        sent, message = asyncio.run(asyncio.wait_for(python_session(server, prefer), timeout=60))
        assert message["data"]["notificationType"] == kind
        assert message["data"]["referenceId"] == sent["referenceId"]
