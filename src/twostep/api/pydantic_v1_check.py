"""FastAPI's check for pydantic.v1 models, without importing pydantic.v1 when nothing could be one.

FastAPI (0.12x and later) asks of every route field and of every object `jsonable_encoder` meets
whether it is a pydantic.v1 model, to refuse those with a clear error; the check imports pydantic.v1
to find out. twostep has no v1 models, and that import alone costs ~1.5 MiB of RSS in every server
process and ~30 ms of start-up (measured: the peak RSS under `make bench`'s load, `python -X importtime`). While
pydantic.v1 is not imported, no class can derive from its BaseModel, so the answer is "no" without
importing it; once anything imports pydantic.v1, FastAPI's own check runs as before. Where FastAPI
has no such check (other versions), this does nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

V1 = "pydantic.v1"


def _unless_v1_absent(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def answer(candidate: Any) -> bool:
        return V1 in sys.modules and check(candidate)

    answer.__wrapped__ = check  # type: ignore[attr-defined]
    return answer


def skip_needless_pydantic_v1_import() -> None:
    """Wrap FastAPI's v1 checks (idempotent); call before routes are declared."""
    try:
        from fastapi import encoders
        from fastapi._compat import shared
    except ImportError:  # another FastAPI layout: nothing to do
        return
    for module, name in ((shared, "is_pydantic_v1_model_class"), (encoders, "is_pydantic_v1_model_instance")):
        check = getattr(module, name, None)
        if callable(check) and not hasattr(check, "__wrapped__"):
            setattr(module, name, _unless_v1_absent(check))
