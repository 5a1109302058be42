"""Helpers shared by tests: the vendor's sample requests kept as HTTP transcripts under fixtures/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


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
