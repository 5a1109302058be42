"""`serve --workers N`: one SO_REUSEPORT socket per worker, so the kernel spreads connections over the workers.

Read from /proc as the kernel sees it: which process holds which listening socket, and which worker holds each
established connection.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mockserver import workers
from tests.conftest import AUTH, SEND
from tests.test_server import free_port, serving

pytestmark = pytest.mark.skipif(not workers.balances(), reason="SO_REUSEPORT balancing is Linux's")

LISTEN, ESTABLISHED = "0A", "01"
ONE_MAIL = {"Emails": [{"To": [{"Address": "kari.nilsen@fjordtech.no"}], "Subject": "Hei"}]}


def tcp_sockets(port: int, state: str, local: bool = True) -> set[int]:
    """Inodes of IPv4 TCP sockets in `state` whose local (or, local=False, remote) port is `port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address = fields[1] if local else fields[2]
        if fields[3] == state and int(address.rsplit(":", 1)[1], 16) == port:
            inodes.add(int(fields[9]))
    return inodes


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed while listed
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def workers_of(supervisor: int, count: int, port: int | None = None, timeout: float = 30.0) -> list[int]:
    """The worker processes (multiprocessing's own helper is left out), once there are `count` of them and, given
    the `port`, each has started listening on its socket.

    A worker holds its socket from the moment it is spawned but listens on it only once its app is built; the
    server answers as soon as the first worker does, so on a busy machine the second can still be starting.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [pid for pid in children(supervisor) if _is_worker(pid)]
        if len(found) == count and (port is None or all(_listens(pid, port) for pid in found)):
            return found
        time.sleep(0.1)
    raise AssertionError(f"not {count} listening workers within {timeout} s: {children(supervisor)}")


def _listens(pid: int, port: int) -> bool:
    try:
        return bool(tcp_sockets(port, LISTEN) & socket_inodes(pid))
    except OSError:
        return False  # already gone


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False  # already gone


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {"MOCKSERVER_PORT": str(port), "MOCKSERVER_LOG_LEVEL": "warning", "MOCKSERVER_DELIVERY": "none"}
    with serving(2, env, tmp_path) as process:
        yield port, process


def connections_per_worker(port: int, pids: list[int], count: int) -> list[int]:
    """Open `count` keep-alive connections, answer a request on each, and count whose each one is."""
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) for _ in range(count)]
    try:
        for client in clients:
            # A cheap request, so that the first connection is not idle past uvicorn's 5 s keep-alive meanwhile.
            assert client.post(SEND, json=ONE_MAIL, headers=AUTH).status_code == 200
        established = tcp_sockets(port, ESTABLISHED)
        assert len(established) == count
        return [len(established & socket_inodes(pid)) for pid in pids]
    finally:
        for client in clients:
            client.close()


def test_each_worker_accepts_from_a_socket_of_its_own(two_workers: tuple[int, subprocess.Popen[bytes]]) -> None:
    port, supervisor = two_workers
    pids = workers_of(supervisor.pid, 2, port)
    listening = tcp_sockets(port, LISTEN)
    assert len(listening) == 2
    held = [listening & socket_inodes(pid) for pid in pids]
    assert all(len(mine) == 1 for mine in held) and held[0] != held[1]
    # The supervisor keeps them all, so that a worker's socket outlives the worker.
    assert listening <= socket_inodes(supervisor.pid)


def test_keep_alive_connections_are_spread_over_the_workers(two_workers: tuple[int, subprocess.Popen[bytes]]) -> None:
    """32 load-test connections opened together: with one shared socket one worker could take them all."""
    port, supervisor = two_workers
    spread = connections_per_worker(port, workers_of(supervisor.pid, 2, port), 32)
    assert sum(spread) == 32
    # A fair hash gives fewer than 4 of 32 to one side with probability about 1e-6.
    assert min(spread) >= 4, spread


def test_a_killed_worker_is_replaced_on_the_socket_it_had(two_workers: tuple[int, subprocess.Popen[bytes]]) -> None:
    port, supervisor = two_workers
    pids = workers_of(supervisor.pid, 2, port)
    listening = tcp_sockets(port, LISTEN)
    victim_socket = listening & socket_inodes(pids[0])
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        replacement = [pid for pid in workers_of(supervisor.pid, 2) if pid not in pids]
        if replacement and listening & socket_inodes(replacement[0]):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no replacement worker within 30 s")
    assert listening & socket_inodes(replacement[0]) == victim_socket
    assert tcp_sockets(port, LISTEN) == listening
    spread = connections_per_worker(port, [pids[1], replacement[0]], 16)
    assert sum(spread) == 16 and min(spread) >= 1, spread


def test_ttin_adds_a_worker_with_a_socket_and_ttou_takes_both_away(
    two_workers: tuple[int, subprocess.Popen[bytes]],
) -> None:
    """uvicorn's SIGTTIN / SIGTTOU: the added worker gets a socket of its own, and a removed worker's socket is
    closed, so that the kernel stops handing it connections nobody accepts."""
    port, supervisor = two_workers
    first = set(workers_of(supervisor.pid, 2, port))
    os.kill(supervisor.pid, signal.SIGTTIN)
    [added] = set(workers_of(supervisor.pid, 3)) - first
    deadline = time.monotonic() + 30
    while len(tcp_sockets(port, LISTEN) & socket_inodes(added)) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(tcp_sockets(port, LISTEN)) == 3
    assert len(tcp_sockets(port, LISTEN) & socket_inodes(added)) == 1
    os.kill(supervisor.pid, signal.SIGTTOU)
    assert set(workers_of(supervisor.pid, 2)) == first
    while len(tcp_sockets(port, LISTEN)) != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(tcp_sockets(port, LISTEN)) == 2
    assert sum(connections_per_worker(port, sorted(first), 8)) == 8


def test_sockets_share_one_port_chosen_by_the_kernel() -> None:
    sockets = workers.bind_sockets("127.0.0.1", 0, 3)
    try:
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1 and ports != {0}
    finally:
        for sock in sockets:
            sock.close()


def test_a_port_another_server_listens_on_is_refused() -> None:
    """Without the probe a second mock would join the first one's SO_REUSEPORT group and steal its connections."""
    sockets = workers.bind_sockets("127.0.0.1", 0, 2)
    try:
        for sock in sockets:
            sock.listen()
        with pytest.raises(OSError, match="in use"):
            workers.bind_sockets("127.0.0.1", sockets[0].getsockname()[1], 2)
    finally:
        for sock in sockets:
            sock.close()


def _uvicorns_socket_named_as_tcp() -> socket.socket:
    plain = socket.socket()  # protocol 0, as uvicorn's Config.bind_socket makes it
    plain.bind(("127.0.0.1", 0))
    return workers._as_tcp(plain)


@pytest.mark.parametrize(
    "make", [lambda: workers.bind_sockets("127.0.0.1", 0, 1)[0], _uvicorns_socket_named_as_tcp], ids=["own", "uvicorn"]
)
def test_connections_on_the_worker_sockets_send_without_delay(make: Callable[[], socket.socket]) -> None:
    """asyncio (as uvicorn serves a socket) sets TCP_NODELAY only on connections of a socket named as TCP; without
    it, a keep-alive answer written in two pieces waited for the client's delayed ACK, 44 ms a request."""
    sock = make()

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(connected, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname())
            try:
                return await asyncio.wait_for(seen, 10)
            finally:
                writer.close()

    assert asyncio.run(accepted_nodelay()) != 0
