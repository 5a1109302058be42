"""`mockserver` command line: serve | conformance | proxy | examples | check-spec | version."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from mockserver import __version__
from mockserver.settings import ENV_PREFIX, Settings
from mockserver.tools import examples, proxy

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
    "store": "where shared state lives: a SQLite file (:memory: keeps it in memory) or a PostgreSQL URL "
    "(postgresql://user:pw@host:5432/db) shared by several replicas; --outbox is its old name",
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
        aliases = ("--outbox",) if field.name == "store" else ()
        env = ENV_PREFIX + field.name.upper()
        help_text = f"{_HELP.get(field.name, '')} (env {env}; default {field.default!r})"
        type_text = str(field.type)
        if type_text.startswith("bool"):
            parser.add_argument(flag, *aliases, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif type_text.startswith("int"):
            parser.add_argument(flag, *aliases, type=int, default=None, help=help_text)
        elif type_text.startswith("float"):
            parser.add_argument(flag, *aliases, type=float, default=None, help=help_text)
        elif "tuple" in type_text:
            parser.add_argument(flag, *aliases, default=None, help=help_text, type=_csv)
        else:
            parser.add_argument(flag, *aliases, default=None, help=help_text)


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
        # Started here, before any worker, in a process of its own: every worker delivers to this one sink.
        from mockserver.mail.sink import SinkProcess

        sink = SinkProcess(settings.sink_host, settings.sink_port, settings.store)
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


# The stdlib event loop rather than uvloop (uvicorn's "auto"). First, with every worker busy, uvloop left some
# keep-alive connections unserved for seconds (SendEMails x7 at 32 connections: p99 1.2-1.5 s at p50 ~100 ms). Tried
# again once requests took well under a millisecond (2026-12-05): keep-alive answers rose ~8 %, but uvloop hands
# requests on new connections to the app one or two a turn, and the outbox's group commit (one per turn) then
# committed each alone: SendEMails x1 on new connections fell from 2,891 to 1,780 rps. See bench/RESULTS.md.
EVENT_LOOP = "asyncio"


# The served process's collector: what start-up built (the contract, validators, Faker's providers and pools) lives
# as long as the process, so it is frozen out of every collection; and the first generation is collected every
# 50,000 net allocations instead of 700, since a request allocates thousands of short-lived objects that reference
# counting frees anyway. A SendEMails x7 load on one worker: ~1,060 -> ~1,200 rps, latency stdev 8.5 -> 1.7 ms
# (bench/RESULTS.md). Only the served process: `create_app` also runs inside users' test processes (the plugin).
GC_THRESHOLDS = (50_000, 50, 100)


def tune_collector() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def served_app() -> Any:
    """The app of one worker process (uvicorn's factory), its collector tuned once it is built."""
    from mockserver.app import create_app

    app = create_app()
    tune_collector()
    return app


def access_log(log_level: str) -> bool:
    """Whether uvicorn should log each request: only where its access lines (INFO) would be written. With the
    log off it still builds each line's arguments (the path quoted, the client's address) before the logger drops
    it: ~0.7 us a request in a loop of its own."""
    from uvicorn.config import LOG_LEVELS

    return LOG_LEVELS.get(log_level.lower(), logging.INFO) <= logging.INFO


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn

    if settings.workers > 1:
        from mockserver import workers

        # Workers rebuild the app from the environment, seed included, so they all derive the same data.
        os.environ.update(settings.to_env())
        workers.run(
            uvicorn.Config(
                "mockserver.cli:served_app",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=settings.workers,
                loop=EVENT_LOOP,
                log_level=settings.log_level,
                access_log=access_log(settings.log_level),
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            )
        )
    else:
        from mockserver.app import create_app

        app = create_app(settings)
        tune_collector()
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            loop=EVENT_LOOP,
            log_level=settings.log_level,
            access_log=access_log(settings.log_level),
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )


