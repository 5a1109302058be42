"""Schemathesis against the in-process app: every operation, every check, positive and negative data, every
request and response media type of the contract (XML responses really validated).

The app runs with a configured user list, so that schemathesis' `ignored_auth` probes (well-formed but
wrong credentials) must be refused; by default the mock accepts any well-formed credentials.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup

from mockserver import create_app
from mockserver.tools.conformance import call_and_validate, gws_session_headers
from tests.conftest import basic, mock_settings
from tests.servers import Dovecot, smtp_server

USER, PASSWORD = "conformance", "s3cret"
APP = create_app(mock_settings(seed=7, validate_responses=True, users=(f"{USER}:{PASSWORD}",)))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(modes=["positive", "negative"])
# The coverage phase enumerates every boundary of every nested property: ~10,000 cases per SuperOffice
# operation, minutes each. `make conformance-deep` (MOCKSERVER_CONFORMANCE_DEEP=1) adds it.
DEEP = os.environ.get("MOCKSERVER_CONFORMANCE_DEEP") == "1"
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"] if DEEP else ["examples", "fuzzing"])
with APP.test_client() as _login:
    # One GWS session (cookie + CSRF token) for the campaign; the SuperOffice operations ignore both.
    AUTH = gws_session_headers(lambda path, headers: _login.get(path, headers=headers), basic(USER, PASSWORD))


@pytest.mark.conformance
@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_contract(case: Any) -> None:
    call_and_validate(case, AUTH)


@pytest.mark.parametrize("accept", ["application/xml", "text/xml", "application/json"])
def test_responses_in_every_media_type_are_validated(accept: str) -> None:
    operation = schema["/api/v1/Agents/EMail/SendEMails"]["POST"]
    case = operation.Case(body={"Emails": [{"Subject": "x"}]}, media_type="application/json")
    response = case.call(headers={**AUTH, "Accept": accept})
    assert response.headers["content-type"] == [f"{accept}; charset=utf-8"]
    operation.validate_response(response)


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        (b"<IsSent>true</IsSent>", b"<IsSent>maybe</IsSent>"),  # not even readable as the schema's type
        (b"<Flags>Seen</Flags>", b"<Flags>Bogus</Flags>"),  # readable, but not a valid EMailFlags value
    ],
)
def test_a_wrong_xml_response_is_caught(good: bytes, bad: bytes) -> None:
    operation = schema["/api/v1/Agents/EMail/SendEMails"]["POST"]
    response = operation.Case(body={"Emails": [{"Subject": "x"}]}, media_type="application/json").call(
        headers={**AUTH, "Accept": "application/xml"}
    )
    assert good in response.content
    response.content = response.content.replace(good, bad)
    with pytest.raises((Failure, FailureGroup)):
        operation.validate_response(response)


def test_forms_go_out_in_bracket_notation() -> None:
    operation = schema["/api/v1/Agents/EMail/SendEMails"]["POST"]
    body = {"Emails": [{"To": [{"Address": "a@b.no"}], "IsSent": False}]}
    case = operation.Case(body=body, media_type="application/x-www-form-urlencoded")
    response = case.call(headers=AUTH)
    assert (
        response.request.body == b"Emails%5B0%5D%5BTo%5D%5B0%5D%5BAddress%5D=a%40b.no&Emails%5B0%5D%5BIsSent%5D=false"
    )
    assert response.status_code == 200


# The same campaign against the real-delivery mode: SMTP to a real aiosmtpd server, IMAP to a private Dovecot.


def _imap_safe(value: Any) -> Any:
    """Folder names Dovecot takes: the vendor's contract allows any string, a real IMAP server does not."""
    if isinstance(value, dict):
        return {
            key: (_folder(item) if key in ("Folder", "FolderName") and isinstance(item, str) else _imap_safe(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_imap_safe(item) for item in value]
    return value


def _folder(name: str) -> str:
    kept = "".join(c for c in name if c.isascii() and (c.isalnum() or c in " _-")).strip()[:40]
    return kept or "Sent"


@pytest.fixture(scope="module")
def real_delivery(imap_server: Dovecot) -> Iterator[Any]:
    """The app in `smtp` mode against real servers (what the SMTP server receives is asserted in test_delivery)."""
    with smtp_server() as (port, _, _):
        settings = mock_settings(
            seed=7,
            validate_responses=True,
            users=(f"{USER}:{PASSWORD}",),
            delivery="smtp",
            smtp_relay=f"smtp://127.0.0.1:{port}",
            imap_url=imap_server.url("conformance"),
            smtp_timeout=5,
            imap_timeout=5,
        )
        app = create_app(settings)
        real = schemathesis.openapi.from_asgi("/openapi.json", app)

        @real.hook
        def map_body(context: Any, body: Any) -> Any:
            return _imap_safe(body)

        with app.test_client() as login:
            headers = gws_session_headers(lambda path, h: login.get(path, headers=h), basic(USER, PASSWORD))
        yield real, headers


PATHS = [
    "/api/v1/Agents/EMail/SendEMails",
    "/api/v1/Agents/EMail/SaveToMailServer",
    "/api/v1/Agents/EMail/RelayMessage",
    "/api/v2/me/emails/{id}",
]


@pytest.mark.conformance
@pytest.mark.parametrize("path", PATHS)
def test_real_delivery_mode_conforms_to_its_contract(real_delivery: Any, path: str) -> None:
    real, headers = real_delivery
    operation = real[path]["POST"]
    cases = st.one_of(
        *operation.get_strategies_from_examples(),  # the contract's own examples, with real addresses
        operation.as_strategy(GenerationMode.POSITIVE, hooks=real.hooks),
        operation.as_strategy(GenerationMode.NEGATIVE, hooks=real.hooks),
    )

    @given(case=cases)
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        call_and_validate(case, headers)

    check()


# -- the command's default campaign, for every seed -----------------------------------------------------------


@pytest.mark.skipif(
    not DEEP,
    reason="~15 s per seed: `make conformance-deep` runs seeds 1-10; make test runs seeds 1 and 5 with fewer examples",
)
@pytest.mark.parametrize("seed", range(1, 11))
def test_the_default_campaign_passes_on_the_mock_for_every_seed(seed: int) -> None:
    from mockserver.tools import campaign
    from mockserver.tools.testing import running_mock

    plan = campaign.Campaign(seed=seed)
    auth = campaign.Auth(superoffice_basic=f"{USER}:{PASSWORD}", gws_basic=f"{USER}:{PASSWORD}")
    with running_mock(mock_settings(seed=seed, users=(f"{USER}:{PASSWORD}",))) as mock:
        report = plan.run(mock.base_url, auth)
    assert not report.failed, campaign.summary_text(report) + "\n" + campaign.failure_details(report)
