"""The sign-in routes' blocking service calls, each in one hop to a thread and back.

`starlette.concurrency.run_in_threadpool` (AnyIO's `to_thread.run_sync`) does much more per call than the
hop itself: it takes a token from a capacity limiter (with a checkpoint that yields to the event loop once
more), enters a shielded cancel scope, looks up the root task and the idle workers, and hands the call to
the worker through a `queue.Queue` (a Python condition variable). On the sign-in load every one of those
lines runs cache-cold beside the Argon2 hash; here a call is one `SimpleQueue.put` and one
`call_soon_threadsafe` back.

What stays as it was with AnyIO's threads: the caller's context variables are copied into the call (the
request id of the log lines, the limit report of the RateLimit fields); at most 40 threads (AnyIO's
default limit) and callers beyond them wait their turn in order; a thread idle for 10 s ends; a caller
cancelled by its task stops waiting while the call runs to its end (AnyIO's shielded scope holds back
only cancellations of AnyIO's own scopes, which nothing on these routes makes), and a call still
waiting for a thread when its caller is cancelled never runs; calls running when the
interpreter exits finish first.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import os
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

MAX_THREADS = 40  # AnyIO's default thread limiter
IDLE_SECONDS = 10.0  # AnyIO's WorkerThread.MAX_IDLE_TIME

# (loop, future, context, call, arguments)
Job = tuple[
    asyncio.AbstractEventLoop, asyncio.Future[Any], contextvars.Context, Callable[..., Any], tuple[Any, ...]
]


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    """On the event loop: hand the call's result (or error) to its caller, unless it stopped waiting."""
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    elif isinstance(value, StopIteration):  # a future refuses it (as AnyIO does: a RuntimeError instead)
        error = RuntimeError("coroutine raised StopIteration")
        error.__cause__ = value
        future.set_exception(error)
    else:
        future.set_exception(value)


class _Worker:
    """One thread and the queue its next job comes through."""

    __slots__ = ("jobs", "thread")

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None


class RequestThreads:
    """A pool of threads started as calls need them, up to `max_threads`.

    A call goes to the thread idle the shortest time (as AnyIO's pool does): its stack and the objects
    it touched last are the likeliest to be still in the caches. Calls beyond `max_threads` wait in a
    backlog, first come first served."""

    def __init__(self, max_threads: int = MAX_THREADS, idle_seconds: float = IDLE_SECONDS) -> None:
        self._max_threads = max_threads
        self._idle_seconds = idle_seconds
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._idle: list[_Worker] = []  # the last one idled last
        self._backlog: deque[Job] = deque()
        self._closing = False

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` on one of the threads, in a copy of the caller's context."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        job: Job = (loop, future, contextvars.copy_context(), call, args)
        with self._lock:
            if self._idle:
                self._idle.pop().jobs.put(job)
            elif len(self._workers) < self._max_threads:
                self._start(job)
            else:
                self._backlog.append(job)
        del job
        return await future

    def _start(self, first: Job) -> None:
        """Called holding the lock."""
        worker = _Worker()
        worker.thread = threading.Thread(
            target=self._serve, args=(worker, first), name=f"request_{len(self._workers)}", daemon=True
        )
        self._workers.add(worker)
        worker.thread.start()

    def _serve(self, worker: _Worker, first: Job) -> None:
        job: Job | None = first
        del first
        while job is not None:
            loop, future, context, call, args = job
            del job
            try:
                value, ok = context.run(call, *args), True
            except BaseException as error:  # handed to the caller, as AnyIO does
                value, ok = error, False
            # Idle (or given the backlog's next job) before the caller hears back, so that its next
            # call finds this thread free rather than starting another one.
            with self._lock:
                job = self._next_waiting()
                ending = job is None and self._closing
                if ending:
                    self._workers.discard(worker)
                elif job is None:
                    self._idle.append(worker)
            try:
                loop.call_soon_threadsafe(_settle, future, ok, value)
            except RuntimeError:  # the loop is closed: nobody waits for this answer any more
                if not loop.is_closed():
                    raise
            del loop, future, context, call, args, value  # hold nothing of the request while idle
            if job is None and not ending:
                job = self._wait(worker)

    def _next_waiting(self) -> Job | None:
        """The backlog's oldest call whose caller still waits (called holding the lock). A caller
        cancelled while its call waited for a thread never has it run, as with AnyIO, whose caller
        waits for the thread limiter's token before anything is handed to a thread."""
        while self._backlog:
            job = self._backlog.popleft()
            if not job[1].cancelled():
                return job
        return None

    def _wait(self, worker: _Worker) -> Job | None:
        """The next job for the idle `worker`, or None when it is to end."""
        try:
            return worker.jobs.get(timeout=self._idle_seconds)
        except queue.Empty:
            with self._lock:
                if worker in self._idle:  # nobody chose it meanwhile: it ends
                    self._idle.remove(worker)
                    self._workers.discard(worker)
                    return None
            return worker.jobs.get()  # chosen just now: its job is on the way

    def finish(self) -> None:
        """Let the running calls end and stop every thread (at interpreter exit)."""
        with self._lock:
            self._closing = True
            workers = list(self._workers)
            for idle in self._idle:
                idle.jobs.put(None)
            self._idle.clear()
        for worker in workers:
            if worker.thread is not None:
                worker.thread.join()


request_threads = RequestThreads()
# The threads are daemons so that an idle one never holds the interpreter's exit; this runs before daemon
# threads are stopped, so a call already running still ends as it would on a non-daemon thread.
atexit.register(request_threads.finish)
if hasattr(os, "register_at_fork"):
    # A forked child has none of the parent's threads: start afresh.
    os.register_at_fork(after_in_child=request_threads._reset)
