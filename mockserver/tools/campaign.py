"""`mockserver conformance`: one seeded schemathesis campaign against any implementation of the contract.

The campaign is generated once, before anything is sent: the contract's own examples, then positive and
negative cases per operation, each drawn with a seed derived from the run seed and the operation. The same
seed therefore sends the same requests to any server, which is what makes two runs comparable (the drift
report). Every response is judged by schemathesis' own checks, under their schemathesis names, plus
`select_honoured` (the vendor's `$select`), with XML responses really validated (mockserver.tools.conformance
registers the deserializer).
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import HypothesisException
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err

from mockserver import __version__
from mockserver.contract import spec, wire
from mockserver.tools import conformance

MODES = ("examples", "mutations", "boundaries", "positive", "negative")
# Single-violation cases per operation at most: one per required property, enum and type along the example.
MAX_MUTATIONS = 80
MUTATION_DEPTH = 4
# Boundary cases per operation at most, and the length sent where the contract sets no maximum (a subject or an
# address longer than any form field, where fixed-size buffers and database columns break).
MAX_BOUNDARIES = 120
LONG_STRING = 1000
# The stateful checks need links between operations, which this contract has none of.
STATEFUL_CHECKS = frozenset({"use_after_free", "ensure_resource_availability", "object_level_authorization"})
# Checks that send extra requests of their own: once per operation is enough to judge them.
ONCE_PER_OPERATION = frozenset({"unsupported_method", "allow_header_conformance"})
REQUEST_TIMEOUT = 30.0


def available_checks() -> list[str]:
    load_all_checks()
    return [name for name in CHECKS.get_all_names() if name not in STATEFUL_CHECKS]


@dataclass(frozen=True)
class Auth:
    """Credentials per vendor. SuperOffice: one of Basic, SOTicket (+ SO-AppToken) or Bearer. Genesys: Basic,
    then the session (JSESSIONID) and CSRF token from `GET /api/v2/me`, as a GWS client logs in."""

    superoffice_basic: str | None = field(default=None, repr=False)
    soticket: str | None = field(default=None, repr=False)
    app_token: str | None = field(default=None, repr=False)
    bearer: str | None = field(default=None, repr=False)
    gws_basic: str | None = field(default=None, repr=False)
    gws_session: bool = True
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def superoffice_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.soticket:
            headers["Authorization"] = f"SOTicket {self.soticket}"
        elif self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        elif self.superoffice_basic:
            headers["Authorization"] = _basic(self.superoffice_basic)
        if self.app_token:
            headers["SO-AppToken"] = self.app_token
        return headers


def _basic(user_password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(user_password.encode("utf-8")).decode("ascii")


@dataclass
class CaseResult:
    operation: str
    mode: str
    status: int | None = None
    media_type: str | None = None
    shape: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    curl: str = ""
    operation_id: str = ""
    request_media_type: str | None = None
    enums: list[str] = field(default_factory=list)  # `path=member` of every enum value the request carried

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


@dataclass
class Report:
    base_url: str
    seed: int
    checks: list[str]
    results: list[CaseResult] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None or any(not r.passed for r in self.results)

    def operations(self) -> list[str]:
        return list(dict.fromkeys([*(r.operation for r in self.results), *self.skipped]))

    def by_operation(self) -> dict[str, list[CaseResult]]:
        grouped: dict[str, list[CaseResult]] = {name: [] for name in self.operations()}
        for result in self.results:
            grouped[result.operation].append(result)
        return grouped

    def as_json(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "seed": self.seed,
            "checks": self.checks,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "passed": not self.failed,
            "operations": {
                name: {
                    "cases": len(results),
                    "passed": sum(r.passed for r in results),
                    "skipped": self.skipped.get(name, []),
                    "failures": [
                        {"mode": r.mode, "status": r.status, "curl": r.curl, **failure}
                        for r in results
                        for failure in r.failures
                    ],
                    "errors": [{"mode": r.mode, "error": r.error, "curl": r.curl} for r in results if r.error],
                    "coverage": coverage(results),
                }
                for name, results in self.by_operation().items()
            },
        }


@dataclass
class PlannedCase:
    operation: str
    operation_id: str
    mode: str
    case: Any
    note: str = ""


Progress = Callable[[str, int, int], None]


def _without_schema_examples(document: dict[str, Any]) -> dict[str, Any]:
    """The contract without the `example` of each component schema; the operations' own examples stay.

    Those are one value each, shown in Swagger UI. From them schemathesis assembles whole bodies, drawing a
    value for every other property by generation (`{"Emails": null, "OutgoingConnectionInfo": {...}}`): the
    positive mode's work, done again one hypothesis run per property. With the nullable uses of the carriers
    spelled `{allOf: [$ref], nullable: true}` its walk reaches every carrier, and drawing SendEMails' examples
    took 23 s instead of 0.2 s."""

    def strip(node: Any, names: bool = False) -> Any:
        if isinstance(node, dict):  # under `properties` the keys are names: a property may be called `example`
            return {
                key: strip(value, key == "properties" and not names)
                for key, value in node.items()
                if names or key != "example"
            }
        if isinstance(node, list):
            return [strip(item) for item in node]
        return node

    components = document.get("components", {})
    return {**document, "components": {**components, "schemas": strip(components.get("schemas", {}))}}


class Campaign:
    """The cases of one seeded campaign, generated once and sent to as many servers as asked."""

    def __init__(
        self,
        *,
        operations: Sequence[str] | None = None,
        max_examples: int = 25,
        seed: int = 0,
        modes: Sequence[str] = MODES,
        checks: Sequence[str] | None = None,
        exclude_checks: Sequence[str] = (),
    ) -> None:
        unknown = [m for m in modes if m not in MODES]
        if unknown:
            raise ValueError(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
        names = [n for n in (checks or available_checks()) if n not in exclude_checks]
        bad = [n for n in [*names, *exclude_checks] if n not in available_checks()]
        if bad:
            raise ValueError(f"unknown check(s) {', '.join(bad)}; available: {', '.join(available_checks())}")
        load_all_checks()
        self.check_names = names
        self.checks = [CHECKS.get_one(name) for name in names]
        self.max_examples = max_examples
        self.seed = seed
        self.modes = tuple(modes)
        self.schema = schemathesis.openapi.from_dict(_without_schema_examples(spec.load()))
        self.skipped: dict[str, list[str]] = {}
        self.operations = self._select(operations)
        self.planned: list[PlannedCase] = []
        self._plan_done = False

    def _select(self, wanted: Sequence[str] | None) -> list[Any]:
        found = []
        for result in self.schema.get_all_operations():
            if isinstance(result, Err):
                # A broken operation in the contract must not hide the others; it is reported, not tested.
                self.skipped.setdefault("(contract)", []).append(str(result.err()))
                continue
            operation = result.ok()
            operation_id = str(operation.definition.raw.get("operationId", ""))
            tags = operation.definition.raw.get("tags", [])
            if wanted and not any(w in (operation_id, operation.label, operation.path, *tags) for w in wanted):
                continue
            found.append(operation)
        if wanted and not found:
            raise ValueError(f"no operation matches {', '.join(wanted)} (give operationIds, paths or tags)")
        return found

    def plan(self) -> list[PlannedCase]:
        """Every case of the campaign, in a fixed order; the same seed gives the same cases."""
        if self._plan_done:  # a plan with no cases is a plan too: drawing again would double `skipped`
            return self.planned
        self._plan_done = True
        for operation in self.operations:
            operation_id = str(operation.definition.raw["operationId"])
            for mode in self.modes:
                try:
                    cases = self._draw(operation, mode)
                except (HypothesisException, Exception) as exc:
                    self.skipped.setdefault(operation.label, []).append(f"{mode}: {type(exc).__name__}: {exc}")
                    continue
                if mode in ("examples", "positive"):
                    _rotate_accept(operation_id, [case for case, _ in cases])
                self.planned += [PlannedCase(operation.label, operation_id, mode, case, note) for case, note in cases]
        return self.planned

    def _draw(self, operation: Any, mode: str) -> list[tuple[Any, str]]:
        if mode == "mutations":
            return self._mutations(operation)
        if mode == "boundaries":
            return self._boundaries(operation)
        return [(case, "") for case in self._generated(operation, mode)]

    def _generated(self, operation: Any, mode: str) -> list[Any]:
        if mode == "examples":
            strategies = operation.get_strategies_from_examples()
            cases = [case for strategy in strategies for case in _collect(strategy, 1, self._seed_for(operation, mode))]
            # The contract's examples carry `$select`, which trims the answer; the same request without its
            # (optional) query shows the whole answer, so every property of it is checked against the schema.
            return cases + [_without_query(operation, case) for case in cases if case.query]
        generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
        strategy = operation.as_strategy(generation)
        return _collect(strategy, self.max_examples, self._seed_for(operation, mode))

    def _mutations(self, operation: Any) -> list[tuple[Any, str]]:
        """Each contract example with exactly one thing wrong: a required property gone, an enum value no member
        of the enum, a value of the wrong type. Schemathesis' negative cases break many things at once, so a
        server that overlooks one of them (an `operationName` it never reads) would still answer 400."""
        found = self._json_example(operation)
        if found is None:
            return []
        base, schema, validator = found
        cases = []
        for where, body in mutations(base.body, schema):
            if validator.is_valid(body):
                continue  # the change happens to be allowed (e.g. null for a nullable property)
            cases.append((_with_body(operation, base, body), where))
            if len(cases) >= MAX_MUTATIONS:
                break
        return cases

    def _boundaries(self, operation: Any) -> list[tuple[Any, str]]:
        """The contract example with one value at a boundary the contract draws, or just past it: each array
        empty, at its minimum and maximum length (and one short or over), each string empty, at its length
        limits or long, each enum member, each integer at its limits, each nullable property `null`, and
        every nullable property of the body `null` at once. A case the contract allows must be answered like
        the example; one it forbids must be refused."""
        found = self._json_example(operation)
        if found is None:
            return []
        base, schema, validator = found
        cases: list[tuple[Any, str]] = []
        seen: set[str] = set()
        # The all-null body first: the cap on cases per operation must not cut it.
        for where, body in [
            ("every nullable property null", all_null(base.body, schema)),
            *boundaries(base.body, schema),
        ]:
            key = repr(body)
            if key in seen or body == base.body:
                continue
            seen.add(key)
            verdict = "allowed" if validator.is_valid(body) else "forbidden"
            cases.append((_with_body(operation, base, body), f"{verdict}: {where}"))
            if len(cases) >= MAX_BOUNDARIES:
                break
        return cases

    def _json_example(self, operation: Any) -> tuple[Any, Mapping[str, Any], Any] | None:
        """The first documented JSON example of the operation as a case, with the JSON body's schema and
        validator; None for an operation without a JSON example."""
        content = (operation.definition.raw.get("requestBody") or {}).get("content", {})
        if "application/json" not in content:
            return None
        for strategy in operation.get_strategies_from_examples():
            for case in _collect(strategy, 1, self._seed_for(operation, "examples")):
                if case.media_type == "application/json" and isinstance(case.body, dict):
                    schema = spec.resolve(content["application/json"]["schema"])
                    operation_id = str(operation.definition.raw["operationId"])
                    return case, schema, wire.request_validator(operation_id)
        return None

    def _seed_for(self, operation: Any, mode: str) -> int:
        digest = hashlib.blake2b(f"{self.seed}:{operation.label}:{mode}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def run(self, base_url: str, auth: Auth, progress: Progress | None = None) -> Report:
        started = time.monotonic()
        planned = self.plan()
        report = Report(base_url=base_url.rstrip("/"), seed=self.seed, checks=self.check_names)
        report.skipped = dict(self.skipped)
        session = requests.Session()
        # schemathesis lets a session's headers override the case's own: requests' defaults (`Accept: */*`)
        # would hide every generated Accept, language and time-zone header.
        session.headers.clear()
        session.headers["User-Agent"] = f"mockserver-conformance/{__version__}"
        # Stateless: a cookie one answer sets must not change how the next request is judged.
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        try:
            headers_for = self._headers(report.base_url, auth, session)
        except requests.RequestException as exc:
            report.error = f"cannot reach {report.base_url}: {exc}"
            return report
        except LoginFailed as exc:
            report.error = str(exc)
            return report
        judged_once: set[tuple[str, str]] = set()
        for index, item in enumerate(planned, 1):
            if progress is not None:
                progress(item.operation, index, len(planned))
            headers = headers_for(item.operation_id)
            result = self._send(item, report.base_url, headers, session, judged_once)
            if result.status is None and not report.results:
                # The first request got no answer at all: the server is not there to test.
                report.error = f"cannot reach {report.base_url}: {result.error}"
                break
            report.results.append(result)
        report.seconds = time.monotonic() - started
        return report

    def _headers(self, base_url: str, auth: Auth, session: requests.Session) -> Callable[[str], dict[str, str]]:
        superoffice = auth.superoffice_headers()
        gws = dict(auth.headers)
        if auth.gws_basic and any(str(op.definition.raw["operationId"]).startswith("gws") for op in self.operations):
            authorization = _basic(auth.gws_basic)
            if auth.gws_session:

                def get(path: str, headers: dict[str, str]) -> Any:
                    response = session.get(base_url + path, headers=headers, timeout=REQUEST_TIMEOUT)
                    if response.status_code != 200:
                        raise LoginFailed(
                            f"GWS login (GET {path}) answered {response.status_code}: {response.text[:200]}"
                        )
                    return response

                gws.update(conformance.gws_session_headers(get, authorization))
            else:
                gws["Authorization"] = authorization

        def headers_for(operation_id: str) -> dict[str, str]:
            return dict(gws if operation_id.startswith("gws") else superoffice)

        return headers_for

    def _send(
        self,
        item: PlannedCase,
        base_url: str,
        headers: dict[str, str],
        session: requests.Session,
        judged_once: set[tuple[str, str]],
    ) -> CaseResult:
        case = item.case
        result = CaseResult(
            operation=item.operation,
            mode=item.mode,
            operation_id=item.operation_id,
            request_media_type=case.media_type,
            enums=sorted(enum_values(item.operation_id, case.body)),
        )
        try:
            response = case.call(base_url=base_url, headers=headers, session=session, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.curl = case.as_curl_command(headers=_shown(headers), base_url=base_url)
            return result
        result.status = response.status_code
        content_type = response.headers.get("content-type")
        if isinstance(content_type, list):
            content_type = content_type[0] if content_type else None
        result.media_type = content_type.split(";")[0].strip() if content_type else None
        result.shape = shape_of(_body_value(item.operation_id, response))
        result.curl = case.as_curl_command(headers=_shown(dict(response.request.headers)), base_url=base_url)
        excluded = conformance.excluded_checks(case, response)
        for name, check in zip(self.check_names, self.checks, strict=True):
            if check in excluded:
                continue
            if name in ONCE_PER_OPERATION:
                if (item.operation, name) in judged_once:
                    continue
                judged_once.add((item.operation, name))
            try:
                case.validate_response(
                    response,
                    checks=[check],
                    headers=headers,
                    transport_kwargs={"headers": headers, "base_url": base_url, "session": session},
                )
            except FailureGroup as group:
                result.failures += [_failure(name, f) for f in group.exceptions]
            except Failure as failure:
                result.failures.append(_failure(name, failure))
            except AssertionError as exc:
                result.failures.append({"check": name, "title": "Check failed", "message": str(exc)})
            except requests.RequestException as exc:
                result.failures.append({"check": name, "title": "Check could not re-send", "message": str(exc)})
        if (
            item.mode == "boundaries"
            and item.note.startswith("allowed")
            and response.status_code in (400, 415, 422)
            and "positive_data_acceptance" in self.check_names
        ):
            result.failures.append(
                {
                    "check": "positive_data_acceptance",
                    "title": "API rejected a request at a boundary the contract allows",
                    "message": f"{item.note}; answered {response.status_code}",
                }
            )
        forbidden = item.mode == "mutations" or (item.mode == "boundaries" and item.note.startswith("forbidden"))
        if forbidden and 200 <= response.status_code < 300 and "negative_data_rejection" in self.check_names:
            # Judged like schemathesis' negative cases: a request the contract forbids must not succeed.
            result.failures.append(
                {
                    "check": "negative_data_rejection",
                    "title": "API accepted schema-violating request",
                    "message": f"{item.note}; answered {response.status_code}",
                }
            )
        return result


class LoginFailed(Exception):
    pass


def _with_body(operation: Any, base: Any, body: Any) -> Any:
    """The example case `base` with another JSON body; its parameters and headers stay."""
    return operation.Case(
        body=body,
        media_type="application/json",
        path_parameters=dict(base.path_parameters or {}),
        headers=dict(base.headers or {}),
        query=dict(base.query or {}),
    )


def boundaries(value: Any, schema: Any, where: str = "body", depth: int = 0) -> Iterable[tuple[str, Any]]:
    """(description, value with one property at or just past a boundary of its schema)."""
    schema = spec.resolve(schema)
    if depth > MUTATION_DEPTH or not isinstance(schema, dict) or not isinstance(value, dict):
        return
    for name, sub in (schema.get("properties") or {}).items():
        sub = spec.resolve(sub)
        if not isinstance(sub, dict):
            continue
        here = f"{where}.{name}"
        for label, changed in _edge_values(value.get(name), sub):
            yield f"{here} {label}", {**value, name: changed}
        inner = value.get(name)
        if isinstance(inner, dict):
            for label, changed in boundaries(inner, sub, here, depth + 1):
                yield label, {**value, name: changed}
        elif isinstance(inner, list) and inner and isinstance(inner[0], dict):
            for label, changed in boundaries(inner[0], sub.get("items", {}), f"{here}[0]", depth + 1):
                yield label, {**value, name: [changed, *inner[1:]]}


def _edge_values(current: Any, schema: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    kind = schema.get("type")
    if schema.get("nullable") is True and current is not None:
        yield "= null", None
    if "enum" in schema:
        for member in schema["enum"]:
            if member is not None and member != current:
                yield f"= {member!r}", member
        return
    if kind == "array":
        low, high = int(schema.get("minItems", 0)), schema.get("maxItems")
        item = current[0] if isinstance(current, list) and current else None
        if low == 0:
            yield "empty", []
        elif item is not None:
            yield f"at minItems {low}", [item] * low
            yield f"one under minItems {low}", [item] * (low - 1)
        if high is not None and item is not None and int(high) <= 100:
            yield f"at maxItems {high}", [item] * int(high)
            yield f"one over maxItems {high}", [item] * (int(high) + 1)
    elif kind == "string" and "pattern" not in schema and "format" not in schema:
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        yield ("empty", "") if low == 0 else (f"one under minLength {low}", "x" * (low - 1))
        if low > 1:
            yield f"at minLength {low}", "x" * low
        if high is not None:
            yield f"at maxLength {high}", "x" * int(high)
            yield f"one over maxLength {high}", "x" * (int(high) + 1)
        else:
            yield f"{LONG_STRING} characters (no maxLength)", "x" * LONG_STRING
    elif kind == "integer":
        for keyword, step in (("minimum", -1), ("maximum", 1)):
            if keyword in schema:
                yield f"at {keyword} {schema[keyword]}", int(schema[keyword])
                yield f"past {keyword} {schema[keyword]}", int(schema[keyword]) + step


def all_null(value: Any, schema: Any, depth: int = 0) -> Any:
    """`value` with every nullable property it carries set to null, the carriers at the top first."""
    schema = spec.resolve(schema)
    if depth > MUTATION_DEPTH or not isinstance(schema, dict):
        return value
    if isinstance(value, list):
        return [all_null(item, schema.get("items", {}), depth + 1) for item in value]
    if not isinstance(value, dict):
        return value
    nulled = dict(value)
    for name, sub in (schema.get("properties") or {}).items():
        sub = spec.resolve(sub)
        if not isinstance(sub, dict):
            continue
        if sub.get("nullable") is True:
            nulled[name] = None
        elif name in value:
            nulled[name] = all_null(value[name], sub, depth + 1)
    return nulled


def mutations(value: Any, schema: Any, where: str = "body", depth: int = 0) -> Iterable[tuple[str, Any]]:
    """(description, value with one change) for every single change that may break the schema."""
    schema = spec.resolve(schema)
    if depth > MUTATION_DEPTH or not isinstance(schema, dict):
        return
    if "allOf" in schema and len(schema["allOf"]) == 1:
        yield from mutations(
            value, {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}, where, depth
        )
        return
    if isinstance(value, dict) and "properties" in schema:
        for name, sub in schema["properties"].items():
            sub = spec.resolve(sub)
            if name in schema.get("required", ()) and name in value:
                yield f"{where}.{name} removed", {k: v for k, v in value.items() if k != name}
            if not isinstance(sub, dict):
                continue
            if "enum" in sub:
                yield f"{where}.{name} = 'NotAMember'", {**value, name: "NotAMember"}
            wrong = _wrong_type(sub)
            if wrong is not _NOTHING:
                yield f"{where}.{name} of the wrong type", {**value, name: wrong}
            if name in value:
                for inner, changed in mutations(value[name], sub, f"{where}.{name}", depth + 1):
                    yield inner, {**value, name: changed}
    elif isinstance(value, list) and "items" in schema:
        if schema.get("minItems") and value:
            yield f"{where} empty", []
        if value:
            for inner, changed in mutations(value[0], schema["items"], f"{where}[0]", depth + 1):
                yield inner, [changed, *value[1:]]


_NOTHING = object()


def _wrong_type(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind in ("integer", "number", "boolean", "object", "array"):
        return "not-a-" + str(kind)
    if kind == "string":
        return 12345
    return _NOTHING


def _rotate_accept(operation_id: str, cases: list[Any]) -> None:
    """Ask for each documented success media type in turn, so that XML and text/json answers are judged too
    (the Accept header is no parameter of the contract, so schemathesis would never vary it)."""
    media_types: list[str] = []
    for status, response in spec.operations()[operation_id].get("responses", {}).items():
        if str(status).startswith("2"):
            for media_type in spec.resolve(response).get("content", {}):
                if media_type not in media_types:
                    media_types.append(media_type)
    if len(media_types) < 2:
        return
    for index, case in enumerate(cases):
        case.headers = {**(case.headers or {}), "Accept": media_types[index % len(media_types)]}


def _collect(strategy: Any, count: int, seed: int) -> list[Any]:
    found: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case: Any) -> None:
        found.append(case)

    collect()
    return found


def _failure(check: str, failure: Failure) -> dict[str, str]:
    return {"check": check, "title": str(failure.title), "message": str(failure.message)[:2000]}


def _shown(headers: dict[str, Any]) -> dict[str, str]:
    """Headers as a report may show them: credentials and session secrets masked."""
    secret = {"authorization", "cookie", "x-csrf-token", "so-apptoken"}
    return {k: ("[masked]" if k.lower() in secret else str(v)) for k, v in headers.items()}


def _without_query(operation: Any, case: Any) -> Any:
    return operation.Case(
        body=case.body,
        media_type=case.media_type,
        path_parameters=dict(case.path_parameters or {}),
        headers=dict(case.headers or {}),
        query={},
    )


def _body_value(operation_id: str, response: Any) -> Any:
    content = response.content
    if not content:
        return None
    content_type = response.headers.get("content-type")
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    media_type = (content_type or "").split(";")[0].strip()
    try:
        if media_type in wire.XML_MEDIA_TYPES:
            return wire.read_xml(operation_id, response.status_code, media_type, content)
        return response.json()
    except Exception:
        return "<unreadable>"


def shape_of(value: Any, path: str = "$", limit: int = 400) -> list[str]:
    """The paths and JSON types of a value (`$[].To[].Address:string`), as the drift report compares them."""
    found: set[str] = set()

    def walk(item: Any, where: str) -> None:
        if len(found) >= limit:
            return
        if isinstance(item, dict):
            found.add(f"{where}:object")
            for key, sub in item.items():
                walk(sub, f"{where}.{key}")
        elif isinstance(item, list):
            found.add(f"{where}:array")
            for sub in item:
                walk(sub, f"{where}[]")
        else:
            kind = {bool: "boolean", int: "number", float: "number", str: "string", type(None): "null"}
            found.add(f"{where}:{kind.get(type(item), 'other')}")

    walk(value, path)
    return sorted(found)


# -- drift ------------------------------------------------------------------------------------------------


def drift(first: Report, second: Report) -> dict[str, Any]:
    """Where two servers answered the same campaign differently: status, media type, response shape."""
    differences: dict[str, dict[str, Any]] = {}
    for a, b in zip(first.results, second.results, strict=True):
        kinds = []
        if a.status != b.status:
            kinds.append(("status", f"{a.status} vs {b.status}"))
        if a.media_type != b.media_type:
            kinds.append(("media_type", f"{a.media_type} vs {b.media_type}"))
        if a.status == b.status and a.shape != b.shape:
            only_a = sorted(set(a.shape) - set(b.shape))[:10]
            only_b = sorted(set(b.shape) - set(a.shape))[:10]
            kinds.append(("schema_paths", f"only first: {only_a}; only second: {only_b}"))
        for kind, detail in kinds:
            entry = differences.setdefault(a.operation, {}).setdefault(kind, {"count": 0, "examples": [], "values": {}})
            entry["count"] += 1
            entry["values"][detail] = entry["values"].get(detail, 0) + 1
            if len(entry["examples"]) < 3:
                entry["examples"].append({"mode": a.mode, "detail": detail, "curl": a.curl})
    return {
        "first": first.base_url,
        "second": second.base_url,
        "seed": first.seed,
        "cases": len(first.results),
        "differences": differences,
    }


def drift_text(report: dict[str, Any]) -> str:
    lines = [
        f"Drift between {report['first']} and {report['second']} ({report['cases']} cases, seed {report['seed']}):"
    ]
    if not report["differences"]:
        lines.append("  no differences in status codes, media types or response shapes")
    for operation, kinds in report["differences"].items():
        lines.append(f"  {operation}")
        for kind, entry in kinds.items():
            common = sorted(entry["values"].items(), key=lambda kv: -kv[1])[:3]
            shown = "; ".join(f"{value} (x{count})" for value, count in common)
            lines.append(f"    {kind}: {entry['count']} case(s): {shown}")
    return "\n".join(lines)


def documented_enums(schema: Any, where: str = "", depth: int = 0) -> dict[str, list[Any]]:
    """`path` → members of every enum-constrained property a request body may carry (`Emails[].Priority`)."""
    schema = spec.resolve(schema)
    if depth > MUTATION_DEPTH + 2 or not isinstance(schema, Mapping):
        return {}
    if "enum" in schema:
        return {where or "(body)": [member for member in schema["enum"] if member is not None]}
    if schema.get("type") == "array" or "items" in schema:
        return documented_enums(schema.get("items", {}), f"{where}[]", depth + 1)
    found: dict[str, list[Any]] = {}
    for name, sub in (schema.get("properties") or {}).items():
        found.update(documented_enums(sub, f"{where}.{name}".lstrip("."), depth + 1))
    return found


def _request_schema(operation_id: str) -> Any:
    content = (spec.operations()[operation_id].get("requestBody") or {}).get("content", {})
    media = content.get("application/json") or next(iter(content.values()), None)
    return media.get("schema") if isinstance(media, Mapping) else None


def enum_values(operation_id: str, body: Any) -> set[str]:
    """`path=member` for each enum property the body carries with a documented member."""
    schema = _request_schema(operation_id)
    if schema is None:
        return set()
    documented = documented_enums(schema)
    found: set[str] = set()

    def walk(value: Any, where: str, depth: int) -> None:
        if depth > MUTATION_DEPTH + 2:
            return
        key = where or "(body)"
        if key in documented:
            if value in documented[key]:
                found.add(f"{key}={value}")
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{where}[]", depth + 1)
        elif isinstance(value, dict):
            for name, item in value.items():
                walk(item, f"{where}.{name}".lstrip("."), depth + 1)

    walk(body, "", 0)
    return found


def coverage(results: Sequence[CaseResult]) -> dict[str, dict[str, list[str]]]:
    """What the contract documents for one operation and what the run exercised: status codes and response
    media types seen in answers, request media types and enum members sent. `never` is what a user cannot
    call tested: a documented answer the server never gave, a member no request carried."""
    operation_id = next((r.operation_id for r in results if r.operation_id), "")
    if not operation_id:
        return {}
    operation = spec.operations()[operation_id]
    responses = {str(code): spec.resolve(response) for code, response in operation.get("responses", {}).items()}
    documented = {
        "status codes": list(responses),
        "request media types": list((operation.get("requestBody") or {}).get("content", {})),
        "response media types": list(dict.fromkeys(m for r in responses.values() for m in r.get("content") or {})),
        "enum values": [
            f"{path}={member}"
            for path, members in documented_enums(_request_schema(operation_id) or {}).items()
            for member in members
        ],
    }
    seen = {
        "status codes": {str(r.status) for r in results if r.status is not None},
        "request media types": {r.request_media_type for r in results if r.request_media_type},
        "response media types": {r.media_type for r in results if r.media_type and r.status is not None},
        "enum values": {value for r in results for value in r.enums},
    }
    return {
        kind: {
            "documented": items,
            "exercised": [item for item in items if item in seen[kind]],
            "never": [item for item in items if item not in seen[kind]],
        }
        for kind, items in documented.items()
    }


def coverage_text(report: Report) -> str:
    """Per operation, what the contract documents that the run never exercised (empty when all was)."""
    lines = []
    for name, results in report.by_operation().items():
        gaps = [
            f"{kind} {', '.join(parts['never'][:6])}{' …' if len(parts['never']) > 6 else ''}"
            for kind, parts in coverage(results).items()
            if parts["never"]
        ]
        if gaps:
            lines.append(f"  {name}: never {'; '.join(gaps)}")
    if not lines:
        return "Coverage: every documented status code, media type and enum value was exercised."
    return "Coverage (documented, never exercised; see the JSON report for all):\n" + "\n".join(lines)


def summary_text(report: Report) -> str:
    rows = [("Operation", "Cases", "Passed", "Failed", "Failed checks")]
    for name, results in report.by_operation().items():
        failed_checks = sorted(
            {f["check"] for r in results for f in r.failures}
            | ({"(error)"} if any(r.error for r in results) else set())
        )
        passed = sum(r.passed for r in results)
        skipped = (
            " (skipped: " + "; ".join(report.skipped[name]) + ")" if name in report.skipped and not results else ""
        )
        rows.append(
            (name, str(len(results)), str(passed), str(len(results) - passed), ", ".join(failed_checks) + skipped)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}  {row[4]}".rstrip()
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    total = len(report.results)
    failed = sum(not r.passed for r in report.results)
    verdict = "FAILED" if report.failed else "PASSED"
    lines.append(
        f"{verdict}: {total - failed}/{total} cases passed in {report.seconds:.1f} s against {report.base_url}"
    )
    return "\n".join(lines)


def failure_details(report: Report, limit: int = 20) -> str:
    """Each distinct failure once (operation, check, title), with how often it happened and how to reproduce it."""
    seen: dict[tuple[str, str, str], list[Any]] = {}
    for result in report.results:
        for failure in result.failures:
            key = (result.operation, failure["check"], failure["title"])
            seen.setdefault(key, [0, failure["message"], result.curl])[0] += 1
        if result.error:
            key = (result.operation, "(error)", result.error.split(":")[0])
            seen.setdefault(key, [0, result.error, result.curl])[0] += 1
    blocks = []
    for (operation, check, title), (count, message, curl) in list(seen.items())[:limit]:
        blocks.append(f"- {operation} · {check} · {title} (x{count})\n  {_indent(message)}\n  Reproduce: {curl}")
    if len(seen) > limit:
        blocks.append(f"… and {len(seen) - limit} more distinct failures (see the JSON report)")
    return "\n".join(blocks)


def _indent(text: str) -> str:
    return "\n  ".join(text.strip().splitlines()[:12])


def junit_xml(report: Report) -> bytes:
    """One testsuite; one testcase per operation, failed with every distinct failure it had."""
    from xml.etree import ElementTree as ET

    grouped = report.by_operation()
    failures = sum(1 for results in grouped.values() if any(not r.passed for r in results))
    suite = ET.Element(
        "testsuite",
        name="mockserver conformance",
        tests=str(len(grouped)),
        failures=str(failures),
        errors="1" if report.error else "0",
        time=f"{report.seconds:.3f}",
    )
    suite.set("hostname", report.base_url)
    for name, results in grouped.items():
        testcase = ET.SubElement(suite, "testcase", classname="conformance", name=name)
        bad = [r for r in results if not r.passed]
        if not results and name in report.skipped:
            ET.SubElement(testcase, "skipped", message="; ".join(report.skipped[name]))
        if bad:
            checks = sorted(
                {f["check"] for r in bad for f in r.failures} | ({"error"} if any(r.error for r in bad) else set())
            )
            failure = ET.SubElement(
                testcase,
                "failure",
                message=f"{len(bad)} of {len(results)} cases failed: {', '.join(checks)}",
                type=",".join(checks),
            )
            details = []
            for r in bad[:10]:
                for f in r.failures:
                    details.append(f"[{f['check']}] {f['title']}: {f['message']}\n{r.curl}")
                if r.error:
                    details.append(f"[error] {r.error}\n{r.curl}")
            failure.text = "\n\n".join(details)
        # What the run exercised of this operation, and what it never did: "passed" is not "tested".
        properties = ET.SubElement(testcase, "properties")
        for kind, parts in coverage(results).items():
            for key in ("exercised", "never"):
                ET.SubElement(properties, "property", name=f"coverage.{kind}.{key}", value=", ".join(parts[key]))
    if report.error:
        testcase = ET.SubElement(suite, "testcase", classname="conformance", name="setup")
        ET.SubElement(testcase, "error", message=report.error)
    suites = ET.Element("testsuites")
    suites.append(suite)
    document: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return document


def parse_headers(values: Iterable[str]) -> tuple[tuple[str, str], ...]:
    parsed = []
    for value in values:
        name, colon, text = value.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"header {value!r} is not 'Name: value'")
        parsed.append((name.strip(), text.strip()))
    return tuple(parsed)
