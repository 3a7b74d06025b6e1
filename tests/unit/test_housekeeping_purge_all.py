"""`twostep storage purge` (`HousekeepingService.purge_all`) runs until nothing expired is left."""

from __future__ import annotations

from twostep.domain.clock import SystemClock
from twostep.domain.ports import PURGED_KINDS, PurgeRules
from twostep.services.housekeeping import HousekeepingPolicy, HousekeepingService


class ExpiredAudit:
    """A store holding `rows` expired audit events, deleting at most a batch of them per call (as every
    storage does): counting calls through a real storage would take millions of rows."""

    expired_by_backend: frozenset[str] = frozenset()

    def __init__(self, rows: int) -> None:
        self.left = rows
        self.calls = 0

    def purge_expired(self, rules: PurgeRules) -> dict[str, int]:
        self.calls += 1
        taken = min(rules.limit, self.left)
        self.left -= taken
        return {kind: taken if kind == "audit" else 0 for kind in PURGED_KINDS}


def test_purge_all_deletes_everything_however_many_runs_it_takes() -> None:
    """It stopped after 10,000 runs (5 million rows of a kind at the default batch of 500) and the
    command printed what it had deleted as if that were all, leaving the rest without a word."""
    store = ExpiredAudit(10_000 * 3 + 2)
    deleted = HousekeepingService(store, SystemClock(), HousekeepingPolicy(batch=3)).purge_all()
    assert deleted["audit"] == 10_000 * 3 + 2 and store.left == 0
    assert store.calls == 10_001


def test_purge_all_stops_at_the_first_run_short_of_a_batch() -> None:
    store = ExpiredAudit(7)
    deleted = HousekeepingService(store, SystemClock(), HousekeepingPolicy(batch=3)).purge_all()
    assert deleted == {**dict.fromkeys(PURGED_KINDS, 0), "audit": 7} and store.calls == 3
