"""The contract itself: valid OpenAPI 3.0.3, every operation has a real handler, its examples are valid."""

from __future__ import annotations

import inspect
from typing import Any

import jsonschema_rs
import pytest
import yaml
from openapi_spec_validator import validate

from mockserver import routing
from mockserver.contract import spec
from mockserver.contract.bodies import to_json_schema

METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in spec.load()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                found.append((path, method, operation))
    return found


def validator_for(ref: str) -> Any:
    schemas = {name: to_json_schema(s) for name, s in spec.load()["components"]["schemas"].items()}
    return jsonschema_rs.Draft4Validator({"components": {"schemas": schemas}, "$ref": ref}, validate_formats=True)


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = spec.load()["components"][section][name]
    return node


def test_document_is_valid_openapi_3_0_3() -> None:
    document = spec.load()
    assert document["openapi"] == "3.0.3"
    validate(document)


@pytest.mark.parametrize("name", [spec.EMAIL_API, spec.CONTROL_API])
def test_documents_load_as_the_pure_python_safe_loader_reads_them(name: str) -> None:
    # spec.load parses with libyaml for start-up time; PyYAML's own SafeLoader is the reference.
    text = (spec.spec_dir() / name).read_text(encoding="utf-8")
    assert spec.load(name) == yaml.load(text, Loader=yaml.SafeLoader)


def test_four_vendor_operations_are_described() -> None:
    ids = {op["operationId"] for _, _, op in operations()}
    assert ids >= {
        "v1EMailAgent_SendEMails",
        "v1EMailAgent_SaveToMailServer",
        "v1EMailAgent_RelayMessage",
        "gwsEmail_Send",
    }


@pytest.mark.parametrize(("path", "method", "operation"), operations(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_operation_resolves_to_a_real_async_handler(path: str, method: str, operation: dict[str, Any]) -> None:
    handler = routing.resolve(operation["operationId"])
    assert inspect.iscoroutinefunction(handler)
    assert handler.__module__ in routing.MODULES.values()
    assert operation.get("security"), f"{method.upper()} {path} declares no security"
    assert operation.get("summary")
    assert operation.get("description")


def examples() -> list[tuple[str, str, Any]]:
    """(example id, schema $ref, value) for every request and response example in the document."""
    found = []
    for _, _, operation in operations():
        body = operation.get("requestBody", {})
        for media, content in body.get("content", {}).items():
            for name, example in content.get("examples", {}).items():
                found.append(
                    (
                        f"{operation['operationId']} request {media} {name}",
                        content["schema"]["$ref"],
                        resolve(example)["value"],
                    )
                )
        for status, response in operation["responses"].items():
            response = resolve(response)
            for media, content in response.get("content", {}).items():
                schema = content["schema"]
                is_array = "items" in schema
                # A named carrier, maybe wrapped (`allOf`) to name its XML items or to make this use nullable.
                named = schema.get("items", {}) if is_array else schema
                schema_ref = named.get("$ref") or named["allOf"][0]["$ref"]
                values = [resolve(e)["value"] for e in content.get("examples", {}).values()]
                if "example" in content:
                    values.append(content["example"])
                for index, value in enumerate(values):
                    for item in value if is_array else [value]:
                        found.append((f"{operation['operationId']} {status} {media} #{index}", schema_ref, item))
    return found


@pytest.mark.parametrize(("name", "ref", "value"), examples(), ids=[e[0] for e in examples()])
def test_examples_validate_against_their_schemas(name: str, ref: str, value: Any) -> None:
    errors = [f"{list(e.instance_path)}: {e.message}" for e in validator_for(ref).iter_errors(value)]
    assert errors == []


CARRIERS = [
    name
    for name, schema in spec.load()["components"]["schemas"].items()
    if name.startswith(("EMail", "Field", "Table")) and schema.get("properties")  # FieldProperties is a map
]


def schema_validator(schema: dict[str, Any]) -> Any:
    schemas = {name: to_json_schema(s) for name, s in spec.load()["components"]["schemas"].items()}
    return jsonschema_rs.Draft4Validator({"components": {"schemas": schemas}, **to_json_schema(schema)})


def test_a_component_describes_the_carrier_and_is_not_itself_nullable() -> None:
    """Nullability is on each use (a client generator makes `T | null` of a nullable component everywhere)."""
    nullable = [name for name, schema in spec.load()["components"]["schemas"].items() if schema.get("nullable")]
    assert nullable == []


@pytest.mark.parametrize("carrier", CARRIERS)
def test_select_may_null_every_property_of_a_carrier(carrier: str) -> None:
    properties = spec.schema(carrier)["properties"]
    validator = validator_for(f"#/components/schemas/{carrier}")
    for name in properties:
        assert validator.is_valid({name: None}), f"{carrier}.{name}"
    assert not validator.is_valid(None)


def test_sendemails_answers_carriers_and_savetomailserver_may_answer_null() -> None:
    operations = spec.operations()
    sent = operations["v1EMailAgent_SendEMails"]["responses"]["200"]["content"]["application/json"]["schema"]
    saved = operations["v1EMailAgent_SaveToMailServer"]["responses"]["200"]["content"]["application/json"]["schema"]
    entity = {"Subject": "Møte", "To": [{"Address": "kari@fjordtech.no"}]}
    assert schema_validator(sent).is_valid([entity])
    assert not schema_validator(sent).is_valid([None])
    assert schema_validator(saved).is_valid(entity)
    assert schema_validator(saved).is_valid(None)


def test_seed_samples_are_examples_of_the_contract() -> None:
    names = {e[0] for e in examples()}
    for expected in ("docsSample", "docsSample2024", "docsSampleCcBcc"):
        assert any(expected in name for name in names)


def test_every_superoffice_carrier_has_every_documented_property() -> None:
    expected = {
        "EMailEntity": "To Cc Bcc Subject HTMLBody From Sent Size Priority Flags MessageID PlainBody IsSent "
        "EMailSOInfo ServerId ServerIdentifier Attachments CustomHeaderList FolderName EmailItemId AccountId "
        "ReceivedAt InReplyTo RepliedAt HasCalendarData CalMethod CalReplyStatus TableRight FieldProperties",
        "EMailAddress": "ContactId ContactName PersonId PersonName AssociateId Address EmailId DuplicatePersonIds "
        "Name TableRight FieldProperties",
        "EMailAttachment": "Description Filename Size Type Encoding Id Disposition IsSafeFileExtension Stream "
        "TableRight FieldProperties",
        "EMailCustomHeader": "Name Values TableRight FieldProperties",
        "EMailSOInfo": "DocumentId AppointmentId ProjectId SaleId Archived ArchivedAt ArchivedBy ArchivedDisplayName "
        "TableRight FieldProperties",
        "EMailEnvelope": "ServerId ServerIdentifier MessageId Subject From To Sent Priority Flags Size EMailSOInfo "
        "TableRight FieldProperties",
        "EMailConnectionInfo": "ServerName UserName Password Folder UseSSL UseGraphApi TableRight FieldProperties",
        "EMailConnectionInfoExtended": "Port ServerName Protocol UserName Password UseSSL Folder UseGraphApi "
        "TableRight FieldProperties",
        "TableRight": "Mask Reason",
        "FieldProperty": "FieldRight FieldType FieldLength",
        "FieldRight": "Mask Reason",
        "SendEMailsRequest": "OutgoingConnectionInfo Emails SentItemsConnectionInfo",
        "SaveToMailServerRequest": "Email",
        "RelayMessageRequest": "ConnectionInfoExtended Rfc822 From Recipients",
    }
    for carrier, names in expected.items():
        assert list(spec.schema(carrier)["properties"]) == names.split(), carrier


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("Seen", True),
        ("Seen, Answered", True),
        ("Seen,Answered", True),
        ("None", True),
        ("Seen, Bogus", False),
        ("seen", False),
        ("", False),
    ],
)
def test_flags_accept_combinations_of_members(value: str, valid: bool) -> None:
    assert validator_for("#/components/schemas/EMailFlags").is_valid(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2004-12-15T03:46:54.8007556+01:00", True),
        ("2018-12-24T12:34:45", True),
        ("2018-12-24T07:34:45-0500", True),
        ("2019-09-23T12:34:45Z", True),
        ("2024-02-29T00:00:00", True),
        ("2023-02-29T00:00:00", False),
        ("1900-02-29T00:00:00", False),
        ("2000-02-29T00:00:00", True),
        ("2024-04-31T00:00:00", False),
        ("0000-01-01T00:00:00", False),
        ("2024-01-01", False),
        ("2024-01-01T24:00:00", False),
        ("2024-01-01T10:00:00.12345678", False),
    ],
)
def test_dotnet_datetime_pattern_admits_only_real_dates(value: str, valid: bool) -> None:
    assert validator_for("#/components/schemas/DotNetDateTime").is_valid(value) is valid


