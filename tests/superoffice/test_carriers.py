"""SuperOffice carriers: every property present in the vendor's order, the client's values kept, the rest filled in."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mockserver.call import Call
from mockserver.formats.dotnet import DotNetDateTime
from mockserver.runtime import Runtime
from mockserver.superoffice import carriers, state
from mockserver.superoffice.state import SuperOffice
from tests.conftest import mock_settings

RUNTIME = Runtime(mock_settings(seed=17))
SUPEROFFICE = SuperOffice(RUNTIME)
PDF = base64.b64encode(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n").decode()
RIGHTS = ("TableRight", "FieldProperties")


def call(seed: int = 1, runtime: Runtime = RUNTIME) -> Call:
    return Call(
        runtime=runtime,
        scope={
            "type": "http",
            "headers": [],
            state.SCOPE_KEY: SUPEROFFICE if runtime is RUNTIME else SuperOffice(runtime),
        },
        operation_id="v1EMailAgent_SendEMails",
        body=None,
        seed=seed,
        gen=runtime.gen(seed),
        media_type=None,
        select=None,
        user=None,
    )


# -- attachments ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 57, 58, 59, 100, 1000])
def test_decoded_length_is_the_length_of_the_decoded_bytes(length: int) -> None:
    data = bytes(range(256)) * 4
    data = data[:length]
    assert carriers.decoded_length(base64.b64encode(data).decode()) == length
    assert carriers.decoded_length(base64.encodebytes(data).decode()) == length  # MIME lines of 76, with newlines
    assert carriers.decoded_length(base64.encodebytes(data).decode().replace("\n", "\r\n ")) == length


def test_attachment_size_is_the_decoded_stream_whatever_size_the_client_claimed() -> None:
    out = carriers.attachment(call(), {"Filename": "rapport.pdf", "Stream": PDF, "Size": 999})
    assert out["Size"] == len(base64.b64decode(PDF))
    assert out["Stream"] == PDF


@pytest.mark.parametrize(("given", "expected"), [({"Size": 77}, 77), ({}, 0), ({"Stream": "", "Size": 5}, 5)])
def test_without_a_stream_the_clients_size_is_kept(given: dict[str, Any], expected: int) -> None:
    out = carriers.attachment(call(), {"Filename": "link.url", **given})
    assert out["Size"] == expected
    assert out["Type"] is None and out["Encoding"] is None


@pytest.mark.parametrize(
    ("filename", "safe"),
    [
        ("rapport.pdf", True),
        ("setup.exe", False),
        ("SETUP.EXE", False),
        ("Install.Ps1", False),
        ("macro.vbs", False),
        ("app.js", False),
        ("archive.tar.gz", True),
        ("rapport.exe.pdf", True),
        ("rapport.pdf.exe", False),
        ("README", True),
        ("exe", True),
        ("trailing.", True),
    ],
)
def test_is_safe_file_extension_follows_the_extension(filename: str, safe: bool) -> None:
    out = carriers.attachment(call(), {"Filename": filename, "Stream": PDF})
    assert out["IsSafeFileExtension"] is safe


@pytest.mark.parametrize(("filename", "given"), [("rapport.pdf", False), ("setup.exe", True)])
def test_is_safe_file_extension_given_by_the_client_is_kept(filename: str, given: bool) -> None:
    out = carriers.attachment(call(), {"Filename": filename, "IsSafeFileExtension": given})
    assert out["IsSafeFileExtension"] is given


def test_an_attachment_without_a_file_name_is_safe() -> None:
    assert carriers.attachment(call(), {"Stream": PDF})["IsSafeFileExtension"] is True


def test_attachment_defaults_and_vendor_order() -> None:
    out = carriers.attachment(call(), {"Filename": "rapport.pdf", "Stream": PDF})
    assert list(out) == [
        "Description",
        "Filename",
        "Size",
        "Type",
        "Encoding",
        "Id",
        "Disposition",
        "IsSafeFileExtension",
        "Stream",
        *RIGHTS,
    ]
    assert out["Description"] == "rapport.pdf"
    assert (out["Type"], out["Encoding"], out["Disposition"], out["Id"]) == (
        "application/octet-stream",
        "base64",
        "attachment",
        None,
    )
    given = {
        "Filename": "logo.png",
        "Description": "Logo",
        "Type": "image/png",
        "Encoding": "base64",
        "Id": "logo@x",
        "Disposition": "inline",
        "Stream": PDF,
    }
    out = carriers.attachment(call(), given)
    assert {k: out[k] for k in given} == given


@pytest.mark.parametrize("item", [None, "text", 3, ["a"]])
def test_what_is_not_an_object_comes_back_as_it_was(item: Any) -> None:
    assert carriers.attachment(call(), item) == item
    assert carriers.address(call(), item) == item
    assert carriers.custom_header(call(), item) == item
    assert carriers.so_info(call(), item) is None
    assert carriers.envelope(call(), item) is None


# -- addresses --------------------------------------------------------------------------------------------------


def test_an_address_is_filled_in_from_the_directory() -> None:
    out = carriers.address(call(), {"Address": "kari.nilsen@fjordtech.no"})
    assert list(out) == [
        "ContactId",
        "ContactName",
        "PersonId",
        "PersonName",
        "AssociateId",
        "Address",
        "EmailId",
        "DuplicatePersonIds",
        "Name",
        *RIGHTS,
    ]
    assert out["Address"] == "kari.nilsen@fjordtech.no"
    assert out["PersonName"] == out["Name"] == "Kari Nilsen"
    assert out["ContactName"].startswith("Fjordtech ") and out["ContactId"] > 0
    assert out["PersonId"] > 0 and out["EmailId"] > 0
    assert isinstance(out["DuplicatePersonIds"], list)


def test_the_same_address_is_the_same_person_in_every_call_of_the_run() -> None:
    first = carriers.address(call(seed=1), {"Address": "kari.nilsen@fjordtech.no"})
    again = carriers.address(call(seed=2), {"Address": "  KARI.NILSEN@fjordtech.no "})
    keys = ("ContactId", "ContactName", "PersonId", "PersonName", "AssociateId", "EmailId", "DuplicatePersonIds")
    assert {k: again[k] for k in keys} == {k: first[k] for k in keys}
    other_run = carriers.address(call(runtime=Runtime(mock_settings(seed=18))), {"Address": "kari.nilsen@fjordtech.no"})
    assert other_run["PersonId"] != first["PersonId"] or other_run["EmailId"] != first["EmailId"]


def test_values_the_client_set_win_and_dotnet_defaults_count_as_unset() -> None:
    given = {
        "Address": "kari.nilsen@fjordtech.no",
        "ContactId": 42,
        "PersonName": "Kari N.",
        "Name": "",
        "EmailId": 0,
        "DuplicatePersonIds": [7],
    }
    out = carriers.address(call(), given)
    filled = carriers.address(call(), {"Address": "kari.nilsen@fjordtech.no"})
    assert out["ContactId"] == 42 and out["PersonName"] == "Kari N." and out["DuplicatePersonIds"] == [7]
    assert out["Name"] == filled["Name"] == "Kari Nilsen"  # "" is not a name
    assert out["EmailId"] == filled["EmailId"] > 0  # 0 is not an id


@pytest.mark.parametrize("address", [None, "", "   "])
def test_without_an_address_nothing_is_invented(address: str | None) -> None:
    out = carriers.address(call(), {"Address": address})
    assert out["Address"] == address
    assert (out["ContactId"], out["PersonId"], out["AssociateId"], out["EmailId"]) == (0, 0, 0, 0)
    assert (out["ContactName"], out["PersonName"], out["Name"]) == (None, None, None)
    assert out["DuplicatePersonIds"] == []
    kept = carriers.address(call(), {"Address": address, "ContactId": 0, "Name": ""})
    assert kept["ContactId"] == 0 and kept["Name"] == ""  # what the client sent comes back


def test_addresses_map_each_item_and_accept_none() -> None:
    assert carriers.addresses(call(), None) == []
    out = carriers.addresses(call(), [{"Address": "a@fjordtech.no"}, {"Address": "b@fjordtech.no"}])
    assert [a["Address"] for a in out] == ["a@fjordtech.no", "b@fjordtech.no"]


# -- the other carriers -----------------------------------------------------------------------------------------


def test_custom_header_keeps_name_and_values() -> None:
    out = carriers.custom_header(call(), {"Name": "X-Campaign", "Values": ["q3", "nordic"], "Extra": 1})
    assert list(out) == ["Name", "Values", *RIGHTS]
    assert (out["Name"], out["Values"]) == ("X-Campaign", ["q3", "nordic"])


def test_so_info_defaults() -> None:
    out = carriers.so_info(call(), {"DocumentId": 12, "Archived": 1, "ArchivedAt": "2025-05-13T10:24:31+02:00"})
    assert out["DocumentId"] == 12 and out["AppointmentId"] == 0 and out["SaleId"] == 0
    assert out["Archived"] is True and out["ArchivedBy"] == 0 and out["ArchivedDisplayName"] is None
    assert isinstance(out["ArchivedAt"], DotNetDateTime)
    assert carriers.so_info(call(), {})["Archived"] is False


def test_envelope_defaults_and_its_sender_is_an_address() -> None:
    out = carriers.envelope(call(), {"From": {"Address": "kari.nilsen@fjordtech.no"}, "Subject": "Re: Q3"})
    assert out["From"]["PersonName"] == "Kari Nilsen"
    assert (out["Priority"], out["Flags"], out["Size"], out["ServerId"], out["To"]) == ("Normal", "None", 0, 0, [])
    assert out["Subject"] == "Re: Q3" and out["EMailSOInfo"] is None and out["Sent"] is None
    assert carriers.envelope(call(), {"From": "kari@fjordtech.no"})["From"] is None


def test_entity_keeps_the_vendor_order_and_what_the_server_assigned_wins() -> None:
    item = {
        "Subject": "Kvartalsrapport",
        "To": [{"Address": "kari.nilsen@fjordtech.no"}],
        "Size": 5,
        "MessageID": "<client@x>",
        "Sent": "not a date",
        "ReceivedAt": "2025-05-13T10:24:31+02:00",
        "Attachments": [{"Filename": "a.exe", "Stream": PDF}],
    }
    out = carriers.entity(call(), item, {"Size": 1234, "MessageID": "<server@x>", "IsSent": True})
    assert list(out)[:6] == ["To", "Cc", "Bcc", "Subject", "HTMLBody", "From"]
    assert list(out)[-2:] == list(RIGHTS)
    assert out["Size"] == 1234 and out["MessageID"] == "<server@x>" and out["IsSent"] is True
    assert out["Subject"] == "Kvartalsrapport" and out["To"][0]["PersonName"] == "Kari Nilsen"
    assert out["Cc"] == [] and out["From"] is None and out["InReplyTo"] is None
    assert out["Sent"] == "not a date"  # what cannot be read as a date comes back as it was
    assert isinstance(out["ReceivedAt"], DotNetDateTime) and out["RepliedAt"] is None
    assert out["Attachments"][0]["IsSafeFileExtension"] is False
    assert (out["Priority"], out["Flags"], out["CalMethod"], out["CalReplyStatus"]) == (
        "Normal",
        "None",
        "Unknown",
        "Unknown",
    )
    assert out["HasCalendarData"] is False and out["EmailItemId"] == 0 and out["AccountId"] == 0
