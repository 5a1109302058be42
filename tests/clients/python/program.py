"""A program on the Python client a team generates from the mock's JSON view of the contract:
`openapi-python-client generate --url <mock>/openapi.json?media=json`. Type-checked with `mypy --strict`
together with the generated package, then run against the mock; prints one JSON line with what it saw.

usage: python program.py BASE_URL USER PASSWORD
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from email_api_client import AuthenticatedClient
from email_api_client.api.e_mail_agent import (
    v_1e_mail_agent_relay_message,
    v_1e_mail_agent_save_to_mail_server,
    v_1e_mail_agent_send_e_mails,
)
from email_api_client.api.gws_email import gws_email_send
from email_api_client.api.gws_session import gws_me_get
from email_api_client.models import (
    EMailAddress,
    EMailEntity,
    GwsEmail,
    GwsError,
    GwsSendRequest,
    GwsSendRequestOperationName,
    GwsSuccess,
    RelayMessageRequest,
    SaveToMailServerRequest,
    SendEMailsRequest,
    WebApiError,
)
from email_api_client.types import Unset


def summary(mail: EMailEntity) -> dict[str, Any]:
    # A property the vendor may null (`$select`, a mail without one) is `T | None | Unset`; the carrier is not.
    to = None if mail.to is None or isinstance(mail.to, Unset) else [address.address for address in mail.to]
    return {
        "type": type(mail).__name__,
        "messageId": mail.message_id if isinstance(mail.message_id, str) else None,
        "messageIdType": type(mail.message_id).__name__,
        "subject": mail.subject if isinstance(mail.subject, str) else None,
        "to": to,
        # .NET round-trip text, kept as the vendor writes it (offset-less under SO-TimeZone): see the README
        "sent": mail.sent if isinstance(mail.sent, str) else None,
    }


def main(base: str, user: str, password: str) -> dict[str, Any]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    superoffice = AuthenticatedClient(base_url=base, token=token, prefix="Basic")
    result: dict[str, Any] = {}

    mail = EMailEntity(
        subject="Møte i morgen – agenda",
        to=[EMailAddress(address="kari.odegard@fjordtech.example", name="Kari Ødegård")],
        plain_body="Hei Kari, her er agendaen.",
    )
    sent = v_1e_mail_agent_send_e_mails.sync_detailed(client=superoffice, body=SendEMailsRequest(emails=[mail]))
    if isinstance(sent.parsed, list):
        result["send"] = {"status": int(sent.status_code), "count": len(sent.parsed), "first": summary(sent.parsed[0])}

    selected = v_1e_mail_agent_send_e_mails.sync_detailed(
        client=superoffice,
        body=SendEMailsRequest(
            emails=[EMailEntity(subject="Bare emnet", to=[EMailAddress(address="lars@fjordtech.example")])]
        ),
        select="Subject,MessageID",
    )
    if isinstance(selected.parsed, list):
        result["select"] = {"status": int(selected.status_code), "first": summary(selected.parsed[0])}

    refused = v_1e_mail_agent_send_e_mails.sync_detailed(
        client=superoffice,
        body=SendEMailsRequest(emails=[EMailEntity(subject="x", to=[EMailAddress(address="lars@fjordtech.example")])]),
        so_time_zone="Mars/Olympus",
    )
    if isinstance(refused.parsed, WebApiError):
        detail = refused.parsed.message_detail
        result["badRequest"] = {
            "status": int(refused.status_code),
            "message": refused.parsed.message,
            "detail": detail if isinstance(detail, str) else None,
        }

    saved = v_1e_mail_agent_save_to_mail_server.sync_detailed(
        client=superoffice,
        body=SaveToMailServerRequest(
            email=EMailEntity(subject="Utkast", to=[EMailAddress(address="kari@fjordtech.example")])
        ),
    )
    if isinstance(saved.parsed, EMailEntity):
        result["save"] = {"status": int(saved.status_code), "mail": summary(saved.parsed)}
    nothing = v_1e_mail_agent_save_to_mail_server.sync_detailed(client=superoffice, body=SaveToMailServerRequest())
    result["saveNothing"] = {"status": int(nothing.status_code), "isNone": nothing.parsed is None}

    relayed = v_1e_mail_agent_relay_message.sync_detailed(
        client=superoffice,
        body=RelayMessageRequest(
            rfc_822="From: anna@nordlys.example\r\nTo: lars@fjordtech.example\r\nSubject: Videresendt\r\n\r\nHei.\r\n",
            recipients=["lars@fjordtech.example"],
        ),
    )
    result["relay"] = {"status": int(relayed.status_code)}

    # Genesys: GET /api/v2/me opens the session; httpx keeps its JSESSIONID, Send carries the CSRF token too.
    gws = AuthenticatedClient(base_url=base, token=token, prefix="Basic")
    me = gws_me_get.sync_detailed(client=gws)
    csrf = me.headers.get("X-CSRF-TOKEN", "")
    cookie = gws.get_httpx_client().cookies.get("JSESSIONID")
    result["me"] = {"status": int(me.status_code), "cookie": cookie is not None, "csrf": bool(csrf)}
    request = GwsSendRequest(
        operation_name=GwsSendRequestOperationName.SEND,
        queue_name="Forwarde-mails",
        email=GwsEmail(to=["qwerty@gplus-w2k3-gf80"], from_="htcc@gplus-w2k3-gf80", subject="Hei", body="Hei."),
    )
    answer = gws_email_send.sync_detailed("0071023821aec011", client=gws, body=request, x_csrf_token=csrf)
    if isinstance(answer.parsed, GwsSuccess):
        reference = answer.parsed.reference_id
        result["gwsSend"] = {
            "status": int(answer.status_code),
            "statusCode": int(answer.parsed.status_code),
            "referenceId": reference if isinstance(reference, int) else None,
        }
    empty = GwsSendRequest(
        operation_name=GwsSendRequestOperationName.SEND,
        queue_name="Forwarde-mails",
        email=GwsEmail(to=[], from_="htcc@gplus-w2k3-gf80"),
    )
    bad = gws_email_send.sync_detailed("0071023821aec011", client=gws, body=empty, x_csrf_token=csrf)
    if isinstance(bad.parsed, GwsError):
        result["gwsBadRequest"] = {
            "status": int(bad.status_code),
            "statusCode": bad.parsed.status_code,
            "message": bad.parsed.status_message,
        }
    return result


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
