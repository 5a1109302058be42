"""Real servers the delivery tests talk to: aiosmtpd SMTP servers and a private Debian Dovecot."""

from __future__ import annotations

import asyncio
import imaplib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session

DOVECOT = "/usr/sbin/dovecot"
IMAP_PASSWORD = "secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    auth: tuple[str, str] | None = None
    mail_options: list[str] = field(default_factory=list)


@dataclass
class SmtpBehaviour:
    """How the test SMTP server answers: normally, or with one of the faults delivery must survive."""

    reject_rcpt: set[str] = field(default_factory=set)
    reject_data: str | None = None  # e.g. "554 5.7.1 Message rejected"
    data_delay: float = 0.0
    require_auth: bool = False
    pipelining: bool = False  # say PIPELINING in the EHLO reply, as the embedded sink does


class _Handler:
    def __init__(self, behaviour: SmtpBehaviour, received: list[Received]) -> None:
        self.behaviour = behaviour
        self.received = received
        self.connections = 0

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        if self.behaviour.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.behaviour.reject_rcpt:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.behaviour.data_delay:
            await asyncio.sleep(self.behaviour.data_delay)
        if self.behaviour.reject_data:
            return self.behaviour.reject_data
        auth = getattr(session, "auth_data", None)
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                data=envelope.original_content or b"",
                auth=(auth.login.decode(), auth.password.decode()) if auth is not None else None,
                mail_options=list(envelope.mail_options),
            )
        )
        return "250 Message accepted"


def _authenticate(server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=True, auth_data=auth_data)


@contextmanager
def smtp_server(behaviour: SmtpBehaviour | None = None) -> Iterator[tuple[int, list[Received], _Handler]]:
    """A real aiosmtpd server on a free loopback port, recording what it receives."""
    received: list[Received] = []
    handler = _Handler(behaviour or SmtpBehaviour(), received)
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
        auth_required=bool(behaviour and behaviour.require_auth),
        enable_SMTPUTF8=True,
    )
    controller.start()
    try:
        yield port, received, handler
    finally:
        controller.stop()


@contextmanager
def dropping_smtp_server() -> Iterator[int]:
    """An SMTP server that hangs up in the middle of DATA, as a crashing or overloaded server does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"220 dropper ESMTP\r\n")
                stream = conn.makefile("rb")
                for line in stream:
                    command = line.strip().upper()
                    if command.startswith((b"EHLO", b"HELO")):
                        conn.sendall(b"250 dropper\r\n")
                    elif command.startswith((b"MAIL", b"RCPT")):
                        conn.sendall(b"250 OK\r\n")
                    elif command == b"DATA":
                        conn.sendall(b"354 go ahead\r\n")
                        stream.readline()  # the first line of the message, then the server is gone
                        conn.shutdown(socket.SHUT_RDWR)
                        break
                    else:
                        conn.sendall(b"250 OK\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


@contextmanager
def silent_server() -> Iterator[int]:
    """Accepts connections and never says a word: a server that is up but hung."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@dataclass
class Dovecot:
    port: int
    directory: Path

    def connect(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port)
        client.login(user, IMAP_PASSWORD)
        return client

    def url(self, user: str) -> str:
        return f"imap://{user}:{IMAP_PASSWORD}@127.0.0.1:{self.port}"

    def messages(self, user: str, folder: str) -> dict[int, bytes]:
        """UID → raw message of every message in a folder."""
        client = self.connect(user)
        try:
            status, _ = client.select(f'"{folder}"', readonly=True)
            if status != "OK":
                return {}
            _, data = client.uid("SEARCH", "ALL")  # type: ignore[arg-type]
            found = {}
            for uid in (data[0] or b"").split():
                _, parts = client.uid("FETCH", uid.decode(), "(RFC822)")  # type: ignore[arg-type]
                found[int(uid)] = bytes(parts[0][1])  # type: ignore[index]
            return found
        finally:
            client.logout()

    def folders(self, user: str) -> list[str]:
        client = self.connect(user)
        try:
            _, listing = client.list()
            names = []
            for line in listing:
                match = re.match(rb'\((.*?)\) (NIL|"[^"]*") (.*)$', line if isinstance(line, bytes) else b"")
                if match:
                    names.append(match.group(3).decode().strip('"'))
            return names
        finally:
            client.logout()


def _config(directory: Path, port: int) -> str:
    root = os.getuid() == 0
    internal_user = "dovecot" if root else os.environ.get("USER", "nobody")
    login_user = "dovenull" if root else internal_user
    uid = 65534 if root else os.getuid()
    gid = 65534 if root else os.getgid()
    group = "dovecot" if root else str(os.getgid())
    return f"""
instance_name = mockserver-tests-{port}
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {directory}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_internal_group = {group}
default_login_user = {login_user}
first_valid_uid = 1
mail_location = maildir:{directory}/mail/%u
passdb {{
  driver = static
  args = password={IMAP_PASSWORD}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={directory}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
}}
service anvil {{
  chroot =
}}
"""


@contextmanager
def dovecot() -> Iterator[Dovecot]:
    """A private Dovecot on a free loopback port, its own config and directories, any user + "secret"."""
    if not os.path.exists(DOVECOT):
        raise RuntimeError("Dovecot is not installed: run scripts/install-system-deps.sh (make test does)")
    # Unix socket paths are limited to 108 bytes: keep the base directory short.
    directory = Path(tempfile.mkdtemp(prefix="dc", dir="/tmp"))
    directory.chmod(0o755)
    (directory / "mail").mkdir()
    if os.getuid() == 0:
        os.chown(directory / "mail", 65534, 65534)
    port = free_port()
    config = directory / "dovecot.conf"
    config.write_text(_config(directory, port))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Dovecot(port, directory)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                # Past LOGIN: a broken userdb still logs in ("initialization failed"); SELECT proves the mailbox.
                client = server.connect("ready-check")
                client.select("INBOX")
                client.logout()
                break
            except (OSError, imaplib.IMAP4.error):
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (directory / "dovecot.log").read_text() if (directory / "dovecot.log").exists() else ""
                    raise RuntimeError(f"Dovecot did not start:\n{log}") from None
                time.sleep(0.05)
        yield server
    finally:
        # The whole process group: open imap sessions outlive a SIGTERM to the master alone.
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
        shutil.rmtree(directory, ignore_errors=True)
