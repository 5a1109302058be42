"""A Bayeux 1.0 (CometD) long-polling server: what GWS clients need to hear about their e-mails.

Implemented: `/meta/handshake`, `/meta/connect` (long-polling, held until something is queued or the
advised timeout passes), `/meta/subscribe`, `/meta/unsubscribe` and `/meta/disconnect`, several messages
per request (a batch; a `/meta/connect` in it is answered last), and the error replies real clients act on
(`402::Unknown client` with `reconnect: handshake` advice). Clients may not publish: GWS only talks.

Clients, subscriptions and queued events live in the store (`mail/store.py`), so that a client whose requests
land on different workers or replicas still gets everything; a held connect wakes at once for events published
in its own process and, on PostgreSQL, in any other (NOTIFY); SQLite workers look for each other's every 0.1 s.
Each client's queue is bounded
(`bayeux_max_queue`, oldest dropped first), and a client that stops polling for `bayeux_max_interval` is
dropped together with its queue.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from mockserver.mail.outbox import Outbox
from mockserver.mail.store import StoreUnavailable

logger = logging.getLogger("mockserver.bayeux")

HANDSHAKE = "/meta/handshake"
CONNECT = "/meta/connect"
SUBSCRIBE = "/meta/subscribe"
UNSUBSCRIBE = "/meta/unsubscribe"
DISCONNECT = "/meta/disconnect"
LONG_POLLING = "long-polling"
VERSION = "1.0"
# Bayeux channel names: /segment/segment…, the last segment may be the wildcard * or **.
_CHANNEL = re.compile(r"^(/[A-Za-z0-9_.!~()$@:+\-]+)+$")
_PATTERN = re.compile(r"^(/[A-Za-z0-9_.!~()$@:+\-]+)*/(\*|\*\*|[A-Za-z0-9_.!~()$@:+\-]+)$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS bayeux_clients (
    client_id TEXT PRIMARY KEY,
    "user" TEXT NOT NULL,
    connects INTEGER NOT NULL DEFAULT 0,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS bayeux_subscriptions (
    client_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    PRIMARY KEY (client_id, channel)
);
CREATE TABLE IF NOT EXISTS bayeux_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    message BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS bayeux_queue_client ON bayeux_queue (client_id, id);
"""


# Users named in one look for subscriptions (SQLite allows 32,766 parameters; a batch rarely names more than a few).
_USERS_PER_READ = 500


@dataclass(frozen=True)
class Config:
    timeout_ms: int = 30_000
    max_interval_ms: int = 10_000
    max_queue: int = 1000


def channel_matches(pattern: str, channel: str) -> bool:
    """Bayeux wildcards: `/a/*` matches `/a/b` only, `/a/**` matches `/a/b` and `/a/b/c`."""
    if pattern == channel:
        return True
    if pattern.endswith("/**"):
        return channel.startswith(pattern[:-2]) and len(channel) > len(pattern) - 2
    if pattern.endswith("/*"):
        prefix = pattern[:-1]
        return channel.startswith(prefix) and "/" not in channel[len(prefix) :] and len(channel) > len(prefix)
    return False


