"""The private PostgreSQL the tests start (tests/servers.py): reachable, writable, and stoppable mid-test."""

from __future__ import annotations

import psycopg
import pytest

from tests.servers import Postgres


def test_a_fresh_database_per_test_takes_a_table_and_a_row(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://mock:") and "@127.0.0.1:" in postgres_url
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        connection.execute("CREATE TABLE outbox (id serial PRIMARY KEY, subject text NOT NULL)")
        connection.execute("INSERT INTO outbox (subject) VALUES (%s)", ("Hei på deg ✉",))
        connection.commit()
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT id, subject FROM outbox").fetchall() == [(1, "Hei på deg ✉")]
        settings = connection.execute(
            "SELECT current_user, current_setting('server_encoding'), current_setting('listen_addresses')"
        ).fetchone()
        assert settings == ("mock", "UTF8", "127.0.0.1")


def test_the_password_is_required_over_tcp(postgres_server: Postgres) -> None:
    wrong = postgres_server.url().replace(postgres_server.password, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_the_server_stops_and_starts_again_on_the_same_port(postgres_server: Postgres, postgres_url: str) -> None:
    port = postgres_server.port
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (value int)")
        connection.execute("INSERT INTO kept VALUES (42)")
    held = psycopg.connect(postgres_url, autocommit=True)  # a client of the server while it goes away
    try:
        postgres_server.stop()
        assert not postgres_server.running
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(postgres_url, connect_timeout=2)
    finally:
        held.close()
        postgres_server.start()
    assert postgres_server.running and postgres_server.port == port
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT value FROM kept").fetchall() == [(42,)]
