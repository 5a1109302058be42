"""XML bodies: DataContract-style reading and writing by the contract's xml objects; hostile XML refused."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from mockserver.contract import spec
from mockserver.contract.xmlcodec import XmlBodyError, XmlCodec, xml_safe
from tests.conftest import AUTH, RELAY, SEND

CODEC = XmlCodec(spec.resolve)
ENTITY = spec.schema("EMailEntity")
REQUEST = spec.schema("SendEMailsRequest")


def read(xml: str | bytes, schema: Any = REQUEST, charset: str | None = None) -> Any:
    raw = xml.encode() if isinstance(xml, str) else xml
    return CODEC.read(CODEC.parse(raw, charset), schema)


def test_datacontract_style_request_is_read_by_the_schema() -> None:
    value = read(
        """<SendEMailsRequest xmlns="http://schemas.datacontract.org/2004/07/SuperOffice"
              xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
             <OutgoingConnectionInfo i:nil="true"/>
             <Emails>
               <EMailEntity>
                 <To><EMailAddress><Address>kari@fjordtech.no</Address><PersonId> 42 </PersonId></EMailAddress></To>
                 <Subject>  Hei  </Subject>
                 <IsSent>true</IsSent>
                 <Flags>Seen, Answered</Flags>
                 <CustomHeaderList><EMailCustomHeader><Name>X-A</Name>
                   <Values><string>1</string><string/></Values></EMailCustomHeader></CustomHeaderList>
                 <FieldProperties><Subject><FieldLength>255</FieldLength></Subject></FieldProperties>
                 <Unknown><Deep>ignored</Deep></Unknown>
               </EMailEntity>
             </Emails>
           </SendEMailsRequest>"""
    )
    [email] = value["Emails"]
    assert value["OutgoingConnectionInfo"] is None
    assert email["To"] == [{"Address": "kari@fjordtech.no", "PersonId": 42}]
    assert email["Subject"] == "  Hei  "  # text is kept exactly
    assert email["IsSent"] is True
    assert email["CustomHeaderList"] == [{"Name": "X-A", "Values": ["1", ""]}]
    assert email["FieldProperties"] == {"Subject": {"FieldLength": 255}}
    assert "Unknown" not in email


def test_repeated_elements_and_a_single_element_make_arrays() -> None:
    value = read(
        "<RelayMessageRequest><Rfc822>x</Rfc822><Recipients>a@b.no</Recipients><Recipients>c@d.no</Recipients>"
        "</RelayMessageRequest>",
        spec.schema("RelayMessageRequest"),
    )
    assert value["Recipients"] == ["a@b.no", "c@d.no"]
    one = read("<SendEMailsRequest><Emails><Subject>s</Subject></Emails></SendEMailsRequest>")
    assert one["Emails"] == [{"Subject": "s"}]
    empty = read("<SendEMailsRequest><Emails/></SendEMailsRequest>")
    assert empty["Emails"] == []


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (
            "<SendEMailsRequest><Emails><EMailEntity><Size>big</Size></EMailEntity></Emails></SendEMailsRequest>",
            "integer",
        ),
        (
            "<SendEMailsRequest><Emails><EMailEntity><IsSent>yes</IsSent></EMailEntity></Emails></SendEMailsRequest>",
            "true or false",
        ),
        ("<SendEMailsRequest><Emails>text</Emails></SendEMailsRequest>", "must contain elements"),
        (
            "<SendEMailsRequest><Emails><EMailEntity><Subject><b>x</b></Subject></EMailEntity></Emails></SendEMailsRequest>",
            "simple value",
        ),
        ("<SendEMailsRequest><Emails>", "not well-formed"),
        ("not xml at all", "not well-formed"),
    ],
)
def test_unreadable_xml_is_an_error(xml: str, message: str) -> None:
    with pytest.raises(XmlBodyError, match=message):
        read(xml)


def test_the_text_null_means_null_where_the_schema_is_not_a_string() -> None:
    value = read(
        "<SendEMailsRequest><Emails><EMailEntity><Size>null</Size><Subject>null</Subject><From>null</From>"
        "</EMailEntity></Emails></SendEMailsRequest>"
    )
    assert value["Emails"][0] == {"Size": None, "Subject": "null", "From": None}


def test_charset_parameter_wins_over_the_declaration() -> None:
    raw = (
        '<?xml version="1.0" encoding="utf-8"?><SendEMailsRequest><Emails><EMailEntity><Subject>Møte</Subject>'
        "</EMailEntity></Emails></SendEMailsRequest>"
    )
    assert read(raw.encode("utf-16"), charset="utf-16")["Emails"][0]["Subject"] == "Møte"
    declared = raw.replace("utf-8", "iso-8859-1").encode("iso-8859-1")
    assert read(declared)["Emails"][0]["Subject"] == "Møte"


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10)
    )
    + b"]><SendEMailsRequest>&lol9;</SendEMailsRequest>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<SendEMailsRequest><Emails><EMailEntity><Subject>&xxe;</Subject></EMailEntity></Emails></SendEMailsRequest>"
)
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><SendEMailsRequest/>'


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE, EXTERNAL_DTD], ids=["billion-laughs", "xxe", "external-dtd"])
def test_hostile_xml_is_refused_at_the_dtd_without_expanding_anything(client: TestClient, payload: bytes) -> None:
    tracemalloc.start()
    try:
        response = client.post(SEND, content=payload, headers={**AUTH, "Content-Type": "application/xml"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 400
    assert "DTDForbidden" in response.json()["MessageDetail"]
    assert "root:" not in response.text  # nothing of /etc/passwd
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"


def test_malformed_and_wrong_root_xml_get_vendor_400s(client: TestClient) -> None:
    for body, detail in (
        (b"<SendEMailsRequest>", "well-formed"),
        (b"<Other/>", "Expecting element 'SendEMailsRequest'"),
    ):
        response = client.post(SEND, content=body, headers={**AUTH, "Content-Type": "text/xml", "Accept": "text/xml"})
        assert response.status_code == 400
        assert response.headers["content-type"] == "text/xml; charset=utf-8"
        assert response.text.startswith("<Error><Message>The request is invalid.</Message>")
        assert detail in response.text


def test_xml_request_validated_against_the_same_schema(client: TestClient) -> None:
    body = b"<RelayMessageRequest><Rfc822>hello</Rfc822><Recipients/></RelayMessageRequest>"
    response = client.post(RELAY, content=body, headers={**AUTH, "Content-Type": "application/xml"})
    assert response.status_code == 400
    assert "Recipients" in response.json()["MessageDetail"]


def test_writer_uses_roots_wrappers_and_nil() -> None:
    schema, root = spec.response_schema("v1EMailAgent_SendEMails", 200, "application/xml")  # type: ignore[misc]
    xml = CODEC.write([{"Subject": "a<b", "To": [{"Address": "x"}], "Size": None, "IsSent": True}], schema, root, str)
    assert xml == (
        b'<ArrayOfEMailEntity xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><EMailEntity>'
        b"<Subject>a&lt;b</Subject><To><EMailAddress><Address>x</Address></EMailAddress></To>"
        b'<Size i:nil="true" /><IsSent>true</IsSent></EMailEntity></ArrayOfEMailEntity>'
    )


scalars = st.one_of(st.none(), st.text(max_size=20), st.booleans(), st.integers(-(2**31), 2**31 - 1))
entities = st.fixed_dictionaries(
    {},
    optional={
        "Subject": st.one_of(st.none(), st.text(max_size=30)),
        "Size": st.one_of(st.none(), st.integers(0, 10**6)),
        "IsSent": st.one_of(st.none(), st.booleans()),
        "To": st.one_of(
            st.none(),
            st.lists(st.one_of(st.none(), st.fixed_dictionaries({"Address": st.text(max_size=20)})), max_size=3),
        ),
        "CustomHeaderList": st.lists(
            st.fixed_dictionaries({"Name": st.text(max_size=10), "Values": st.lists(st.text(max_size=10), max_size=2)}),
            max_size=2,
        ),
        "FieldProperties": st.dictionaries(
            st.sampled_from(["Subject", "Size", "From"]),
            st.fixed_dictionaries({"FieldType": st.text(max_size=10), "FieldLength": st.integers(0, 500)}),
            max_size=2,
        ),
    },
)


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        return xml_safe(value)
    if isinstance(value, list):
        return [_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _safe(v) for k, v in value.items()}
    return value


@given(st.lists(entities, max_size=3))
def test_write_then_read_gives_the_value_back(value: list[dict[str, Any]]) -> None:
    schema, root = spec.response_schema("v1EMailAgent_SendEMails", 200, "application/xml")  # type: ignore[misc]
    xml = CODEC.write(value, schema, root, str)
    # XML cannot carry some control characters (U+FFFD instead); everything else comes back exactly.
    assert read(xml, schema) == _safe(value)
