"""pytest fixtures for testing code that sends e-mail through SuperOffice or Genesys: installed with the package
(a `pytest11` entry point), so a test suite only has to ask for them.

* `mockserver` (session): the mock, served in-process on a free loopback port (or the server `--mockserver-url`
  names); `.base_url`, `.settings`, `.outbox(namespace)`.
* `mockserver_url` (session): its base URL, to hand to the code under test.
* `mock_namespace`: a namespace of this test's own (from its node id). Mail sent with
  `X-Mock-Namespace: <it>` is seen by this test only, and is deleted when the test ends.
* `mock_client`: an `httpx.Client` on the mock that sends the namespace header with every request.
* `outbox`: this test's outbox: `wait_for(to=..., subject=...)`, `items()`, `message(mail)`, `reset()`.
* `shared_outbox`: mail the code under test sent *without* a namespace header, limited to mail accepted after the
  test started (for clients whose headers cannot be changed).

Configuration (ini or command line): `mockserver_delivery` (none | sink | smtp), `mockserver_seed`,
`mockserver_users` (only these user:password pairs pass Basic auth), `mockserver_relay` (the SMTP server for
delivery smtp), `mockserver_url` (test an already running server instead of starting one), `mockserver_store`
(where the started mock keeps its state: a SQLite file, or a PostgreSQL URL, so that the mocks of a whole CI
fleet share one outbox; default: in memory).
"""

from __future__ import annotations

import email
import hashlib
import os
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Any, cast

import httpx
import pytest

from mockserver.settings import Settings

NAMESPACE_HEADER = "X-Mock-Namespace"
WAIT_SECONDS = 10.0
SERVER_WAIT_LIMIT = 60.0  # the control API's maximum `timeout` for /_mock/outbox/wait
_INI = {
    "mockserver_delivery": ("none (journal only), sink (embedded SMTP sink) or smtp (--mockserver-relay)", "none"),
    "mockserver_seed": ("fix the mock's generator and clock (empty: a random seed)", ""),
    "mockserver_users": ("comma-separated user:password pairs that pass Basic auth (empty: any)", ""),
    "mockserver_url": ("use the mock already serving at this URL instead of starting one", ""),
    "mockserver_relay": ("SMTP relay for delivery smtp, e.g. smtp://127.0.0.1:2525", ""),
    "mockserver_store": ("the started mock's store: a SQLite file or postgresql://… (empty: in memory)", ""),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockserver", "e-mail API mock (SuperOffice EMail agent, Genesys)")
    for name, (help_text, default) in _INI.items():
        parser.addini(name, help_text, default=default)
        group.addoption("--" + name.replace("_", "-"), dest=name, default=None, help=help_text)


def _option(config: pytest.Config, name: str) -> str:
    given = config.getoption(name)
    if given is not None:
        return str(given)
    return str(config.getini(name) or "")


class MailNotFound(AssertionError):
    """No mail matched within the wait: the message lists what the outbox did hold."""


@dataclass
class Outbox:
    """The outbox as one test sees it: one namespace, mail accepted after `after_id`."""

    client: httpx.Client
    namespace: str
    after_id: int = 0

    def _headers(self) -> dict[str, str]:
        return {NAMESPACE_HEADER: self.namespace}

    def _query(self, filters: dict[str, Any]) -> dict[str, Any]:
        query = {("from" if key == "sender" else key): value for key, value in filters.items() if value is not None}
        if self.after_id:
            query["after_id"] = max(self.after_id, int(query.get("after_id") or 0))
        return query

    def items(self, limit: int = 1000, **filters: Any) -> list[dict[str, Any]]:
        """Matching mail, oldest first. Filters: to, sender, subject (contains), operation, status, message_id."""
        response = self.client.get(
            "/_mock/outbox", params={**self._query(filters), "limit": limit}, headers=self._headers()
        )
        response.raise_for_status()
        return list(reversed(response.json()["items"]))

    def __len__(self) -> int:
        response = self.client.get("/_mock/outbox", params={**self._query({}), "limit": 1}, headers=self._headers())
        response.raise_for_status()
        return int(response.json()["count"])

    def wait_for(self, timeout: float = WAIT_SECONDS, **filters: Any) -> dict[str, Any]:
        """The first mail matching every filter, waiting up to `timeout` seconds for it (the server waits, this
        does not poll). Raises MailNotFound, listing what arrived instead."""
        deadline = time.monotonic() + timeout
        while True:
            # The control API waits at most SERVER_WAIT_LIMIT seconds per call; a longer wait takes several.
            chunk = min(max(deadline - time.monotonic(), 0.0), SERVER_WAIT_LIMIT)
            query = {**self._query(filters), "timeout": chunk}
            response = self.client.get(
                "/_mock/outbox/wait", params=query, headers=self._headers(), timeout=chunk + WAIT_SECONDS
            )
            if response.status_code != 404 or time.monotonic() >= deadline:
                break
        if response.status_code == 404:
            seen = [(m["subject"], m["recipients"], m["status"]) for m in self.items(limit=20)]
            raise MailNotFound(f"no mail matching {filters} within {timeout:g} s; the outbox holds {seen or 'nothing'}")
        response.raise_for_status()
        return cast(dict[str, Any], response.json())

    def wait_for_status(
        self, mail: dict[str, Any], status: str = "sent", timeout: float = WAIT_SECONDS
    ) -> dict[str, Any]:
        """The mail once its delivery reached `status` (delivery runs in the background for Genesys sends)."""
        if mail.get("message_id"):
            return self.wait_for(timeout=timeout, message_id=mail["message_id"], status=status)
        # No Message-ID to wait on (a relayed text without one): watch this very row instead.
        deadline = time.monotonic() + timeout
        while (found := self.detail(mail))["status"] != status:
            if time.monotonic() >= deadline:
                raise MailNotFound(
                    f"mail {mail['id']} is still {found['status']!r} after {timeout:g} s, not {status!r}"
                )
            time.sleep(0.05)
        return found

    def detail(self, mail: dict[str, Any] | int) -> dict[str, Any]:
        """Headers, bodies and attachments of a mail, as the control API reports them."""
        mail_id = mail if isinstance(mail, int) else mail["id"]
        response = self.client.get(f"/_mock/outbox/{mail_id}", headers=self._headers())
        response.raise_for_status()
        return cast(dict[str, Any], response.json())

    def message(self, mail: dict[str, Any] | int) -> EmailMessage:
        """The MIME message exactly as it was sent, parsed by the stdlib `email` package."""
        mail_id = mail if isinstance(mail, int) else mail["id"]
        response = self.client.get(f"/_mock/outbox/{mail_id}/raw", headers=self._headers())
        response.raise_for_status()
        return email.message_from_bytes(response.content, policy=policy.default)

    def reset(self) -> int:
        response = self.client.delete("/_mock/outbox", headers=self._headers())
        response.raise_for_status()
        return int(response.json()["deleted"])

    def newest_id(self) -> int:
        response = self.client.get("/_mock/outbox", params={"limit": 1}, headers=self._headers())
        response.raise_for_status()
        items = response.json()["items"]
        return int(items[0]["id"]) if items else 0


@dataclass
class MockServer:
    """The mock a test session runs against."""

    base_url: str
    settings: Settings | None
    client: httpx.Client

    def outbox(self, namespace: str = "", since_now: bool = True) -> Outbox:
        box = Outbox(self.client, namespace)
        if since_now:
            box.after_id = box.newest_id()
        return box


def _settings(config: pytest.Config) -> Settings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "store": _option(config, "mockserver_store") or os.environ.get("MOCKSERVER_STORE") or ":memory:",
        "delivery": _option(config, "mockserver_delivery") or "none",
    }
    seed = _option(config, "mockserver_seed")
    if seed:
        values["seed"] = int(seed)
    users = _option(config, "mockserver_users")
    if users:
        values["users"] = tuple(u.strip() for u in users.split(",") if u.strip())
    relay = _option(config, "mockserver_relay")
    if relay:
        values["smtp_relay"] = relay
    if values["delivery"] == "sink":
        from mockserver.tools.testing import free_port

        # The sink's default port (1025) would make two test sessions on one machine collide.
        values["sink_port"] = free_port()
    return Settings(**values)


