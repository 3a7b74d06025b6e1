"""Storage requests per 2FA sign-in, counted in-process through the container, and a scan check.

The same sign-in also mints the run's access token and creates its signing key file, which the
authorizer figures reuse.
"""

from __future__ import annotations

import importlib.util
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from bench.context import AUDIENCE, ISSUER, PASSWORD, Run
from bench.report import Row, not_measured

FIGURE_SQLITE = "storage requests per 2FA sign-in (SQLite)"
FIGURE_DYNAMODB = "storage requests per 2FA sign-in (DynamoDB)"
TARGET = "report; no scans"
PHONE = "+905550000001"
_SKIP = re.compile(r"^\s*(PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


@dataclass
class SignInCount:
    login: int
    verify: int
    sql: list[str] = field(default_factory=list)
    token: str = ""


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


def count_sign_in(run: Run) -> SignInCount:
    """Register one user, then count the statements of `login.start` and `login.complete`."""
    from twostep.container import build
    from twostep.domain.models import RequestContext
    from twostep.services.registration import Registration

    container = build(_settings(run))
    try:
        ctx = RequestContext(ip="127.0.0.1", request_id="bench")
        email = "storage-bench@example.com"
        container.registration.register(
            Registration(email=email, password=PASSWORD, first_name="B", last_name="U", phone=PHONE), ctx
        )
        storage = container.storage
        traced: list[str] = []
        # Private on purpose: the bench reads the SQL this thread's connection runs.
        storage._connection().set_trace_callback(traced.append)  # type: ignore[attr-defined]
        storage.statements = 0  # type: ignore[attr-defined]
        started = container.login.start(email, PASSWORD, ctx)
        login_count = storage.statements  # type: ignore[attr-defined]
        code = re.match(r"\d+", storage.list_outbox(to=PHONE, last=1)[-1].body)
        assert code is not None, "the console sink kept no code"
        storage.statements = 0  # type: ignore[attr-defined]
        traced_login = list(traced)
        traced.clear()
        pair = container.login.complete(started.otp_id, code.group(0), ctx)  # type: ignore[union-attr]
        verify_count = storage.statements  # type: ignore[attr-defined]
        sql = [s for s in traced_login + traced if not _SKIP.match(s)]
        _write_public_pem(run, container)
        return SignInCount(login_count, verify_count, sql, pair.access_token)
    finally:
        container.close()


def _write_public_pem(run: Run, container: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    public = container.keys.current.verification_material
    run.key_pem.write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def scans(db_path: str, statements: list[str]) -> list[str]:
    """Statements whose query plan reads a whole table or index (SQLite's `SCAN`)."""
    conn = sqlite3.connect(db_path)
    try:
        found = []
        for statement in dict.fromkeys(statements):
            plan = conn.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
            details = [str(row[-1]) for row in plan]
            if any(d.startswith("SCAN ") and "CONSTANT ROW" not in d for d in details):
                found.append(statement.split("(")[0][:60])
        return found
    finally:
        conn.close()


def sqlite_row(run: Run) -> Row:
    counted = count_sign_in(run)
    run.token = counted.token
    scanned = scans(str(run.workdir / "inproc.db"), counted.sql)
    total = counted.login + counted.verify
    note = f"{len(set(counted.sql))} distinct statements checked with EXPLAIN QUERY PLAN"
    note += f"; scans: {', '.join(scanned)}" if scanned else "; none scans"
    return Row(
        FIGURE_SQLITE,
        f"{total} statements (login {counted.login} + verify {counted.verify}); {len(scanned)} scans",
        "-",
        float(total),
        TARGET,
        None,
        None,
        note,
        judged=not scanned,
    )


def dynamodb_row(run: Run) -> Row:
    if importlib.util.find_spec("twostep.storage.dynamodb") is None:
        return not_measured(FIGURE_DYNAMODB, TARGET, "module twostep.storage.dynamodb not present")
    return not_measured(FIGURE_DYNAMODB, TARGET, "DynamoDB counting not wired in this bench yet")
