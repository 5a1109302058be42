"""The embedded SMTP sink: a real SMTP server (aiosmtpd) that keeps whatever it is sent.

`mockserver serve` starts it with the mock (127.0.0.1:1025 by default), so a newcomer sees mail arrive with
no other software. It accepts any AUTH credentials and SMTPUTF8, and records each message in the outbox
database's `sink` table.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, ClassVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session

from mockserver.mime import parse_rfc822_bytes, safe_header
from mockserver.outbox import Outbox

logger = logging.getLogger("mockserver.sink")


class _Recorder:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
        message_id = safe_header(parse_rfc822_bytes(data), "Message-ID")
        self.outbox.record_received(envelope.mail_from, list(envelope.rcpt_tos), message_id, data)
        return "250 Message accepted for delivery"


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
            controller = Controller(
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
