"""Errors in each vendor's shape: the shape follows from the path, the media type from Accept (SuperOffice only)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from connexion.exceptions import BadRequestProblem, ProblemException, UnsupportedMediaTypeProblem
from connexion.lifecycle import ConnexionRequest
from defusedxml import ElementTree
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.call import CannedResponse
from mockserver.contract import problems
from mockserver.mail.store import StoreUnavailable
from tests.conftest import AUTH, GWS_SEND, SEND, mock_settings

NOTIFY = "/api/v2/notifications"
CONTROL = "/_mock/outbox"
SECRET = "secret-token-4711 at /srv/app/mockserver/superoffice/handlers.py line 42"


def render(exc: Exception, path: str, accept: str | None = None, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
    status, body, headers = problems.render(exc, path=path, accept=accept, **kwargs)
    return status, orjson.loads(body), headers


def xml_fields(body: bytes) -> tuple[str, dict[str, str | None]]:
    root = ElementTree.fromstring(body)
    return root.tag, {child.tag: child.text for child in root}


# -- SuperOffice ----------------------------------------------------------------------------------------------


def test_superoffice_binding_errors_are_webapi_errors_with_the_detail_apart() -> None:
    status, body, headers = render(problems.bad_request("Emails[0].To is not an array"), SEND)
    assert status == 400
    assert body == {"Message": "The request is invalid.", "MessageDetail": "Emails[0].To is not an array"}
    assert headers["Content-Type"] == "application/json; charset=utf-8"


def test_a_detail_that_repeats_the_message_is_not_repeated() -> None:
    same = problems.MockProblem(400, "The request is invalid.", message="The request is invalid.")
    assert render(same, SEND)[1] == {"Message": "The request is invalid."}


@pytest.mark.parametrize(
    ("exc", "error_type"),
    [
        (problems.server_error("The SMTP server said no"), "SoException"),
        (problems.server_error("Quota", error_type="SoQuotaException"), "SoQuotaException"),
        (problems.forbidden("No access to the mail account"), "SoAccessDeniedException"),
        (problems.MockProblem(503, "Busy"), "SoException"),
        (problems.MockProblem(403, "Denied"), "SoAccessDeniedException"),
    ],
)
def test_superoffice_business_failures_are_service_exceptions(exc: problems.MockProblem, error_type: str) -> None:
    status, body, _ = render(exc, SEND)
    assert status == exc.status
    assert body == {
        "Error": True,
        "ErrorType": error_type,
        "ErrorMessage": exc.detail,
        "ErrorSource": "SuperOffice.Services.Implementation",
    }


@pytest.mark.parametrize("accept", ["application/xml", "text/xml", "text/xml;q=0.9, application/json;q=0.1"])
def test_superoffice_errors_are_xml_when_the_client_asks_for_xml(accept: str) -> None:
    status, body, headers = problems.render(problems.server_error("The SMTP server said no"), path=SEND, accept=accept)
    media_type = "text/xml" if accept.startswith("text/xml") else "application/xml"
    assert status == 500 and headers["Content-Type"] == f"{media_type}; charset=utf-8"
    assert xml_fields(body) == (
        "SoError",
        {
            "Error": "true",
            "ErrorType": "SoException",
            "ErrorMessage": "The SMTP server said no",
            "ErrorSource": "SuperOffice.Services.Implementation",
        },
    )
    _, body, _ = problems.render(problems.bad_request("Bad To"), path=SEND, accept=accept)
    assert xml_fields(body) == ("Error", {"Message": "The request is invalid.", "MessageDetail": "Bad To"})


@pytest.mark.parametrize("accept", [None, "", "*/*", "application/json", "text/json", "image/png"])
def test_superoffice_errors_are_json_otherwise(accept: str | None) -> None:
    status, body, headers = render(problems.bad_request("Bad To"), SEND, accept=accept)
    assert status == 400 and body["MessageDetail"] == "Bad To"
    expected = "text/json" if accept == "text/json" else "application/json"
    assert headers["Content-Type"] == f"{expected}; charset=utf-8"


def test_a_406_is_json_even_for_a_client_that_asked_for_xml() -> None:
    status, body, headers = render(problems.not_acceptable("application/xml", ["application/json"]), SEND, "text/xml")
    assert status == 406 and headers["Content-Type"] == "application/json; charset=utf-8"
    assert body["Message"] == "The requested media type 'application/xml' is not acceptable for this resource."
    assert "application/json" in body["MessageDetail"]


def test_superoffice_401_carries_its_challenge_and_keeps_one_given() -> None:
    status, body, headers = render(problems.unauthorized("No ticket"), SEND)
    assert status == 401 and headers["WWW-Authenticate"] == problems.SO_CHALLENGE
    assert body == {"Message": problems.SO_UNAUTHORIZED, "MessageDetail": "No ticket"}
    own = problems.MockProblem(401, "x", headers={"WWW-Authenticate": 'SOTicket realm="Online"'})
    assert render(own, SEND)[2]["WWW-Authenticate"] == 'SOTicket realm="Online"'


def test_extra_headers_are_kept_but_never_the_content_type() -> None:
    exc = problems.MockProblem(429, "Slow down", headers={"Retry-After": "5", "content-type": "text/html"})
    _, _, headers = problems.render(exc, path=SEND)
    assert headers == {"Content-Type": "application/json; charset=utf-8", "Retry-After": "5"}


def test_unsupported_media_type_names_the_carrier_of_the_operation() -> None:
    exc = UnsupportedMediaTypeProblem(detail="Invalid Content-type (text/plain), expected ['application/json']")
    status, body, _ = render(exc, "/api/v1/Agents/EMail/RelayMessage")
    assert status == 415
    assert body == {
        "Message": "The request entity's media type 'text/plain' is not supported for this resource.",
        "MessageDetail": "No MediaTypeFormatter is available to read an object of type 'RelayMessageRequest' from "
        "content with media type 'text/plain'.",
    }


def test_routing_errors_are_webapi_errors() -> None:
    url = "http://testserver/api/v1/Agents/EMail/Nothing"
    status, body, _ = render(HTTPException(404), "/api/v1/Agents/EMail/Nothing", url=url)
    assert status == 404
    assert body == {
        "Message": f"No HTTP resource was found that matches the request URI '{url}'.",
        "MessageDetail": "Resource not found",
    }
    status, body, _ = render(HTTPException(405), SEND, method="DELETE")
    assert (status, body) == (405, {"Message": "The requested resource does not support http method 'DELETE'."})


def test_connexion_problems_keep_their_status() -> None:
    status, body, _ = render(BadRequestProblem(detail="'Emails' is not an array"), SEND)
    assert (status, body) == (400, {"Message": "The request is invalid.", "MessageDetail": "'Emails' is not an array"})
    status, body, headers = render(ProblemException(status=401), SEND)
    assert (status, body) == (401, {"Message": problems.SO_UNAUTHORIZED})
    assert headers["WWW-Authenticate"] == problems.SO_CHALLENGE
    status, body, _ = render(ProblemException(status=409, title="Conflict", detail="Already saved"), SEND)
    assert (status, body) == (409, {"Message": "Conflict", "MessageDetail": "Already saved"})


# -- Genesys ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (problems.bad_request("Required parameter 'queueName' is missing", kind="missing"), 400, 1),
        (problems.bad_request("'to' is not an array"), 400, 2),
        (problems.bad_request("subject is too long", kind="range"), 400, 10),
        (problems.payload_too_large(1024), 413, 10),
        (problems.unauthorized("User not authenticated"), 401, 20),
        (problems.forbidden("Operation forbidden"), 403, 3),
        (problems.MockProblem(404, "No such interaction"), 404, 6),
        (problems.server_error("Backend down"), 500, 4),
        (problems.MockProblem(502, "Bad gateway"), 502, 4),
        (problems.MockProblem(400, "Already in use", gws_code=19), 400, 19),
        (problems.not_acceptable("text/xml", ["application/json"]), 406, 2),
    ],
)
def test_gws_errors_are_status_code_and_message_only(exc: problems.MockProblem, status: int, code: int) -> None:
    got_status, body, headers = render(exc, GWS_SEND, accept="application/xml")
    assert got_status == status
    assert body == {"statusCode": code, "statusMessage": exc.detail}
    assert headers["Content-Type"] == "application/json; charset=utf-8"  # GWS speaks JSON only


def test_gws_401_has_the_basic_challenge() -> None:
    _, _, headers = render(problems.unauthorized("User not authenticated"), "/api/v2/me")
    assert headers["WWW-Authenticate"] == problems.GWS_CHALLENGE


def test_gws_unsupported_media_type_does_not_sound_like_asp_net() -> None:
    exc = UnsupportedMediaTypeProblem(detail="Invalid Content-type (text/plain), expected ['application/json']")
    status, body, _ = render(exc, GWS_SEND)
    assert (status, body) == (
        415,
        {"statusCode": 2, "statusMessage": "Content type 'text/plain' is not supported; send application/json"},
    )


def test_gws_routing_errors() -> None:
    assert render(HTTPException(404), "/api/v2/nothing")[:2] == (
        404,
        {"statusCode": 6, "statusMessage": "Resource not found"},
    )
    status, body, _ = render(HTTPException(405), "/api/v2/me", method="DELETE")
    assert (status, body["statusCode"]) == (405, 2)


# -- CometD and the control API ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [NOTIFY, NOTIFY + "/", NOTIFY + "/connect", NOTIFY + "/a/b"])
def test_bayeux_errors_are_failure_arrays(path: str) -> None:
    status, body, headers = render(problems.bad_request("Invalid JSON"), path, accept="application/xml")
    assert (status, body) == (400, [{"successful": False, "error": "400::Invalid JSON"}])
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    status, body, headers = render(problems.unauthorized("User not authenticated"), path)
    assert body == [{"successful": False, "error": "401::User not authenticated"}]
    assert headers["WWW-Authenticate"] == problems.GWS_CHALLENGE


def test_a_path_that_only_starts_like_the_cometd_endpoint_is_plain_gws() -> None:
    status, body, _ = render(problems.bad_request("x"), NOTIFY + "s")
    assert (status, body) == (400, {"statusCode": 2, "statusMessage": "x"})


def test_control_api_errors_are_rfc_7807_problems() -> None:
    status, body, headers = render(problems.MockProblem(404, "No mail 7", message="Not Found"), CONTROL + "/7")
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    assert body == {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "No mail 7"}
    _, body, _ = render(HTTPException(405), CONTROL, method="PUT")
    assert body["status"] == 405 and body["title"] == "The requested resource does not support http method 'PUT'."


# -- the unexpected ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            SEND,
            {
                "Error": True,
                "ErrorType": "SoException",
                "ErrorMessage": "An internal error occurred.",
                "ErrorSource": "SuperOffice.Services.Implementation",
            },
        ),
        (GWS_SEND, {"statusCode": 4, "statusMessage": "An internal error occurred."}),
        (NOTIFY, [{"successful": False, "error": "500::An internal error occurred."}]),
        (CONTROL, {"type": "about:blank", "title": "Error", "status": 500, "detail": "An internal error occurred."}),
    ],
)
def test_an_unexpected_exception_is_a_vendor_500_that_says_nothing_about_it(
    path: str, expected: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="mockserver"):
        status, body, _ = problems.render(KeyError(SECRET), path=path)
    assert status == 500 and orjson.loads(body) == expected
    assert b"secret-token" not in body and b"Traceback" not in body and b"KeyError" not in body
    logged = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert [exc.args for exc in logged if exc is not None] == [(SECRET,)]  # the log has it, the client does not


def test_an_unreachable_store_is_a_passing_outage_and_any_other_connection_error_a_bug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The store says itself that its database is away (`backend_unavailable`): a vendor 500 that says so, with
    Retry-After and no traceback in the log. A ConnectionError without that mark (a reset socket a handler let
    through) is an unexpected error like any other."""
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        status, body, headers = problems.render(StoreUnavailable("the store's database is unavailable"), path=SEND)
    assert status == 500 and orjson.loads(body)["ErrorMessage"] == problems.BACKEND_UNAVAILABLE
    assert headers.get("Retry-After") == "1" and not [r for r in caplog.records if r.exc_info]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        status, body, _ = problems.render(ConnectionResetError(SECRET), path=SEND)
    assert status == 500 and orjson.loads(body)["ErrorMessage"] == "An internal error occurred."
    assert [r.exc_info[1].args for r in caplog.records if r.exc_info and r.exc_info[1]] == [(SECRET,)]


