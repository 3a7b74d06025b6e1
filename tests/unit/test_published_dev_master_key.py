"""Staging and prod never take the published dev master key, by any path.

Before, `TWOSTEP_MASTER_KEY`, `TWOSTEP_MASTER_KEY_FILE` or `TWOSTEP_MASTER_KEY_PREVIOUS` set to the dev key
(printed in twostep's source) was accepted with TWOSTEP_STAGE=staging or prod: the keys were sealed with a
key anyone can read, and given as the previous key, `twostep keys rotate` sealed a real deployment's new
signing key with it too; `twostep keys rotate-master-key` opened a record sealed with it in prod as well."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from twostep.domain.clock import SystemClock
from twostep.domain.errors import ConfigurationError
from twostep.secrets import rotate_master_key, stored_keys
from twostep.secrets.master_key import DEV_SERVER_MASTER_KEY, master_key_for, previous_master_keys
from twostep.settings import Settings
from twostep.storage import build_storage

REAL = "a-real-master-key-0123456789abcdefghijkl"
TWILIO = {
    "sms_providers": ["twilio"],
    "twilio_account_sid": "AC" + "0" * 32,
    "twilio_auth_token": "t" * 32,
    "twilio_from": "+15005550006",
}


def _settings(tmp_path: Path, stage: str, **values: Any) -> Settings:
    return Settings(stage=stage, storage="sqlite", sqlite_path=tmp_path / "keys.db", **TWILIO, **values)


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_the_dev_key_as_the_master_key_is_refused_outside_dev(tmp_path: Path, stage: str) -> None:
    key_file = tmp_path / "master-key"
    key_file.write_text(DEV_SERVER_MASTER_KEY + "\n")
    for values, setting in (
        ({"master_key": DEV_SERVER_MASTER_KEY}, "TWOSTEP_MASTER_KEY"),
        ({"master_key_file": key_file}, "TWOSTEP_MASTER_KEY_FILE"),
    ):
        with pytest.raises(ConfigurationError, match=f"^{setting}: the published dev master key is refused"):
            master_key_for(_settings(tmp_path, stage, **values))


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_the_dev_key_as_the_previous_key_is_refused_outside_dev(tmp_path: Path, stage: str) -> None:
    key_file = tmp_path / "previous-key"
    key_file.write_text(DEV_SERVER_MASTER_KEY)
    for values, setting in (
        ({"master_key_previous": DEV_SERVER_MASTER_KEY}, "TWOSTEP_MASTER_KEY_PREVIOUS"),
        ({"master_key_previous_file": key_file}, "TWOSTEP_MASTER_KEY_PREVIOUS_FILE"),
    ):
        with pytest.raises(ConfigurationError, match=f"^{setting}: the published dev master key is refused"):
            previous_master_keys(_settings(tmp_path, stage, master_key=REAL, **values))


def test_dev_still_takes_it(tmp_path: Path) -> None:
    assert master_key_for(_settings(tmp_path, "dev", master_key=DEV_SERVER_MASTER_KEY)).key_id


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_keys_sealed_with_the_dev_key_are_not_opened_outside_dev(tmp_path: Path, stage: str) -> None:
    dev = _settings(tmp_path, "dev", master_key=DEV_SERVER_MASTER_KEY)  # as dev on a database server seals
    storage = build_storage(dev)
    try:
        storage.init_schema()
        stored_keys(dev, storage, SystemClock()).load()
        sealed_before = storage.get_key_record()
        with pytest.raises(ConfigurationError, match="published dev master key, which TWOSTEP_STAGE="):
            rotate_master_key(_settings(tmp_path, stage, master_key=REAL), SystemClock())
        assert storage.get_key_record() == sealed_before  # nothing written
        moved = rotate_master_key(_settings(tmp_path, "dev", master_key=REAL), SystemClock())
        assert moved.from_dev_key  # the way out stays: the move made in dev
    finally:
        storage.close()
