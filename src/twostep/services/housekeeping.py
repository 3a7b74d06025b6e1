"""Housekeeping: expired codes, sessions, counters, outbox messages and old audit events are deleted, a
bounded batch at a time, by the server in the background (batches in a row while it is behind, up to a
cap) and by `twostep storage purge`.

Nothing still usable is deleted: a code or a session is kept `grace_seconds` after it ended (so a late
request still gets "expired" rather than "not found", and a reused refresh token is still recognised),
audit events for `audit_retention_days`. A revocation-list entry is kept at least as long as the list
looks back (`revocation_window_seconds`: the access tokens of an ended session live that long, and a
process that starts meanwhile must still find the entry), however short the grace.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from twostep.domain.clock import Clock
from twostep.domain.errors import ConfigurationError
from twostep.domain.ports import PURGED_KINDS, BackupStore, PurgeRules, PurgeStore

logger = logging.getLogger("twostep.housekeeping")


# The longest look-back the revocation list can have: the settings allow access tokens of an hour and a
# leeway of five minutes, plus the list's minute of overlap (container.revocation_window_seconds).
LONGEST_REVOCATION_WINDOW_SECONDS = 3600 + 300 + 60


@dataclass(frozen=True, slots=True)
class HousekeepingPolicy:
    grace_seconds: int = 86_400
    revocation_window_seconds: int = LONGEST_REVOCATION_WINDOW_SECONDS
    audit_retention_days: int = 90
    batch: int = 500  # rows of each kind per run: one run stays short however much has piled up
    # Runs the background task takes in a row while a kind fills its batch: at the defaults (500 rows,
    # every 5 minutes) one run a tick keeps up with 144,000 rows of a kind a day, fewer than a busy
    # deployment's rate-limit counters; this many keep up with 20 times that, each statement as short.
    catch_up_runs: int = 20


class HousekeepingService:
    def __init__(self, store: PurgeStore, clock: Clock, policy: HousekeepingPolicy) -> None:
        self._store, self._clock, self._policy = store, clock, policy

    def rules(self) -> PurgeRules:
        now = self._clock.now()
        ended = now - timedelta(seconds=self._policy.grace_seconds)
        return PurgeRules(
            challenges_before=ended,
            refresh_before=ended,
            revocations_before=now - timedelta(seconds=self._revocations_kept_seconds()),
            counters_before=now,
            outbox_before=ended,
            audit_before=now - timedelta(days=self._policy.audit_retention_days),
            limit=self._policy.batch,
        )

    def _revocations_kept_seconds(self) -> int:
        return max(self._policy.grace_seconds, self._policy.revocation_window_seconds)

    def purge_once(self) -> dict[str, int]:
        """One bounded run (the background task's). Raises: StorageUnavailable."""
        deleted = self._store.purge_expired(self.rules())
        if any(deleted.values()):
            logger.info("purged expired rows", extra={"deleted": deleted})
        return deleted

    def purge_all(self) -> dict[str, int]:
        """Runs until a run finds less than a full batch of every kind (`twostep storage purge`): each run
        deletes what it counts, so the rows run out. No cap on the runs: a cap ended the command with rows
        left and nothing said (5 million rows of a kind at the default batch)."""
        return self._runs(None)[0]

    def catch_up(self) -> dict[str, int]:
        """The background task's work each interval: runs while a kind fills its batch, at most
        `catch_up_runs`, so it keeps up with what expires between two ticks; warns when it still could
        not (raise TWOSTEP_HOUSEKEEPING_BATCH). Raises: StorageUnavailable."""
        total, behind = self._runs(self._policy.catch_up_runs)
        if behind:
            logger.warning(
                "housekeeping is behind: every run deleted a full batch; raise TWOSTEP_HOUSEKEEPING_BATCH",
                extra={"deleted": total},
            )
        return total

    def _runs(self, max_runs: int | None) -> tuple[dict[str, int], bool]:
        """Runs until one finds less than a full batch of every kind, at most `max_runs` (None: no
        limit): what they deleted, and whether the last still found a full batch."""
        total = dict.fromkeys(PURGED_KINDS, 0)
        full = False
        for _ in range(max_runs) if max_runs is not None else itertools.count():
            deleted = self.purge_once()
            for kind, count in deleted.items():
                total[kind] = total.get(kind, 0) + count
            full = any(count >= self._policy.batch for count in deleted.values())
            if not full:
                break
        return total, full

    def backup(self, target: Path) -> None:
        """A consistent copy of the live database in `target` (SQLite only).

        Raises:
            ConfigurationError: the storage cannot copy itself (PostgreSQL: pg_dump; DynamoDB: PITR).
            StorageUnavailable: the copy failed.
        """
        if not isinstance(self._store, BackupStore):
            raise ConfigurationError(
                "storage backup copies an SQLite database; back up PostgreSQL with pg_dump and DynamoDB "
                "with point-in-time recovery (see docs/operations.md)"
            )
        if not target.name or target.is_dir():
            # `twostep storage backup "$UNSET"` or `/` reached a traceback (a path with no file name).
            raise ConfigurationError(f"cannot write the backup {target}: a folder; give the copy a file name")
        try:
            self._store.backup_to(target)
        except OSError as exc:
            raise ConfigurationError(f"cannot write the backup {target}: {exc.strerror or exc}") from exc

    @property
    def left_to_backend(self) -> frozenset[str]:
        """Kinds the backend expires itself (DynamoDB TTL)."""
        return self._store.expired_by_backend
