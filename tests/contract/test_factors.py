"""Conformance of the factor records (TOTP, recovery codes, passkeys, ceremonies, remembered devices)
on every backend, with the races that decide single use."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.helpers import NOW, run_together
from twostep.domain.factor_errors import PasskeyExists
from twostep.domain.factors import Ceremony, PasskeyCredential, RememberedDevice
from twostep.domain.ports import Storage

RACERS = 8


def passkey(credential_id: str = "cred-1", user_id: str = "user-1", count: int = 0) -> PasskeyCredential:
    return PasskeyCredential(
        credential_id=credential_id,
        user_id=user_id,
        public_key=b"\xa5\x01\x02\x03&",
        sign_count=count,
        created_at=NOW,
        name="Laptop",
        backed_up=True,
        transports=("internal", "hybrid"),
    )


def device(
    device_id: str, user_id: str = "user-1", days: int = 30, token_hash: str | None = None
) -> RememberedDevice:
    return RememberedDevice(
        id=device_id,
        user_id=user_id,
        token_hash=token_hash or f"hash-{device_id}",
        created_at=NOW,
        expires_at=NOW + timedelta(days=days),
        label="Chrome on Linux",
    )


# --- TOTP ---
def test_totp_enrolment_is_pending_until_confirmed(storage: Storage) -> None:
    assert storage.get_totp("user-1") is None
    storage.begin_totp_enrolment("user-1", "sealed-a", NOW)
    pending = storage.get_totp("user-1")
    assert pending is not None and not pending.enabled and pending.pending_sealed == "sealed-a"
    assert not storage.advance_totp_step("user-1", 5), "no step counts before the factor is enabled"
    assert not storage.confirm_totp("user-1", "sealed-other", 10, NOW)
    assert storage.confirm_totp("user-1", "sealed-a", 10, NOW)
    enabled = storage.get_totp("user-1")
    assert enabled is not None and enabled.enabled
    assert (enabled.secret_sealed, enabled.pending_sealed, enabled.last_step) == ("sealed-a", None, 10)
    assert enabled.enabled_at == NOW
    assert not storage.confirm_totp("user-1", "sealed-a", 11, NOW), "confirmed once only"


def test_re_enrolment_keeps_the_old_secret_until_confirmed(storage: Storage) -> None:
    storage.begin_totp_enrolment("user-1", "old", NOW)
    assert storage.confirm_totp("user-1", "old", 1, NOW)
    storage.begin_totp_enrolment("user-1", "new", NOW)
    current = storage.get_totp("user-1")
    assert current is not None and current.secret_sealed == "old" and current.pending_sealed == "new"
    assert storage.advance_totp_step("user-1", 2)
    assert storage.confirm_totp("user-1", "new", 3, NOW)
    assert storage.get_totp("user-1").secret_sealed == "new"  # type: ignore[union-attr]


def test_a_totp_step_is_accepted_once_and_only_forward(storage: Storage) -> None:
    storage.begin_totp_enrolment("user-1", "s", NOW)
    storage.confirm_totp("user-1", "s", 100, NOW)
    assert not storage.advance_totp_step("user-1", 100), "the confirming code cannot sign in"
    assert not storage.advance_totp_step("user-1", 99)
    assert storage.advance_totp_step("user-1", 101)
    assert not storage.advance_totp_step("user-1", 101)
    assert storage.get_totp("user-1").last_step == 101  # type: ignore[union-attr]
    assert not storage.advance_totp_step("user-2", 500), "no factor, no step"


def test_racing_logins_with_one_totp_code_let_one_through(storage: Storage) -> None:
    storage.begin_totp_enrolment("user-1", "s", NOW)
    storage.confirm_totp("user-1", "s", 100, NOW)
    results = run_together(RACERS, lambda _: storage.advance_totp_step("user-1", 101))
    assert results.count(True) == 1, results


def test_racing_confirmations_enable_once(storage: Storage) -> None:
    storage.begin_totp_enrolment("user-1", "s", NOW)
    results = run_together(RACERS, lambda i: storage.confirm_totp("user-1", "s", i, NOW))
    assert results.count(True) == 1, results


def test_delete_totp(storage: Storage) -> None:
    storage.begin_totp_enrolment("user-1", "s", NOW)
    assert storage.delete_totp("user-1")
    assert storage.get_totp("user-1") is None
    assert not storage.delete_totp("user-1")


# --- recovery codes ---
def test_recovery_codes_are_single_use_and_replaced_as_a_set(storage: Storage) -> None:
    assert storage.count_recovery_codes("user-1") == 0
    storage.replace_recovery_codes("user-1", ("a", "b", "c"), NOW)
    assert storage.count_recovery_codes("user-1") == 3
    assert storage.use_recovery_code("user-1", "b", NOW)
    assert not storage.use_recovery_code("user-1", "b", NOW)
    assert not storage.use_recovery_code("user-2", "a", NOW), "codes belong to one user"
    assert storage.count_recovery_codes("user-1") == 2
    storage.replace_recovery_codes("user-1", ("x", "y"), NOW)
    assert not storage.use_recovery_code("user-1", "a", NOW), "old codes stop working"
    assert storage.count_recovery_codes("user-1") == 2
    assert storage.use_recovery_code("user-1", "x", NOW)
    assert storage.use_recovery_code("user-1", "y", NOW)
    assert storage.count_recovery_codes("user-1") == 0


def test_racing_uses_of_one_recovery_code_let_one_through(storage: Storage) -> None:
    storage.replace_recovery_codes("user-1", ("a", "b"), NOW)
    results = run_together(RACERS, lambda _: storage.use_recovery_code("user-1", "a", NOW))
    assert results.count(True) == 1, results
    assert storage.count_recovery_codes("user-1") == 1


# --- passkeys ---
def test_passkeys_round_trip_and_ids_are_unique(storage: Storage) -> None:
    storage.add_passkey(passkey("cred-1"))
    storage.add_passkey(passkey("cred-2"))
    storage.add_passkey(passkey("cred-3", user_id="user-2"))
    assert storage.get_passkey("cred-1") == passkey("cred-1")
    assert [c.credential_id for c in storage.list_passkeys("user-1")] == ["cred-1", "cred-2"]
    with pytest.raises(PasskeyExists):
        storage.add_passkey(passkey("cred-1", user_id="user-2"))
    assert storage.get_passkey("cred-1").user_id == "user-1"  # type: ignore[union-attr]
    assert storage.get_passkey("missing") is None


def test_passkey_counter_moves_by_compare_and_swap(storage: Storage) -> None:
    storage.add_passkey(passkey("cred-1", count=5))
    assert not storage.record_passkey_use("cred-1", 4, 9, NOW)
    assert storage.record_passkey_use("cred-1", 5, 9, NOW)
    used = storage.get_passkey("cred-1")
    assert used is not None and used.sign_count == 9 and used.last_used_at == NOW
    assert not storage.record_passkey_use("missing", 0, 1, NOW)


def test_racing_assertions_with_one_counter_let_one_through(storage: Storage) -> None:
    storage.add_passkey(passkey("cred-1", count=5))
    results = run_together(RACERS, lambda _: storage.record_passkey_use("cred-1", 5, 6, NOW))
    assert results.count(True) == 1, results


def test_only_the_owner_deletes_a_passkey(storage: Storage) -> None:
    storage.add_passkey(passkey("cred-1"))
    assert not storage.delete_passkey("user-2", "cred-1")
    assert storage.get_passkey("cred-1") is not None
    assert storage.delete_passkey("user-1", "cred-1")
    assert storage.get_passkey("cred-1") is None
    assert storage.list_passkeys("user-1") == []
    assert not storage.delete_passkey("user-1", "cred-1")


# --- WebAuthn ceremonies ---
def ceremony(ceremony_id: str = "cer-1", ttl: int = 300) -> Ceremony:
    return Ceremony(
        id=ceremony_id,
        purpose="authenticate",
        subject="",
        challenge="Y2hhbGxlbmdl",
        expires_at=NOW + timedelta(seconds=ttl),
    )


def test_a_ceremony_is_taken_once(storage: Storage) -> None:
    storage.put_ceremony(ceremony())
    assert storage.take_ceremony("cer-1", NOW) == ceremony()
    assert storage.take_ceremony("cer-1", NOW) is None
    assert storage.take_ceremony("missing", NOW) is None


def test_an_expired_ceremony_is_not_given_out(storage: Storage) -> None:
    storage.put_ceremony(ceremony(ttl=60))
    assert storage.take_ceremony("cer-1", NOW + timedelta(seconds=61)) is None


def test_racing_takes_of_one_ceremony_let_one_through(storage: Storage) -> None:
    storage.put_ceremony(ceremony())
    results = run_together(RACERS, lambda _: storage.take_ceremony("cer-1", NOW))
    assert sum(result is not None for result in results) == 1, results


# --- remembered devices ---
def test_remembered_devices_are_found_by_hash_listed_and_forgotten(storage: Storage) -> None:
    storage.add_remembered_device(device("d1"))
    storage.add_remembered_device(device("d2"))
    storage.add_remembered_device(device("d3", user_id="user-2"))
    assert storage.find_remembered_device("hash-d1", NOW) == device("d1")
    assert storage.find_remembered_device("nope", NOW) is None
    assert [d.id for d in storage.list_remembered_devices("user-1", NOW)] == ["d1", "d2"]
    assert not storage.forget_device("user-2", "d1"), "only the owner forgets a device"
    assert storage.forget_device("user-1", "d1")
    assert not storage.forget_device("user-1", "d1")
    assert storage.find_remembered_device("hash-d1", NOW) is None
    assert [d.id for d in storage.list_remembered_devices("user-1", NOW)] == ["d2"]


def test_expired_devices_are_neither_found_nor_listed(storage: Storage) -> None:
    storage.add_remembered_device(device("d1", days=1))
    later = NOW + timedelta(days=2)
    assert storage.find_remembered_device("hash-d1", later) is None
    assert storage.list_remembered_devices("user-1", later) == []


def test_forget_all_devices_ends_every_device_of_the_user(storage: Storage) -> None:
    for name in ("d1", "d2", "d3"):
        storage.add_remembered_device(device(name))
    storage.add_remembered_device(device("other", user_id="user-2"))
    assert storage.forget_all_devices("user-1") == 3
    assert storage.list_remembered_devices("user-1", NOW) == []
    assert storage.find_remembered_device("hash-d2", NOW) is None
    assert storage.find_remembered_device("hash-other", NOW) is not None
    assert storage.forget_all_devices("user-1") == 0
