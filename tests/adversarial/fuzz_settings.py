"""How hard the property tests try: bounded in `make test`, much longer under `make fuzz`.

Each property test is parametrised over `BUDGETS`: "ci" runs everywhere with a fixed seed; "long" is
marked `slow` and skipped unless TWOSTEP_FUZZ=long (what `make fuzz` sets), and explores with a random
seed and many more examples.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

LONG = os.environ.get("TWOSTEP_FUZZ") == "long"

BUDGETS = [
    pytest.param("ci", id="ci"),
    pytest.param(
        "long",
        id="long",
        marks=[
            pytest.mark.slow,
            pytest.mark.timeout(3600),
            pytest.mark.skipif(not LONG, reason="long fuzzing runs under `make fuzz` (TWOSTEP_FUZZ=long)"),
        ],
    ),
]


def examples(budget: str, ci: int, long: int, **extra: int) -> settings:
    """Hypothesis settings for the budget; no deadline (the machine is shared and tests never assert
    a duration)."""
    is_long = budget == "long"
    return settings(
        max_examples=long if is_long else ci,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        derandomize=not is_long,
        database=None,
        **extra,  # type: ignore[arg-type]
    )
