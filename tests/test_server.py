"""Real sockets: `python -m mockserver serve` as a user runs it, with one and with two workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import AUTH, SEND


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


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "MOCKSERVER_PORT": str(port), "MOCKSERVER_SEED": "77", "MOCKSERVER_LOG_LEVEL": "warning"}
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "serve", "--workers", str(request.param)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_up(base, process)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from None
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_serves_the_contract_and_sends_mail_on_loopback(server: str) -> None:
    body = {"Emails": [{"To": [{"Address": "kari.nilsen@fjordtech.no"}], "Subject": "Hei"}]}
    with httpx.Client(base_url=server, timeout=10) as client:
        responses = [client.post(SEND, json=body, headers=AUTH) for _ in range(6)]
    assert all(r.status_code == 200 for r in responses)
    # With a seed, every worker gives the same bytes for the same request.
    assert len({r.content for r in responses}) == 1
    assert responses[0].json()[0]["To"][0]["PersonName"] == "Kari Nilsen"
