"""Real delivery: SMTP with aiosmtplib, IMAP APPEND with IMAPClient, only to allowlisted hosts.

Modes (`--delivery`):
* `none`  — answer and journal only;
* `sink`  — SMTP to the embedded sink (127.0.0.1:1025 by default); IMAP only to `--imap-url` when given;
* `smtp`  — SMTP to the server the request names (OutgoingConnectionInfo / ConnectionInfoExtended) or the
  configured relay; IMAP to the server SentItemsConnectionInfo names, or `--imap-url`.

A host outside the allowlist is refused before any connection is made.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
import aiosmtplib.email
import aiosmtplib.protocol
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

NONE, SINK, SMTP = "none", "sink", "smtp"
NO_SERVER = "No SMTP server: the request names none ({field}) and no relay is set (--smtp-relay)"
MODES = (NONE, SINK, SMTP)
LOOPBACK = "loopback"

# What an SMTP server will take in RCPT TO without SMTPUTF8 quarrels: local@domain, no spaces or brackets.
_ADDRESS = re.compile(
    r"^[^\s@<>()\[\],;:\"\\]+@[A-Za-z0-9\u0080-\U0010ffff]([A-Za-z0-9.\-\u0080-\U0010ffff]*[A-Za-z0-9\u0080-\U0010ffff])?$"
)


class DeliveryFailed(Exception):
    """Delivery did not happen; `refused` when it was never attempted (a host outside the allowlist)."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


@dataclass(frozen=True)
class DeliveryOptions:
    """What delivery reads of the server's settings (`Settings.delivery_options()` makes one): the mode, the
    embedded sink's address, the relay and the IMAP account, the allowlist, timeouts and the TLS CA file."""

    mode: str  # none | sink | smtp
    sink_host: str
    sink_port: int
    smtp_relay: str | None = field(repr=False)
    smtp_allow: tuple[str, ...] | None
    smtp_timeout: float
    imap_url: str | None = field(repr=False)
    imap_timeout: float
    tls_ca_file: str | None


@dataclass(frozen=True)
class Endpoint:
    """A server to connect to. The password is never part of repr() or of the URL shown to anyone."""

    scheme: str
    host: str
    port: int
    tls: str = "none"  # none | starttls | implicit
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        suffix = {"implicit": "s", "starttls": "+starttls"}.get(self.tls, "")
        return f"{self.scheme}{suffix}://{user}{host}:{self.port}"


@dataclass
class Plan:
    """Where one mail goes; `refused` or `note` explain why it goes nowhere."""

    smtp: Endpoint | None = None
    imap: Endpoint | None = None
    imap_folder: str | None = None
    imap_flags: tuple[str, ...] = ("\\Seen",)
    refused: str | None = None
    note: str | None = None
    sink: bool = False  # `smtp` is the embedded sink

    @property
    def empty(self) -> bool:
        return self.smtp is None and self.imap is None

    @property
    def to_sink_only(self) -> bool:
        """Only the embedded sink is to be reached: nothing the client named can refuse the mail."""
        return self.sink and self.imap is None and self.refused is None


@dataclass
class Result:
    smtp_note: str | None = None
    imap_uid: int | None = None


