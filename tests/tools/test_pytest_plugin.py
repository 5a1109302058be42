"""The pytest plugin: the README's example runs as a user's suite would (through pytester, in a fresh process
where only the entry point brings the fixtures in), its options work, and this suite uses the fixtures itself."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from mockserver.mail.outbox import Filters
from mockserver.tools.pytest_plugin import MailNotFound, MockServer, Outbox
from mockserver.tools.testing import running_mock
from tests.conftest import AUTH, RELAY, SEND, mock_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- example: pytest-plugin.*?-->\n```python\n(.*?)```", text, re.S)
    assert found, "the README lost its pytest plugin example"
    return found.group(1)


def mail(to: str, subject: str) -> dict[str, object]:
    return {"Emails": [{"From": {"Address": "anna.berg@nordlys.no"}, "To": [{"Address": to}], "Subject": subject}]}


def test_the_readme_example_passes_as_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_welcome_mail=readme_example())
    # A strict suite (every warning an error, as this project's own) must not trip over the mock's imports.
    result = pytester.runpytest_subprocess("-q", "-W", "error")
    result.assert_outcomes(passed=2)
    assert "warnings" not in result.stdout.str()


def test_a_mail_that_never_came_fails_saying_what_did(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_wrong_recipient(mock_client, outbox):
            mail = {"To": [{"Address": "kari@fjordtech.no"}], "Subject": "Tilbud 42"}
            assert mock_client.post("/api/v1/Agents/EMail/SendEMails", json={"Emails": [mail]},
                                    auth=("u", "p")).status_code == 200
            outbox.wait_for(to="lars@fjordtech.no", timeout=0.3)
        """
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "MailNotFound: no mail matching {'to': 'lars@fjordtech.no'} within 0.3 s" in output
    assert "the outbox holds [('Tilbud 42', ['kari@fjordtech.no'], 'not-sent')]" in output


