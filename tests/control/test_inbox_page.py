"""The inbox page in a real browser: Debian's Chromium, headless, driven by Playwright."""

from __future__ import annotations

import base64
import email
import shutil
import threading
from collections.abc import Iterator
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from mockserver.tools.testing import RunningMock, running_mock
from tests.conftest import AUTH, SEND, mock_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags a headless Chromium needs on a closed, root-run CI machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4 inbox test " + bytes(range(256))


class Tracker(ThreadingHTTPServer):
    """A 'remote' server: a mail's HTML must never make the browser contact it."""

    hits: list[str]


class _TrackerHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(PIXEL)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def tracker() -> Iterator[Tracker]:
    server = Tracker(("127.0.0.1", 0), _TrackerHandler)
    server.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def mock() -> Iterator[RunningMock]:
    with running_mock(mock_settings(seed=8)) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, mock: RunningMock) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    opened = context.new_page()
    yield opened
    context.close()


def send(mock: RunningMock, subject: str, html: str, namespace: str | None = None, **extra: Any) -> None:
    headers = {**AUTH, **({"X-Mock-Namespace": namespace} if namespace is not None else {})}
    mail = {
        "From": {"Address": "anna.berg@nordlys.no"},
        "To": [{"Address": "kari.nilsen@fjordtech.no"}],
        "Subject": subject,
        "PlainBody": f"Plain text of {subject}",
        "HTMLBody": html,
        **extra,
    }
    response = httpx.post(mock.base_url + SEND, json={"Emails": [mail]}, headers=headers, timeout=10)
    assert response.status_code == 200, response.text


def attachments() -> list[dict[str, str]]:
    """An inline logo the HTML shows by cid: and a PDF to download."""
    return [
        {
            "Filename": "logo.png",
            "Type": "image/png",
            "Id": "logo",
            "Disposition": "inline",
            "Stream": base64.b64encode(PIXEL).decode(),
        },
        {"Filename": "rapport.pdf", "Type": "application/pdf", "Stream": base64.b64encode(PDF).decode()},
    ]


def assert_the_pdf_downloads(page: Page, tmp_path: Path) -> None:
    """The open mail's PDF link downloads the exact bytes under the attachment's own name."""
    with page.expect_download() as download_info:
        page.locator("#attachments a", has_text="rapport.pdf").click()
    saved = tmp_path / "download.pdf"
    download_info.value.save_as(saved)
    assert saved.read_bytes() == PDF
    assert download_info.value.suggested_filename == "rapport.pdf"


def test_inbox_lists_live_filters_shows_and_downloads(
    page: Page, mock: RunningMock, tracker: Tracker, tmp_path: Path
) -> None:
    remote = f"http://127.0.0.1:{tracker.server_address[1]}"
    page.goto(mock.base_url + "/_mock/inbox")
    expect(page.locator("#nothing")).to_be_visible()

    hostile = (
        f'<p id="greeting">Hei Kari</p><img id="logo" src="cid:logo"><img src="{remote}/pixel.png">'
        f'<link rel="stylesheet" href="{remote}/style.css">'
        "<script>document.body.setAttribute('data-ran','yes'); parent.document.title='pwned';</script>"
        "<img src=\"x\" onerror=\"document.body.setAttribute('data-onerror','yes')\">"
    )
    send(mock, "Kvartalsrapport", hostile, Attachments=attachments())
    send(mock, "Faktura 2025-11", "<p>Faktura</p>")

    # Live: both appear without a reload.
    rows = page.locator("tr.mail")
    expect(rows).to_have_count(2, timeout=10_000)
    page.fill("#filter", "kvartal")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Kvartalsrapport")

    rows.first.click()
    detail = page.locator("#detail")
    expect(detail.locator("h2")).to_have_text("Kvartalsrapport")
    expect(detail).to_contain_text("kari.nilsen@fjordtech.no")
    expect(page.locator("#text")).to_have_text("Plain text of Kvartalsrapport")

    frame_element = page.locator("iframe#html")
    assert frame_element.get_attribute("sandbox") == ""
    frame = page.frame_locator("iframe#html")
    expect(frame.locator("#greeting")).to_have_text("Hei Kari")
    # The inline image (cid:) is shown from the mail itself.
    expect(frame.locator("#logo")).to_have_js_property("naturalWidth", 1)
    # No script ran, inline or as an event handler, and nothing was fetched from elsewhere.
    assert frame.locator("body").get_attribute("data-ran") is None
    assert frame.locator("body").get_attribute("data-onerror") is None
    assert page.title() == "mockserver inbox"
    page.wait_for_timeout(300)
    assert tracker.hits == []

    assert_the_pdf_downloads(page, tmp_path)


def test_inbox_shows_a_namespaced_mail_its_frame_and_its_downloads(
    page: Page, mock: RunningMock, tmp_path: Path
) -> None:
    # As the pytest plugin files a test's mail; the space and slash must survive every URL the page builds.
    namespace = "test_send-1a2b/ns x"
    html = '<p id="greeting">Hei fra et navnerom</p><img id="logo" src="cid:logo">'
    send(mock, "Navnerom", html, namespace=namespace, Attachments=attachments())

    page.goto(mock.base_url + "/_mock/inbox?namespace=" + quote(namespace, safe=""))
    expect(page.locator("#namespace")).to_have_value(namespace)
    rows = page.locator("tr.mail")
    expect(rows).to_have_count(1, timeout=10_000)
    expect(rows.first).to_contain_text("Navnerom")

    rows.first.click()
    expect(page.locator("#detail h2")).to_have_text("Navnerom")
    frame = page.frame_locator("iframe#html")
    expect(frame.locator("#greeting")).to_have_text("Hei fra et navnerom")
    expect(frame.locator("#logo")).to_have_js_property("naturalWidth", 1)

    assert_the_pdf_downloads(page, tmp_path)

    with page.expect_download() as raw_info:
        page.locator("#raw").click()
    eml = tmp_path / "mail.eml"
    raw_info.value.save_as(eml)
    assert email.message_from_bytes(eml.read_bytes(), policy=policy.default)["Subject"] == "Navnerom"

    # Another namespace, picked on the page: the list follows, the open mail goes, the address bar records it.
    page.fill("#namespace", "nobody-else")
    page.press("#namespace", "Enter")
    expect(page.locator("#nothing")).to_be_visible()
    expect(rows).to_have_count(0)
    expect(page.locator("#detail")).to_have_text("Select a mail.")
    assert page.url.endswith("/_mock/inbox?namespace=nobody-else")
    page.fill("#namespace", namespace)
    page.press("#namespace", "Enter")
    expect(rows).to_have_count(1, timeout=10_000)
    page.reload()
    expect(page.locator("#namespace")).to_have_value(namespace)
    expect(rows).to_have_count(1, timeout=10_000)
