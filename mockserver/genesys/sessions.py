"""Genesys Web Services sessions and CSRF protection, the way GWS (Spring Security) does them.

* A `GET` under `/api/v2/` with valid Basic credentials opens an HTTP session: `Set-Cookie: JSESSIONID=…`.
* With CSRF protection on (the default, as `enableCsrfProtection: true`), every GET that belongs to a session
  answers `X-CSRF-HEADER: X-CSRF-TOKEN` and `X-CSRF-TOKEN: <uuid>`, and every POST/PUT/DELETE must send that
  token together with the session cookie; otherwise `403 Missing or invalid Csrf token`, before
  authentication and before the body is read, as Spring's CsrfFilter does.
* The CometD endpoint `/api/v2/notifications` is no exception (the vendor's CSRFProtection page: *all*
  PUT/POST/DELETE): its clients must send the token too (CometD's `requestHeaders`). A refusal there is a
  403 whose body a CometD client can read: one failed reply per message of the batch, its `channel` and
  `id` echoed, `error: "403::Missing or invalid Csrf token"` and advice `reconnect: none` (a retry without
  the token would fail the same way). The body is read only to address those replies; one that is not a
  batch of messages gets a single such failure.

Sessions and the per-user `referenceId` counters live in the store (`mail/store.py`), so every worker and
every replica knows every session: a login on one and a Send on another is one agent.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.auth import GWS_SESSION_KEY, check_user
from mockserver.contract import problems
from mockserver.contract.bodies import read_body
from mockserver.genesys import bayeux
from mockserver.mail.outbox import Outbox
from mockserver.settings import Settings

SESSION_COOKIE = "JSESSIONID"
CSRF_HEADER = "X-CSRF-HEADER"
CSRF_TOKEN = "X-CSRF-TOKEN"
CSRF_MESSAGE = "Missing or invalid Csrf token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A refused CometD batch is read (to echo its messages' channels and ids) up to this size; beyond, one failure.
BAYEUX_REFUSAL_READ_LIMIT = 256 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS gws_sessions (
    id TEXT PRIMARY KEY,
    "user" TEXT NOT NULL,
    csrf TEXT NOT NULL,
    channels TEXT NOT NULL DEFAULT '',
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS gws_counters ("user" TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Session:
    id: str
    user: str
    csrf: str
    channels: tuple[str, ...] = ()


class Sessions:
    """Open GWS sessions, each expiring after `idle_seconds` without a request."""

    def __init__(self, db: Outbox, idle_seconds: float) -> None:
        self.db = db
        self.idle_seconds = idle_seconds
        db.store.create(SCHEMA)

    def create(self, user: str) -> Session:
        # Jetty-style session ids: 26 lowercase letters and digits; the CSRF token is a UUID, as in Spring.
        session = Session(id=_session_id(), user=user, csrf=str(uuid.uuid4()))
        with self.db.locked() as conn:
            conn.execute("DELETE FROM gws_sessions WHERE expires_at < ?", (time.time(),))
            conn.execute(
                'INSERT INTO gws_sessions (id, "user", csrf, expires_at) VALUES (?, ?, ?, ?)',
                (session.id, user, session.csrf, time.time() + self.idle_seconds),
            )
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session with this id, its idle timer restarted; None when unknown or expired."""
        now = time.time()
        with self.db.locked() as conn:
            row = conn.execute(
                'SELECT id, "user", csrf, channels FROM gws_sessions WHERE id = ? AND expires_at >= ?',
                (session_id, now),
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE gws_sessions SET expires_at = ? WHERE id = ?", (now + self.idle_seconds, session_id))
        channels = tuple(c for c in str(row["channels"]).split(",") if c)
        return Session(str(row["id"]), str(row["user"]), str(row["csrf"]), channels)

    def set_channels(self, session_id: str, channels: Iterable[str]) -> None:
        with self.db.locked() as conn:
            conn.execute("UPDATE gws_sessions SET channels = ? WHERE id = ?", (",".join(channels), session_id))

    def end(self, session_id: str) -> None:
        with self.db.locked() as conn:
            conn.execute("DELETE FROM gws_sessions WHERE id = ?", (session_id,))

    async def next_reference_id(self, user: str) -> int:
        """1, 2, 3 … per user, shared by every worker: a notification repeats the id of its request. Counted in the
        transaction the requests writing at the same moment share (`Outbox.together`)."""
        return await self.db.together(functools.partial(count_request, user=user))


def count_request(conn: Any, user: str) -> int:
    """The user's next reference id, counted in the caller's transaction."""
    row = conn.execute(
        'INSERT INTO gws_counters ("user", value) VALUES (?, 1) '
        'ON CONFLICT ("user") DO UPDATE SET value = gws_counters.value + 1 RETURNING value',
        (user,),
    ).fetchone()
    return int(row[0])


def _session_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(26))


