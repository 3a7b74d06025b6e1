"""Storage requests per 2FA sign-in on PostgreSQL, with a query-plan check like SQLite's.

Counted in-process through the container, as for SQLite and DynamoDB (figures_storage.py). Each
traced statement is EXPLAINed with its parameters and sequential scans switched off: a plan that
still reads a whole table has no index to use (small tables alone do not count as scans).
"""

from __future__ import annotations

from typing import Any

from bench.context import Run
from bench.figures_storage import TARGET, SignInCount, _settings, count_sign_in
from bench.postgres import postgres_database
from bench.report import Row

FIGURE_POSTGRES = "storage requests per 2FA sign-in (PostgreSQL)"
NO_TABLE = ("SELECT 1", "SELECT pg_advisory_xact_lock")


def count_postgres(run: Run) -> tuple[SignInCount, list[tuple[str, Any]], str]:
    """(the sign-ins' statements, traced statements, database URL)."""
    from twostep.container import build

    url = postgres_database(run)
    settings = _settings(run, storage="postgres", database_url=url, jwt_key_file=run.workdir / "pg-keys.json")
    container = build(settings)
    try:
        storage = container.storage
        storage.trace = []  # type: ignore[attr-defined]
        counted = count_sign_in(container, lambda: int(storage.statements))  # type: ignore[attr-defined]
        traced = list(storage.trace)  # type: ignore[attr-defined]
    finally:
        container.close()
    return counted, traced, url


def scans(url: str, traced: list[tuple[str, Any]]) -> list[str]:
    """Statements whose plan reads a whole table even with sequential scans discouraged."""
    import psycopg

    found = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        seen: set[str] = set()
        for sql, params in traced:
            if sql in seen or sql.startswith(NO_TABLE):
                continue
            seen.add(sql)
            plan = "\n".join(str(row[0]) for row in conn.execute(f"EXPLAIN {sql}", params).fetchall())
            if "Seq Scan" in plan:
                found.append(sql.split("(")[0][:60])
    return found


def postgres_row(run: Run) -> Row:
    counted, traced, url = count_postgres(run)
    scanned = scans(url, traced)
    total = counted.login + counted.verify
    note = f"the {len(traced)} statements of sign-up and sign-in checked with EXPLAIN (enable_seqscan off)"
    note += f"; scans: {', '.join(scanned)}" if scanned else "; none scans"
    return Row(
        FIGURE_POSTGRES,
        f"{total} statements ({counted.text}); {len(scanned)} scans",
        "-",
        float(total),
        TARGET,
        None,
        None,
        note,
        judged=not scanned,
    )
