from __future__ import annotations

import pytest

from mockserver.settings import Settings


def test_env_twins_are_read_and_round_trip() -> None:
    env = {
        "MOCKSERVER_HOST": "0.0.0.0",
        "MOCKSERVER_PORT": "9090",
        "MOCKSERVER_SEED": "42",
        "MOCKSERVER_USERS": "tje0:Tje0, bob:pw",
        "MOCKSERVER_VALIDATE_RESPONSES": "yes",
        "MOCKSERVER_BASE_TIMEZONE": "America/New_York",
    }
    settings = Settings.from_env(env)
    assert (settings.host, settings.port, settings.seed) == ("0.0.0.0", 9090, 42)
    assert settings.users == ("tje0:Tje0", "bob:pw")
    assert settings.validate_responses is True
    assert Settings.from_env(settings.to_env()) == settings


def test_explicit_overrides_win_over_env() -> None:
    assert Settings.from_env({"MOCKSERVER_PORT": "9090"}, port=7070).port == 7070


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MOCKSERVER_PORT": "eighty"}, "MOCKSERVER_PORT"),
        ({"MOCKSERVER_VALIDATE_RESPONSES": "maybe"}, "MOCKSERVER_VALIDATE_RESPONSES"),
        ({"MOCKSERVER_BASE_TIMEZONE": "Mars/Olympus"}, "Mars/Olympus"),
        ({"MOCKSERVER_PORT": "70000"}, "port"),
        ({"MOCKSERVER_WORKERS": "0"}, "workers"),
        ({"MOCKSERVER_FROZEN_TIME": "soon"}, "frozen_time"),
    ],
)
def test_bad_values_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_run_seed_is_chosen_once_and_kept_but_a_given_seed_wins() -> None:
    settings = Settings().with_run_seed()
    assert settings.run_seed is not None and not settings.deterministic
    assert settings.with_run_seed() == settings
    assert Settings(seed=5).with_run_seed().effective_seed == 5
    with pytest.raises(RuntimeError):
        _ = Settings().effective_seed


def test_the_store_keeps_its_old_name_outbox_as_an_alias() -> None:
    assert Settings.from_env({"MOCKSERVER_OUTBOX": "old.sqlite3"}).store == "old.sqlite3"
    assert (
        Settings.from_env({"MOCKSERVER_OUTBOX": "old.sqlite3", "MOCKSERVER_STORE": "new.sqlite3"}).store
        == "new.sqlite3"
    )
    assert Settings.from_env({}, outbox="kw.sqlite3").store == "kw.sqlite3"
    assert Settings.from_env({}, outbox="kw.sqlite3", store="wins.sqlite3").store == "wins.sqlite3"


def test_the_stores_url_never_shows_in_the_settings_repr() -> None:
    settings = Settings(store="postgresql://mock:s3cret@db:5432/mock")
    assert "s3cret" not in repr(settings)
