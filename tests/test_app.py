"""The wired app: contract and UI served, unknown routes and methods answered in the vendor's shape."""

from __future__ import annotations

import json

import yaml
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.app import runtime_of
from mockserver.contract import spec
from tests.conftest import AUTH, SEND, mock_settings


def test_contract_and_swagger_ui_are_served(client: TestClient) -> None:
    document = client.get("/openapi.json")
    assert document.status_code == 200
    assert document.json()["openapi"] == "3.0.3"
    ui = client.get("/ui/")
    assert ui.status_code == 200
    assert "swagger" in ui.text.lower()


def _as_json(document: object) -> object:
    """What a JSON answer makes of a YAML document: string keys, dates and times as ISO text."""
    return json.loads(json.dumps(document, default=lambda value: value.isoformat()))


def test_the_contract_is_served_as_written(client: TestClient) -> None:
    """Named components and their `$ref`s, as a client generator pointed at the URL should see them; only the
    `servers` say where the mock serves it."""
    written = _as_json(spec.load(spec.EMAIL_API))
    for served in (client.get("/openapi.json").json(), yaml.safe_load(client.get("/openapi.yaml").text)):
        assert served.pop("servers") == [{"url": ""}]
        assert served == {k: v for k, v in written.items() if k != "servers"}
        body = served["paths"][SEND]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/SendEMailsRequest"}
    control = client.get("/_mock/openapi.json").json()
    assert control.pop("servers") == [{"url": "/_mock"}]
    assert control == {k: v for k, v in _as_json(spec.load(spec.CONTROL_API)).items() if k != "servers"}


def test_the_json_view_of_the_contract_is_derived_from_the_written_one(client: TestClient) -> None:
    written = _as_json(spec.load(spec.EMAIL_API))
    for served in (
        client.get("/openapi.json?media=json").json(),
        yaml.safe_load(client.get("/openapi.yaml?media=json").text),
    ):
        served.pop("servers")
        assert served == {k: v for k, v in _as_json(spec.media_view(written, "json")).items() if k != "servers"}
        assert list(served["paths"][SEND]["post"]["requestBody"]["content"]) == ["application/json"]
    # the full contract is still there for everyone else, and an unknown view is a clear 400
    assert "application/xml" in client.get("/openapi.json").json()["paths"][SEND]["post"]["requestBody"]["content"]
    refused = client.get("/openapi.json?media=xml")
    assert refused.status_code == 400 and "json" in refused.json()["Message"]


def test_unknown_superoffice_path_is_a_webapi_404(client: TestClient) -> None:
    response = client.post("/api/v1/Agents/EMail/NoSuchThing", json={}, headers=AUTH)
    assert response.status_code == 404
    assert response.json()["Message"].startswith("No HTTP resource was found that matches the request URI")


def test_get_on_an_agent_url_is_a_405_with_allow(client: TestClient) -> None:
    response = client.get(SEND, headers=AUTH)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json() == {"Message": "The requested resource does not support http method 'GET'."}


def test_allow_names_every_method_of_a_path_with_several_routes(client: TestClient) -> None:
    """/api/v2/me has a GET and a POST route; Starlette's own Allow named only the first one's methods."""
    response = client.request("OPTIONS", "/api/v2/me", headers=AUTH)  # not a CORS preflight: no Origin
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_seed_header_is_on_every_success(client: TestClient) -> None:
    response = client.post(SEND, json={"Emails": []}, headers=AUTH)
    assert int(response.headers["X-Mock-Seed"]) >= 0


def test_the_gws_notification_listens_to_every_background_outcome() -> None:
    """The wiring, not the Runtime, hands the mail pipeline its one listener: the GWS notification."""
    assert len(runtime_of(create_app(mock_settings())).mail.listeners) == 1
