"""An account's live sessions a page at a time, newest first, on every storage (`GET /sessions`)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.helpers import NOW
from tests.contract.test_sessions import started
from twostep.domain.errors import InvalidInput
from twostep.domain.ports import Storage


def test_live_sessions_are_read_a_page_at_a_time_without_loss_or_repeat(storage: Storage) -> None:
    """`GET /sessions` answered every live session at once (3,000: one 112 ms answer); it now pages.
    Sessions started in the same instant are told apart by id."""
    same_moment = [started(storage, created_at=NOW) for _ in range(4)]
    others = [started(storage, created_at=NOW + timedelta(seconds=i)) for i in range(1, 4)]
    ended = started(storage)
    storage.revoke_family(ended.id, NOW)
    started(storage, "user-2")
    expected = [s.id for s in storage.list_sessions("user-1", NOW)]
    assert sorted(expected) == sorted(s.id for s in same_moment + others)

    pages, cursor = [], None
    while True:
        page = storage.page_sessions("user-1", NOW, 3, cursor)
        pages.append([s.id for s in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == expected
    assert storage.page_sessions("user-1", NOW, 7).next_cursor is None


def test_a_cursor_no_page_gave_is_refused(storage: Storage) -> None:
    with pytest.raises(InvalidInput):
        storage.page_sessions("user-1", NOW, 3, "not a cursor")


@pytest.mark.parametrize("number", ["inf", "-inf", "nan", "1e300", "-5.0", "1e10"])
def test_a_cursor_no_page_could_give_is_refused(storage: Storage, number: str) -> None:
    """Before, PostgreSQL failed with 500 on these (a datetime out of range, or NaN) and the other storages
    each paged them their own way; no start of a session is such a number."""
    started(storage)
    with pytest.raises(InvalidInput):
        storage.page_sessions("user-1", NOW, 3, f"{number}~some-id")