class Bayeux:
    """The protocol engine; `handle()` answers one HTTP request's batch for an authenticated user."""

    def __init__(self, db: Outbox, config: Config) -> None:
        self.db = db
        self.config = config
        # Held connects of this process, by client id, woken by local publishes and disconnects.
        self._held: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        db.store.create(SCHEMA)
        # Events published and clients dropped by other processes (PostgreSQL's NOTIFY) wake held connects here.
        db.store.listen(self._changed_elsewhere)

    @property
    def advice(self) -> dict[str, Any]:
        # interval must stay 0: aiocometd sleeps it as seconds, the JavaScript client as milliseconds.
        return {"reconnect": "retry", "interval": 0, "timeout": self.config.timeout_ms}

    # -- the protocol ---------------------------------------------------------------------------------

    async def handle(self, batch: Sequence[Any], user: str, gone: asyncio.Event | None = None) -> list[dict[str, Any]]:
        """The replies to one request's messages; `gone` is set when the HTTP client hangs up."""
        replies: list[dict[str, Any]] = []
        connect: dict[str, Any] | None = None
        for message in batch:
            if not isinstance(message, dict):
                replies.append({"successful": False, "error": "400::Malformed message: not a JSON object"})
                continue
            channel = message.get("channel")
            if not isinstance(channel, str) or not channel:
                replies.append(_failure(message, "400::Malformed message: channel missing"))
            elif channel == CONNECT:
                if connect is not None:
                    replies.append(_failure(message, "400::Only one /meta/connect per request"))
                else:
                    connect = message
            elif channel == HANDSHAKE:
                replies.append(self._handshake(message, user))
            elif channel in (SUBSCRIBE, UNSUBSCRIBE):
                replies.append(self._subscription(message, user, subscribe=channel == SUBSCRIBE))
            elif channel == DISCONNECT:
                replies.append(self._disconnect(message, user))
            elif channel.startswith("/meta/"):
                replies.append(_failure(message, f"400::{channel}::Unknown meta channel"))
            else:
                replies.append(self._client_publish(message, user))
        if connect is not None:
            # Answered last, so that a batch's subscriptions are in place before the connect returns events.
            replies.extend(await self._connect(connect, user, hold=len(batch) == 1, gone=gone))
        return replies

    def _handshake(self, message: dict[str, Any], user: str) -> dict[str, Any]:
        types = message.get("supportedConnectionTypes")
        if not isinstance(types, list) or LONG_POLLING not in types:
            offered = ",".join(str(t) for t in types) if isinstance(types, list) else ""
            return _failure(
                message,
                f"301::{offered}::Unsupported connection types",
                supportedConnectionTypes=[LONG_POLLING],
                advice={"reconnect": "none", "interval": 0},
            )
        client_id = secrets.token_hex(16)
        self.sweep()
        with self.db.locked() as conn:
            conn.execute(
                'INSERT INTO bayeux_clients (client_id, "user", expires_at) VALUES (?, ?, ?)',
                (client_id, user, time.time() + self.config.max_interval_ms / 1000),
            )
        return _reply(
            message,
            successful=True,
            clientId=client_id,
            version=VERSION,
            minimumVersion=VERSION,
            supportedConnectionTypes=[LONG_POLLING],
            advice=self.advice,
        )

    def _known(self, message: dict[str, Any], user: str) -> tuple[str | None, dict[str, Any] | None]:
        """(client id, None) for a client of this user, else (None, the 402 reply that sends it back to handshake)."""
        client_id = message.get("clientId")
        if isinstance(client_id, str):
            with self.db.locked() as conn:
                row = conn.execute(
                    'SELECT "user" FROM bayeux_clients WHERE client_id = ? AND expires_at >= ?',
                    (client_id, time.time()),
                ).fetchone()
            # Another user's client id is as unknown as a made-up one.
            if row is not None and row["user"] == user:
                return client_id, None
        return None, _failure(message, "402::Unknown client", advice={"reconnect": "handshake", "interval": 0})

    def _subscription(self, message: dict[str, Any], user: str, *, subscribe: bool) -> dict[str, Any]:
        client_id, unknown = self._known(message, user)
        if unknown is not None:
            return unknown
        wanted = message.get("subscription")
        channels = wanted if isinstance(wanted, list) else [wanted]
        echo = {"subscription": wanted} if wanted is not None else {}
        bad = [c for c in channels if not isinstance(c, str) or not _PATTERN.match(c) or c.startswith("/meta/")]
        if not channels or bad:
            shown = ",".join(str(c) for c in bad) if bad else ""
            return _failure(message, f"403::{shown}::Invalid subscription", clientId=client_id, **echo)
        with self.db.locked() as conn:
            if subscribe:
                conn.executemany(
                    "INSERT INTO bayeux_subscriptions (client_id, channel) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [(client_id, c) for c in channels],
                )
            else:
                conn.executemany(
                    "DELETE FROM bayeux_subscriptions WHERE client_id = ? AND channel = ?",
                    [(client_id, c) for c in channels],
                )
        return _reply(message, successful=True, clientId=client_id, **echo)

    def _disconnect(self, message: dict[str, Any], user: str) -> dict[str, Any]:
        client_id, unknown = self._known(message, user)
        if unknown is not None:
            return unknown
        assert client_id is not None
        self._drop([client_id])
        return _reply(message, successful=True, clientId=client_id)

    def _client_publish(self, message: dict[str, Any], user: str) -> dict[str, Any]:
        client_id, unknown = self._known(message, user)
        if unknown is not None:
            return unknown
        if not _CHANNEL.match(str(message["channel"])):
            return _failure(message, f"400::{message['channel']}::Invalid channel", clientId=client_id)
        return _failure(message, "403::Publish denied", clientId=client_id)

    async def _connect(
        self, message: dict[str, Any], user: str, *, hold: bool, gone: asyncio.Event | None
    ) -> list[dict[str, Any]]:
        client_id, unknown = self._known(message, user)
        if unknown is not None:
            return [unknown]
        assert client_id is not None
        connection_type = message.get("connectionType", LONG_POLLING)
        if connection_type != LONG_POLLING:
            return [_failure(message, f"400::{connection_type}::Unsupported connection type", clientId=client_id)]
        advice = message.get("advice")
        answer_now = isinstance(advice, dict) and advice.get("timeout") == 0
        with self.db.locked() as conn:
            row = conn.execute(
                "UPDATE bayeux_clients SET connects = connects + 1, expires_at = ? WHERE client_id = ? "
                "RETURNING connects",
                (time.time() + (self.config.timeout_ms + self.config.max_interval_ms) / 1000, client_id),
            ).fetchone()
        # The first connect after a handshake is answered at once: clients wait for it before they subscribe.
        answer_now = answer_now or not hold or row is None or int(row["connects"]) == 1
        events = self._drain(client_id)
        if not events and not answer_now:
            events, disconnected = await self._hold(client_id, gone or asyncio.Event())
            if disconnected:
                return [*events, _reply(message, successful=True, clientId=client_id, advice={"reconnect": "none"})]
        with self.db.locked() as conn:
            conn.execute(
                "UPDATE bayeux_clients SET expires_at = ? WHERE client_id = ?",
                (time.time() + self.config.max_interval_ms / 1000, client_id),
            )
        return [*events, _reply(message, successful=True, clientId=client_id, advice=self.advice)]

    async def _hold(self, client_id: str, gone: asyncio.Event) -> tuple[list[dict[str, Any]], bool]:
        """Wait until events are queued for the client, it disconnects (True), or the timeout passes.

        Events are taken from the queue only to be answered at once: a client that hung up (`gone`) leaves
        them queued for its next connect.
        """
        self._wake(client_id)  # a newer connect of the same client takes over; the older one answers now
        wake = asyncio.Event()
        self._held[client_id] = (asyncio.get_running_loop(), wake)
        deadline = time.monotonic() + self.config.timeout_ms / 1000
        hung_up = asyncio.get_running_loop().create_task(gone.wait())
        try:
            while True:
                wake.clear()
                if gone.is_set():
                    return [], False
                events = self._drain(client_id)
                if events:
                    return events, False
                if not self._exists(client_id):
                    return [], True
                if self._held.get(client_id, (None, None))[1] is not wake:
                    return [], False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return [], False
                woken = asyncio.get_running_loop().create_task(wake.wait())
                await asyncio.wait(
                    {woken, hung_up}, timeout=min(remaining, self.db.store.poll_seconds), return_when="FIRST_COMPLETED"
                )
                woken.cancel()
        finally:
            hung_up.cancel()
            if self._held.get(client_id, (None, None))[1] is wake:
                del self._held[client_id]

    # -- state ----------------------------------------------------------------------------------------

    def _exists(self, client_id: str) -> bool:
        with self.db.locked() as conn:
            return conn.execute("SELECT 1 FROM bayeux_clients WHERE client_id = ?", (client_id,)).fetchone() is not None

    def _drain(self, client_id: str) -> list[dict[str, Any]]:
        # Taken in one statement: two connects of one client on two replicas never both answer an event. Looked
        # for with a read first: a held connect looks every poll, and an empty queue needs no write lock.
        with self.db.locked() as conn:
            if conn.execute("SELECT 1 FROM bayeux_queue WHERE client_id = ? LIMIT 1", (client_id,)).fetchone() is None:
                return []
            rows = conn.execute("DELETE FROM bayeux_queue WHERE client_id = ? RETURNING id, message", (client_id,))
            taken = sorted((int(row[0]), row[1]) for row in rows.fetchall())
        return [orjson.loads(message) for _, message in taken]

    def _drop(self, client_ids: Sequence[str]) -> None:
        with self.db.store.transaction() as conn:
            for table in ("bayeux_clients", "bayeux_subscriptions", "bayeux_queue"):
                conn.executemany(f"DELETE FROM {table} WHERE client_id = ?", [(c,) for c in client_ids])
            self.db.store.notify(conn, "bayeux", ",".join(client_ids))
        for client_id in client_ids:
            self._wake(client_id)

    def forget(self) -> int:
        """Drop every client, as a server restart does: each must handshake again (`402::Unknown client`)."""
        with self.db.locked() as conn:
            ids = [str(row[0]) for row in conn.execute("SELECT client_id FROM bayeux_clients").fetchall()]
        self._drop(ids)
        return len(ids)

    def _changed_elsewhere(self, topic: str, payload: str) -> None:
        if topic == "bayeux" and payload != "*":
            for client_id in payload.split(","):
                self._wake(client_id)
        elif topic in ("bayeux", "*"):  # too many clients to name, or the listener reconnected: wake them all
            for client_id in list(self._held):
                self._wake(client_id)

    def _wake(self, client_id: str) -> None:
        """Wake the client's held connect, if this process holds one; publishers may run on other threads."""
        held = self._held.get(client_id)
        if held is not None:
            loop, event = held
            loop.call_soon_threadsafe(event.set)

    def sweep(self) -> int:
        """Drop clients that stopped polling, with their subscriptions and queued events."""
        with self.db.locked() as conn:
            expired = [
                str(row[0])
                for row in conn.execute(
                    "SELECT client_id FROM bayeux_clients WHERE expires_at < ?", (time.time(),)
                ).fetchall()
            ]
        if expired:
            self._drop(expired)
            logger.info("dropped %d CometD client(s) that stopped polling", len(expired))
        return len(expired)

    def publish(self, user: str, channel: str, data: dict[str, Any] | Callable[[], dict[str, Any]]) -> int:
        """Queue an event for every client of `user` subscribed to `channel`; the number of clients reached.

        `data` may be the function that makes it, called only when a client is listening. Most events have
        nobody listening: they are looked for with a read, with no write transaction to take and commit; when
        somebody is, the clients are found again inside it (`_queue`).
        """
        with self.db.locked() as conn:
            if not self._subscribed(conn, user, channel):
                return 0
        return self._queue(user, channel, data)

    def _queue(self, user: str, channel: str, data: dict[str, Any] | Callable[[], dict[str, Any]]) -> int:
        """`publish` once a read has found somebody listening: the clients found again and the event queued for
        them, in one write transaction."""
        with self.db.store.transaction() as conn:
            targets = self._subscribed(conn, user, channel)
            event = orjson.dumps({"channel": channel, "data": data() if callable(data) else data})
            for client_id in targets:
                conn.execute("INSERT INTO bayeux_queue (client_id, message) VALUES (?, ?)", (client_id, event))
                dropped = conn.execute(
                    "DELETE FROM bayeux_queue WHERE client_id = ? AND id NOT IN "
                    "(SELECT id FROM bayeux_queue WHERE client_id = ? ORDER BY id DESC LIMIT ?)",
                    (client_id, client_id, self.config.max_queue),
                ).rowcount
                if dropped:
                    logger.warning("CometD client %s… is not polling: dropped %d old event(s)", client_id[:6], dropped)
            if targets:
                self.db.store.notify(conn, "bayeux", ",".join(targets))
        for client_id in targets:
            self._wake(client_id)
        return len(targets)

    def publish_all(
        self, events: Sequence[tuple[str, str, dict[str, Any] | Callable[[], dict[str, Any]]]]
    ) -> list[int]:
        """`publish` each (user, channel, data) in turn; the number of clients each reached. One read finds out
        for all of them whether anybody listens (under load, a batch of Genesys Sends' notifications that nobody
        subscribed to), instead of one read each; only events somebody listens for are queued (`_queue`)."""
        if not events:
            return []
        listening: dict[str, list[str]] = {}
        with self.db.locked() as conn:
            for user, _, pattern in self._subscriptions(conn, sorted({user for user, _, _ in events})):
                listening.setdefault(user, []).append(pattern)
        return [
            self._queue(user, channel, data)
            if any(channel_matches(pattern, channel) for pattern in listening.get(user, ()))
            else 0
            for user, channel, data in events
        ]

    @classmethod
    def _subscribed(cls, conn: Any, user: str, channel: str) -> list[str]:
        """The live clients of `user` with a subscription that matches `channel`."""
        return sorted(
            {client for _, client, pattern in cls._subscriptions(conn, [user]) if channel_matches(pattern, channel)}
        )

    @staticmethod
    def _subscriptions(conn: Any, users: Sequence[str]) -> list[tuple[str, str, str]]:
        """(user, client id, channel pattern) of each subscription of the users' live clients."""
        found: list[tuple[str, str, str]] = []
        for start in range(0, len(users), _USERS_PER_READ):
            chunk = users[start : start + _USERS_PER_READ]
            rows = conn.execute(
                'SELECT c."user", s.client_id, s.channel FROM bayeux_subscriptions s JOIN bayeux_clients c '
                'ON c.client_id = s.client_id WHERE c.expires_at >= ? AND c."user" IN '
                f"({', '.join('?' * len(chunk))})",
                (time.time(), *chunk),
            ).fetchall()
            found += [(str(user), str(client), str(pattern)) for user, client, pattern in rows]
        return found

    def stats(self) -> dict[str, int]:
        with self.db.locked() as conn:
            return {
                table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in ("bayeux_clients", "bayeux_subscriptions", "bayeux_queue")
            }

    async def run_sweeper(self) -> None:
        """Sweep until cancelled (started with the app)."""
        period = max(0.05, min(1.0, self.config.max_interval_ms / 4000))
        while True:
            await asyncio.sleep(period)
            try:
                self.sweep()
            except StoreUnavailable:
                pass  # the store logged it; swept again once the database is back
            except Exception:
                logger.exception("CometD sweep failed")


def _reply(message: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A reply echoes the request's channel and id: clients match replies to requests by id."""
    reply: dict[str, Any] = {"channel": message["channel"]}
    if "id" in message:
        reply["id"] = message["id"]
    reply.update(fields)
    return reply


def failures(body: bytes | bytearray | None, error: str, **fields: Any) -> list[dict[str, Any]]:
    """A refusal of a whole request, one failed reply per message of its batch (clients match replies to
    requests by channel and id); empty when `body` is no batch of messages."""
    try:
        batch: Any = orjson.loads(body) if body is not None else None
    except orjson.JSONDecodeError:
        return []
    if isinstance(batch, dict):
        batch = [batch]
    if not isinstance(batch, list):
        return []
    return [_failure(m if isinstance(m, dict) else {}, error, **fields) for m in batch]


def _failure(message: dict[str, Any], error: str, **fields: Any) -> dict[str, Any]:
    reply: dict[str, Any] = {}
    if isinstance(message.get("channel"), str):
        reply["channel"] = message["channel"]
    if "id" in message:
        reply["id"] = message["id"]
    reply.update(successful=False, error=error, **fields)
    return reply
