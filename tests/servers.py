"""Real servers the tests talk to: aiosmtpd SMTP servers, a private Debian Dovecot and a private PostgreSQL."""

from __future__ import annotations

import asyncio
import imaplib
import os
import pwd
import re
import secrets
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
from typing import Any, Literal, LiteralString

import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session
from psycopg.abc import Params
from psycopg.sql import SQL, Composed, Identifier

DOVECOT = "/usr/sbin/dovecot"
IMAP_PASSWORD = "secret"
POSTGRES_ROOT = Path("/usr/lib/postgresql")
POSTGRES_USER = "mock"  # the cluster's superuser, the one every URL names
SqlQuery = LiteralString | bytes | SQL | Composed


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


@dataclass
class Postgres:
    """A private PostgreSQL cluster on 127.0.0.1:`port`, its data, socket and log under `directory`."""

    port: int
    directory: Path
    password: str
    bin_dir: Path  # /usr/lib/postgresql/<version>/bin

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{POSTGRES_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: SqlQuery, database: str = "postgres", params: Params | None = None) -> list[tuple[Any, ...]]:
        """Runs one statement on its own autocommit connection; the rows it returns, if any."""
        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=10) as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []

    def create_database(self, name: str) -> str:
        """A new empty database (from template0, which nobody can be connected to); its URL."""
        self.execute(SQL("CREATE DATABASE {} TEMPLATE template0").format(Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drops a database, ending the sessions still connected to it."""
        self.execute(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(name)))

    @property
    def running(self) -> bool:
        return self._pg_ctl("status").returncode == 0

    def start(self, timeout: float = 30.0) -> None:
        """Starts the cluster (again) on the same port; returns once it accepts connections."""
        if self.running:
            return
        deadline = time.monotonic() + timeout
        started = self._pg_ctl("start", "-w", "-t", str(int(timeout)), "-l", str(self.log_path), timeout=timeout + 10)
        if started.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start:\n{started.stdout}{started.stderr}{self._log_tail()}")
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL does not accept connections: {error}\n{self._log_tail()}") from None
                time.sleep(0.05)

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """Stops the cluster (`fast` ends open sessions; `immediate` is a crash). Its data stay for `start()`."""
        if not self.running:
            return
        stopped = self._pg_ctl("stop", "-w", "-t", "30", "-m", mode, timeout=40)
        if stopped.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not stop:\n{stopped.stdout}{stopped.stderr}{self._log_tail()}")

    def _pg_ctl(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return _run_postgres_tool(
            self.bin_dir / "pg_ctl", "-D", str(self.data_dir), *args, cwd=self.directory, timeout=timeout
        )

    def _log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no server log)"
        return "server log (tail):\n" + "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _run_postgres_tool(program: Path, *args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """PostgreSQL refuses to run as root: as root, its programs run as the `postgres` system user."""
    command = [str(program), *args]
    if os.getuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    environment = {**os.environ, "LC_ALL": "C"}
    return subprocess.run(
        command,
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _postgres_bin() -> Path:
    """The bin directory of the newest PostgreSQL that Debian installed."""
    installed = [path.parent for path in POSTGRES_ROOT.glob("*/bin/initdb")]
    versions = [path for path in installed if path.parent.name.isdigit()]
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: run scripts/install-system-deps.sh (make test does)")
    return max(versions, key=lambda path: int(path.parent.name))


def _give_to_postgres(path: Path) -> None:
    """As root, PostgreSQL's files belong to the `postgres` system user, as its programs run as that user."""
    if os.getuid() != 0:
        return
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("no `postgres` system user: install Debian's postgresql package") from None
    os.chown(path, owner.pw_uid, owner.pw_gid)


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A private, throwaway PostgreSQL cluster on a free loopback port: superuser `mock` with a random password
    (scram-sha-256 over TCP), UTF8, locale C, no fsync. Stopped and removed on exit."""
    bin_dir = _postgres_bin()
    # Unix socket paths are limited to 108 bytes: keep the base directory short.
    directory = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))
    try:
        _give_to_postgres(directory)
        server = Postgres(port=free_port(), directory=directory, password=secrets.token_hex(16), bin_dir=bin_dir)
        password_file = directory / "password"
        password_file.write_text(server.password + "\n")
        password_file.chmod(0o600)
        _give_to_postgres(password_file)
        initdb = _run_postgres_tool(
            bin_dir / "initdb",
            "-D",
            str(server.data_dir),
            "-U",
            POSTGRES_USER,
            f"--pwfile={password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            cwd=directory,
            timeout=120,
        )
        password_file.unlink()
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
        # Appended to postgresql.conf, so that a restart comes back the same: same port, same settings.
        with (server.data_dir / "postgresql.conf").open("a") as config:
            config.write(
                f"""
# mockserver tests: a private throwaway cluster
listen_addresses = '127.0.0.1'
port = {server.port}
unix_socket_directories = '{directory}'
max_connections = 200
# No fsync (a throwaway cluster; the OS keeps what was written when the server is killed), but every commit is
# written before it is acknowledged: the tests stop the server under load and count what survived.
fsync = off
full_page_writes = off
"""
            )
        try:
            server.start()
            yield server
        finally:
            server.stop(mode="immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
