"""Conformance: deleting a user erases every second-factor record of theirs on every backend, and the
credential ids of their passkeys can be registered again."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.helpers import NOW, make_user
from tests.contract.test_factors import device, passkey
from twostep.domain.factors import Ceremony
from twostep.domain.ports import Storage
from twostep.storage.dynamodb import DynamoDbStorage


def enrol_every_factor(storage: Storage, user_id: str, suffix: str) -> None:
    storage.begin_totp_enrolment(user_id, f"sealed-{suffix}", NOW)
    assert storage.confirm_totp(user_id, f"sealed-{suffix}", 10, NOW)
    storage.replace_recovery_codes(user_id, (f"h1-{suffix}", f"h2-{suffix}"), NOW)
    storage.add_passkey(passkey(f"cred-{suffix}", user_id))
    storage.add_remembered_device(device(f"dev-{suffix}", user_id))
    expires = NOW + timedelta(minutes=5)
    storage.put_ceremony(Ceremony(f"cer-{suffix}", "register", user_id, "Y2hhbGxlbmdl", expires))


def test_deleting_a_user_erases_their_factors_and_frees_the_credential_id(storage: Storage) -> None:
    gone, kept = make_user(), make_user(email="b@example.com", phone=None)
    storage.add_user(gone)
    storage.add_user(kept)
    enrol_every_factor(storage, gone.id, "gone")
    enrol_every_factor(storage, kept.id, "kept")

    assert storage.delete_user(gone.id, NOW)

    assert storage.get_totp(gone.id) is None
    assert storage.count_recovery_codes(gone.id) == 0
    assert not storage.use_recovery_code(gone.id, "h1-gone", NOW)
    assert storage.get_passkey("cred-gone") is None
    assert storage.list_passkeys(gone.id) == []
    assert storage.find_remembered_device("hash-dev-gone", NOW) is None
    assert storage.list_remembered_devices(gone.id, NOW) == []
    if not isinstance(storage, DynamoDbStorage):  # there ceremonies have no per-user key: they expire (ttl)
        assert storage.take_ceremony("cer-gone", NOW) is None, "the registration ceremony is gone"
    storage.add_passkey(passkey("cred-gone", kept.id))  # the credential id is free again
    registered = storage.get_passkey("cred-gone")
    assert registered is not None and registered.user_id == kept.id

    # The other user's factors are untouched.
    totp = storage.get_totp(kept.id)
    assert totp is not None and totp.enabled
    assert storage.count_recovery_codes(kept.id) == 2
    assert {c.credential_id for c in storage.list_passkeys(kept.id)} == {"cred-kept", "cred-gone"}
    assert [d.id for d in storage.list_remembered_devices(kept.id, NOW)] == ["dev-kept"]
    assert storage.take_ceremony("cer-kept", NOW) is not None