def request_cookies(headers: Headers) -> dict[str, str]:
    """Every cookie of a request; a later Cookie header wins, an unreadable one counts for nothing."""
    found: dict[str, str] = {}
    for header in headers.getlist("cookie"):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            continue
        found.update({name: morsel.value for name, morsel in jar.items()})
    return found


def cookie_value(headers: Headers, name: str) -> str | None:
    return request_cookies(headers).get(name)


def basic_credentials(headers: Headers) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic …` header, None when absent or malformed."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


class GwsSessionMiddleware:
    """Opens and finds GWS sessions and enforces CSRF; sits inside the exception middleware, so a refusal
    comes out in the GWS error shape."""

    def __init__(self, app: ASGIApp, sessions: Sessions, settings: Settings) -> None:
        self.app = app
        self.sessions = sessions
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not problems.is_gws(path):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope["method"]
        session_id = cookie_value(headers, SESSION_COOKIE)
        session = self.sessions.get(session_id) if session_id else None
        user = None
        # Whose credentials these are matters only to a session (found, or opened by a GET); the security check
        # reads them for itself. A Send without a session cookie (as clients other than browsers post) skips this.
        if session is not None or method == "GET":
            credentials = basic_credentials(headers)
            user = credentials[0] if credentials and check_user(*credentials, self.settings) else None
        if session is not None and user is not None and user != session.user:
            session = None  # someone else logging in from the same browser gets a session of their own
        created = False
        if session is None and user is not None and method == "GET":
            session = self.sessions.create(user)
            created = True
        scope[GWS_SESSION_KEY] = session
        if self.settings.gws_csrf and method in UNSAFE_METHODS:
            token = headers.get(CSRF_TOKEN.lower(), "")
            if session is None or not token or not hmac.compare_digest(token.encode(), session.csrf.encode()):
                if problems.is_bayeux(path):
                    try:
                        body: bytes | bytearray | None = await read_body(receive, BAYEUX_REFUSAL_READ_LIMIT)
                    except problems.MockProblem:
                        body = None  # too large to address: one failure for the whole request
                    replies = bayeux.failures(body, f"403::{CSRF_MESSAGE}", advice={"reconnect": "none"})
                    if replies:
                        response = Response(orjson.dumps(replies), 403, media_type="application/json; charset=utf-8")
                        await response(scope, receive, send)
                        return
                raise problems.MockProblem(403, CSRF_MESSAGE, gws_code=3)
        if session is None:
            await self.app(scope, receive, send)
            return
        added: list[tuple[str, str]] = []
        if created:
            added.append(("Set-Cookie", f"{SESSION_COOKIE}={session.id}; Path=/; HttpOnly"))
        if method == "GET" and self.settings.gws_csrf:
            added += [(CSRF_HEADER, CSRF_TOKEN), (CSRF_TOKEN, session.csrf)]
        if not added:
            await self.app(scope, receive, send)
            return

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in added:
                    response_headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_session)
