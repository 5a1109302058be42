"""State that lives as long as one app: checked chaos, the last few accepted mails, clocks, seeds, latency."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from mockserver import create_app
from mockserver.app import runtime_of
from mockserver.controls import ChaosRule, Latency
from mockserver.mail.ingest import ACCEPTED_KEPT
from mockserver.mail.outbox import Filters
from mockserver.runtime import Runtime
from tests.conftest import AUTH, SEND, mock_settings


@pytest.mark.parametrize(
    ("chaos", "message"),
    [
        ("v1EMailAgent_Nothing=500:0.5", "chaos names unknown operation 'v1EMailAgent_Nothing'"),
        ("gwsNotifications_Post=500:0.5", "chaos cannot target gwsNotifications_Post"),
        ("gwsNotifications_PostTyped=404:1", "CometD endpoint answers Bayeux protocol replies"),
        ("v1EMailAgent_RelayMessage=406:0.5", "chaos status 406 is not documented for v1EMailAgent_RelayMessage"),
        ("gwsMe_Get=404:0.1", "chaos status 404 is not documented for gwsMe_Get"),
        ("*=418:0.1", "chaos status 418 is not documented for any operation"),
        ("*=503:0.01", "chaos status 503 is not documented for any operation"),
        ("*=500:0.1,gwsMe_Get=415:1", "chaos status 415 is not documented for gwsMe_Get"),
    ],
)
def test_chaos_rules_the_contract_cannot_say_are_refused(chaos: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Runtime(mock_settings(chaos=chaos))


@pytest.mark.parametrize(
    ("chaos", "rules"),
    [
        (None, ()),
        ("v1EMailAgent_SendEMails=500:0.2", (ChaosRule("v1EMailAgent_SendEMails", 500, 0.2),)),
        # 404 is documented for one operation only (GWS Send): a `*` rule is fine, it applies there.
        ("*=404:0.5", (ChaosRule("*", 404, 0.5),)),
    ],
)
def test_chaos_rules_the_contract_documents_are_kept(chaos: str | None, rules: Any) -> None:
    assert Runtime(mock_settings(chaos=chaos)).chaos == rules


def test_only_the_last_few_accepted_mails_are_kept_in_process() -> None:
    app = create_app(mock_settings(seed=2))
    subjects = [f"Mail {n}" for n in range(ACCEPTED_KEPT + 5)]
    emails = [
        {"From": {"Address": "a@nordlys.no"}, "To": [{"Address": "b@fjordtech.no"}], "Subject": s} for s in subjects
    ]
    with app.test_client() as client:
        response = client.post(SEND, json={"Emails": emails}, headers=AUTH)
    assert response.status_code == 200, response.text
    runtime = runtime_of(app)
    kept = [s.mail.subject for s in runtime.mail.accepted]
    assert kept == subjects[-ACCEPTED_KEPT:]  # newest last
    assert runtime.mail.outbox.count(Filters()) == len(subjects)


def test_with_a_seed_the_clock_is_frozen_with_a_request_seeded_fraction() -> None:
    runtime = Runtime(mock_settings(seed=2, frozen_time="2025-05-13T10:24:31+02:00"))
    one, again, other = runtime.now(runtime.gen(7)), runtime.now(runtime.gen(7)), runtime.now(runtime.gen(8))
    assert one.value == again.value
    assert one.value.replace(microsecond=0).isoformat() == "2025-05-13T10:24:31+02:00"
    assert other.value.replace(microsecond=0) == one.value.replace(microsecond=0)
    assert other.value.microsecond != one.value.microsecond  # the fraction follows the request's seed


def test_without_a_seed_the_clock_runs_in_the_base_zone() -> None:
    runtime = Runtime(mock_settings(base_timezone="America/New_York"))
    assert runtime.frozen_now is None
    before = datetime.now(runtime.base_zone)
    now = runtime.now(runtime.gen(1)).value
    assert before <= now <= datetime.now(runtime.base_zone)
    assert str(now.tzinfo) == "America/New_York"


def test_the_instant_of_a_request_is_the_clock_and_draws_only_from_a_frozen_one() -> None:
    frozen = Runtime(mock_settings(seed=2, frozen_time="2025-05-13T10:24:31+02:00"))
    assert frozen.instant(frozen.gen(7)) == frozen.now(frozen.gen(7)).value  # the seeded fraction, as `now`
    running = Runtime(mock_settings(base_timezone="America/New_York"))
    gen = running.gen(1)
    before = datetime.now(running.base_zone)
    instant = running.instant(gen)
    assert before <= instant <= datetime.now(running.base_zone)
    assert str(instant.tzinfo) == "America/New_York"
    # Nothing drawn: the generator's next draws are a fresh one's (its random source not even seeded yet).
    assert gen._rng is None
    assert [gen.server_id(), gen.item_id()] == [(fresh := running.gen(1)).server_id(), fresh.item_id()]


def test_run_seed_is_the_given_seed_or_one_drawn_for_the_run() -> None:
    assert Runtime(mock_settings(seed=99)).run_seed == 99
    drawn = Runtime(mock_settings())
    assert drawn.settings.run_seed == drawn.run_seed and drawn.settings.seed is None
    assert Runtime(mock_settings(run_seed=5)).run_seed == 5


def test_latency_setting_is_parsed_once() -> None:
    assert Runtime(mock_settings(latency="100-200")).latency == Latency("uniform", 100.0, 200.0)
    assert Runtime(mock_settings()).latency is None
