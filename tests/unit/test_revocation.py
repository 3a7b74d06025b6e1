"""The in-process revocation list: how often it reads storage, what it keeps, and that it fails closed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from twostep.domain.clock import FixedClock
from twostep.domain.errors import StorageUnavailable
from twostep.domain.models import Revocation
from twostep.domain.revocation import OVERLAP, RevocationList
from twostep.domain.tokens import has_second_factor
from twostep.services.client_description import describe_client, truncate_ip

WINDOW = timedelta(minutes=16)


class Source:
    """A revocation store in a list; counts reads and can be made to fail."""

    def __init__(self) -> None:
        self.entries: list[Revocation] = []
        self.asked: list[datetime] = []
        self.down = False

    def list_revocations(self, since: datetime) -> list[Revocation]:
        if self.down:
            raise StorageUnavailable()
        self.asked.append(since)
        return [e for e in self.entries if e.revoked_at >= since]


def make(source: Source, clock: FixedClock, every: float = 2, max_age: float = 5) -> RevocationList:
    return RevocationList(
        source,
        clock,
        refresh_every=timedelta(seconds=every),
        max_age=timedelta(seconds=max_age),
        window=WINDOW,
    )


def test_reads_storage_once_per_refresh_interval() -> None:
    source, clock = Source(), FixedClock()
    revocations = make(source, clock)
    assert not revocations.is_revoked("s1")
    source.entries.append(Revocation("s1", clock.now()))
    assert not revocations.is_revoked("s1")  # the list in hand is fresh: no read yet
    clock.advance(1.9)
    assert not revocations.is_revoked("s1")
    clock.advance(0.1)
    assert revocations.is_revoked("s1")
    assert revocations.reads == 2


def test_first_read_covers_the_window_then_only_what_is_new_with_an_overlap() -> None:
    source, clock = Source(), FixedClock()
    revocations = make(source, clock)
    start = clock.now()
    revocations.refresh()
    clock.advance(3)
    revocations.refresh()
    assert source.asked == [start - WINDOW, start - OVERLAP]


def test_a_late_commit_inside_the_overlap_is_still_seen() -> None:
    """A writer whose entry carries an earlier time than the last read (clock skew, slow commit)."""
    source, clock = Source(), FixedClock()
    revocations = make(source, clock)
    revocations.refresh()
    clock.advance(2)
    source.entries.append(Revocation("late", clock.now() - timedelta(seconds=10)))
    assert revocations.is_revoked("late")


def test_entries_older_than_the_window_are_dropped() -> None:
    source, clock = Source(), FixedClock()
    source.entries.append(Revocation("old", clock.now()))
    revocations = make(source, clock)
    assert revocations.is_revoked("old")
    clock.advance(WINDOW.total_seconds() + 1)
    assert not revocations.is_revoked("old")
    assert len(revocations) == 0


def test_a_session_ended_here_is_refused_at_once() -> None:
    source, clock = Source(), FixedClock()
    revocations = make(source, clock)
    revocations.refresh()
    revocations.note("mine")
    assert revocations.is_revoked("mine")
    assert revocations.reads == 1


def test_storage_failure_uses_the_last_list_until_max_age_then_fails_closed() -> None:
    source, clock = Source(), FixedClock()
    source.entries.append(Revocation("s1", clock.now()))
    revocations = make(source, clock, every=2, max_age=5)
    assert revocations.is_revoked("s1")
    source.down = True
    clock.advance(3)
    assert revocations.is_revoked("s1")  # 3 s old: still trusted
    assert not revocations.is_revoked("s2")
    clock.advance(2)
    with pytest.raises(StorageUnavailable):
        revocations.is_revoked("s2")
    source.down = False
    assert not revocations.is_revoked("s2")


def test_no_list_at_all_fails_closed() -> None:
    source, clock = Source(), FixedClock()
    source.down = True
    with pytest.raises(StorageUnavailable):
        make(source, clock).is_revoked("s1")


def test_zero_interval_reads_on_every_check() -> None:
    source, clock = Source(), FixedClock()
    revocations = make(source, clock, every=0, max_age=0)
    for _ in range(3):
        revocations.is_revoked("s1")
    assert revocations.reads == 3


@pytest.mark.parametrize(
    ("amr", "expected"),
    [(("pwd", "sms"), True), (("pwd",), False), (("pwd", "pwd"), False), (("mfa",), True), ((), False)],
)
def test_second_factor_means_two_methods(amr: tuple[str, ...], expected: bool) -> None:
    assert has_second_factor(amr) is expected


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on Linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        ("curl/8.5.0", "curl"),
        ("python-httpx/0.27.0", "python-httpx"),
        ("???", "Unknown client"),
        ("", None),
        (None, None),
    ],
)
def test_client_descriptions(agent: str | None, expected: str | None) -> None:
    assert describe_client(agent) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:1:2::7", "2001:db8:1::/48"),
        ("::ffff:203.0.113.77", "203.0.113.0/24"),  # an IPv4 client of a server listening on `::`
        ("testclient", None),
        (None, None),
    ],
)
def test_addresses_are_truncated(ip: str | None, expected: str | None) -> None:
    assert truncate_ip(ip) == expected


def test_an_outage_is_logged_once_per_state_not_once_per_check(caplog: pytest.LogCaptureFixture) -> None:
    """Every protected request checks the list, and while storage was down each check logged its failed
    read again (a WARNING for the first 5 s, then an ERROR), beside the request's own 503 line: a
    second line per request. Now each state is logged once, and again after a read worked."""
    source, clock = Source(), FixedClock()
    revocations = make(source, clock, every=2, max_age=5)
    revocations.is_revoked("s1")
    source.down = True
    clock.advance(3)
    for _ in range(3):
        revocations.is_revoked("s1")  # the last list, still trusted
    clock.advance(3)
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            revocations.is_revoked("s1")
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "twostep.revocation"]
    assert said == [
        ("WARNING", "revocation list not refreshed; using the last one for now"),
        ("ERROR", "revocation list unavailable: refusing tokens until storage answers"),
    ]
    source.down = False
    revocations.is_revoked("s1")
    source.down = True
    clock.advance(10)
    with pytest.raises(StorageUnavailable):
        revocations.is_revoked("s1")
    said = [r.levelname for r in caplog.records if r.name == "twostep.revocation"]
    assert said == ["WARNING", "ERROR", "ERROR"]  # a new outage (the list already too old), said again