def check_spec() -> int:
    from openapi_spec_validator import validate

    from mockserver.contract import spec

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


def contract(args: argparse.Namespace) -> int:
    """The contract as the mock serves it at `/openapi.json` (or `?media=json`), for a generator run offline."""
    import json

    import yaml

    from mockserver.contract import spec

    document: dict[str, Any] = spec.load()
    if args.server:
        document = {**document, "servers": [{"url": args.server.rstrip("/")}]}
    if args.media:
        document = spec.media_view(document, args.media)
    if args.format == "json":
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _add_contract_options(parser: argparse.ArgumentParser) -> None:
    from mockserver.contract import spec

    parser.add_argument(
        "--media",
        choices=spec.MEDIA_VIEWS,
        help="only the JSON request and response bodies (the view client generators want; see the README)",
    )
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml", help="output format (default yaml)")
    parser.add_argument("--server", help="set `servers` to this URL (default: as written, `/`)")
    parser.add_argument("--out", help="write to this file instead of stdout")


def _add_conformance_options(parser: argparse.ArgumentParser) -> None:
    env = "MOCKSERVER_CONFORMANCE_"
    parser.add_argument("--base-url", required=True, help="the implementation to test, e.g. http://127.0.0.1:8080")
    parser.add_argument(
        "--compare-url", help="a second implementation: run the same campaign there too and report drift"
    )
    auth = parser.add_argument_group(
        "credentials (each also read from the environment variable named in brackets, so that secrets stay off "
        "the command line)"
    )
    for flag, name, text in (
        ("--basic", "BASIC", "SuperOffice Basic credentials, user:password"),
        ("--soticket", "SOTICKET", "SuperOffice SOTicket, e.g. 7T:..."),
        ("--app-token", "APP_TOKEN", "SuperOffice SO-AppToken sent with every SuperOffice request"),
        ("--bearer", "BEARER", "SuperOffice Online bearer token, e.g. 8A:..."),
        ("--gws-basic", "GWS_BASIC", "Genesys credentials, user:password; the session and CSRF token follow"),
    ):
        auth.add_argument(flag, default=os.environ.get(env + name), help=f"{text} [{env}{name}]")
    auth.add_argument(
        "--no-gws-session",
        action="store_true",
        help="send Genesys Basic credentials on each request instead of logging in (servers without CSRF)",
    )
    auth.add_argument("--header", action="append", default=[], help="extra header 'Name: value' (repeatable)")
    parser.add_argument("--operations", nargs="+", help="operationIds, paths or tags to test (default: all)")
    parser.add_argument("--max-examples", type=int, default=25, help="generated cases per operation and mode")
    parser.add_argument("--seed", type=int, default=0, help="the campaign's seed: the same seed sends the same cases")
    parser.add_argument("--modes", nargs="+", help="case kinds (default: all: examples, mutations, positive, negative)")
    parser.add_argument("--checks", nargs="+", help="schemathesis check names (default: all that apply)")
    parser.add_argument(
        "--exclude-checks",
        nargs="+",
        default=[],
        help="checks to leave out, e.g. ignored_auth against a server that accepts any credentials",
    )
    parser.add_argument("--junit", help="write JUnit XML here")
    parser.add_argument("--report", help="write the full results as JSON here")
    parser.add_argument("--drift-report", help="with --compare-url: write the drift report as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def conformance(args: argparse.Namespace) -> int:
    import json

    from mockserver.tools import campaign

    if args.max_examples < 1:
        raise ValueError("--max-examples must be at least 1")
    auth = campaign.Auth(
        superoffice_basic=args.basic,
        soticket=args.soticket,
        app_token=args.app_token,
        bearer=args.bearer,
        gws_basic=args.gws_basic,
        gws_session=not args.no_gws_session,
        headers=campaign.parse_headers(args.header),
    )
    if not any((args.basic, args.soticket, args.bearer, args.gws_basic)):
        print("mockserver conformance: no credentials given; every request goes without them", file=sys.stderr)
    plan = campaign.Campaign(
        operations=args.operations,
        max_examples=args.max_examples,
        seed=args.seed,
        **({"modes": args.modes} if args.modes else {}),
        checks=args.checks,
        exclude_checks=args.exclude_checks,
    )
    progress = None if args.quiet else _progress_printer()
    print(f"Generating the campaign (seed {args.seed}) …", file=sys.stderr, flush=True)
    plan.plan()
    reports = []
    for base_url in [args.base_url, *([args.compare_url] if args.compare_url else [])]:
        report = plan.run(base_url, auth, progress)
        if progress is not None:
            print(file=sys.stderr, flush=True)
        reports.append(report)
        if report.error:
            print(f"mockserver conformance: {report.error}", file=sys.stderr)
        print(campaign.summary_text(report))
        print(campaign.coverage_text(report))
        details = campaign.failure_details(report)
        if details:
            print("\nFailures:\n" + details)
        print()
    first = reports[0]
    if args.junit:
        with open(args.junit, "wb") as output:
            output.write(campaign.junit_xml(first))
    if args.report:
        with open(args.report, "w", encoding="utf-8") as output:
            json.dump([r.as_json() for r in reports] if len(reports) > 1 else first.as_json(), output, indent=2)
    if len(reports) > 1 and not any(r.error for r in reports):
        drift = campaign.drift(reports[0], reports[1])
        print(campaign.drift_text(drift))
        if args.drift_report:
            with open(args.drift_report, "w", encoding="utf-8") as output:
                json.dump(drift, output, indent=2)
    if any(r.error for r in reports):
        return 2
    # Both servers are judged: a drift run against a real tenant is also a conformance run of that tenant.
    return 1 if any(r.failed for r in reports) else 0


def _progress_printer() -> Any:
    interactive = sys.stderr.isatty()
    state = {"operation": ""}

    def show(operation: str, index: int, total: int) -> None:
        if interactive:
            done = int(30 * index / total)
            bar = "#" * done + "." * (30 - done)
            print(f"\r[{bar}] {index}/{total} {operation[:70]:<70}", end="", file=sys.stderr, flush=True)
        elif operation != state["operation"]:
            state["operation"] = operation
            print(f"[{index}/{total}] {operation}", file=sys.stderr, flush=True)

    return show


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mockserver", description="Mock and contract-test server for e-mail APIs.")
    parser.add_argument("--version", action="version", version=f"mockserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the mock (what `make run` runs)")
    _add_setting_options(serve_parser)
    conformance_parser = commands.add_parser(
        "conformance", help="test any implementation against the contract (schemathesis, seeded)"
    )
    _add_conformance_options(conformance_parser)
    proxy.add_arguments(
        commands.add_parser(
            "proxy", help="forward to a real server and check requests and answers against the contract"
        )
    )
    examples.add_arguments(
        commands.add_parser("examples", help="write sample requests and answers for docs (json, xml, http, markdown)")
    )
    _add_contract_options(
        commands.add_parser(
            "contract", help="print the contract as served at /openapi.json (`--media json`: the JSON view)"
        )
    )
    commands.add_parser("check-spec", help="validate the OpenAPI documents in openapi/")
    commands.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(settings_from_args(args))
        if args.command == "conformance":
            return conformance(args)
        if args.command == "proxy":
            return proxy.main(args)
        if args.command == "examples":
            return examples.main(args)
        if args.command == "contract":
            return contract(args)
        if args.command == "check-spec":
            return check_spec()
        print(f"mockserver {__version__}")
        return 0
    except ValueError as exc:
        print(f"mockserver: {exc}", file=sys.stderr)
        return 2
    except ConnectionError as exc:  # the store's database cannot be reached at start-up (its URL redacted)
        print(f"mockserver: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
