"""`mockserver conformance`: passes on the mock and on its real-delivery mode, fails on every deliberately
broken implementation (naming the check that caught it), writes JUnit, and reports drift between servers."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from mockserver import cli
from mockserver.tools import campaign
from mockserver.tools.testing import running_mock, serving
from tests.servers import smtp_server
from tests.tools.broken import BROKEN, GWS_PASSWORD, GWS_USER, SO_PASSWORD, SO_USER, Broken, server_settings

AUTH = campaign.Auth(superoffice_basic=f"{SO_USER}:{SO_PASSWORD}", gws_basic=f"{GWS_USER}:{GWS_PASSWORD}")
CREDENTIALS = ["--basic", f"{SO_USER}:{SO_PASSWORD}", "--gws-basic", f"{GWS_USER}:{GWS_PASSWORD}"]
SEED, EXAMPLES = 5, 12


@pytest.fixture(scope="module")
def plan() -> campaign.Campaign:
    """One campaign, generated once, sent to every server below: the same cases for all of them."""
    built = campaign.Campaign(max_examples=EXAMPLES, seed=SEED)
    built.plan()
    return built


def explain(report: campaign.Report) -> str:
    return campaign.summary_text(report) + "\n" + campaign.failure_details(report)


def failed_checks(report: campaign.Report) -> set[str]:
    return {f["check"] for result in report.results for f in result.failures}


def test_the_campaign_covers_every_operation_and_mode(plan: campaign.Campaign) -> None:
    planned = plan.plan()
    operations = {item.operation for item in planned}
    assert len(operations) == 9 and "POST /api/v2/me/emails/{id}" in operations
    assert {item.mode for item in planned} == {"examples", "mutations", "boundaries", "positive", "negative"}
    assert any(item.note == "body.operationName = 'NotAMember'" for item in planned)
    bounds = {(item.operation_id, item.note) for item in planned if item.mode == "boundaries"}
    # the values where real servers break, on the side of the boundary the contract puts them
    assert ("v1EMailAgent_SendEMails", "allowed: body.Emails empty") in bounds
    assert ("v1EMailAgent_SendEMails", "allowed: body.Emails[0].To empty") in bounds
    assert ("v1EMailAgent_SendEMails", "allowed: body.Emails[0].Subject 1000 characters (no maxLength)") in bounds
    assert ("v1EMailAgent_SendEMails", "allowed: every nullable property null") in bounds
    assert ("gwsEmail_Send", "forbidden: body.email.to one under minItems 1") in bounds
    assert ("gwsEmail_Send", "forbidden: body.queueName one under minLength 1") in bounds
    per_operation = Counter(item.operation for item in planned if item.mode == "boundaries")
    assert max(per_operation.values()) <= campaign.MAX_BOUNDARIES
    assert {"POST /api/v1/Agents/EMail/RelayMessage", "POST /api/v2/me/emails/{id}"} <= set(per_operation)
    assert not plan.skipped, plan.skipped
    again = campaign.Campaign(max_examples=EXAMPLES, seed=SEED).plan()
    assert [c.case.body for c in again] == [c.case.body for c in planned]  # the seed fixes the requests


def test_the_mock_passes(plan: campaign.Campaign) -> None:
    with running_mock(server_settings()) as mock:
        report = plan.run(mock.base_url, AUTH)
    assert not report.failed, explain(report)
    assert len(report.results) == len(plan.plan())
    assert set(report.checks) >= {
        "not_a_server_error",
        "response_schema_conformance",
        "ignored_auth",
        "select_honoured",
    }


def test_the_real_delivery_mode_passes(plan: campaign.Campaign) -> None:
    with smtp_server() as (port, received, _):
        settings = server_settings(delivery="smtp", smtp_relay=f"smtp://127.0.0.1:{port}", smtp_timeout=5)
        with running_mock(settings) as mock:
            report = plan.run(mock.base_url, AUTH)
            # Mail really went out over SMTP (GWS Send delivers in the background: let it finish).
            outbox = mock.runtime.mail.outbox
    assert not report.failed, explain(report)
    assert received, "nothing reached the SMTP server"
    assert outbox.count(campaign_filters()) > 0


def campaign_filters() -> Any:
    from mockserver.mail.outbox import Filters

    return Filters(status="sent")


def only(plan: campaign.Campaign, prefixes: tuple[str, ...]) -> campaign.Campaign:
    """The same campaign with only the cases of the operations named (as `--operations` would)."""
    narrowed = copy.copy(plan)
    narrowed.planned = [item for item in plan.plan() if item.operation_id.startswith(prefixes)]
    assert narrowed.planned
    return narrowed


@pytest.mark.parametrize("broken", BROKEN, ids=lambda b: b.name)
def test_every_broken_implementation_is_caught_by_the_right_check(plan: campaign.Campaign, broken: Broken) -> None:
    with serving(broken.build()) as base_url:
        report = only(plan, broken.operations).run(base_url, AUTH)
    assert report.failed, f"{broken.name} ({broken.defect}) passed:\n{explain(report)}"
    assert broken.catches in failed_checks(report), f"{broken.name}: caught only by {failed_checks(report)}"


def test_there_are_at_least_ten_broken_implementations() -> None:
    assert len(BROKEN) >= 10
    assert len({b.name for b in BROKEN}) == len(BROKEN)


# The command itself, as CI runs it.


def test_the_command_passes_on_the_mock_and_writes_junit_and_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit, report_file = tmp_path / "junit.xml", tmp_path / "report.json"
    with running_mock(server_settings()) as mock:
        code = cli.main(
            [
                "conformance",
                "--base-url",
                mock.base_url,
                *CREDENTIALS,
                "--max-examples",
                "3",
                "--seed",
                "1",
                "--junit",
                str(junit),
                "--report",
                str(report_file),
                "--quiet",
            ]
        )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASSED" in out and "POST /api/v1/Agents/EMail/SendEMails" in out
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    names = {case.get("name") for case in suite.iter("testcase")}
    assert names == {
        "POST /api/v1/Agents/EMail/SendEMails",
        "POST /api/v1/Agents/EMail/SaveToMailServer",
        "POST /api/v1/Agents/EMail/RelayMessage",
        "POST /api/v2/me/emails/{id}",
        "GET /api/v2/me",
        "POST /api/v2/me",
        "POST /api/v2/notifications",
        "POST /api/v2/notifications/",
        "POST /api/v2/notifications/{messageType}",
    }
    report = json.loads(report_file.read_text())
    assert report["passed"] is True and report["seed"] == 1
    assert SO_PASSWORD not in report_file.read_text() and GWS_PASSWORD not in junit.read_text()
    # coverage: what was exercised and what never was, per operation, in the report, JUnit and the summary
    send = report["operations"]["POST /api/v1/Agents/EMail/SendEMails"]["coverage"]
    assert "200" in send["status codes"]["exercised"] and "400" in send["status codes"]["exercised"]
    assert set(send["status codes"]["exercised"]) | set(send["status codes"]["never"]) == {
        "200",
        "400",
        "401",
        "403",
        "406",
        "415",
        "500",
    }
    assert "500" in send["status codes"]["never"]  # the mock never fails: a user is told that 500 went untested
    requests = send["request media types"]
    assert "application/json" in requests["exercised"]
    assert set(requests["exercised"]) | set(requests["never"]) == set(requests["documented"])
    assert "application/merge-patch+json" in requests["documented"]
    assert {"application/json", "application/xml"} <= set(send["response media types"]["exercised"])
    priorities = {f"Emails[].Priority={p}" for p in ("NoPriority", "Highest", "High", "Normal", "Low", "Lowest")}
    assert priorities <= set(send["enum values"]["exercised"])  # each member, sent by the boundary cases
    assert set(send["enum values"]["documented"]) == set(send["enum values"]["exercised"]) | set(
        send["enum values"]["never"]
    )
    testcase = next(
        case for case in suite.iter("testcase") if case.get("name") == "POST /api/v1/Agents/EMail/SendEMails"
    )
    properties = {p.get("name"): p.get("value") for p in testcase.iter("property")}
    assert "500" in properties["coverage.status codes.never"].split(", ")
    assert "Coverage" in out and "POST /api/v1/Agents/EMail/SendEMails: never status codes" in out


def test_the_command_fails_on_a_broken_server_and_says_which_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = next(b for b in BROKEN if b.name == "relay-200")
    junit = tmp_path / "junit.xml"
    with serving(broken.build()) as base_url:
        code = cli.main(
            [
                "conformance",
                "--base-url",
                base_url,
                *CREDENTIALS,
                "--operations",
                "v1EMailAgent_RelayMessage",
                "--max-examples",
                "5",
                "--junit",
                str(junit),
                "--quiet",
            ]
        )
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED" in out and "status_code_conformance" in out and "Reproduce: curl" in out
    [failure] = list(ElementTree.parse(junit).getroot().iter("failure"))
    assert "status_code_conformance" in (failure.get("type") or "")


def test_the_commands_default_campaign_includes_the_single_violation_mutations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An unknown Priority accepted as Normal is found by the mutations, which the command runs by default."""
    broken = next(b for b in BROKEN if b.name == "invalid-priority")
    with serving(broken.build()) as base_url:
        code = cli.main(
            [
                "conformance",
                "--base-url",
                base_url,
                *CREDENTIALS,
                "--operations",
                "v1EMailAgent_SendEMails",
                "--max-examples",
                "1",
                "--checks",
                "negative_data_rejection",
                "--quiet",
            ]
        )
    out = capsys.readouterr().out
    assert code == 1
    assert "Priority" in out and "negative_data_rejection" in out


