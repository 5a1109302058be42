"""The embedded SMTP sink: a real SMTP server (aiosmtpd) that keeps whatever it is sent.

`mockserver serve` starts it with the mock (127.0.0.1:1025 by default), so a newcomer sees mail arrive with
no other software. It accepts any AUTH credentials and SMTPUTF8, and records each message in the outbox
database's `sink` table.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import signal
import socket
import threading
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, ClassVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from mockserver.mail.mime import safe_header
from mockserver.mail.outbox import Outbox

logger = logging.getLogger("mockserver.sink")


class _Recorder:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """aiosmtpd reads a session's commands one line at a time, so it takes them pipelined (RFC 2920); it just
        does not say so. Said here, the mock's own deliveries send a mail's commands in one write."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
        self.outbox.record_received(envelope.mail_from, list(envelope.rcpt_tos), message_id(data), data)
        return "250 Message accepted for delivery"


def message_id(data: bytes) -> str | None:
    """The Message-ID of a received message, read from its header block alone (compat32: a msg-id is ASCII,
    and no header needs decoding to find it)."""
    head = data.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in data else data.split(b"\n\n", 1)[0]
    return safe_header(BytesHeaderParser(policy=compat32).parsebytes(head), "Message-ID")


class _Limits:
    """What aiosmtpd's address parser reads of its server."""

    def __init__(self, local_part_limit: int) -> None:
        self.local_part_limit = local_part_limit


@functools.lru_cache(maxsize=4096)
def _address(arg: str, local_part_limit: int) -> tuple[str | None, str | None]:
    parsed: tuple[str | None, str | None] = SMTP._getaddr(_Limits(local_part_limit), arg)  # type: ignore[arg-type]
    return parsed


class _SinkSMTP(SMTP):
    """aiosmtpd's server, remembering the addresses it has parsed: its `_getaddr` defines a typing.Protocol
    class on every MAIL and RCPT (and runs the email package's address parser), a sixth of the sink's time."""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        return _address(arg, self.local_part_limit)


class _SinkController(Controller):
    def factory(self) -> SMTP:
        return _SinkSMTP(self.handler, **self.SMTP_kwargs)


def _accept_any(server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=True)


def is_listening(host: str, port: int) -> bool:
    """Whether something accepts connections there (a bind probe would be fooled by TIME_WAIT leftovers)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Sink:
    """The embedded sink; a process starts it once, however many apps use it."""

    _lock = threading.Lock()
    _running: ClassVar[dict[tuple[str, int], tuple[Controller, int]]] = {}

    def __init__(self, host: str, port: int, outbox: Outbox) -> None:
        self.host = host
        self.port = port
        self.outbox = outbox

    def start(self) -> bool:
        """Start serving unless this process (or another) already listens there; True when serving here."""
        key = (self.host, self.port)
        with self._lock:
            if key in self._running:
                controller, users = self._running[key]
                self._running[key] = (controller, users + 1)
                return True
            if is_listening(self.host, self.port):
                logger.info("SMTP sink: %s:%s is already served; delivering there", self.host, self.port)
                return False
            controller = _SinkController(
                _Recorder(self.outbox),
                hostname=self.host,
                port=self.port,
                authenticator=_accept_any,
                auth_require_tls=False,
                enable_SMTPUTF8=True,
                data_size_limit=256 * 1024 * 1024,
            )
            controller.start()
            self._running[key] = (controller, 1)
            logger.info("SMTP sink listening on %s:%s", self.host, self.port)
            return True

    def stop(self) -> None:
        key = (self.host, self.port)
        with self._lock:
            if key not in self._running:
                return
            controller, users = self._running[key]
            if users > 1:
                self._running[key] = (controller, users - 1)
                return
            del self._running[key]
        controller.stop()


def _serve_in_this_process(host: str, port: int, outbox_path: str, ready: Any, stop: Any) -> None:
    """A sink process's body: serve until told to stop, or until the server that started it is gone (killed:
    nothing told this process), whichever comes first. Its parent's Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    sink = Sink(host, port, Outbox(outbox_path))
    started = sink.start()
    ready.set()
    if started:
        while not stop.wait(0.5) and os.getppid() == parent:
            pass
        sink.stop()


class SinkProcess:
    """The embedded sink in a process of its own, as `mockserver serve` runs it.

    In the server's own process its event loop thread and the worker's took turns at the GIL on every SMTP
    round trip (a turn can take the interpreter's 5 ms switch interval): a few hundred mails a second at
    most, with the worker's CPU idle. A process of its own answers in parallel with the worker.
    """

    START_SECONDS = 20.0

    def __init__(self, host: str, port: int, outbox_path: str) -> None:
        self.host = host
        self.port = port
        self.outbox_path = outbox_path
        context = multiprocessing.get_context("spawn")  # no copy of the parent's threads or open database
        self._ready = context.Event()
        self._stop = context.Event()
        self._process = context.Process(
            target=_serve_in_this_process,
            args=(host, port, outbox_path, self._ready, self._stop),
            name="mockserver-sink",
            daemon=True,
        )

    def start(self) -> bool:
        """Start serving unless something already listens there; True when this process's sink serves."""
        if is_listening(self.host, self.port):
            logger.info("SMTP sink: %s:%s is already served; delivering there", self.host, self.port)
            return False
        self._process.start()
        self._ready.wait(self.START_SECONDS)
        return self._process.is_alive() and is_listening(self.host, self.port)

    def stop(self) -> None:
        if not self._process.is_alive():
            return
        self._stop.set()
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
