"""Proof before ownership: unproven phone claims coexist, the first proof wins, proven numbers and
all emails stay unique, even when proofs race."""

from __future__ import annotations

import pytest

from tests.contract.helpers import NOW, make_user, prove, run_together
from twostep.domain.errors import AccountExists
from twostep.domain.identity import E164
from twostep.domain.ports import Storage

NUMBER, OTHER = E164("+905555555555"), E164("+905555555556")


def test_unproven_claims_coexist_and_the_first_proof_drops_the_others(storage: Storage) -> None:
    squatter, owner, third = (make_user(email=f"{n}@example.com") for n in ("squatter", "owner", "third"))
    for user in (squatter, owner, third):
        storage.add_user(user)
    assert prove(storage, owner.id, NUMBER)
    proven = storage.get_user(owner.id)
    assert proven is not None and proven.phone == NUMBER and proven.phone_verified
    for loser in (squatter, third):
        dropped = storage.get_user(loser.id)
        assert dropped is not None and dropped.phone is None and not dropped.phone_verified
    assert not prove(storage, squatter.id, NUMBER)
    assert prove(storage, owner.id, NUMBER)  # idempotent for the owner
    with pytest.raises(AccountExists):
        storage.add_user(make_user(email="late@example.com"))
    assert storage.find_user_by_email("late@example.com") is None


def test_proving_a_new_number_frees_the_old_one(storage: Storage) -> None:
    user = make_user()
    storage.add_user(user)
    assert prove(storage, user.id, NUMBER)
    assert prove(storage, user.id, OTHER)
    moved = storage.get_user(user.id)
    assert moved is not None and moved.phone == OTHER and moved.phone_verified
    newcomer = make_user(email="new@example.com")
    storage.add_user(newcomer)
    assert prove(storage, newcomer.id, NUMBER)
    with pytest.raises(AccountExists):
        storage.add_user(make_user(email="late@example.com", phone=OTHER))


def test_deleting_a_claimant_keeps_the_owners_number(storage: Storage) -> None:
    owner, claimant = make_user(email="owner@example.com"), make_user(email="claimant@example.com")
    storage.add_user(owner)
    storage.add_user(claimant)
    assert storage.delete_user(claimant.id, NOW)
    assert prove(storage, owner.id, NUMBER)
    assert storage.delete_user(owner.id, NOW)
    storage.add_user(make_user(email="next@example.com", phone_verified=True))  # free again


def test_twenty_racing_proofs_make_one_owner(storage: Storage) -> None:
    users = [make_user(email=f"u{i}@example.com") for i in range(20)]
    for user in users:
        storage.add_user(user)
    results = run_together(20, lambda i: prove(storage, users[i].id, NUMBER))
    assert results.count(True) == 1 and results.count(False) == 19
    holders = [
        u for u in (storage.get_user(user.id) for user in users) if u is not None and u.phone == NUMBER
    ]
    assert len(holders) == 1 and holders[0].phone_verified


def test_prove_email_moves_uniqueness(storage: Storage) -> None:
    user, other = (
        make_user(email="old@example.com", phone=None),
        make_user(email="taken@example.com", phone=None),
    )
    storage.add_user(user)
    storage.add_user(other)
    assert storage.prove_email(user, "old@example.com")
    same = storage.get_user(user.id)
    assert same is not None and same.email == "old@example.com" and same.email_verified
    with pytest.raises(AccountExists):
        storage.prove_email(user, "taken@example.com")
    assert storage.prove_email(user, "new@example.com")
    assert storage.find_user_by_email("old@example.com") is None
    found = storage.find_user_by_email("new@example.com")
    assert found is not None and found.id == user.id and found.email_verified
    storage.add_user(make_user(email="old@example.com", phone=None))  # the old address is free


def test_racing_email_changes_to_one_address_make_one_owner(storage: Storage) -> None:
    users = [make_user(email=f"u{i}@example.com", phone=None) for i in range(10)]
    for user in users:
        storage.add_user(user)

    def change(i: int) -> str:
        storage.prove_email(users[i], "wanted@example.com")
        return users[i].id

    results = run_together(10, change)
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1 and all(isinstance(r, AccountExists) for r in results if r not in winners)
    found = storage.find_user_by_email("wanted@example.com")
    assert found is not None and found.id == winners[0]


def test_a_code_sent_by_email_keeps_its_address(storage: Storage) -> None:
    from tests.contract.helpers import make_challenge

    by_email = make_challenge(purpose="email_change", phone="", email="new@example.com")
    by_sms = make_challenge(purpose="phone_change")
    for challenge in (by_email, by_sms):
        storage.put_challenge(challenge)
    read = storage.get_challenge(by_email.id)
    assert read is not None and read.email == "new@example.com" and read.purpose == "email_change"
    counted = storage.count_attempt(by_email.id, NOW)
    assert counted is not None and counted.email == "new@example.com"
    texted = storage.get_challenge(by_sms.id)
    assert texted is not None and texted.email is None and texted.phone == "+905555555555"


def test_registrations_racing_a_proof_leave_no_claim_beside_the_owner(storage: Storage) -> None:
    owner = make_user(email="owner@example.com")
    storage.add_user(owner)
    newcomers = [make_user(email=f"n{i}@example.com") for i in range(12)]

    def act(i: int) -> bool:
        if i == 0:
            return prove(storage, owner.id, NUMBER)
        storage.add_user(newcomers[i - 1])  # may be refused once the number is proven
        return True

    results = run_together(13, act)
    assert results[0] is True
    assert all(r is True or isinstance(r, AccountExists) for r in results[1:])
    holders = [
        u
        for u in (storage.get_user(user.id) for user in (owner, *newcomers))
        if u is not None and u.phone == NUMBER
    ]
    assert [u.id for u in holders] == [owner.id] and holders[0].phone_verified


def test_a_gone_user_proves_nothing_and_leaves_the_claims(storage: Storage) -> None:
    claimant = make_user(email="claimant@example.com")
    storage.add_user(claimant)
    assert not prove(storage, "no-such-user", NUMBER)
    kept = storage.get_user(claimant.id)
    assert kept is not None and kept.phone == NUMBER and not kept.phone_verified


def test_a_refused_proof_leaves_the_claimant_its_other_fields(storage: Storage) -> None:
    owner, late = make_user(email="owner@example.com"), make_user(email="late@example.com", phone=OTHER)
    for user in (owner, late):
        storage.add_user(user)
    assert prove(storage, owner.id, NUMBER)
    assert not prove(storage, late.id, NUMBER)  # another account proved it first
    unchanged = storage.get_user(late.id)
    assert unchanged is not None and unchanged.phone == OTHER and not unchanged.phone_verified
    still = storage.get_user(owner.id)
    assert still is not None and still.phone == NUMBER and still.phone_verified