def test_ini_options_choose_delivery_and_users(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        mockserver_delivery = sink
        mockserver_users = tje0:Tje0
        mockserver_seed = 7
        """
    )
    pytester.makepyfile(
        """
        def test_delivered_over_smtp(mockserver, mock_client, outbox):
            assert mockserver.settings.delivery == "sink" and mockserver.settings.sink_port != 1025
            mail = {"To": [{"Address": "kari@fjordtech.no"}], "Subject": "Levert"}
            response = mock_client.post("/api/v1/Agents/EMail/SendEMails", json={"Emails": [mail]},
                                        auth=("tje0", "Tje0"))
            assert response.status_code == 200, response.text
            assert response.headers["X-Mock-Seed"]
            sent = outbox.wait_for_status(outbox.wait_for(subject="Levert"), "sent")
            assert sent["smtp_target"] == f"smtp://127.0.0.1:{mockserver.settings.sink_port}"

        def test_unknown_users_are_refused(mock_client):
            response = mock_client.post("/api/v1/Agents/EMail/SendEMails", json={"Emails": []},
                                        auth=("tje0", "wrong"))
            assert response.status_code == 401
        """
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=2)


def test_mockserver_url_runs_the_suite_against_a_server_already_serving(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_send(mockserver, mock_client, mock_namespace, outbox):
            assert mockserver.settings is None  # nothing started: the given server is used
            mail = {"To": [{"Address": "kari@fjordtech.no"}], "Subject": "Utenfra"}
            assert mock_client.post("/api/v1/Agents/EMail/SendEMails", json={"Emails": [mail]},
                                    auth=("u", "p")).status_code == 200
            assert outbox.wait_for(subject="Utenfra")["namespace"] == mock_namespace
            print(f"namespace={mock_namespace}")
            # Sent without a namespace: it stays after the test, for the outer test to find.
            mock_client.post("/api/v1/Agents/EMail/SendEMails", json={"Emails": [mail]}, auth=("u", "p"),
                             headers={"X-Mock-Namespace": ""})
        """
    )
    with running_mock(mock_settings(host="127.0.0.1")) as mock:
        outbox = mock.runtime.mail.outbox
        result = pytester.runpytest_subprocess("-q", "-s", f"--mockserver-url={mock.base_url}")
        result.assert_outcomes(passed=1)
        found = re.search(r"namespace=(\S+)", result.stdout.str())
        assert found and re.fullmatch(r"test_send-[0-9a-f]{8}", found.group(1))
        # The inner test's mail reached this server, and its namespace was emptied on teardown.
        assert outbox.count(Filters(namespace=found.group(1))) == 0
        assert outbox.count(Filters(namespace="", subject="Utenfra")) == 1


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_mockserver_store_lets_two_test_sessions_share_one_outbox(
    pytester: pytest.Pytester, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A CI fleet pointing `mockserver_store` at one database: a mail one session's mock accepted is seen by the
    mock of another session."""
    store = request.getfixturevalue("postgres_url") if kind == "postgresql" else str(pytester.path / "fleet.sqlite3")
    pytester.makepyfile(
        test_one="""
        def test_send(mockserver, mock_client):
            assert mockserver.settings.store.startswith(("postgresql://", "/"))
            mail = {"To": [{"Address": "kari@fjordtech.no"}], "Subject": "Fra flåten"}
            assert mock_client.post("/api/v1/Agents/EMail/SendEMails", json={"Emails": [mail]}, auth=("u", "p"),
                                    headers={"X-Mock-Namespace": "fleet"}).status_code == 200
        """
    )
    first = pytester.runpytest_subprocess("-q", f"--mockserver-store={store}")
    first.assert_outcomes(passed=1)
    pytester.makepyfile(
        test_one="""
        def test_sees_the_other_sessions_mail(mockserver):
            seen = mockserver.outbox("fleet", since_now=False).wait_for(subject="Fra flåten", timeout=5)
            assert seen["recipients"] == ["kari@fjordtech.no"]
        """
    )
    # The second session names the store through the environment twin instead of the option.
    monkeypatch.setenv("MOCKSERVER_STORE", store)
    second = pytester.runpytest_subprocess("-q")
    second.assert_outcomes(passed=1)


# This suite's own use of the fixtures (the plugin is active here through the same entry point).


def test_each_test_sees_only_its_own_namespace(
    mockserver: MockServer, mock_client: httpx.Client, outbox: Outbox
) -> None:
    other = mockserver.outbox("someone-else", since_now=False)
    before = len(other)
    assert mock_client.post(SEND, json=mail("kari@fjordtech.no", "Mitt"), headers=AUTH).status_code == 200
    httpx.post(
        mockserver.base_url + SEND,
        json=mail("lars@fjordtech.no", "Ditt"),
        headers={**AUTH, "X-Mock-Namespace": "someone-else"},
    ).raise_for_status()
    assert [m["subject"] for m in outbox.items()] == ["Mitt"]
    assert len(other) == before + 1
    assert other.wait_for(subject="Ditt")["recipients"] == ["lars@fjordtech.no"]
    with pytest.raises(MailNotFound):
        outbox.wait_for(subject="Ditt", timeout=0.2)


def test_shared_outbox_sees_only_mail_sent_after_the_test_began(mockserver: MockServer) -> None:
    httpx.post(mockserver.base_url + SEND, json=mail("a@fjordtech.no", "Før"), headers=AUTH).raise_for_status()
    shared = mockserver.outbox("")
    httpx.post(mockserver.base_url + SEND, json=mail("b@fjordtech.no", "Etter"), headers=AUTH).raise_for_status()
    assert [m["subject"] for m in shared.items()] == ["Etter"]
    assert shared.wait_for(to="b@fjordtech.no")["subject"] == "Etter"
    with pytest.raises(MailNotFound):
        shared.wait_for(subject="Før", timeout=0.2)


def test_the_outbox_gives_the_sent_mime_message(mock_client: httpx.Client, outbox: Outbox) -> None:
    body = mail("kari@fjordtech.no", "Vedlegg")
    body["Emails"][0]["PlainBody"] = "Hei Kari"  # type: ignore[index]
    [answer] = mock_client.post(SEND, json=body, headers=AUTH).json()
    found = outbox.wait_for(message_id=answer["MessageID"])
    message = outbox.message(found)
    assert message["Message-ID"] == answer["MessageID"]
    assert message.get_content().strip() == "Hei Kari"
    assert outbox.detail(found)["subject"] == "Vedlegg"
    assert outbox.reset() == 1 and len(outbox) == 0


def test_waits_longer_than_the_control_apis_limit_are_taken_in_steps(mock_client: httpx.Client, outbox: Outbox) -> None:
    assert mock_client.post(SEND, json=mail("kari@fjordtech.no", "Lenge"), headers=AUTH).status_code == 200
    # The control API refuses a single wait above 60 s; the helper must not pass that on as an HTTP error.
    assert outbox.wait_for(timeout=90, subject="Lenge")["subject"] == "Lenge"


def test_a_mail_without_message_id_is_waited_for_by_its_own_row(mock_client: httpx.Client, outbox: Outbox) -> None:
    assert mock_client.post(SEND, json=mail("kari@fjordtech.no", "Først"), headers=AUTH).status_code == 200
    relay = {"Rfc822": "From: a@nordlys.no\r\nSubject: Uten id\r\n\r\nHei", "Recipients": ["b@fjordtech.no"]}
    assert mock_client.post(RELAY, json=relay, headers=AUTH).status_code == 204
    relayed = outbox.wait_for(subject="Uten id")
    assert relayed["message_id"] is None
    assert outbox.wait_for_status(relayed, "not-sent")["id"] == relayed["id"]  # not the earlier mail's row
    with pytest.raises(MailNotFound, match="still 'not-sent'"):
        outbox.wait_for_status(relayed, "sent", timeout=0.2)
