"""Helpers shared by tests: the vendor's sample requests kept as HTTP transcripts under fixtures/, the
Bayeux messages a CometD client sends, and the JavaScript packages the Node tests run."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
JS_DIR = Path(__file__).resolve().parent / "js"


def js_packages() -> Path:
    """tests/js/node_modules, installed from the lock file when missing or older than it (as `make js-deps`)."""
    assert shutil.which("node") is not None, "Node.js is required for the JavaScript client tests"
    installed = JS_DIR / "node_modules" / ".package-lock.json"
    if not installed.is_file() or installed.stat().st_mtime < (JS_DIR / "package-lock.json").stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, capture_output=True, timeout=300
        )
    return JS_DIR / "node_modules"


@dataclass
class HttpRequest:
    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def operation_id(self) -> str:
        return self.name.split(".", 1)[0]


def load_http(path: Path) -> HttpRequest:
    """Parse `METHOD path` + headers + blank line + body, as the vendor pages print requests."""
    head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
    lines = head.splitlines()
    method, target = lines[0].split()[:2]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return HttpRequest(path.name.removesuffix(".http"), method, "/" + target.lstrip("/"), headers, body.encode())


def sample_requests() -> list[HttpRequest]:
    return [load_http(p) for p in sorted((FIXTURES / "requests").glob("*.http"))]


# Bayeux messages as the CometD clients build them.


def handshake_message(message_id: str = "1") -> dict[str, Any]:
    return {
        "id": message_id,
        "version": "1.0",
        "minimumVersion": "1.0",
        "channel": "/meta/handshake",
        "supportedConnectionTypes": ["long-polling", "callback-polling"],
        "advice": {"timeout": 60000, "interval": 0},
    }


def connect_message(client_id: str, message_id: str = "3", *, first: bool = False) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": message_id,
        "channel": "/meta/connect",
        "connectionType": "long-polling",
        "clientId": client_id,
    }
    if first:
        message["advice"] = {"timeout": 0}
    return message


def subscribe_message(client_id: str, channel: Any = "/v2/me/emails", message_id: str = "2") -> dict[str, Any]:
    return {"id": message_id, "channel": "/meta/subscribe", "subscription": channel, "clientId": client_id}


def delivered(client: Any, message_id: str, timeout: float = 10) -> dict[str, Any]:
    """The outbox row of a mail once delivery has finished with it (delivery to the embedded sink may finish
    after the answer): `/_mock/outbox/wait` with `status=sent`, as a user's test waits for it."""
    response = client.get("/_mock/outbox/wait", params={"message_id": message_id, "status": "sent", "timeout": timeout})
    assert response.status_code == 200, response.text
    row: dict[str, Any] = response.json()
    return row
