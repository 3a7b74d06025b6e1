"""How many cores this process may use: the default count of password-hashing threads, and each
worker's share of them under `twostep serve --workers N`."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (a `taskset` or a Lambda's vCPUs), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without affinity (macOS)
        return os.cpu_count() or 1
