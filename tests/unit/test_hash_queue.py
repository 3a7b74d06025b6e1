"""The hashing threads' queue: results handed back in groups under load, never held when alone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from typing import Any

import pytest

from twostep.domain.hash_queue import HashQueue
from twostep.domain.passwords import PasswordHasher

BOUND = 30.0  # seconds: a deadlock guard, never a measurement


class Gate:
    """Work that blocks its hashing thread until released, so the test can queue more behind it."""

    def __init__(self, result: str = "first") -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.result = result

    def __call__(self) -> str:
        self.entered.set()
        assert self.release.wait(BOUND)
        return self.result


def recording(name: str, seen: dict[str, bool], earlier: Future[Any]) -> Callable[[], str]:
    """Work that notes whether `earlier`'s result had been handed back when this one ran."""

    def work() -> str:
        seen[name] = earlier.done()
        return name

    return work


def blocked_queue(queue: HashQueue) -> tuple[Gate, Future[Any]]:
    gate = Gate()
    first = queue.submit(gate)
    assert gate.entered.wait(BOUND)  # the thread is busy: what comes now waits in the queue
    return gate, first


def test_a_lone_check_is_handed_back_at_once() -> None:
    with closing(HashQueue(threads=1, group=16)) as queue:
        assert queue.submit(lambda: "alone").result(BOUND) == "alone"
        # Again after the thread went idle: still not held for a group that never comes.
        assert queue.submit(lambda: "again").result(BOUND) == "again"


def test_under_load_results_are_held_until_the_queue_is_empty() -> None:
    with closing(HashQueue(threads=1, group=16)) as queue:
        gate, first = blocked_queue(queue)
        seen: dict[str, bool] = {}
        second = queue.submit(recording("second", seen, first))
        third = queue.submit(recording("third", seen, first))
        gate.release.set()
        assert [f.result(BOUND) for f in (first, second, third)] == ["first", "second", "third"]
        assert seen == {"second": False, "third": False}  # the first waited for the queue to empty


def test_a_group_of_one_hands_each_result_back_before_the_next_check() -> None:
    with closing(HashQueue(threads=1, group=1)) as queue:
        gate, first = blocked_queue(queue)
        seen: dict[str, bool] = {}
        second = queue.submit(recording("second", seen, first))
        gate.release.set()
        assert second.result(BOUND) == "second"
        assert seen == {"second": True}


def test_a_full_group_is_handed_back_while_more_wait() -> None:
    with closing(HashQueue(threads=1, group=2)) as queue:
        gate, first = blocked_queue(queue)
        seen: dict[str, bool] = {}
        second = queue.submit(recording("second", seen, first))
        third = queue.submit(recording("third", seen, first))
        gate.release.set()
        assert third.result(BOUND) == "third" and second.result(BOUND) == "second"
        # first and second made a full group, handed back before third ran
        assert seen == {"second": False, "third": True}


def test_an_error_in_one_check_loses_no_other_result() -> None:
    queue = HashQueue(threads=1, group=16)

    def broken() -> str:
        raise ValueError("libargon2 refused")

    try:
        gate, first = blocked_queue(queue)
        failed = queue.submit(broken)
        last = queue.submit(lambda: "last")
        gate.release.set()
        assert first.result(BOUND) == "first" and last.result(BOUND) == "last"
        with pytest.raises(ValueError, match="libargon2 refused"):
            failed.result(BOUND)
    finally:
        queue.close()


def test_closing_finishes_the_queued_work_then_ends_the_threads() -> None:
    queue = HashQueue(threads=1, group=16, name="closing-test")
    gate, first = blocked_queue(queue)
    queued = [queue.submit(lambda i=i: i) for i in range(3)]
    queue.close()
    with pytest.raises(RuntimeError, match="closed"):
        queue.submit(lambda: "late")
    gate.release.set()
    assert first.result(BOUND) == "first"
    assert [f.result(BOUND) for f in queued] == [0, 1, 2]
    threads = [t for t in threading.enumerate() if t.name.startswith("closing-test")]
    for thread in threads:
        thread.join(BOUND)
    assert not any(t.is_alive() for t in threads)


def test_closing_an_idle_queue_ends_its_threads() -> None:
    queue = HashQueue(threads=2, group=4, name="idle-test")
    assert queue.submit(lambda: 1).result(BOUND) == 1
    queue.close()
    for thread in [t for t in threading.enumerate() if t.name.startswith("idle-test")]:
        thread.join(BOUND)
        assert not thread.is_alive()


def test_several_threads_share_one_queue_and_every_caller_gets_its_own_answer() -> None:
    with closing(HashQueue(threads=2, group=4)) as queue:
        with ThreadPoolExecutor(12) as callers:
            got = list(callers.map(lambda i: queue.submit(lambda: i * i).result(BOUND), range(60)))
        assert got == [i * i for i in range(60)]
        assert queue.threads == 2


def test_grouped_hashing_checks_real_passwords_right() -> None:
    hasher = PasswordHasher(max_concurrent=1, group=8)
    try:
        stored = hasher.hash("correct horse battery")
        with ThreadPoolExecutor(6) as callers:
            answers = list(
                callers.map(
                    lambda i: hasher.verify(stored, "correct horse battery" if i % 2 else "wrong"), range(6)
                )
            )
        assert answers == [i % 2 == 1 for i in range(6)]
    finally:
        hasher.close()
