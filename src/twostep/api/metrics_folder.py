"""Where the workers of `twostep serve --workers N` put their metrics (prometheus-client's multiprocess
mode, `metrics_prometheus`). Apart from it so that the supervisor sets the folder up without importing
prometheus-client or the app."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def forget_worker(pid: int | None) -> None:
    """Drop an exited worker's live gauges (`livesum`, `livemax`) from the shared folder, so `/metrics`
    no longer adds in what it last reported (a dead worker's hash queue stayed in the sum for good).

    prometheus-client is imported here, when a worker has exited, not when the supervisor starts.
    """
    if multiprocess() and pid is not None:  # None: it never started
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid)  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated


def forget_earlier_runs() -> None:
    """Empty a folder the operator named of an earlier run's figures, for a server of one process: it
    writes there too when the folder is set, and `/metrics` would add in the figures of the run before
    (after an unclean stop, its gauges for good). Call it before the app is built."""
    if multiprocess():
        _forget_earlier_runs(os.environ[MULTIPROC_ENV])


@contextmanager
def shared_metrics_folder() -> Iterator[None]:
    """A fresh folder for the workers' metrics (unless the operator named one), removed afterwards.

    Set before the workers start, as prometheus-client reads it when a process first imports it. A folder
    the operator named is emptied of an earlier run's figures first: after an unclean stop nobody dropped
    its workers' gauges, which `/metrics` would otherwise add in for good (prometheus-client asks for the
    folder to be wiped between runs).
    """
    if multiprocess():
        _forget_earlier_runs(os.environ[MULTIPROC_ENV])
        yield
        return
    folder = tempfile.mkdtemp(prefix="twostep-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


# prometheus-client's file names in the folder: `<kind>_<pid>.db`, a gauge's kind naming its mode.
_FIGURE_FILES = ("counter_*.db", "gauge_*.db", "histogram_*.db", "summary_*.db")


def _forget_earlier_runs(folder: str) -> None:
    """Delete the figure files in `folder`, and only those (the operator may keep others there)."""
    for pattern in _FIGURE_FILES:
        for path in Path(folder).glob(pattern):
            path.unlink(missing_ok=True)
