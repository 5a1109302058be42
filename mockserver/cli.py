"""`mockserver` command line: serve | check-spec | version."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from typing import Any

from mockserver import __version__
from mockserver.settings import ENV_PREFIX, Settings

# Held CometD connects (up to --bayeux-timeout) must not keep a stopping server up.
GRACEFUL_SHUTDOWN_SECONDS = 3
# Settings that are not user options: run_seed is how `serve` hands its seed to worker processes.
_INTERNAL = frozenset({"run_seed"})

_HELP = {
    "host": "interface to listen on",
    "port": "TCP port",
    "workers": "uvicorn worker processes",
    "seed": "fix the generator: the same request then gives byte-identical responses, and the clock is frozen",
    "users": "comma-separated user:password list; when set, only these pass Basic auth",
    "tickets": "comma-separated SOTicket list (7T:...); when set, only these pass",
    "tokens": "comma-separated Bearer token list (8A:...); when set, only these pass",
    "validate_responses": "check every response against the contract (a 500 on violation); for tests",
    "base_timezone": "the server's own time zone (IANA name), used for date-times in responses",
    "hostname": "host name in generated Message-IDs when the sender's domain cannot be used",
    "online_restricted": "answer every EMail agent call with 403, as Online does for apps without access",
    "frozen_time": "the instant the clock is frozen at when --seed is given",
    "max_body_bytes": "largest request body accepted (413 above it)",
    "delivery": "none (journal only), sink (embedded SMTP server) or smtp (the servers requests name, or the relay)",
    "outbox": "SQLite file of the outbox (:memory: keeps it in memory)",
    "sink_host": "interface of the embedded SMTP sink",
    "sink_port": "port of the embedded SMTP sink",
    "smtp_relay": "SMTP server for mail whose request names none, e.g. smtp://127.0.0.1:2525",
    "smtp_allow": "hosts delivery may connect to (comma-separated; 'loopback' = any loopback address)",
    "smtp_timeout": "seconds an SMTP server may take to answer",
    "imap_url": "the associate's IMAP account, e.g. imap://user:secret@127.0.0.1:143 (SaveToMailServer)",
    "imap_timeout": "seconds an IMAP server may take to answer",
    "tls_ca_file": "CA bundle to trust for SMTP/IMAP TLS (e.g. a test CA)",
    "latency": "delay every answer: 250, 100-400, lognormal:200:0.5 or nsapislow",
    "chaos": "inject documented errors: OPERATION=STATUS:PROBABILITY[,...], e.g. *=500:0.05",
    "cors_origins": "comma-separated browser origins allowed by CORS (* for any, empty to turn CORS off)",
    "require_app_token": "SOTicket requests must carry SO-AppToken, as in SuperOffice Online",
    "gws_csrf": "GWS CSRF protection: POSTs need the JSESSIONID cookie and the X-CSRF-TOKEN of GET /api/v2/me",
    "gws_session_minutes": "idle minutes after which a GWS session (JSESSIONID) expires",
    "notification_delay": "milliseconds between a GWS Send's outcome and its CometD notification",
    "bayeux_timeout": "milliseconds a CometD /meta/connect is held when nothing is queued (advice.timeout)",
    "bayeux_max_interval": "milliseconds without a /meta/connect after which a CometD client is dropped",
    "bayeux_max_queue": "notifications kept per CometD client while it is not polling (oldest dropped first)",
    "log_level": "uvicorn log level",
}


def _add_setting_options(parser: argparse.ArgumentParser) -> None:
    for field in dataclasses.fields(Settings):
        if field.name in _INTERNAL:
            continue
        flag = "--" + field.name.replace("_", "-")
        env = ENV_PREFIX + field.name.upper()
        help_text = f"{_HELP.get(field.name, '')} (env {env}; default {field.default!r})"
        type_text = str(field.type)
        if type_text.startswith("bool"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif type_text.startswith("int"):
            parser.add_argument(flag, type=int, default=None, help=help_text)
        elif type_text.startswith("float"):
            parser.add_argument(flag, type=float, default=None, help=help_text)
        elif "tuple" in type_text:
            parser.add_argument(flag, default=None, help=help_text, type=_csv)
        else:
            parser.add_argument(flag, default=None, help=help_text)


def _csv(text: str) -> tuple[str, ...] | None:
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    return items or None


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(Settings) if f.name not in _INTERNAL
    }
    return Settings.from_env(**overrides)


def serve(settings: Settings) -> int:
    settings = settings.with_run_seed()
    base = f"http://{settings.host}:{settings.port}"
    print(f"mockserver {__version__}: SuperOffice EMail agent + Genesys GWS e-mail on {base}", flush=True)
    print(f"  contract {base}/openapi.json · Swagger UI {base}/ui/ · inbox {base}/_mock/inbox", flush=True)
    sink = None
    if settings.delivery == "sink":
        # Started here, before any worker: every worker delivers to this one sink.
        from mockserver.outbox import Outbox
        from mockserver.sink import Sink

        sink = Sink(settings.sink_host, settings.sink_port, Outbox(settings.outbox))
        if sink.start():
            print(f"  SMTP sink smtp://{settings.sink_host}:{settings.sink_port}", flush=True)
        else:
            print(f"  SMTP sink: {settings.sink_host}:{settings.sink_port} is taken; delivering there", flush=True)
            sink = None
    try:
        _run_uvicorn(settings)
    finally:
        if sink is not None:
            sink.stop()
    return 0


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn

    if settings.workers > 1:
        # Workers rebuild the app from the environment, seed included, so they all derive the same data.
        os.environ.update(settings.to_env())
        uvicorn.run(
            "mockserver.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    else:
        from mockserver.app import create_app

        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )


def check_spec() -> int:
    from openapi_spec_validator import validate

    from mockserver import spec

    failed = 0
    for name in sorted(p.name for p in spec.spec_dir().glob("*.yaml")):
        try:
            validate(spec.load(name))
        except Exception as exc:  # the validator raises its own error types; any of them means "invalid"
            failed += 1
            print(f"{name}: INVALID: {exc}", file=sys.stderr)
        else:
            print(f"{name}: OK")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mockserver", description="Mock and contract-test server for e-mail APIs.")
    parser.add_argument("--version", action="version", version=f"mockserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the mock (what `make run` runs)")
    _add_setting_options(serve_parser)
    commands.add_parser("check-spec", help="validate the OpenAPI documents in openapi/")
    commands.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(settings_from_args(args))
        if args.command == "check-spec":
            return check_spec()
        print(f"mockserver {__version__}")
        return 0
    except ValueError as exc:
        print(f"mockserver: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