@pytest.fixture(scope="session")
def mockserver(pytestconfig: pytest.Config) -> Iterator[MockServer]:
    """The e-mail API mock for this test session (started once, in-process, on a free loopback port)."""
    with ExitStack() as stack:
        url = _option(pytestconfig, "mockserver_url").rstrip("/")
        settings: Settings | None = None
        if not url:
            with warnings.catch_warnings():
                # Connexion and Starlette warn about their own dependencies on import; a user's suite that turns
                # warnings into errors must not fail for what it cannot change.
                warnings.simplefilter("ignore")
                from mockserver.tools.testing import running_mock

            settings = _settings(pytestconfig)
            url = stack.enter_context(running_mock(settings)).base_url
        client = stack.enter_context(httpx.Client(base_url=url, timeout=30.0))
        yield MockServer(url, settings, client)


@pytest.fixture(scope="session")
def mockserver_url(mockserver: MockServer) -> str:
    return mockserver.base_url


@pytest.fixture
def mock_namespace(request: pytest.FixtureRequest) -> str:
    """This test's own namespace: readable, unique per test id, and safe as a header value."""
    return namespace_for(request.node.nodeid, request.node.name)


def namespace_for(node_id: str, name: str) -> str:
    digest = hashlib.blake2b(node_id.encode(), digest_size=4).hexdigest()
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:60].strip("-")
    return f"{readable}-{digest}"


@pytest.fixture
def outbox(mockserver: MockServer, mock_namespace: str) -> Iterator[Outbox]:
    """This test's outbox; emptied when the test ends, so a long session does not pile mail up."""
    box = mockserver.outbox(mock_namespace)
    yield box
    box.reset()


@pytest.fixture
def shared_outbox(mockserver: MockServer) -> Outbox:
    """Mail sent without a namespace header, accepted after this test started."""
    return mockserver.outbox("", since_now=True)


@pytest.fixture
def mock_client(mockserver: MockServer, mock_namespace: str) -> Iterator[httpx.Client]:
    """An HTTP client on the mock whose requests all carry this test's namespace."""
    with httpx.Client(base_url=mockserver.base_url, headers={NAMESPACE_HEADER: mock_namespace}, timeout=30.0) as c:
        yield c
