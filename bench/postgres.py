"""A throwaway PostgreSQL server for the figures that need one, started once per run on first use.

The same server class the tests use (tests/postgres_server.py): Debian's binaries, a temporary data
directory, loopback only. Stopped by the run's exit stack.
"""

from __future__ import annotations

from typing import Any

from bench.context import Run


def postgres_database(run: Run) -> str:
    """The URL of a new empty database on the run's server. Raises RuntimeError when none is installed."""
    from tests.postgres_server import PostgresServer, postgres_bin

    if run.postgres is None:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (`make postgres`)")
        server: Any = PostgresServer(bin_dir).start()
        run.stack.callback(server.stop)
        run.postgres = server
    url: str = run.postgres.create_database()
    return url
