"""The backup round trip docs/postgresql.md gives: `pg_dump --format=custom`, `pg_restore` into a new
database, and twostep finds every record and a current schema there."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from tests.contract.helpers import make_user
from tests.postgres_server import PostgresServer
from twostep.domain.models import AuditEvent
from twostep.storage.postgres import PostgresStorage


def _tool(server: PostgresServer, name: str, *args: str) -> None:
    done = subprocess.run(
        [str(server.bin_dir / name), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_dump_restores_into_a_new_database_with_every_row(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    source_url = postgres_server.create_database()
    source = PostgresStorage(source_url)
    source.init_schema()
    user = make_user()
    source.add_user(user)
    source.append_audit(AuditEvent(event="login", at=datetime.now(UTC), user_id=user.id, detail={"a": "b"}))
    source.close()

    dump = tmp_path / "twostep.dump"
    _tool(postgres_server, "pg_dump", "--format=custom", f"--file={dump}", source_url)
    restored_url = postgres_server.create_database()
    _tool(postgres_server, "pg_restore", "--no-owner", f"--dbname={restored_url}", str(dump))

    restored = PostgresStorage(restored_url)
    assert restored.migrate() == []  # the schema_migrations rows came along
    assert restored.get_user(user.id) == user
    assert [event.detail for event in restored.list_audit(user_id=user.id)] == [{"a": "b"}]
    restored.close()
    postgres_server.drop_database(source_url)
    postgres_server.drop_database(restored_url)
