"""Request bodies for the benchmark, written as files so that wrk, the probes and a human replaying a run all
send exactly the same bytes.

Shapes follow the contract's examples and fixtures/requests/*.http: SuperOffice carriers with `Address`/`Name`
objects, plain and HTML bodies, a priority; Genesys Send as in the brief. Content is deterministic (no
randomness) so that two runs load the servers with identical bytes.

Usage: python bench/bodies.py OUTDIR   (prints one line per file written)
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEND_PATH = "/api/v1/Agents/EMail/SendEMails"
SAVE_PATH = "/api/v1/Agents/EMail/SaveToMailServer"
RELAY_PATH = "/api/v1/Agents/EMail/RelayMessage"
GWS_PATH = "/api/v2/me/emails/0071023821aec011"

_FIRST = ["Kari", "Lars", "Anna", "Ola", "Ingrid", "Per", "Sofie", "Jonas", "Marte", "Erik", "Nora"]
_LAST = ["Nilsen", "Holm", "Berg", "Hansen", "Johansen", "Larsen", "Olsen", "Bakken", "Lie", "Dahl"]
_DOMAINS = ["fjordtech.no", "nordlys.no", "havbruk.example", "gmail.com", "bergen-it.example"]
_PRIORITIES = ["Normal", "High", "Low", "Normal", "Highest"]


@dataclass(frozen=True)
class Body:
    """One request the benchmark sends: where to, and the file holding its bytes."""

    name: str
    path: str
    file: Path
    description: str

    @property
    def size(self) -> int:
        return self.file.stat().st_size


def _person(i: int) -> tuple[str, str]:
    first = _FIRST[i % len(_FIRST)]
    last = _LAST[(i // len(_FIRST)) % len(_LAST)]
    domain = _DOMAINS[i % len(_DOMAINS)]
    return f"{first} {last}", f"{first.lower()}.{last.lower()}{i}@{domain}"


def _address(i: int) -> dict[str, Any]:
    name, address = _person(i)
    return {"Address": address, "Name": name}


def mail(i: int, attachment: bytes | None = None) -> dict[str, Any]:
    """One outgoing EMailEntity of roughly 300 bytes, as a CRM client fills it in."""
    entity: dict[str, Any] = {
        "From": {"Address": "anna.berg@nordlys.no", "Name": "Anna Berg"},
        "To": [_address(3 * i + 1), _address(3 * i + 2)],
        "Cc": [_address(3 * i + 3)],
        "Subject": f"Kvartalsrapport {i} - vennligst se gjennom",
        "PlainBody": f"Hei, rapporten for kvartal {i % 4 + 1} ligger vedlagt. Mvh Anna",
        "HTMLBody": f"<p>Hei, rapporten for kvartal {i % 4 + 1} ligger vedlagt.</p><p>Mvh Anna</p>",
        "Priority": _PRIORITIES[i % len(_PRIORITIES)],
    }
    if attachment is not None:
        entity["Attachments"] = [
            {
                "Filename": "rapport.bin",
                "Description": "Kvartalsrapport",
                "Type": "application/octet-stream",
                "Disposition": "attachment",
                "Size": len(attachment),
                "Stream": base64.b64encode(attachment).decode("ascii"),
            }
        ]
    return entity


_NB_PEOPLE = [
    ("Åse Ødegård", "ase.odegard@fjordtech.no"),
    ("Bjørn Kårstad", "bjorn.karstad@nordlys.no"),
    ("Kari Nilsen", "kari.nilsen@fjordtech.no"),
    ("Ærlend Sæther", "aerlend.saether@havbruk.example"),
    ("Øystein Lødøen", "oystein.lodoen@bergen-it.example"),
    ("Marte Skjærvø", "marte.skjaervo@gmail.com"),
    ("Håkon Bråthen", "hakon.brathen@nordlys.no"),
    ("Siri Frøysa", "siri.froysa@fjordtech.no"),
]
_NB_SUBJECTS = [
    "Møte på fredag – agenda for kvartalsgjennomgang",
    "Tilbud på vedlikehold av anlegg i Ålesund",
    "Re: Bekreftelse på bestilling nr. {i}",
    "Påminnelse: frist for årsrapport – uke {i}",
    "Oppfølging etter befaring på Sørlandet",
    "Endring i leveranseplan – sjømat til Bærum",
    "Sammendrag fra styremøtet i går",
]


def norwegian_mail(i: int) -> dict[str, Any]:
    """An ordinary Norwegian CRM mail: non-ASCII names and subjects (ø, å, æ, an en dash) everywhere."""
    to = [_NB_PEOPLE[(i + 1) % len(_NB_PEOPLE)], _NB_PEOPLE[(i + 2) % len(_NB_PEOPLE)]]
    cc = _NB_PEOPLE[(i + 3) % len(_NB_PEOPLE)]
    subject = _NB_SUBJECTS[i % len(_NB_SUBJECTS)].format(i=i + 1)
    entity: dict[str, Any] = {
        "From": {"Address": "ase.odegard@fjordtech.no", "Name": "Åse Ødegård"},
        "To": [{"Address": address, "Name": name} for name, address in to],
        "Cc": [{"Address": cc[1], "Name": cc[0]}],
        "Subject": subject,
        "PlainBody": f"Hei {to[0][0].split()[0]},\n\nSe vedlagte notat om «{subject}». Vi møtes på kontoret i "
        f"Bærum kl. {9 + i}.00.\n\nMed vennlig hilsen\nÅse Ødegård\nFjordtech AS",
        "HTMLBody": f"<p>Hei {to[0][0].split()[0]},</p><p>Se vedlagte notat om «{subject}». Vi møtes på kontoret i "
        f"Bærum kl. {9 + i}.00.</p><p>Med vennlig hilsen<br>Åse Ødegård<br>Fjordtech AS</p>",
        "Priority": _PRIORITIES[i % len(_PRIORITIES)],
    }
    if i == 3:
        entity["Bcc"] = [{"Address": "arkiv@fjordtech.no", "Name": "Arkiv – Fjordtech"}]
        entity["CustomHeaderList"] = [{"Name": "X-Kampanje", "Values": ["Vår-tilbud 2025 – Sør"]}]
    return entity


def send_norwegian(n: int) -> dict[str, Any]:
    return {
        "OutgoingConnectionInfo": None,
        "Emails": [norwegian_mail(i) for i in range(n)],
        "SentItemsConnectionInfo": None,
    }


def send_emails(n: int, attachment_bytes: int | None = None) -> dict[str, Any]:
    payload = None
    if attachment_bytes is not None:
        # Incompressible-looking but deterministic, so neither side can shortcut on runs of zeros.
        pattern = bytes((i * 131 + 7) % 256 for i in range(4096))
        payload = (pattern * (attachment_bytes // len(pattern) + 1))[:attachment_bytes]
    emails = [mail(i, payload if i == 0 else None) for i in range(n)]
    return {"OutgoingConnectionInfo": None, "Emails": emails, "SentItemsConnectionInfo": None}


def save_to_mail_server() -> dict[str, Any]:
    entity = mail(0)
    entity.update({"IsSent": False, "Flags": "Draft", "MessageID": "<draft-0@nordlys.no>"})
    return {"Email": entity}


def relay_message() -> dict[str, Any]:
    rfc822 = (
        "From: Anna Berg <anna.berg@nordlys.no>\r\n"
        "To: Kari Nilsen <kari.nilsen@fjordtech.no>\r\n"
        "Subject: Kvartalsrapport\r\n"
        "Message-ID: <q3-report@nordlys.no>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Hei Kari, rapporten ligger vedlagt.\r\n"
    )
    return {
        "ConnectionInfoExtended": None,
        "Rfc822": rfc822,
        "From": "anna.berg@nordlys.no",
        "Recipients": ["kari.nilsen@fjordtech.no", "lars.holm@fjordtech.no"],
    }


def gws_send() -> dict[str, Any]:
    return {
        "operationName": "Send",
        "queueName": "Forwarde-mails",
        "email": {"to": ["a@b.no"], "from": "htcc@example.com", "subject": "x", "body": "y"},
    }


def _write(outdir: Path, name: str, data: dict[str, Any]) -> Path:
    file = outdir / f"{name}.json"
    # Compact separators: what a real client library sends, and what keeps the 1000-mail body honest.
    file.write_bytes(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return file


def load_bodies(outdir: Path) -> dict[str, Body]:
    """The bodies the load runs use, keyed by scenario name."""
    outdir.mkdir(parents=True, exist_ok=True)
    specs: list[tuple[str, str, dict[str, Any], str]] = [
        ("send1", SEND_PATH, send_emails(1), "SendEMails, 1 mail"),
        ("send7", SEND_PATH, send_emails(7), "SendEMails, 7 mails"),
        ("send7nb", SEND_PATH, send_norwegian(7), "SendEMails, 7 Norwegian mails (non-ASCII; Bcc, custom header)"),
        ("send100", SEND_PATH, send_emails(100), "SendEMails, 100 mails"),
        ("send_att1m", SEND_PATH, send_emails(1, 1024 * 1024), "SendEMails, 1 mail with a 1 MiB attachment"),
        ("save", SAVE_PATH, save_to_mail_server(), "SaveToMailServer, 1 draft"),
        ("relay", RELAY_PATH, relay_message(), "RelayMessage, 2 recipients"),
        ("gws", GWS_PATH, gws_send(), "Genesys GWS e-mail Send"),
    ]
    return {name: Body(name, path, _write(outdir, name, data), description) for name, path, data, description in specs}


def mail_count_body(outdir: Path, n: int) -> Body:
    """SendEMails with n mails, for the per-mail linearity probe."""
    return Body(f"mails{n}", SEND_PATH, _write(outdir, f"mails{n}", send_emails(n)), f"SendEMails, {n} mails")


def attachment_body(outdir: Path, size: int) -> Body:
    """SendEMails with one mail carrying a `size`-byte attachment, for the memory probe."""
    return Body(
        f"att{size}",
        SEND_PATH,
        _write(outdir, f"att{size}", send_emails(1, size)),
        f"SendEMails, attachment {size} B",
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python bench/bodies.py OUTDIR", file=sys.stderr)
        return 2
    outdir = Path(argv[1])
    for body in load_bodies(outdir).values():
        print(f"{body.name:12} {body.size:>9} B  POST {body.path}  {body.file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
