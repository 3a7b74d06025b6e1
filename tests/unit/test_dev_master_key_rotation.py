"""Master-key rotations at once in dev on SQLite, where the command makes the new key beside the database.

Before, two runs at once could each move the key file aside (the second moving the first's new key to
`.previous` and the key that sealed the record out of both files) and then neither opened the record: the
dev database's keys were lost. One waits for the other now, and both land."""

from __future__ import annotations

from pathlib import Path

from tests.contract.helpers import run_together
from twostep.domain.clock import SystemClock
from twostep.secrets import MasterKeyRotation, rotate_master_key, stored_keys
from twostep.secrets.master_key import dev_master_key_path, dev_previous_key_path
from twostep.settings import Settings
from twostep.storage import build_storage


def test_two_dev_master_key_rotations_at_once_both_land_and_the_keys_still_open(tmp_path: Path) -> None:
    database = tmp_path / "twostep.db"
    settings = Settings(sqlite_path=database, jwt_key_file=tmp_path / "none.json")
    clock = SystemClock()
    storage = build_storage(settings)
    try:
        storage.init_schema()
        first = stored_keys(settings, storage, clock).load()
        for _ in range(3):
            results = run_together(2, lambda _: rotate_master_key(settings, clock))
            assert all(isinstance(r, MasterKeyRotation) for r in results), results
            keys = {r.sealing for r in results if isinstance(r, MasterKeyRotation)}
            assert len(keys) == 2  # one after the other: two new keys, the second over the first's
            opened = stored_keys(settings, storage, clock).load()  # with the files beside it now
            assert opened.material.to_json() == first.material.to_json()
            assert dev_previous_key_path(database).exists() and dev_master_key_path(database).exists()
    finally:
        storage.close()