def test_error_responses_are_declared_for_every_operation() -> None:
    for _, method, operation in operations():
        declared = set(operation["responses"])
        operation_id = operation["operationId"]
        if method == "get":
            expected = {"400", "401", "500"}  # no body: no 415; CSRF only guards POSTs
        elif operation_id.startswith("gwsNotifications_"):
            expected = {"400", "401", "403", "415", "500"}  # 403: CSRF, as a Bayeux failure per message
        else:
            expected = {"400", "401", "403", "415", "500"}
        assert expected <= declared, operation_id


def test_a_nullable_use_of_a_component_keeps_the_components_xml_root() -> None:
    # SaveToMailServer answers `{allOf: [$ref EMailEntity], nullable: true}`: the XML root is still the carrier's
    schema, root = spec.response_schema("v1EMailAgent_SaveToMailServer", 200, "application/xml") or ({}, "")
    assert "allOf" in schema and schema.get("nullable") is True
    assert root == "EMailEntity"


def test_the_json_view_keeps_only_json_bodies_and_is_a_valid_contract() -> None:
    written = spec.load()
    view = spec.media_view(written, "json")
    validate(view)
    media_types = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("content"), dict):
                media_types.update(node["content"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(view)
    assert media_types == {"application/json"}
    # nothing but the media types differs: same paths, parameters and components, the `$ref`s kept
    assert view["components"]["schemas"] == written["components"]["schemas"]
    assert view["paths"].keys() == written["paths"].keys()
    send = view["paths"]["/api/v1/Agents/EMail/SendEMails"]["post"]
    assert send["parameters"] == written["paths"]["/api/v1/Agents/EMail/SendEMails"]["post"]["parameters"]
    assert send["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SendEMailsRequest"
    }
    assert "application/xml" in written["paths"]["/api/v1/Agents/EMail/SendEMails"]["post"]["requestBody"]["content"]
    with pytest.raises(ValueError, match="unknown media view"):
        spec.media_view(written, "xml")
