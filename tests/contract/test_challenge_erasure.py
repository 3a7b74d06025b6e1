"""Conformance: deleting an account erases its codes, and the number or address each holds, on every
backend; another account's codes and a verification's stay."""

from __future__ import annotations

from tests.contract.helpers import NOW, make_challenge, make_user
from twostep.domain.ports import Storage


def test_deleting_a_user_erases_their_codes_and_the_number_and_address_they_hold(storage: Storage) -> None:
    """Before, a sign-in's, a reset's or an account change's code begun before the deletion kept the
    deleted person's phone number or email address (and their id) until it expired and housekeeping's
    grace had passed, a day later by default: the deletion only refused to use them."""
    gone, kept = make_user(), make_user(email="b@example.com", phone=None)
    storage.add_user(gone)
    storage.add_user(kept)
    codes = [
        make_challenge(subject=gone.id),
        make_challenge(purpose="reset", subject=gone.id, phone="", email=gone.email, channel="email"),
        make_challenge(purpose="phone_change", subject=gone.id, phone="+905555555556"),
        make_challenge(purpose="email_verify", subject=gone.id, phone="", email=gone.email),
    ]
    others = [
        make_challenge(subject=kept.id, phone="+905555555557"),
        # A verification's subject is the API caller's auth id: never an account's, whatever it reads.
        make_challenge(purpose="verify", subject=gone.id),
        make_challenge(purpose="reset", subject="", phone="", email="nobody@example.com"),
    ]
    for challenge in codes + others:
        storage.put_challenge(challenge)

    assert storage.delete_user(gone.id, NOW)

    assert [storage.get_challenge(c.id) for c in codes] == [None] * len(codes)
    assert [storage.get_challenge(c.id) for c in others] == others