@pytest.fixture(scope="module")
def crashing_client() -> Iterator[TestClient]:
    """The real app with one extra route per path family that fails the way a bug would."""
    app = create_app(mock_settings(seed=8))

    def crash() -> None:
        raise RuntimeError(SECRET)

    for path in ("/api/v1/crash", "/api/v2/crash", "/_mock/crash"):
        app.add_url_rule(path, path, crash, methods=["GET"])
    with app.test_client() as client:
        yield client


@pytest.mark.parametrize(
    ("path", "accept", "content_type", "expected"),
    [
        (
            "/api/v1/crash",
            "application/json",
            "application/json; charset=utf-8",
            b'{"Error":true,"ErrorType":"SoException","ErrorMessage":"An internal error occurred.",'
            b'"ErrorSource":"SuperOffice.Services.Implementation"}',
        ),
        (
            "/api/v1/crash",
            "application/xml",
            "application/xml; charset=utf-8",
            b"<SoError><Error>true</Error><ErrorType>SoException</ErrorType>"
            b"<ErrorMessage>An internal error occurred.</ErrorMessage>"
            b"<ErrorSource>SuperOffice.Services.Implementation</ErrorSource></SoError>",
        ),
        (
            "/api/v2/crash",
            "application/xml",
            "application/json; charset=utf-8",
            b'{"statusCode":4,"statusMessage":"An internal error occurred."}',
        ),
        (
            "/_mock/crash",
            None,
            "application/problem+json",
            b'{"type":"about:blank","title":"Error","status":500,"detail":"An internal error occurred."}',
        ),
    ],
)
def test_a_crash_in_the_app_reaches_the_client_in_the_vendor_shape(
    crashing_client: TestClient, path: str, accept: str | None, content_type: str, expected: bytes
) -> None:
    response = crashing_client.get(path, headers={"Accept": accept} if accept else {})
    assert response.status_code == 500
    assert response.headers["content-type"] == content_type
    assert response.content == expected