def test_an_unreachable_comparison_server_is_an_error_not_a_crash(capsys: pytest.CaptureFixture[str]) -> None:
    with running_mock(server_settings()) as mock:
        code = cli.main(
            [
                "conformance",
                "--base-url",
                mock.base_url,
                "--compare-url",
                "http://127.0.0.1:9",
                *CREDENTIALS,
                "--operations",
                "v1EMailAgent_RelayMessage",
                "--max-examples",
                "1",
                "--quiet",
            ]
        )
    assert code == 2
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_the_command_explains_an_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "conformance",
            "--base-url",
            "http://127.0.0.1:9",
            *CREDENTIALS,
            "--max-examples",
            "1",
            "--operations",
            "gwsMe_Get",
            "--quiet",
        ]
    )
    assert code == 2
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


DRIFT_MODES = ("examples", "mutations", "positive", "negative")


def test_drift_finds_the_planted_differences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drift_file = tmp_path / "drift.json"
    relay_200 = next(b for b in BROKEN if b.name == "relay-200")
    text_plain = next(b for b in BROKEN if b.name == "text-plain")
    wrong_type = next(b for b in BROKEN if b.name == "wrong-type")
    with running_mock(server_settings()) as mock, running_mock(server_settings()) as twin:
        same = cli.main(
            [
                "conformance",
                "--base-url",
                mock.base_url,
                "--compare-url",
                twin.base_url,
                *CREDENTIALS,
                "--operations",
                "EMail_Agent",
                "--max-examples",
                "4",
                "--modes",  # the boundary cases find nothing these three defects do not already show
                *DRIFT_MODES,
                "--drift-report",
                str(drift_file),
                "--quiet",
            ]
        )
        assert same == 0
        assert json.loads(drift_file.read_text())["differences"] == {}  # the same seed: the same answers
        for broken in (relay_200, text_plain, wrong_type):
            with serving(broken.build()) as base_url:
                code = cli.main(
                    [
                        "conformance",
                        "--base-url",
                        mock.base_url,
                        "--compare-url",
                        base_url,
                        *CREDENTIALS,
                        "--operations",
                        "EMail_Agent",
                        "--max-examples",
                        "4",
                        "--modes",
                        *DRIFT_MODES,
                        "--drift-report",
                        str(tmp_path / f"{broken.name}.json"),
                        "--quiet",
                    ]
                )
                assert code == 1, broken.name  # the second server is judged too
    relay = json.loads((tmp_path / "relay-200.json").read_text())["differences"]
    assert relay["POST /api/v1/Agents/EMail/RelayMessage"]["status"]["values"] == {
        "204 vs 200": relay["POST /api/v1/Agents/EMail/RelayMessage"]["status"]["count"]
    }
    plain = json.loads((tmp_path / "text-plain.json").read_text())["differences"]
    assert "application/json vs text/plain" in plain["POST /api/v1/Agents/EMail/SendEMails"]["media_type"]["values"]
    typed = json.loads((tmp_path / "wrong-type.json").read_text())["differences"]
    [detail] = list(typed["POST /api/v1/Agents/EMail/SendEMails"]["schema_paths"]["values"])[:1]
    assert "$[].Size:number" in detail and "$[].Size:string" in detail
    assert set(typed) == {"POST /api/v1/Agents/EMail/SendEMails"}  # nothing else differs
    out = capsys.readouterr().out
    assert "Drift between" in out and "status: " in out
