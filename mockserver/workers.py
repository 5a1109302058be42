"""More than one uvicorn worker, with the connections spread evenly between them.

uvicorn's supervisor binds one socket and every worker accepts from it. asyncio accepts every connection that is
pending when its loop wakes, so when a load test's 32 keep-alive clients connect together, the first worker awake
often takes all of them and the others idle for as long as those connections live: with `--workers 2`, one start
split 32 connections 15/17, the next 32/0 (and served no more than one worker does). Here every worker gets a
listening socket of its own, all bound to the same address with SO_REUSEPORT, and the kernel hands each new
connection to one of them by a hash of its addresses.

The supervision stays uvicorn's (health checks, replacing a dead worker, SIGHUP restarts, SIGTTIN/SIGTTOU): worker
slot i is always served from socket i, so a replacement takes over the queue of the worker it replaces and no socket
is ever left without its worker. Where SO_REUSEPORT cannot balance (not Linux), the workers share uvicorn's one
socket as before.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections.abc import Iterator

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

logger = logging.getLogger("uvicorn.error")


def balances() -> bool:
    """Whether SO_REUSEPORT spreads connections between sockets here (Linux does; BSDs and macOS pick one)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bound(host: str, port: int) -> socket.socket:
    # Named as TCP (uvicorn's own sockets say protocol 0): asyncio sets TCP_NODELAY on the connections a socket
    # accepts only when it says so. Without it every keep-alive answer written in two pieces waited for the
    # client's delayed ACK, and each request on a kept-alive connection took 44 ms.
    sock = socket.socket(family=_family(host), type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _as_tcp(sock: socket.socket) -> socket.socket:
    """uvicorn's socket, named as TCP when it is one (see `_bound`)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.set_inheritable(True)
    return tcp


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets bound to one address, all in one SO_REUSEPORT group (port 0: the port the first one got).

    The address is first bound once without SO_REUSEPORT: a second mock started on a port this one holds would
    otherwise join its group silently and take half of its connections, instead of failing with "address in use".
    """
    with socket.socket(family=_family(host)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(_bound(host, port))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class BalancedMultiprocess(Multiprocess):
    """uvicorn's supervisor, each worker with its own socket of the group (`slots[i]` belongs to `processes[i]`)."""

    def __init__(self, config: Config, slots: list[socket.socket]) -> None:
        super().__init__(config, sockets=[])
        self.slots = slots

    @contextlib.contextmanager
    def _only(self, index: int) -> Iterator[None]:
        """uvicorn's own loops over the workers, run for one worker with its socket (the one a replacement gets)."""
        everyone = self.processes
        self.processes, self.sockets = everyone[index : index + 1], [self.slots[index]]
        try:
            yield
        finally:
            everyone[index : index + 1] = self.processes
            self.processes, self.sockets = everyone, []

    def init_processes(self) -> None:
        for slot in self.slots:
            process = Process(self.config, [slot])
            process.start()
            self.processes.append(process)

    def keep_subprocess_alive(self) -> None:
        for index in range(len(self.processes)):
            if self.should_exit.is_set():
                return
            with self._only(index):
                super().keep_subprocess_alive()

    def restart_all(self) -> None:
        for index in range(len(self.processes)):
            before = self.processes[index]
            with self._only(index):
                super().restart_all()
            if self.should_exit.is_set() or self.processes[index] is before:
                return  # uvicorn aborts the whole restart when one replacement does not come up

    def handle_ttin(self) -> None:
        try:
            self.slots.append(_bound(self.config.host, self.slots[0].getsockname()[1]))
        except OSError as exc:
            logger.error("Received SIGTTIN, but no socket for another process: %s", exc)
            return
        with self._only(len(self.processes)):
            super().handle_ttin()

    def handle_ttou(self) -> None:
        count = len(self.processes)
        super().handle_ttou()
        if len(self.processes) < count:
            # Closed, so that the kernel stops handing this socket connections nobody accepts.
            self.slots.pop().close()


def run(config: Config) -> None:
    """Serve `config.workers` workers until a signal ends them, each on its own socket where that balances."""
    if not balances() or config.uds or config.fd is not None:
        with contextlib.suppress(KeyboardInterrupt):
            Multiprocess(config, sockets=[_as_tcp(config.bind_socket())]).run()
        return
    try:
        slots = bind_sockets(config.host, config.port, config.workers)
    except OSError as exc:
        logger.error(exc)
        sys.exit(STARTUP_FAILURE)
    shown = f"[{config.host}]" if ":" in config.host else config.host
    scheme = "https" if config.is_ssl else "http"
    port = slots[0].getsockname()[1]
    logger.info("Uvicorn running on %s://%s:%d, one socket per worker (Press CTRL+C to quit)", scheme, shown, port)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            BalancedMultiprocess(config, slots).run()
    finally:
        for sock in slots:
            sock.close()
