"""One mock, several processes: two `mockserver serve` processes on one store act as one server.

Every test runs twice: on one PostgreSQL database (a private cluster, `tests/servers.Postgres`), as replicas on
several machines would share it, and on one SQLite file, as the workers of one machine share it. A GWS agent's
login, Send and CometD long-poll land on different processes; mail sent through one is listed, downloaded,
waited for and deleted through the other; a process killed with SIGKILL leaves nothing accepted behind, and
its sibling fails what it left in flight, never its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from mockserver.mail.outbox import INTERRUPTED, LEASE_SECONDS
from mockserver.tools.testing import free_port
from tests.conftest import AUTH, GWS_SEND, SEND
from tests.genesys.test_cometd_clients import SEND_BODY, notification_client
from tests.servers import Postgres, SmtpBehaviour, smtp_server

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Replica:
    """One `mockserver serve` process."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@contextmanager
def replica(store: str, directory: Path, *flags: str) -> Iterator[Replica]:
    port = free_port()
    log = directory / f"replica-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mockserver",
                "serve",
                "--store",
                store,
                "--port",
                str(port),
                "--log-level",
                "warning",
                *flags,
            ],
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("MOCKSERVER_")},
        )
    running = Replica(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(running.base_url + "/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the replica did not start:\n" + log.read_text()
            time.sleep(0.1)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        assert "Traceback" not in log.read_text(), log.read_text()


@dataclass
class SharedStore:
    kind: str
    url: str
    postgres: Postgres | None = None

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Read the store directly (what the control API does not show: the rows' owners)."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.url) as conn:
                return list(conn.execute(sql).fetchall())
        with psycopg.connect(self.url) as conn:
            return list(conn.execute(sql.encode()).fetchall())


@pytest.fixture(params=["postgresql", "sqlite"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> SharedStore:
    if request.param == "sqlite":
        return SharedStore("sqlite", str(tmp_path / "shared.sqlite3"))
    server: Postgres = request.getfixturevalue("postgres_server")
    return SharedStore("postgresql", request.getfixturevalue("postgres_url"), server)


@pytest.fixture
def pair(shared: SharedStore, tmp_path: Path) -> Iterator[tuple[Replica, Replica]]:
    with (
        replica(shared.url, tmp_path, "--delivery", "none") as a,
        replica(shared.url, tmp_path, "--delivery", "none") as b,
    ):
        yield a, b


def mail(subject: str, to: str = "kari.nordmann@example.com") -> dict[str, Any]:
    return {
        "Emails": [
            {
                "From": {"Address": "ola@example.com", "Name": "Ola Nordmann"},
                "To": [{"Address": to, "Name": "Kari Nordmann"}],
                "Subject": subject,
                "PlainBody": "Hei!",
            }
        ]
    }


# -- GWS ----------------------------------------------------------------------------------------------------


def test_a_gws_agent_can_log_in_send_and_listen_on_different_replicas(pair: tuple[Replica, Replica]) -> None:
    """Login on A; StartContactCenterSession and Send on B with A's cookie and CSRF token; the CometD client
    (aiocometd-ng) handshakes, subscribes and long-polls on A and gets the Send's notification from B."""
    a, b = pair

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with (
            httpx.AsyncClient(base_url=a.base_url, timeout=30) as on_a,
            httpx.AsyncClient(base_url=b.base_url, timeout=30) as on_b,
        ):
            login = await on_a.get("/api/v2/me", headers=AUTH)
            assert login.status_code == 200, login.text
            cookie = login.headers["set-cookie"].split(";")[0]
            session = {"Cookie": cookie, "X-CSRF-TOKEN": login.headers["X-CSRF-TOKEN"]}
            start = {"operationName": "StartContactCenterSession", "channels": ["email"]}
            assert (await on_b.post("/api/v2/me", json=start, headers=session)).status_code == 200
            # A forged token is refused on B too: B checks A's session, it does not wave everything through.
            forged = await on_b.post(GWS_SEND, json=SEND_BODY, headers={**session, "X-CSRF-TOKEN": "forged"})
            assert forged.status_code == 403
            client = notification_client(a.base_url, cookie, session["X-CSRF-TOKEN"])
            async with client:
                await client.subscribe("/v2/me/emails")
                await asyncio.sleep(0.3)  # the client's connect is held on A now
                sent = await on_b.post(GWS_SEND, json=SEND_BODY, headers=session)
                answered = time.monotonic()
                assert sent.status_code == 200, sent.text
                async for message in client:
                    if message["data"].get("referenceId") == sent.json()["referenceId"]:
                        # Well before A would look again by itself (PostgreSQL: every second): B's commit woke it.
                        assert time.monotonic() - answered < 0.5
                        return sent.json(), message
        raise AssertionError("the client closed before the notification arrived")

    sent, message = asyncio.run(asyncio.wait_for(scenario(), timeout=45))
    assert message["channel"] == "/v2/me/emails"
    assert message["data"]["notificationType"] == "StatusChange"
    assert message["data"]["referenceId"] == sent["referenceId"]


def test_reference_ids_stay_unique_and_increasing_per_user_across_replicas(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    with a.client() as on_a, b.client() as on_b:
        login = on_a.get("/api/v2/me", headers=AUTH)
        session = {"Cookie": login.headers["set-cookie"].split(";")[0], "X-CSRF-TOKEN": login.headers["X-CSRF-TOKEN"]}
        ids = []
        for index in range(8):
            client = on_a if index % 2 == 0 else on_b
            sent = client.post(GWS_SEND, json=SEND_BODY, headers=session)
            assert sent.status_code == 200, sent.text
            ids.append(sent.json()["referenceId"])
        # Another user's counter is their own.
        other = on_b.get("/api/v2/me", headers={"Authorization": "Basic " + "b3RoZXI6eA=="})
        theirs = {"Cookie": other.headers["set-cookie"].split(";")[0], "X-CSRF-TOKEN": other.headers["X-CSRF-TOKEN"]}
        first_of_other = on_a.post(GWS_SEND, json=SEND_BODY, headers=theirs).json()["referenceId"]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert first_of_other == 1


# -- the outbox ---------------------------------------------------------------------------------------------


def test_mail_sent_through_one_replica_is_listed_downloaded_waited_for_and_deleted_through_the_other(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    with a.client(**AUTH, **{"X-Mock-Namespace": "team-a"}) as on_a, b.client(**{"X-Mock-Namespace": "team-a"}) as on_b:
        # Waiting on B for a mail A has not yet accepted: B wakes when A commits it.
        woke: dict[str, Any] = {}

        def wait() -> None:
            found = on_b.get("/_mock/outbox/wait", params={"subject": "Kvartalsrapport", "timeout": 20})
            woke["at"] = time.monotonic()
            woke["response"] = found

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.5)
        sent = on_a.post(SEND, json=mail("Kvartalsrapport"))
        answered = time.monotonic()
        assert sent.status_code == 200, sent.text
        waiter.join(25)
        assert woke["response"].status_code == 200, woke["response"].text
        # Well before the fallback poll (PostgreSQL: 1 s): the NOTIFY woke it (SQLite workers look every 0.1 s).
        assert woke["at"] - answered < 0.5
        row = woke["response"].json()
        assert row["message_id"] == sent.json()[0]["MessageID"]

        listed = on_b.get("/_mock/outbox").json()
        assert [item["id"] for item in listed["items"]] == [row["id"]]
        raw = on_b.get(f"/_mock/outbox/{row['id']}/raw")
        assert raw.status_code == 200 and len(raw.content) == sent.json()[0]["Size"]
        assert b"Subject: Kvartalsrapport" in raw.content

        # Namespaces stay apart across replicas.
        assert on_b.get("/_mock/outbox", headers={"X-Mock-Namespace": "team-b"}).json()["count"] == 0
        on_a.post(SEND, json=mail("Andre"), headers={"X-Mock-Namespace": "team-b"})
        assert on_b.get("/_mock/outbox", headers={"X-Mock-Namespace": "team-b"}).json()["count"] == 1

        # Emptied through A, it is empty through B; the other namespace keeps its mail.
        assert on_a.delete("/_mock/outbox").status_code in (200, 204)
        assert on_b.get("/_mock/outbox").json()["count"] == 0
        assert on_b.get(f"/_mock/outbox/{row['id']}/raw").status_code == 404
        assert on_b.get("/_mock/outbox", headers={"X-Mock-Namespace": "team-b"}).json()["count"] == 1


def test_an_address_is_the_same_person_on_every_replica(pair: tuple[Replica, Replica]) -> None:
    """No --seed: the replicas still derive the same CRM directory (the run seed is agreed in the store)."""
    a, b = pair
    with a.client(**AUTH) as on_a, b.client(**AUTH) as on_b:
        [from_a] = on_a.post(SEND, json=mail("Hei", to="per.hansen@fjordtech.no")).json()
        [from_b] = on_b.post(SEND, json=mail("Hei", to="per.hansen@fjordtech.no")).json()
    assert from_a["To"][0]["PersonName"] and from_a["To"][0]["PersonName"] == from_b["To"][0]["PersonName"]
    assert from_a["To"][0]["PersonId"] == from_b["To"][0]["PersonId"]


# -- a replica that dies ------------------------------------------------------------------------------------


def test_a_killed_replica_loses_nothing_accepted_and_its_sibling_fails_only_what_it_left_in_flight(
    shared: SharedStore, tmp_path: Path
) -> None:
    """Load on A and B, both delivering to one slow SMTP server (the answer comes before delivery, so rows wait
    `queued`); A is killed with SIGKILL. Every mail answered 2xx is in the store; B marks A's queued rows failed
    once A's lease lapses, and leaves its own alone."""
    with ExitStack() as stack:
        port, received, _ = stack.enter_context(smtp_server(SmtpBehaviour(data_delay=0.5)))
        flags = ("--delivery", "sink", "--sink-port", str(port))
        a = stack.enter_context(replica(shared.url, tmp_path, *flags))
        b = stack.enter_context(replica(shared.url, tmp_path, *flags))
        accepted: dict[str, list[str]] = {"a": [], "b": []}
        stop = threading.Event()

        def load(name: str, target: Replica) -> None:
            with target.client(**AUTH) as client:
                for index in range(400):  # bounded: stops by itself
                    if stop.is_set():
                        return
                    try:
                        answer = client.post(SEND, json=mail(f"{name}-{index}"))
                    except httpx.TransportError:
                        return  # the replica was killed under this request: it was never answered
                    if answer.status_code == 200:
                        accepted[name].append(answer.json()[0]["MessageID"])

        loaders = [threading.Thread(target=load, args=(n, r)) for n, r in (("a", a), ("b", b))]
        for loader in loaders:
            loader.start()
        deadline = time.monotonic() + 20
        while len(accepted["a"]) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        a.kill()
        time.sleep(0.5)
        stop.set()
        for loader in loaders:
            loader.join(30)
        assert len(accepted["a"]) >= 20 and accepted["b"]

        owner_a = f"/{a.pid}/"
        stored = dict(shared.rows("SELECT message_id, owner FROM mails"))
        # Nothing answered 2xx is missing, whichever process answered it.
        assert set(accepted["a"]) | set(accepted["b"]) <= set(stored)
        # A had mail in flight when it died (a slow server, half a second a message).
        in_flight_of_a = [
            m
            for m, status, owner in shared.rows("SELECT message_id, status, owner FROM mails")
            if owner_a in owner and status == "queued"
        ]
        assert in_flight_of_a
        deadline = time.monotonic() + LEASE_SECONDS + 10
        while time.monotonic() < deadline:
            rows = shared.rows("SELECT message_id, status, error, owner FROM mails")
            if not any(owner_a in owner and status == "queued" for _, status, _, owner in rows):
                break
            time.sleep(0.25)
        for message_id, status, error, owner in rows:
            if owner_a in owner and message_id in in_flight_of_a:
                assert (status, error) == ("failed", INTERRUPTED)
            elif owner_a not in owner:
                assert error != INTERRUPTED, (message_id, status)
        # B's own mail still reaches the server.
        b_rows = [r for r in rows if owner_a not in r[3]]
        assert b_rows and received


# -- the database goes away ---------------------------------------------------------------------------------


def test_with_the_database_stopped_requests_fail_fast_in_the_vendors_shape_and_the_server_recovers(
    postgres_server: Postgres, postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL only: a SQLite file has no server to stop."""
    server = postgres_server
    with replica(postgres_url, tmp_path, "--delivery", "none", "--no-gws-csrf") as a, a.client(**AUTH) as client:
        assert client.post(SEND, json=mail("before")).status_code == 200
        server.stop("immediate")
        try:
            for _ in range(3):
                started = time.monotonic()
                answer = client.post(SEND, json=mail("while down"))
                assert time.monotonic() - started < 3
                assert answer.status_code == 500 and answer.headers["retry-after"] == "1"
                error = answer.json()
                assert error["ErrorType"] == "SoException" and error["Error"] is True
                assert "unavailable" in error["ErrorMessage"] and "Traceback" not in answer.text
            gws = client.post(GWS_SEND, json=SEND_BODY)
            assert gws.status_code == 500 and gws.json()["statusCode"] == 4
            control = client.get("/_mock/outbox")
            assert control.status_code == 500 and control.headers["content-type"] == "application/problem+json"
        finally:
            server.start()
        deadline = time.monotonic() + 20
        while True:
            answer = client.post(SEND, json=mail("after"))
            if answer.status_code == 200:
                break
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.2)
        subjects = [item["subject"] for item in client.get("/_mock/outbox").json()["items"]]
        assert "before" in subjects and "after" in subjects and "while down" not in subjects
