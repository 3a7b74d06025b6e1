"""An SQLite memory database (`TWOSTEP_SQLITE_PATH=:memory:`) in dev keeps its master key in memory.

Before, the dev rule "keep the key beside the database file" took `:memory:` for a file name: every start
wrote a `:memory:.master-key` into the working folder (a key no database needs, read again by the next
process started there), and a `:memory:.master-key.previous` there was taken for a rotation's previous key."""

from __future__ import annotations

from pathlib import Path

import pytest

from twostep.domain.clock import SystemClock
from twostep.secrets import stored_keys
from twostep.secrets.master_key import master_key_for, previous_master_keys, uses_dev_key_file
from twostep.settings import Settings
from twostep.storage import build_storage


def test_a_memory_database_makes_no_key_file_and_its_keys_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(storage="sqlite", sqlite_path=Path(":memory:"), jwt_key_file=tmp_path / "none.json")
    storage = build_storage(settings)
    try:
        storage.init_schema()
        keys = stored_keys(settings, storage, SystemClock())
        assert keys.load().material.current.kid == keys.load().material.current.kid  # opens what it sealed
    finally:
        storage.close()
    assert list(tmp_path.iterdir()) == []  # no `:memory:.master-key` left in the working folder
    assert not uses_dev_key_file(settings)


def test_a_stray_key_file_in_the_working_folder_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in (":memory:.master-key", ":memory:.master-key.previous"):
        (tmp_path / name).write_text("a-stray-key-left-by-an-earlier-version-0123456789\n")
    settings = Settings(storage="sqlite", sqlite_path=Path(":memory:"))
    assert previous_master_keys(settings) == ()
    assert "TWOSTEP_SQLITE_PATH" not in master_key_for(settings).origin
