"""The hashing threads' queue: under load they hand results back in groups, so request code runs warm.

On a core shared with the request threads, every Argon2id check streams its 19 MiB working area
through the core's caches; the request code that runs after it (the rest of the login, the answer,
the next requests) then starts with cold caches, and that made it cost more than twice its in-process
figure. A hashing thread that finds more passwords waiting keeps hashing and holds the results it has
made; it hands them all back when the queue is empty or after `group` of them, so the request code of
those requests runs back to back while the caches are warm, instead of once between every two hashes.

No result is held when nothing else waits: a lone check is answered as soon as it is done. Under
saturation (more checks waiting than a thread can do at once) a request's answer can wait for up to
`group - 1` more hashes than before; in the closed loop of a saturated server the higher throughput
lowers the mean wait (Little's law) while the worst case grows by those hashes.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
Work = Callable[[], Any]
Held = tuple[Future[Any], Any, BaseException | None]  # a done check's future, result and exception


class HashQueue:
    """Up to `threads` hashing threads (started on first use) taking work from one queue in order."""

    def __init__(self, threads: int, group: int, name: str = "argon2") -> None:
        self._threads = max(1, threads)
        self._group = max(1, group)
        self._name = name
        self._waiting: deque[tuple[Work, Future[Any]]] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._started: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    @property
    def threads(self) -> int:
        """How many hashing threads this queue runs at most."""
        return self._threads

    def submit(self, work: Callable[[], T]) -> Future[T]:
        """Queue `work` for a hashing thread; the future gets its result or its exception.

        Raises:
            RuntimeError: after `close`.
        """
        future: Future[T] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the password hashing queue is closed")
            self._waiting.append((work, future))
            if self._idle:
                self._ready.notify()
            elif len(self._started) < self._threads:
                self._start_thread()
        return future

    def close(self) -> None:
        """Take no more work; the threads finish what is queued, hand it back and end."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._serve, name=f"{self._name}_{len(self._started)}", daemon=True)
        self._started.append(thread)
        thread.start()

    def _serve(self) -> None:
        held: list[Held] = []
        while True:
            give: list[Held] = []
            with self._ready:
                while not (self._waiting or held or self._closed):
                    self._idle += 1
                    self._ready.wait()
                    self._idle -= 1
                if held and (not self._waiting or len(held) >= self._group):
                    give, held = held, []  # nothing more waits (or the group is full): hand back
                elif self._waiting:
                    work, future = self._waiting.popleft()
                else:
                    return  # closed, and everything queued was done and handed back
            if give:
                hand_back(give)
            elif future.set_running_or_notify_cancel():
                held.append(outcome(work, future))


def outcome(work: Work, future: Future[Any]) -> Held:
    """`work`'s result, or the exception it raised (handed to its caller, as an executor does)."""
    try:
        return (future, work(), None)
    except BaseException as exc:
        return (future, None, exc)


def hand_back(held: list[Held]) -> None:
    """Each held result (or exception) to its waiting caller."""
    for future, result, error in held:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
