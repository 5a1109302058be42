"""`mockserver examples`: the docs payloads under fixtures/examples/ are the mock's own answers, and stay so."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest

from mockserver.contract import spec, wire
from mockserver.tools import examples

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "examples"
REGENERATE = ".venv/bin/python -m mockserver examples --out fixtures/examples"
VENDOR_OPERATIONS = ["v1EMailAgent_SendEMails", "v1EMailAgent_SaveToMailServer", "v1EMailAgent_RelayMessage"]
SHOWN_SO_HEADERS = ["Authorization", "Accept", "Accept-Language", "Content-Type"]


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return examples.generate(None, examples.FORMATS, examples.DEFAULT_SEED)


def _json_files(files: dict[str, str]) -> dict[str, Any]:
    return {name: json.loads(text) for name, text in files.items() if name.startswith("json/")}


def _split_exchange(text: str) -> tuple[str, str, str, str]:
    """(request head, request body, response head, response body) of one exchange as the vendor prints it."""
    request, _, response = text.partition("\nHTTP/1.1 ")
    request_head, _, request_body = request.partition("\n\n")
    response_head, _, response_body = ("HTTP/1.1 " + response).partition("\n\n")
    return request_head, request_body.strip(), response_head, response_body.strip()


def _assert_valid(schema: Any, value: Any, where: str) -> None:
    errors = [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in wire.contract_validator(schema).iter_errors(value)
    ]
    assert not errors, f"{where}: " + "; ".join(errors[:5])


def _assert_response_valid(operation_id: str, status: int, body: Any, where: str) -> None:
    described = spec.response_schema(operation_id, status, "application/json")
    if described is None:
        assert body is None, f"{where}: {status} documents no body, got one"
        return
    _assert_valid(described[0], body, where)


def test_fixtures_are_what_the_mock_generates(generated: dict[str, str], tmp_path: Path) -> None:
    examples.write(generated, tmp_path)
    fresh = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    kept = {p.relative_to(EXAMPLES_DIR).as_posix(): p.read_bytes() for p in EXAMPLES_DIR.rglob("*") if p.is_file()}
    how = f"fixtures/examples/ is out of date; regenerate it with `{REGENERATE}`"
    assert sorted(fresh) == sorted(kept), f"{how} (and delete files it no longer writes)"
    changed = [name for name in fresh if fresh[name] != kept[name]]
    assert not changed, f"{how}; differing: {', '.join(changed)}"


def test_all_four_operations_and_every_named_example_are_covered(generated: dict[str, str]) -> None:
    for operation_id in [*VENDOR_OPERATIONS, "gwsEmail_Send"]:
        assert f"markdown/{operation_id}.md" in generated
        for example in examples.request_examples(operation_id):
            assert f"http/{operation_id}.{example}.http" in generated
            assert f"json/{operation_id}.{example}.json" in generated
            assert (f"xml/{operation_id}.{example}.http" in generated) == (operation_id != "gwsEmail_Send")
    assert "README.md" in generated


def test_every_body_is_valid_against_the_contract(generated: dict[str, str]) -> None:
    for name, document in _json_files(generated).items():
        operation_id = document["operation"]
        request, response = document["request"], document["response"]
        errors = list(wire.request_validator(operation_id).iter_errors(request["body"]))
        assert not errors, f"{name}: request body: {errors[0].message}"
        _assert_response_valid(operation_id, response["status"], response["body"], f"{name}: response")
        if "session" in document:
            session = document["session"]["response"]
            _assert_response_valid("gwsMe_Get", session["status"], session["body"], f"{name}: login response")
        if "notification" in document:
            _assert_valid(
                {"$ref": "#/components/schemas/GwsEmailStateChangeMessage"},
                document["notification"]["data"],
                f"{name}: notification",
            )
    xml_files = {name: text for name, text in generated.items() if name.startswith("xml/")}
    assert xml_files
    for name, text in xml_files.items():
        operation_id = Path(name).name.split(".", 1)[0]
        _, request_body, response_head, response_body = _split_exchange(text)
        assert wire.wire_body_is_valid(operation_id, "application/xml", request_body.encode()), name
        status = int(response_head.split()[1])
        if not response_body:
            _assert_response_valid(operation_id, status, None, name)
            continue
        value = wire.read_xml(operation_id, status, "application/xml", response_body.encode())
        _assert_response_valid(operation_id, status, value, f"{name}: response")


def test_http_files_have_the_vendor_layout(generated: dict[str, str]) -> None:
    for operation_id in VENDOR_OPERATIONS:
        path = spec.load()["paths"]
        [template] = [p for p, item in path.items() if item.get("post", {}).get("operationId") == operation_id]
        for example in examples.request_examples(operation_id):
            for name in (f"http/{operation_id}.{example}.http", f"xml/{operation_id}.{example}.http"):
                lines = generated[name].split("\n")
                assert lines[0] == f"POST {template}", name
                assert [line.split(":", 1)[0] for line in lines[1:5]] == SHOWN_SO_HEADERS, name
                assert lines[1] == "Authorization: Basic dGplMDpUamUw"  # the vendor's sample credential
                assert lines[5] == "", name
                media = "application/xml" if name.startswith("xml/") else "application/json"
                assert lines[4] == f"Content-Type: {media}; charset=utf-8"
                assert lines[6].startswith("<" if media == "application/xml" else "{"), name
                status = next(line for line in lines if line.startswith("HTTP/1.1 "))
                expected = "HTTP/1.1 204 No Content" if operation_id.endswith("RelayMessage") else "HTTP/1.1 200 OK"
                assert status == expected, name
                if expected.endswith("OK"):
                    after = lines[lines.index(status) + 1 :]
                    assert after[0] == f"Content-Type: {media}; charset=utf-8" and after[1] == "", name
                assert generated[name].endswith("\n") and not generated[name].endswith("\n\n"), name
    gws = generated["http/gwsEmail_Send.docsSample.http"]
    login, send, notification = gws.split("\n###\n\n")
    assert "\nGET /api/v2/me\nAuthorization: Basic dGplMDpUamUw\n" in login
    assert re.search(r"\nSet-Cookie: JSESSIONID=([a-z0-9]{26}); Path=/; HttpOnly\n", login)
    token = re.search(r"\nX-CSRF-TOKEN: ([0-9a-f-]{36})\n", login)
    cookie = re.search(r"JSESSIONID=([a-z0-9]{26})", login)
    assert token and cookie
    send_head = send[send.index("POST ") :].split("\n\n", 1)[0].split("\n")
    assert send_head == [
        "POST /api/v2/me/emails/0071023821aec011",
        f"Cookie: JSESSIONID={cookie.group(1)}",
        f"X-CSRF-TOKEN: {token.group(1)}",
        "Accept: application/json",
        "Content-Type: application/json",
    ]
    assert "\nHTTP/1.1 200 OK\nContent-Type: application/json; charset=utf-8\n\n" in send
    assert notification.startswith("# 3. ")


def test_markdown_pages_read_like_the_reference_pages(generated: dict[str, str]) -> None:
    page = generated["markdown/v1EMailAgent_SendEMails.md"]
    assert page.startswith(
        "# POST /api/v1/Agents/EMail/SendEMails\n\n```http\nPOST /api/v1/Agents/EMail/SendEMails\n```"
    )
    assert "Send the provided e-mails" in page
    for example in examples.request_examples("v1EMailAgent_SendEMails"):
        assert f"## Sample: {example}\n" in page
        assert f"[page](markdown/v1EMailAgent_SendEMails.md#sample-{example.lower()})" in generated["README.md"]
    assert page.count("### Sample request\n\n```http\nPOST /api/v1/Agents/EMail/SendEMails\n") == 3
    assert page.count("### Sample response\n\n```http\nHTTP/1.1 200 OK\n") == 3
    gws = generated["markdown/gwsEmail_Send.md"]
    assert "## Session\n" in gws and gws.count("### Notification\n") == 2


def test_responses_follow_from_the_requests(generated: dict[str, str]) -> None:
    documents = _json_files(generated)
    send = documents["json/v1EMailAgent_SendEMails.minimal.json"]
    mails = send["request"]["body"]["Emails"]
    answered = send["response"]["body"]
    assert len(answered) == len(mails)
    for mail, entity in zip(mails, answered, strict=True):
        assert entity["Subject"] == mail["Subject"]
        assert entity["PlainBody"] == mail["PlainBody"]
        assert [r["Address"] for r in entity["To"]] == [r["Address"] for r in mail["To"]]
        assert entity["From"]["Address"] == mail["From"]["Address"]
        assert re.fullmatch(r"<[0-9a-f-]{36}@nordlys\.example>", entity["MessageID"])
        assert entity["IsSent"] is True and entity["Sent"].startswith("2025-05-13T10:24:31.")
    save = documents["json/v1EMailAgent_SaveToMailServer.docsSample.json"]
    assert save["response"]["body"]["Subject"] == save["request"]["body"]["Email"]["Subject"]
    relay = documents["json/v1EMailAgent_RelayMessage.message.json"]
    assert relay["response"] == {"status": 204, "headers": {}, "body": None}
    for example in ("docsSample", "docsSampleCcBcc"):
        gws = documents[f"json/gwsEmail_Send.{example}.json"]
        email = gws["request"]["body"]["email"]
        assert gws["response"]["body"]["statusCode"] == 0
        data = gws["notification"]["data"]
        assert data["referenceId"] == gws["response"]["body"]["referenceId"] == 1
        assert data["email"]["to"] == email["to"] and data["email"]["subject"] == email["subject"]
        assert data["email"].get("cc") == email.get("cc") and data["email"]["state"] == "Sent"
        assert data["email"]["id"] == gws["request"]["path"].rsplit("/", 1)[1]


def _skeleton(value: Any) -> Any:
    """The shape of a response: carriers' property names and list lengths, without values (FieldProperties'
    keys are drawn from the seed, so only its presence counts)."""
    if isinstance(value, dict):
        return {k: None if k == "FieldProperties" else _skeleton(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_skeleton(item) for item in value]
    return None


def test_another_seed_changes_values_not_shape(generated: dict[str, str]) -> None:
    other = examples.generate(["SendEMails", "/api/v2/me/emails/0071023821aec011"], ["json"], seed=1)
    assert sorted(other) == sorted(
        name
        for name in generated
        if name.startswith("json/") and "EMailAgent_SaveTo" not in name and "Relay" not in name
    )
    for name, text in other.items():
        before, after = json.loads(generated[name]), json.loads(text)
        assert text != generated[name], name
        # The request is the contract's example; only the GWS session's stand-ins follow the seed.
        same = ("method", "path", "body")
        assert [after["request"][k] for k in same] == [before["request"][k] for k in same], name
        assert list(after["request"]["headers"]) == list(before["request"]["headers"]), name
        assert (after["response"]["status"], after["response"]["headers"]) == (
            before["response"]["status"],
            before["response"]["headers"],
        )
        assert _skeleton(after["response"]["body"]) == _skeleton(before["response"]["body"]), name
    minimal = "json/v1EMailAgent_SendEMails.minimal.json"
    [first], [second] = (
        json.loads(generated[minimal])["response"]["body"],
        json.loads(other[minimal])["response"]["body"],
    )
    assert first["MessageID"] != second["MessageID"] and first["Subject"] == second["Subject"]


def _args(**values: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    examples.add_arguments(parser)
    argv = [item for key, value in values.items() for item in (f"--{key}", str(value))]
    return parser.parse_args(argv)


def test_main_refuses_an_unknown_operation(capsys: pytest.CaptureFixture[str]) -> None:
    assert examples.main(_args(operation="v1EMailAgent_Nope")) == 2
    error = capsys.readouterr().err
    assert "unknown operation 'v1EMailAgent_Nope'" in error and "v1EMailAgent_SendEMails" in error


def test_operations_are_named_by_id_or_path() -> None:
    assert examples.select_operations(["v1emailagent_sendemails"]) == ["v1EMailAgent_SendEMails"]
    assert examples.select_operations(["/api/v1/Agents/EMail/RelayMessage"]) == ["v1EMailAgent_RelayMessage"]
    assert examples.select_operations(["POST /api/v2/me/emails/{id}"]) == ["gwsEmail_Send"]
    assert examples.select_operations(["SaveToMailServer", "gwsEmail_Send"]) == [
        "v1EMailAgent_SaveToMailServer",
        "gwsEmail_Send",
    ]
    assert examples.select_operations(None) == [*VENDOR_OPERATIONS, "gwsEmail_Send"]
