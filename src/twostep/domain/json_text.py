"""`json.dumps` of flat, plain records (str/int/float/bool/None values, lists of them), without building
a `JSONEncoder` and its C encoder again on every call as `json.dumps` with any option does.

A sign-in's verify step encodes its access token's claims and each audit event's detail this way. The
text is `json.dumps`'s own (ASCII only, the same separators; tested against it); anything that is not
plain JSON raises `TypeError` as `json.dumps` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from twostep.domain.cold_start_typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def _not_json(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps_like_json(separators: tuple[str, str] = (", ", ": ")) -> Callable[[Any], str]:
    """`lambda value: json.dumps(value, separators=separators)`, the C encoder built once. Values must
    hold no cycles (no check is made: a record made by the caller never does)."""
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # CPython's C accelerator (private)
    item, key = separators
    if make is None:
        return json.JSONEncoder(separators=separators).encode
    # markers (no cycle check), default, string encoder, indent, key and item separators, sort_keys,
    # skipkeys, allow_nan: json.dumps's defaults
    encode = make(None, _not_json, json.encoder.encode_basestring_ascii, None, key, item, False, False, True)
    return lambda value: "".join(encode(value, 0))
