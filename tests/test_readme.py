"""The README's first-screen example stays true: its request, sent to a mock with `--seed 42`, gets the answer
the README prints."""

from __future__ import annotations

import re
from pathlib import Path

from mockserver import create_app
from tests.conftest import mock_settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_the_first_screen_answer_is_what_seed_42_gives() -> None:
    found = re.search(
        r"\$ curl -s -u (\S+):(\S+) .*?'(http://127\.0\.0\.1:8080(\S+))' \\\n\s+-d '(.*?)'\n(\[.*?)\n```", README, re.S
    )
    assert found, "the README's first curl example changed shape"
    user, password, _, target, body, shown = found.groups()
    with create_app(mock_settings(seed=42)).test_client() as client:
        response = client.post(
            target,
            content=body.encode(),
            auth=(user, password),
            headers={"Content-Type": "application/json", "Accept": "*/*", "User-Agent": "curl/7.88.1"},
        )
    assert response.status_code == 200, response.text
    text = response.text
    # The README wraps the answer and elides its tail (`, … }]`); every line it shows is in the real answer.
    for line in shown.replace(", … }]", "").splitlines():
        assert line.strip().lstrip("[") in text, line