def split_server(server: str, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[::1]:25` or a bare IPv6 address → (host, port)."""
    text = server.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else default_port
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if port.isdigit() and 0 < int(port) < 65536:
            return host, int(port)
        raise DeliveryFailed(f"'{server}' is not host or host:port")
    return text, default_port


def is_allowed(host: str, allowlist: Sequence[str]) -> bool:
    name = host.strip().lower().rstrip(".")
    for entry in allowlist:
        entry = entry.strip().lower()
        if entry == LOOPBACK:
            if name == "localhost":
                return True
            try:
                if ipaddress.ip_address(name).is_loopback:
                    return True
            except ValueError:
                pass
        elif entry == name:
            return True
    return False


def _tls(use_ssl: object, port: int, implicit_port: int) -> str:
    if not use_ssl:
        return "none"
    return "implicit" if port == implicit_port else "starttls"


def _from_connection_info(
    scheme: str, info: Mapping[str, Any], default_port: int, implicit_port: int, options: DeliveryOptions
) -> Endpoint:
    use_ssl = bool(info.get("UseSSL"))
    port_default = implicit_port if use_ssl else default_port
    host, port = split_server(str(info["ServerName"]), port_default)
    if isinstance(info.get("Port"), int) and info["Port"] > 0:
        port = info["Port"]
    if not host:
        raise DeliveryFailed(f"ServerName '{info['ServerName']}' names no host")
    if not is_allowed(host, options.smtp_allow or ()):
        allowed = ", ".join(options.smtp_allow or ()) or "nothing"
        raise DeliveryFailed(
            f"Outbound {scheme.upper()} connection to '{host}' refused: this mock only connects to {allowed} "
            f"(--smtp-allow)",
            refused=True,
        )
    return Endpoint(
        scheme,
        host,
        port,
        _tls(use_ssl, port, implicit_port),
        str(info["UserName"]) if info.get("UserName") else None,
        str(info["Password"]) if info.get("Password") else None,
    )


def endpoint_from_url(url: str, scheme: str, options: DeliveryOptions) -> Endpoint:
    """`smtp://host:port`, `smtps://…`, `imap://user:pass@host:port`, `imaps://…` → Endpoint."""
    parts = urlsplit(url if "//" in url else f"{scheme}://{url}")
    implicit = parts.scheme.endswith("s") and parts.scheme != scheme
    default = {("smtp", False): 25, ("smtp", True): 465, ("imap", False): 143, ("imap", True): 993}[(scheme, implicit)]
    host = parts.hostname or ""
    if not is_allowed(host, options.smtp_allow or ()):
        raise DeliveryFailed(f"Configured {scheme.upper()} server '{host}' is not allowlisted", refused=True)
    return Endpoint(
        scheme,
        host,
        parts.port or default,
        "implicit" if implicit else "none",
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


def _refusal(make: Any) -> tuple[Endpoint | None, str | None]:
    try:
        return make(), None
    except DeliveryFailed as exc:
        return None, exc.reason


def plan_send(options: DeliveryOptions, outgoing: object, sent_items: object, folder: str | None) -> Plan:
    """SendEMails: SMTP to the outgoing server, and a copy in the sent-items folder over IMAP."""
    mode = options.mode
    if mode == NONE:
        return Plan(note="delivery mode none: journaled only")
    plan = Plan()
    if mode == SINK:
        plan.smtp, plan.sink = _sink(options), True
    else:
        if isinstance(outgoing, Mapping) and outgoing.get("ServerName"):
            named = outgoing
            plan.smtp, plan.refused = _refusal(lambda: _from_connection_info("smtp", named, 25, 465, options))
        elif options.smtp_relay:
            plan.smtp, plan.refused = _refusal(lambda: endpoint_from_url(options.smtp_relay or "", "smtp", options))
        else:
            plan.refused = (
                "No SMTP server: the request names none (OutgoingConnectionInfo.ServerName) and no relay is set"
            )
    if isinstance(sent_items, Mapping) and folder:
        plan.imap_folder = folder
        if mode == SMTP and sent_items.get("ServerName"):
            plan.imap, refused = _refusal(lambda: _from_connection_info("imap", sent_items, 143, 993, options))
            plan.refused = plan.refused or refused
        elif options.imap_url:
            plan.imap, refused = _refusal(lambda: endpoint_from_url(options.imap_url or "", "imap", options))
            plan.refused = plan.refused or refused
    return plan


def plan_save(options: DeliveryOptions, folder: str, flags: tuple[str, ...]) -> Plan:
    """SaveToMailServer: IMAP APPEND into the associate's account (`--imap-url`)."""
    if options.mode == NONE:
        return Plan(note="delivery mode none: journaled only")
    if not options.imap_url:
        if options.mode == SMTP:
            return Plan(refused="No mail account to save to: set --imap-url (the associate's IMAP account)")
        return Plan(note="no IMAP account configured (--imap-url): journaled only")
    endpoint, refused = _refusal(lambda: endpoint_from_url(options.imap_url or "", "imap", options))
    return Plan(imap=endpoint, imap_folder=folder, imap_flags=flags, refused=refused)


def plan_relay(options: DeliveryOptions, extended: object) -> Plan:
    """RelayMessage: one SMTP transaction with the message as given."""
    if options.mode == NONE:
        return Plan(note="delivery mode none: journaled only")
    if options.mode == SINK:
        return Plan(smtp=_sink(options), sink=True)
    if isinstance(extended, Mapping) and extended.get("ServerName"):
        endpoint, refused = _refusal(lambda: _from_connection_info("smtp", extended, 25, 465, options))
        return Plan(smtp=endpoint, refused=refused)
    if options.smtp_relay:
        endpoint, refused = _refusal(lambda: endpoint_from_url(options.smtp_relay or "", "smtp", options))
        return Plan(smtp=endpoint, refused=refused)
    return Plan(
        refused="No SMTP server: the request names none (ConnectionInfoExtended.ServerName) and no relay is set"
    )


def plan_gws(options: DeliveryOptions) -> Plan:
    """Genesys Send: the interaction server's own outbound route, i.e. the relay (or the sink)."""
    if options.mode == NONE:
        return Plan(note="delivery mode none: journaled only")
    if options.mode == SINK:
        return Plan(smtp=_sink(options), sink=True)
    if options.smtp_relay:
        endpoint, refused = _refusal(lambda: endpoint_from_url(options.smtp_relay or "", "smtp", options))
        return Plan(smtp=endpoint, refused=refused)
    return Plan(refused="No SMTP route for GWS: set --smtp-relay")


def _sink(options: DeliveryOptions) -> Endpoint:
    return Endpoint("smtp", options.sink_host, options.sink_port)


def deliverable(recipients: Sequence[str]) -> tuple[list[str], list[str]]:
    """(addresses an SMTP server can take, the others): a mail server delivers to the addresses it can."""
    good: list[str] = []
    bad: list[str] = []
    for address in recipients:
        (good if _ADDRESS.match(address.strip()) else bad).append(address.strip())
    return list(dict.fromkeys(good)), bad


def _tls_context(options: DeliveryOptions) -> ssl.SSLContext:
    return (
        ssl.create_default_context(cafile=options.tls_ca_file) if options.tls_ca_file else ssl.create_default_context()
    )


async def send_smtp(
    endpoint: Endpoint, sender: str | None, recipients: Sequence[str], data: bytes, options: DeliveryOptions
) -> str:
    """One SMTP transaction; returns a note on recipients the server refused, raises DeliveryFailed otherwise."""
    connection = SmtpConnection(endpoint, options)
    try:
        return await connection.send(sender, recipients, data)
    finally:
        await connection.close()


def connection_for(endpoint: Endpoint, options: DeliveryOptions) -> SmtpConnection | PipelinedConnection:
    """A session kept open with one endpoint: pipelined where it is plain SMTP (no TLS, no AUTH), as the
    embedded sink is; aiosmtplib's otherwise (and where the server does not offer PIPELINING)."""
    if endpoint.tls == "none" and not endpoint.username:
        return PipelinedConnection(endpoint, options)
    return SmtpConnection(endpoint, options)


def _smtp_failure(endpoint: Endpoint, exc: BaseException, timeout: float) -> DeliveryFailed:
    """How an SMTP failure is told, by either kind of session."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return DeliveryFailed(f"{endpoint.url} refused every recipient: {_codes(exc.recipients)}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryFailed(f"{endpoint.url} answered {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return DeliveryFailed(f"{endpoint.url} did not answer within {timeout:g} s")
    return DeliveryFailed(f"{endpoint.url}: {type(exc).__name__}: {exc}")


class SmtpConnection:
    """An SMTP client connection to one endpoint, kept open between transactions (RFC 5321 §4.1.4: a client
    may send several mails in one session), opened again when the server has hung up."""

    def __init__(self, endpoint: Endpoint, options: DeliveryOptions) -> None:
        self.endpoint = endpoint
        self.options = options
        self._smtp: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        endpoint, options = self.endpoint, self.options
        smtp = aiosmtplib.SMTP(
            hostname=endpoint.host,
            port=endpoint.port,
            use_tls=endpoint.tls == "implicit",
            start_tls=endpoint.tls == "starttls",
            timeout=options.smtp_timeout,
            tls_context=_tls_context(options) if endpoint.tls != "none" else None,
        )
        try:
            await smtp.connect()
            if endpoint.username:
                await smtp.login(endpoint.username, endpoint.password or "")
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    async def send(self, sender: str | None, recipients: Sequence[str], data: bytes) -> str:
        """One transaction; returns a note on recipients the server refused, raises DeliveryFailed otherwise."""
        endpoint, options = self.endpoint, self.options
        sender_address, utf8 = _sender_and_encoding(sender, recipients, data)
        try:
            # A session the server has closed meanwhile (an idle timeout) is noticed here and opened anew. A hang-up
            # during the transaction is a failure: sending again could deliver the mail twice.
            smtp = await self._connected()
            refused, _ = await smtp.sendmail(
                sender_address, list(recipients), data, mail_options=["SMTPUTF8"] if utf8 else None
            )
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException) as exc:
            await self._reset()
            raise _smtp_failure(endpoint, exc, options.smtp_timeout) from None
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            self._drop()
            raise _smtp_failure(endpoint, exc, options.smtp_timeout) from None
        return _refused_note(refused)

    async def _reset(self) -> None:
        """After a refused transaction the session goes on with RSET; a session that cannot is dropped."""
        if self._smtp is None:
            return
        try:
            await self._smtp.rset()
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError):
            self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    async def close(self) -> None:
        """QUIT, politely; the connection is closed whatever the server says."""
        if self._smtp is None:
            return
        smtp, self._smtp = self._smtp, None
        try:
            if smtp.is_connected:
                await smtp.quit()
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError):
            pass
        finally:
            smtp.close()


def _refused_note(refused: Mapping[str, Any]) -> str:
    if refused:
        return "refused by the server: " + ", ".join(f"{r} ({c.code})" for r, c in refused.items())
    return ""


def _sender_and_encoding(sender: str | None, recipients: Sequence[str], data: bytes) -> tuple[str, bool]:
    """The envelope sender (empty when the client's is unusable) and whether the mail needs SMTPUTF8."""
    sender_address = sender if sender and _ADDRESS.match(sender.strip()) else ""
    utf8 = not (data.isascii() and all(r.isascii() for r in recipients) and sender_address.isascii())
    return sender_address, utf8


_quoted = functools.lru_cache(maxsize=4096)(aiosmtplib.email.quote_address)


class _Replies(asyncio.Protocol):
    """SMTP replies as they arrive (RFC 5321 §4.2: `NNN-` lines go on, `NNN ` ends a reply), each to the
    future that waits for it, in order. A reply nobody waits for yet is kept for the next to ask: the server
    greets as soon as it accepts, and uvloop can hand over the greeting before `create_connection` returns."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque[asyncio.Future[aiosmtplib.SMTPResponse]] = collections.deque()
        self.unclaimed: collections.deque[aiosmtplib.SMTPResponse] = collections.deque()
        self._buffer = b""
        self._lines: list[bytes] = []
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A write transport, though not always an asyncio.Transport by class (uvloop's is its own).
        self.transport = transport  # type: ignore[assignment]

    def expect(self, count: int) -> list[asyncio.Future[aiosmtplib.SMTPResponse]]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(count)]
        for future in futures:
            if self.unclaimed:
                future.set_result(self.unclaimed.popleft())
            elif self.lost is not None:
                raise aiosmtplib.SMTPServerDisconnected(f"Connection lost: {self.lost}")
            else:
                self.waiting.append(future)
        return futures

    def write(self, data: bytes) -> None:
        if self.transport is None or self.lost is not None:
            raise aiosmtplib.SMTPServerDisconnected("Server not connected")
        self.transport.write(data)

    async def command(self, line: bytes) -> aiosmtplib.SMTPResponse:
        """Send one command (or a message's text) and wait for its reply."""
        [reply] = self.expect(1)
        self.write(line)
        return await reply

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            line, self._buffer = self._buffer[:end].rstrip(b"\r"), self._buffer[end + 1 :]
            self._lines.append(line)
            if line[3:4] == b"-":
                continue
            lines, self._lines = self._lines, []
            code = int(line[:3]) if line[:3].isdigit() else -1
            text = "\n".join(part[4:].decode("utf-8", "surrogateescape") for part in lines)
            reply = aiosmtplib.SMTPResponse(code, text)
            if self.waiting:
                self.waiting.popleft().set_result(reply)
            else:
                self.unclaimed.append(reply)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = exc or ConnectionError("closed by the server")
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(aiosmtplib.SMTPServerDisconnected(f"Connection lost: {self.lost}"))


class PipelinedConnection:
    """A plain SMTP session kept open with a server that offers PIPELINING (RFC 2920).

    aiosmtplib sends one command and waits for its reply before the next: six round trips for a mail to three
    recipients, each a turn of the event loop with a timer and a task of its own; ~300 µs of the worker per
    mail to the embedded sink, more than answering the request that made the mail. Here a mail's MAIL, RCPTs
    and DATA go out in one write and its text in a second. What the server receives is what aiosmtplib
    sends (the text is made by aiosmtplib's own functions; `tests/mail/test_delivery.py` holds the two to the
    same envelopes, options and texts, and to the same outcomes when the server refuses). A server that does
    not offer PIPELINING gets aiosmtplib's session instead.
    """

    def __init__(self, endpoint: Endpoint, options: DeliveryOptions) -> None:
        self.endpoint = endpoint
        self.options = options
        self._replies: _Replies | None = None
        self._extensions: frozenset[str] = frozenset()
        self._size = False
        self._fallback: SmtpConnection | None = None

    async def _connected(self) -> _Replies | None:
        """The session, opened when there is none (or the server has closed it); None: use aiosmtplib."""
        if self._fallback is not None:
            return None
        if self._replies is not None and self._replies.lost is None:
            return self._replies
        loop = asyncio.get_running_loop()
        _, replies = await loop.create_connection(_Replies, self.endpoint.host, self.endpoint.port)
        try:
            [greeting] = replies.expect(1)
            if (await greeting).code != 220:
                raise aiosmtplib.SMTPConnectError(f"{self.endpoint.url} did not greet")
            response = await replies.command(b"EHLO " + _LOCAL_HOSTNAME + b"\r\n")
            if response.code != 250:
                raise aiosmtplib.SMTPHeloError(response.code, response.message)
        except BaseException:
            _close(replies)
            raise
        self._extensions = frozenset(line.split(" ")[0].upper() for line in response.message.split("\n")[1:])
        if "PIPELINING" not in self._extensions:
            _close(replies)
            self._fallback = SmtpConnection(self.endpoint, self.options)
            return None
        self._replies = replies
        return replies

    async def send(self, sender: str | None, recipients: Sequence[str], data: bytes) -> str:
        """One transaction; returns a note on recipients the server refused, raises DeliveryFailed otherwise."""
        endpoint, options = self.endpoint, self.options
        try:
            async with asyncio.timeout(options.smtp_timeout):
                replies = await self._connected()
                if replies is None:
                    assert self._fallback is not None
                    return await self._fallback.send(sender, recipients, data)
                refused = await self._transaction(replies, sender, recipients, data)
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException) as exc:
            await self._reset()
            raise _smtp_failure(endpoint, exc, options.smtp_timeout) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self._drop()
            raise _smtp_failure(endpoint, exc, options.smtp_timeout) from None
        return _refused_note(refused)

    async def _transaction(
        self, replies: _Replies, sender: str | None, recipients: Sequence[str], data: bytes
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        # The envelope and the text as aiosmtplib's sendmail writes them, checked as it checks them.
        sender_address, utf8 = _sender_and_encoding(sender, recipients, data)
        encoding = "utf-8" if utf8 else "ascii"
        if utf8 and "SMTPUTF8" not in self._extensions:
            raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server")
        normalized = aiosmtplib.protocol.normalize_message_line_endings(data)
        options = [f"size={len(normalized)}".encode()] if "SIZE" in self._extensions else []
        if utf8:
            options.append(b"SMTPUTF8")
        commands = [b" ".join([b"MAIL", b"FROM:" + _quoted(sender_address).encode(encoding), *options])]
        commands += [b"RCPT TO:" + _quoted(recipient).encode(encoding) for recipient in recipients]
        for command in commands:
            if aiosmtplib.protocol.COMMAND_INJECTION_REGEX.search(command):
                raise ValueError("Command arg contains a prohibited control character")
        expected = replies.expect(len(commands) + 1)
        replies.write(b"\r\n".join([*commands, b"DATA"]) + b"\r\n")
        mail, *answers, go_ahead = [await reply for reply in expected]
        refused = {r: a for r, a in zip(recipients, answers, strict=True) if a.code not in (250, 251)}
        if go_ahead.code == 354 and (mail.code != 250 or len(refused) == len(recipients)):
            # A server should refuse DATA with no envelope (RFC 2920 §3.1); one that took it gets an empty text.
            await replies.command(b".\r\n")
        if mail.code != 250:
            raise aiosmtplib.SMTPSenderRefused(mail.code, mail.message, sender_address)
        if len(refused) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(a.code, a.message, r) for r, a in refused.items()]
            )
        if go_ahead.code != 354:
            raise aiosmtplib.SMTPDataError(go_ahead.code, go_ahead.message)
        text = aiosmtplib.protocol.PERIOD_REGEX.sub(b"..", normalized)
        answer = await replies.command(text + b".\r\n")
        if answer.code != 250:
            raise aiosmtplib.SMTPDataError(answer.code, answer.message)
        return refused

    async def _reset(self) -> None:
        """After a refused transaction the session goes on with RSET; a session that cannot is dropped."""
        replies = self._replies
        if replies is None:
            return
        try:
            async with asyncio.timeout(self.options.smtp_timeout):
                if (await replies.command(b"RSET\r\n")).code != 250:
                    self._drop()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self._drop()

    def _drop(self) -> None:
        if self._replies is not None:
            _close(self._replies)
            self._replies = None

    async def close(self) -> None:
        """QUIT, politely; the connection is closed whatever the server says."""
        if self._fallback is not None:
            await self._fallback.close()
        replies, self._replies = self._replies, None
        if replies is None:
            return
        try:
            async with asyncio.timeout(self.options.smtp_timeout):
                await replies.command(b"QUIT\r\n")
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
        finally:
            _close(replies)


def _close(replies: _Replies) -> None:
    if replies.transport is not None:
        replies.transport.close()


_LOCAL_HOSTNAME = (socket.gethostname() if socket.gethostname().isascii() else "localhost").encode("ascii")


def _codes(recipients: Sequence[Any]) -> str:
    return ", ".join(f"{r.recipient} ({r.code} {r.message})" for r in recipients)


def _append(
    endpoint: Endpoint, folder: str, data: bytes, flags: tuple[str, ...], when: datetime, options: DeliveryOptions
) -> tuple[int | None, str]:
    context = _tls_context(options) if endpoint.tls != "none" else None
    try:
        with IMAPClient(
            endpoint.host,
            port=endpoint.port,
            ssl=endpoint.tls == "implicit",
            ssl_context=context,
            timeout=options.imap_timeout,
        ) as client:
            if endpoint.tls == "starttls":
                client.starttls(context)
            client.login(endpoint.username or "", endpoint.password or "")
            # SuperOffice writes folder paths with "/"; the server may separate levels with "." (Maildir++).
            listed = client.list_folders(pattern="INBOX")
            separator = listed[0][1] if listed else b"/"
            if isinstance(separator, bytes) and separator and separator != b"/":
                folder = folder.replace("/", separator.decode())
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, data, flags=flags, msg_time=when)
    except (IMAPClientError, OSError, ssl.SSLError) as exc:
        raise DeliveryFailed(f"{endpoint.url}: {type(exc).__name__}: {exc}") from None
    text = response.decode("ascii", "replace") if isinstance(response, bytes) else str(response)
    match = re.search(r"APPENDUID \d+ (\d+)", text)
    return (int(match.group(1)) if match else None), folder


async def append_imap(
    endpoint: Endpoint, folder: str, data: bytes, flags: tuple[str, ...], when: datetime, options: DeliveryOptions
) -> tuple[int | None, str]:
    """IMAP APPEND (creating the folder when missing): the UID the server assigned, when it says (UIDPLUS),
    and the folder's name on that server."""
    return await asyncio.to_thread(_append, endpoint, folder, data, flags, when, options)