# -- error_response ---------------------------------------------------------------------------------------------


def request_for(path: str, accept: str) -> ConnexionRequest:
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("testserver", 80),
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"accept", accept.encode())],
    }
    return ConnexionRequest(scope)


def test_error_response_renders_with_the_requests_path_and_accept() -> None:
    response = problems.error_response(request_for(SEND, "text/xml"), problems.bad_request("Bad To"))
    assert response.status_code == 400 and response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert xml_fields(response.body) == ("Error", {"Message": "The request is invalid.", "MessageDetail": "Bad To"})
    response = problems.error_response(request_for("/api/v1/nope", "*/*"), HTTPException(404))
    assert "'http://testserver/api/v1/nope'" in orjson.loads(response.body)["Message"]


def test_error_response_passes_a_canned_response_through_untouched() -> None:
    canned = Response(b"<x/>", status_code=503, headers={"X-Mock-Seed": "5"}, media_type="application/xml")
    response = problems.error_response(request_for(GWS_SEND, "application/json"), CannedResponse(canned))
    assert response.status_code == 503 and response.body == b"<x/>"
    assert response.headers["x-mock-seed"] == "5" and response.headers["content-type"] == "application/xml"


# -- through the app --------------------------------------------------------------------------------------------


def test_the_app_answers_each_family_in_its_own_shape() -> None:
    with create_app(mock_settings(seed=8)).test_client() as client:
        so = client.post(SEND, json={}, headers={"Accept": "text/xml"})
        gws = client.post(GWS_SEND, json={}, headers={**AUTH, "Accept": "application/xml"})
        cometd = client.post(NOTIFY, json=[], headers={**AUTH, "Accept": "application/xml"})
        control = client.get(CONTROL + "/987654")
    assert so.status_code == 401 and so.headers["content-type"] == "text/xml; charset=utf-8"
    assert so.headers["www-authenticate"] == problems.SO_CHALLENGE
    assert xml_fields(so.content)[0] == "Error"
    assert gws.status_code == 403 and set(gws.json()) == {"statusCode", "statusMessage"}
    assert cometd.status_code == 403 and cometd.json()[0]["successful"] is False
    assert control.status_code == 404 and control.headers["content-type"] == "application/problem+json"
    assert control.json()["status"] == 404
