"""`twostep serve --workers N`: N uvicorn worker processes, each accepting on a listening socket of its own.

uvicorn's own supervisor hands every worker one shared listening socket. A worker's event loop, woken by
a new connection, accepts every connection then waiting, so kept-alive clients that connect at about the
same time often all land on one worker while the other cores idle (in about a third of the bench's
`--workers 2` runs all 16 clients went to one worker). Here, on Linux, each worker slot has its own
socket bound with SO_REUSEPORT, and the kernel spreads new connections over the listening sockets of the
group by a hash of each connection's addresses and ports. Elsewhere all slots share one socket, as before.

The supervisor listens on every slot's socket before any worker starts and keeps them open: while a
worker starts, or one that died is replaced, the connections hashed to its socket wait in that socket's
queue instead of being refused or all going to the workers already up.

Who else can join the group: Linux adds a socket to a SO_REUSEPORT group only if it sets SO_REUSEPORT
too and belongs to the same effective user id. The caller first binds the port once WITHOUT SO_REUSEPORT
(`cli_serve.listen`), which fails while anything listens there (another twostep included), so a busy
port is refused rather than shared.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from types import FrameType

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Process

from twostep.api.metrics_folder import forget_worker

logger = logging.getLogger("twostep.workers")

CHECK_SECONDS = 0.5  # how often a worker is asked whether it still answers (uvicorn's supervisor: the same)
KILL_MARGIN_SECONDS = 10.0  # beyond the graceful shutdown timeout: closing storage, then SIGKILL


def spreads_by_kernel() -> bool:
    """Whether each worker gets its own SO_REUSEPORT socket (Linux: the kernel balances them)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind_worker_sockets(host: str, port: int, workers: int) -> list[socket.socket]:
    """One listening socket per worker slot (one shared by all where the kernel cannot spread).

    Raises: OSError when the port cannot be bound (the caller checked it was free a moment ago).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    count = workers if spreads_by_kernel() else 1
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return [sockets[slot % count] for slot in range(workers)]


class WorkerSupervisor:
    """Starts one worker per slot, replaces a worker that dies, and stops them all on SIGINT/SIGTERM.

    SIGHUP replaces every worker one at a time, each replacement serving before the old one stops.
    """

    def __init__(self, config: Config, slots: list[socket.socket], grace_seconds: float) -> None:
        self.config = config
        self.slots = slots
        self.grace_seconds = grace_seconds
        self.workers: list[Process] = []
        self.retiring: list[Process] = []  # replaced on SIGHUP, sent SIGTERM, not yet exited
        self.signals: list[int] = []
        self.should_exit = threading.Event()
        self.startup_failed = False

    def run(self) -> bool:
        """Serve until a stop signal; False when a worker could not start (the log says why)."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._queue_signal)
        for sock in set(self.slots):
            # Listening before any worker runs: every socket is in the group from the start, and the
            # connections the kernel hashes to a worker still starting wait for it (else all of the
            # first clients would go to the first worker up, and stay there while kept alive).
            sock.listen(self.config.backlog)
        self.workers = [self._start(slot) for slot in self.slots]
        while not self.should_exit.wait(CHECK_SECONDS):
            self._handle_signals()
            self._replace_dead_workers()
        self._stop_all()
        return not self.startup_failed

    def _start(self, slot: socket.socket) -> Process:
        worker = Process(self.config, [slot])
        worker.start()
        return worker

    def _queue_signal(self, sig: int, _frame: FrameType | None) -> None:
        self.signals.append(sig)  # handled by the loop: a signal handler must not join processes

    def _handle_signals(self) -> None:
        while self.signals:
            sig = self.signals.pop(0)
            if sig == signal.SIGHUP:
                self._restart_all()
            else:
                logger.info("stopping the workers", extra={"signal": signal.Signals(sig).name})
                self.should_exit.set()
                return

    def _replace_dead_workers(self) -> None:
        for index, worker in enumerate(self.workers):
            if self.should_exit.is_set():
                return
            if worker.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            worker.kill()  # hung, or already gone
            worker.join()
            forget_worker(worker.pid)
            if worker.exitcode == STARTUP_FAILURE:
                # It failed before serving: the app or its storage is broken and would fail again.
                logger.error("a worker could not start; stopping", extra={"worker_pid": worker.pid})
                self.startup_failed = True
                self.should_exit.set()
                return
            logger.warning(
                "a worker stopped; starting another",
                extra={"worker_pid": worker.pid, "exit_code": worker.exitcode},
            )
            self.workers[index] = self._start(self.slots[index])

    def _restart_all(self) -> None:
        for index, old in enumerate(self.workers):
            if self._stop_signal_queued():
                return  # the loop stops everything, the workers not yet replaced included
            new = self._start(self.slots[index])
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                forget_worker(new.pid)
                logger.error("a new worker was not ready in time; keeping the old ones")
                return
            self.workers[index] = new
            old.terminate()
            self.retiring.append(old)
            # A hung old worker must not hold the supervisor: joined without a deadline, it left SIGTERM
            # and SIGINT unhandled and dead workers unreplaced for good.
            self._join_or_kill(old, self._stop_deadline(), until_stop_signal=True)

    def _stop_all(self) -> None:
        stopping = self.retiring + self.workers  # old workers a restart still waits for, then the rest
        for worker in self.workers:
            worker.terminate()  # SIGTERM: it stops accepting, finishes what is in flight, closes storage
        for sock in set(self.slots):
            # The workers hold their own copies; once they close them, new connections are refused.
            sock.close()
        deadline = self._stop_deadline()
        for worker in stopping:
            self._join_or_kill(worker, deadline)

    def _stop_deadline(self) -> float:
        """When a worker sent SIGTERM now is killed: its graceful shutdown, then closing storage."""
        return time.monotonic() + self.grace_seconds + KILL_MARGIN_SECONDS

    def _stop_signal_queued(self) -> bool:
        return any(sig != signal.SIGHUP for sig in self.signals)

    def _join_or_kill(self, worker: Process, deadline: float, *, until_stop_signal: bool = False) -> None:
        """Wait for `worker` (sent SIGTERM) to exit, and kill it at `deadline`. With `until_stop_signal`,
        a queued SIGTERM/SIGINT ends the wait early: `_stop_all` then waits for it with the others."""
        while worker.process.exitcode is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.error("a worker did not stop in time; killing it", extra={"worker_pid": worker.pid})
                worker.process.kill()
                worker.process.join()
                break
            if until_stop_signal and self._stop_signal_queued():
                return
            worker.process.join(min(remaining, CHECK_SECONDS))
        forget_worker(worker.pid)
        if worker in self.retiring:
            self.retiring.remove(worker)
