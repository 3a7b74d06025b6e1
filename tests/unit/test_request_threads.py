"""The sign-in routes' thread hop (`api.request_threads`): what AnyIO's `run_in_threadpool` gave them
(answers and errors back, the caller's context, a limit on threads, idle threads ending, cancelled
callers) with less work per call."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any

import pytest

from twostep.api.request_threads import RequestThreads

WAIT = 10.0  # seconds any event here may take on a busy machine before the test gives up

request_id = contextvars.ContextVar("request_id", default="none")


def run(pool: RequestThreads, call: Callable[..., Any], *args: Any) -> Any:
    async def main() -> Any:
        return await pool.run(call, *args)

    return asyncio.run(main())


def test_answers_and_errors_come_back_from_another_thread() -> None:
    pool = RequestThreads()
    loop_thread = threading.current_thread()
    assert run(pool, lambda a, b: (a + b, threading.current_thread()), 2, 3)[0] == 5
    assert run(pool, threading.current_thread) is not loop_thread
    with pytest.raises(KeyError, match="missing"):
        run(pool, {}.__getitem__, "missing")


def test_stop_iteration_becomes_a_runtime_error() -> None:
    # An asyncio future refuses StopIteration; AnyIO's hop turned it into a RuntimeError too.
    with pytest.raises(RuntimeError, match="StopIteration"):
        run(RequestThreads(), next, iter(()))


def test_the_callers_context_goes_along_and_stays_its_own() -> None:
    pool = RequestThreads()

    def read_and_change() -> str:
        seen = request_id.get()
        request_id.set("changed in the thread")
        return seen

    async def main() -> tuple[str, str]:
        request_id.set("r-123")
        seen = await pool.run(read_and_change)
        return seen, request_id.get()

    assert asyncio.run(main()) == ("r-123", "r-123")


def test_a_thread_is_used_again() -> None:
    pool = RequestThreads()

    async def main() -> tuple[threading.Thread, threading.Thread]:
        first = await pool.run(threading.current_thread)
        second = await pool.run(threading.current_thread)
        return first, second

    first, second = asyncio.run(main())
    assert first is second


def test_the_thread_idle_the_shortest_time_takes_the_next_call() -> None:
    # As in AnyIO's pool: its stack and what it touched last are the likeliest to be in the caches.
    pool = RequestThreads()
    gates = [threading.Event(), threading.Event()]
    started = [threading.Event(), threading.Event()]

    def held(n: int) -> threading.Thread:
        started[n].set()
        gates[n].wait(WAIT)
        return threading.current_thread()

    async def main() -> tuple[threading.Thread, threading.Thread, threading.Thread]:
        loop = asyncio.get_running_loop()
        calls = [asyncio.ensure_future(pool.run(held, n)) for n in range(2)]
        for event in started:  # both running, on two threads
            await loop.run_in_executor(None, event.wait, WAIT)
        gates[0].set()
        first = await calls[0]
        gates[1].set()
        second = await calls[1]  # its thread went idle last
        return first, second, await pool.run(threading.current_thread)

    first, second, next_one = asyncio.run(main())
    assert first is not second
    assert next_one is second


def hold_calls(max_threads: int, calls: int) -> tuple[int, list[int]]:
    """Start `calls` calls that wait for a release once `max_threads` run; the most running at once,
    and the order the calls started in."""
    pool = RequestThreads(max_threads=max_threads)
    release = threading.Event()
    lock = threading.Lock()
    running = 0
    most = 0
    starts: list[int] = []

    def call(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            starts.append(n)
        release.wait(WAIT)
        with lock:
            running -= 1
        return n

    async def main() -> list[int]:
        tasks = [asyncio.ensure_future(pool.run(call, n)) for n in range(calls)]
        while True:  # the threads busy, the other calls waiting
            with lock:
                if running == max_threads:
                    break
            await asyncio.sleep(0.001)
        release.set()
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(main()) == list(range(calls))
    return most, starts


def test_at_most_max_threads_run_at_once() -> None:
    most, starts = hold_calls(max_threads=2, calls=6)
    assert most == 2
    assert sorted(starts[:2]) == [0, 1]


def test_waiting_calls_run_in_the_order_they_came() -> None:
    assert hold_calls(max_threads=1, calls=5) == (1, [0, 1, 2, 3, 4])


def test_an_idle_thread_ends() -> None:
    pool = RequestThreads(idle_seconds=0.01)
    thread = run(pool, threading.current_thread)
    thread.join(WAIT)
    assert not thread.is_alive()
    assert run(pool, lambda: 7) == 7  # and a new one starts when needed


def test_a_cancelled_caller_stops_waiting_and_the_call_still_ends() -> None:
    pool = RequestThreads(max_threads=1)
    started, release, ended = threading.Event(), threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(WAIT)
        ended.set()
        return "late"

    async def main() -> str:
        task = asyncio.ensure_future(pool.run(slow))
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        return await pool.run(lambda: "next")  # the one thread is free again once `slow` ended

    assert asyncio.run(main()) == "next"
    assert ended.is_set()


def test_a_call_whose_caller_was_cancelled_while_it_waited_for_a_thread_never_runs() -> None:
    pool = RequestThreads(max_threads=1)
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def hold() -> None:
        started.set()
        release.wait(WAIT)

    async def main() -> str:
        loop = asyncio.get_running_loop()
        holding = asyncio.ensure_future(pool.run(hold))
        await loop.run_in_executor(None, started.wait, WAIT)
        waiting = asyncio.ensure_future(pool.run(ran.append, "waited"))  # no thread free: backlog
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        await holding
        return await pool.run(lambda: "next")

    assert asyncio.run(main()) == "next"
    assert ran == []


def test_finish_lets_a_running_call_end_and_stops_the_threads() -> None:
    pool = RequestThreads()
    started, ended = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []

    def call() -> None:
        threads.append(threading.current_thread())
        started.set()
        threading.Event().wait(0.05)  # still running when finish() is called
        ended.set()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        waiting = asyncio.ensure_future(pool.run(call))
        await loop.run_in_executor(None, started.wait, WAIT)
        await loop.run_in_executor(None, pool.finish)
        assert ended.is_set()
        await waiting

    asyncio.run(main())
    assert not threads[0].is_alive()
