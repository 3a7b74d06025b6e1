"""A sign-in whose email is no address answers 401, as an unknown email does, on every storage.

Before, such an email went to storage as typed (only trimmed and lower-cased), as the account's lookup
and the failure counters' keys: PostgreSQL refuses text holding a NUL character, so `ada\\x00@example.com`
was answered 503 `storage_unavailable` there (an outage in the logs) and 401 on the other three.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PASSWORD, PHONE, settings_for_tests
from twostep.container import build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import InvalidCredentials
from twostep.domain.ports import Storage
from twostep.services.registration import Registration

NOT_ADDRESSES = ["ada\x00@example.com", "\x00", "ada@exa\x00mple.com", "ada@example.com."]


@pytest.mark.parametrize("typed", NOT_ADDRESSES)
def test_an_email_that_is_no_address_is_a_wrong_password_on_every_storage(
    storage: Storage, tmp_path: Path, typed: str
) -> None:
    container = build(settings_for_tests(tmp_path), clock=FixedClock(), storage=storage)
    container.registration.register(
        Registration(email="ada@example.com", password=PASSWORD, first_name="Ada", last_name="L", phone=PHONE)
    )
    with pytest.raises(InvalidCredentials):
        container.login.start(typed, PASSWORD)
    with pytest.raises(InvalidCredentials):  # a keyed repeat's check looks the account up the same way
        container.login.confirm_replay(typed, PASSWORD)


def test_the_stand_in_is_per_text_typed_and_never_an_address() -> None:
    """Its failures still count per text typed; no account's address can equal it."""
    from twostep.domain.identity import sign_in_email  # new with the stand-in

    first, second = sign_in_email("ada\x00@example.com"), sign_in_email("ADA\x00@example.com ")
    assert first == second and first != sign_in_email("bob\x00@example.com")
    assert "@" not in first and first.isascii() and "\x00" not in first
