from __future__ import annotations

import json
import pathlib

import pytest
import yaml

from mockserver import __version__
from mockserver.cli import build_parser, main, settings_from_args
from mockserver.contract import spec


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_check_spec_passes_on_the_shipped_documents(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-spec"]) == 0
    assert "email-api.yaml: OK" in capsys.readouterr().out


def test_serve_flags_map_onto_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKSERVER_PORT", "9999")
    monkeypatch.setenv("MOCKSERVER_HOSTNAME", "env.example")
    args = build_parser().parse_args(
        ["serve", "--port", "8181", "--seed", "7", "--users", "a:b,c:d", "--validate-responses", "--workers", "2"]
    )
    settings = settings_from_args(args)
    assert (settings.port, settings.seed, settings.workers) == (8181, 7, 2)
    assert settings.users == ("a:b", "c:d")
    assert settings.validate_responses is True
    assert settings.hostname == "env.example"  # not given on the command line: the env twin applies


def test_bad_setting_is_a_clear_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--base-timezone", "Nowhere/Special"]) == 2
    assert "unknown time zone" in capsys.readouterr().err


def test_unknown_command_exits_2() -> None:
    with pytest.raises(SystemExit) as raised:
        main(["frobnicate"])
    assert raised.value.code == 2


def test_contract_prints_the_served_contract_and_its_json_view(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    assert main(["contract", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(spec.load(), default=str))
    out = tmp_path / "email-api.json.yaml"
    assert main(["contract", "--media", "json", "--server", "http://127.0.0.1:9/", "--out", str(out)]) == 0
    view = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert view["servers"] == [{"url": "http://127.0.0.1:9"}]
    expected = spec.media_view({**spec.load(), "servers": [{"url": "http://127.0.0.1:9"}]}, "json")
    assert json.dumps(view, default=str, sort_keys=True) == json.dumps(expected, default=str, sort_keys=True)


def test_serve_with_an_unreachable_store_says_so_without_a_traceback_or_the_password() -> None:
    import subprocess
    import sys

    from mockserver.tools.testing import free_port

    url = f"postgresql://mock:s3cret@127.0.0.1:{free_port()}/mock?connect_timeout=1"
    done = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--store", url, "--port", str(free_port()), "--delivery", "none"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "cannot connect to the store postgresql://mock:***@127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr and "s3cret" not in done.stderr + done.stdout


def test_store_and_its_old_flag_name_outbox_set_the_same_setting() -> None:
    from mockserver.cli import build_parser, settings_from_args

    for flag in ("--store", "--outbox"):
        args = build_parser().parse_args(["serve", flag, "x.sqlite3"])
        assert settings_from_args(args).store == "x.sqlite3"


def test_the_served_process_freezes_its_start_up_heap_and_collects_young_objects_less_often() -> None:
    import subprocess
    import sys

    probe = (
        "import gc; from mockserver.cli import GC_THRESHOLDS, tune_collector; before = gc.get_freeze_count(); "
        "tune_collector(); assert gc.get_threshold() == GC_THRESHOLDS != (700, 10, 10); "
        "assert gc.get_freeze_count() > before; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize(
    ("level", "logged"),
    [("trace", True), ("debug", True), ("info", True), ("INFO", True), ("warning", False), ("error", False)],
)
def test_requests_are_access_logged_exactly_where_uvicorn_would_write_the_lines(level: str, logged: bool) -> None:
    """Access lines are INFO records: below INFO uvicorn would drop them, after building each one's arguments."""
    from mockserver.cli import access_log

    assert access_log(level) is logged


@pytest.mark.parametrize(("level", "logged"), [("info", True), ("warning", False)])
def test_a_served_request_shows_in_the_log_at_info_and_not_above(
    level: str, logged: bool, tmp_path: pathlib.Path
) -> None:
    import base64
    import signal
    import subprocess
    import sys

    import httpx

    from tests.servers import free_port, wait_for_port

    port = free_port()
    argv = ["serve", "--port", str(port), "--delivery", "none", "--log-level", level]
    server = subprocess.Popen(
        [sys.executable, "-m", "mockserver", *argv, "--store", str(tmp_path / "o.sqlite3")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, timeout=30)
        auth = {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()}
        relayed = {"Rfc822": "Subject: x\r\n\r\nb", "Recipients": ["a@b.no"]}
        url = f"http://127.0.0.1:{port}/api/v1/Agents/EMail/RelayMessage"
        assert httpx.post(url, json=relayed, headers=auth).status_code == 204
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert ('"POST /api/v1/Agents/EMail/RelayMessage HTTP/1.1" 204' in output) is logged, output
