"""A Hypothesis state machine over the challenge store (memory and SQLite): random sequences of
count_attempt / consume / replace_code / expire / time passing, checked against a small model.

Invariants: attempts never decrease and never pass the maximum; a consumed challenge stays consumed and is
consumed exactly once; count_attempt is refused exactly when the challenge is used, expired or out of
attempts; a resend keeps the attempt count.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from tests.adversarial.fuzz_settings import BUDGETS, examples
from twostep.domain.models import Challenge
from twostep.domain.ports import Storage
from twostep.storage.memory import MemoryStorage
from twostep.storage.sqlite import SqliteStorage

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
IDS = ("challenge-a", "challenge-b")


@dataclass
class Model:
    attempts: int
    max_attempts: int
    expires_at: datetime
    consumed: bool = False
    sends: int = 1


class ChallengeMachine(RuleBasedStateMachine):
    storage_kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.workdir = Path(tempfile.mkdtemp(prefix="twostep-sm-"))
        self.storage: Storage = (
            MemoryStorage() if self.storage_kind == "memory" else SqliteStorage(self.workdir / "sm.db")
        )
        self.storage.init_schema()
        self.now = START
        self.models: dict[str, Model] = {}
        self.seen_attempts: dict[str, int] = {}
        self.consumed_ok: dict[str, int] = {}

    @initialize(
        max_attempts=st.integers(min_value=1, max_value=6), ttl=st.integers(min_value=1, max_value=300)
    )
    def create(self, max_attempts: int, ttl: int) -> None:
        for challenge_id in IDS:
            self.storage.put_challenge(
                Challenge(
                    id=challenge_id,
                    purpose="login",
                    subject="user-1",
                    phone="+905555555555",
                    code_hmac="h0",
                    created_at=self.now,
                    expires_at=self.now + timedelta(seconds=ttl),
                    max_attempts=max_attempts,
                    last_sent_at=self.now,
                )
            )
            self.models[challenge_id] = Model(0, max_attempts, self.now + timedelta(seconds=ttl))
            self.seen_attempts[challenge_id] = 0
            self.consumed_ok[challenge_id] = 0

    @rule(challenge_id=st.sampled_from(IDS))
    def count_attempt(self, challenge_id: str) -> None:
        model = self.models[challenge_id]
        gate_open = not model.consumed and model.expires_at > self.now and model.attempts < model.max_attempts
        counted = self.storage.count_attempt(challenge_id, self.now)
        assert (counted is not None) == gate_open
        if counted is not None:
            model.attempts += 1
            assert counted.attempts == model.attempts

    @rule(challenge_id=st.sampled_from(IDS))
    def consume(self, challenge_id: str) -> None:
        model = self.models[challenge_id]
        won = self.storage.consume_challenge(challenge_id, self.now)
        assert won == (not model.consumed)
        if won:
            model.consumed = True
            self.consumed_ok[challenge_id] += 1

    @rule(challenge_id=st.sampled_from(IDS), ttl=st.integers(min_value=1, max_value=300))
    def replace_code(self, challenge_id: str, ttl: int) -> None:
        model = self.models[challenge_id]
        replaced = self.storage.replace_code(
            challenge_id, f"h{model.sends}", self.now + timedelta(seconds=ttl), self.now
        )
        assert (replaced is not None) == (not model.consumed)
        if replaced is not None:
            model.expires_at = self.now + timedelta(seconds=ttl)
            model.sends += 1
            assert replaced.attempts == model.attempts  # the failure budget survives a resend

    @rule(challenge_id=st.sampled_from(IDS))
    def expire(self, challenge_id: str) -> None:
        self.storage.expire_challenge(challenge_id, self.now)
        model = self.models[challenge_id]
        model.expires_at = min(model.expires_at, self.now)

    @rule(seconds=st.integers(min_value=1, max_value=120))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @invariant()
    def matches_the_model(self) -> None:
        for challenge_id, model in self.models.items():
            stored = self.storage.get_challenge(challenge_id)
            assert stored is not None
            assert stored.attempts == model.attempts <= stored.max_attempts
            assert stored.attempts >= self.seen_attempts[challenge_id]  # never decreases
            self.seen_attempts[challenge_id] = stored.attempts
            assert (stored.consumed_at is not None) == model.consumed
            assert self.consumed_ok[challenge_id] <= 1
            assert stored.sends == model.sends

    def teardown(self) -> None:
        self.storage.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


class SqliteChallengeMachine(ChallengeMachine):
    storage_kind = "sqlite"


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("machine", [ChallengeMachine, SqliteChallengeMachine], ids=["memory", "sqlite"])
def test_challenge_store_keeps_its_invariants(machine: type[ChallengeMachine], budget: str) -> None:
    run_state_machine_as_test(machine, settings=examples(budget, ci=40, long=1_000, stateful_step_count=40))
