"""Storage requests per 2FA sign-in, counted in-process through the container, and a scan check.

The same sign-in also mints the run's access token and creates its signing key file, which the
authorizer figures reuse.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.context import AUDIENCE, ISSUER, PASSWORD, Run
from bench.procs import free_port
from bench.report import Row, not_measured

FIGURE_SQLITE = "storage requests per 2FA sign-in (SQLite)"
FIGURE_DYNAMODB = "storage requests per 2FA sign-in (DynamoDB)"
TARGET = "report; no scans"
PHONE = "+905550000001"
_SKIP = re.compile(r"^\s*(PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


@dataclass
class SignInCount:
    """Requests of the first sign-in (it proves the account's number) and of a later one."""

    login: int
    verify: int
    later_login: int = 0
    later_verify: int = 0
    sql: list[str] = field(default_factory=list)
    token: str = ""
    requests: tuple[int, int] = (0, 0)  # SQLite: the storage's requests (a transaction is one) per sign-in

    @property
    def text(self) -> str:
        later = self.later_login + self.later_verify
        return (
            f"login {self.login} + verify {self.verify}; a later sign-in {later}"
            f" ({self.later_login} + {self.later_verify})"
        )


def _settings(run: Run, **overrides: Any) -> Any:
    from twostep.settings import Settings

    values: dict[str, Any] = {
        "stage": "dev",
        "storage": "sqlite",
        "sqlite_path": run.workdir / "inproc.db",
        "jwt_key_file": run.key_file,
        "jwt_algorithm": "RS256",
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "access_token_ttl_seconds": 3600,
        "resend_cooldown_seconds": 0,
        "sms_providers": ["console"],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def count_sign_in(
    container: Any,
    counter: Callable[[], int],
    trace: list[str] | None = None,
    requests: Callable[[], int] = lambda: 0,
) -> SignInCount:
    """Register one user, then count storage requests of `login.start` and of `login.complete`, for
    the first sign-in and for a second one (the number proven: every sign-in after the first);
    `requests` is a second tally, counted per sign-in."""
    from twostep.domain.models import RequestContext
    from twostep.services.registration import Registration

    ctx = RequestContext(ip="127.0.0.1", request_id="bench")
    email = "storage-bench@example.com"
    container.registration.register(
        Registration(email=email, password=PASSWORD, first_name="B", last_name="U", phone=PHONE), ctx
    )
    trace = trace if trace is not None else []
    before = requests()
    login, verify, sql, _ = _count_steps(container, (email, ctx), counter, trace)
    first = requests() - before
    before = requests()
    later_login, later_verify, later_sql, token = _count_steps(container, (email, ctx), counter, trace)
    later = requests() - before
    return SignInCount(login, verify, later_login, later_verify, sql + later_sql, token, (first, later))


def _count_steps(
    container: Any, who: tuple[str, Any], counter: Callable[[], int], trace: list[str]
) -> tuple[int, int, list[str], str]:
    """One sign-in of `who` (e-mail, request context): the requests of each step, the SQL traced (if
    any) and the access token."""
    email, ctx = who
    trace.clear()
    before = counter()
    started = container.login.start(email, PASSWORD, ctx)
    login = counter() - before
    traced_login = list(trace)
    code = re.match(r"\d+", container.storage.list_outbox(to=PHONE, last=1)[-1].body)
    if code is None:
        raise RuntimeError("the console sink kept no code")
    trace.clear()
    before = counter()
    pair = container.login.complete(started.otp_id, code.group(0), ctx)
    verify = counter() - before
    sql = [statement for statement in traced_login + trace if not _SKIP.match(statement)]
    return login, verify, sql, pair.access_token


def count_sqlite(run: Run) -> SignInCount:
    from twostep.container import build

    container = build(_settings(run))
    try:
        storage = container.storage
        traced: list[str] = []
        # Private on purpose: the bench reads the SQL the pooled connections run. One thread signs in,
        # so it always borrows the connection that `build` left idle in the pool.
        for pooled in storage._idle:  # type: ignore[attr-defined]
            pooled.conn.set_trace_callback(lambda sql: traced.append(sql) if len(traced) < 10_000 else None)
        # Every statement SQLite ran, those inside transactions too (the storage's own tally counts a
        # transaction once); BEGIN, COMMIT and the like are left out, as in the query-plan check.
        counted = count_sign_in(
            container, lambda: sum(not _SKIP.match(sql) for sql in traced), traced, lambda: storage.statements
        )
        _write_public_pem(run, container)
        return counted
    finally:
        container.close()


def _write_public_pem(run: Run, container: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    public = container.keys.current.verification_material
    run.key_pem.write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _table_scan(detail: str) -> bool:
    return (
        detail.startswith("SCAN ")
        and "CONSTANT ROW" not in detail
        and not detail.startswith("SCAN (subquery-")
    )


def scans(db_path: str, statements: list[str]) -> list[str]:
    """Statements whose query plan reads a whole table or index (SQLite's `SCAN`)."""
    conn = sqlite3.connect(db_path)
    try:
        found = []
        for statement in dict.fromkeys(statements):
            plan = conn.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
            details = [str(row[-1]) for row in plan]
            # A subquery's rows (`SCAN (subquery-N)`, e.g. the VALUES of a batch upsert) are no table
            # read: its own plan lines say what it reads, and are checked here too.
            if any(_table_scan(d) for d in details):
                found.append(statement.split("(")[0][:60])
        return found
    finally:
        conn.close()


def sqlite_row(run: Run) -> Row:
    counted = count_sqlite(run)
    run.token = counted.token
    scanned = scans(str(run.workdir / "inproc.db"), counted.sql)
    total = counted.login + counted.verify
    first, later = counted.requests
    note = f"storage requests (a transaction counts once): {first}, a later sign-in {later}"
    note += f"; each of the {len(counted.sql)} statements checked with EXPLAIN QUERY PLAN"
    note += f"; scans: {', '.join(scanned)}" if scanned else "; none scans"
    return Row(
        FIGURE_SQLITE,
        f"{total} statements ({counted.text}); {len(scanned)} scans",
        "-",
        float(total),
        TARGET,
        None,
        None,
        note,
        judged=not scanned,
    )


@contextmanager
def _moto_environment(endpoint: str) -> Iterator[None]:
    """Dummy credentials, a region and the local endpoint for boto3, restored afterwards."""
    values = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def count_dynamodb(run: Run) -> tuple[SignInCount, Counter[str], Counter[str]]:
    """The same sign-in against DynamoDB on a moto server over loopback HTTP; every call counted."""
    import boto3
    from moto.server import ThreadedMotoServer

    from twostep.container import build

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    calls: Counter[str] = Counter()
    try:
        with _moto_environment(f"http://127.0.0.1:{port}"):
            session = boto3.session.Session()
            session.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
            settings = _settings(run, storage="dynamodb", dynamodb_table="twostep-bench")
            container = build(settings, boto_session=session)
            snapshots: list[Counter[str]] = []

            def total() -> int:
                snapshots.append(Counter(calls))
                return sum(calls.values())

            try:
                counted = count_sign_in(container, total)
            finally:
                container.close()
    finally:
        server.stop()
    # Snapshots of each sign-in: before login, after login, before verify, after verify (the outbox read
    # is between).
    first, later = snapshots[:4], snapshots[4:]
    return counted, _steps_calls(first), _steps_calls(later)


def _steps_calls(snapshots: list[Counter[str]]) -> Counter[str]:
    start, logged_in, verifying, done = snapshots
    return (logged_in - start) + (done - verifying)


def dynamodb_row(run: Run) -> Row:
    if importlib.util.find_spec("twostep.storage.dynamodb") is None:
        return not_measured(FIGURE_DYNAMODB, TARGET, "module twostep.storage.dynamodb not present")
    counted, calls, later = count_dynamodb(run)
    scans = calls.get("Scan", 0) + later.get("Scan", 0)
    total = counted.login + counted.verify
    return Row(
        FIGURE_DYNAMODB,
        f"{total} calls ({counted.text}); {scans} scans",
        "-",
        float(total),
        TARGET,
        None,
        None,
        f"sign-in calls by operation: {_by_operation(calls)}; a later sign-in's: {_by_operation(later)}",
        judged=scans == 0,
    )


def _by_operation(calls: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(calls.items()))
