"""`api.middleware.header_text`: the answer Starlette's `request.headers.get` gives, without its
`Headers` object (the sign-in routes read the caller's headers with it)."""

from __future__ import annotations

import itertools

from starlette.datastructures import Headers

from twostep.api.middleware import header_text

NAMES = [b"user-agent", b"accept-language", b"x-twostep-client", b"x-forwarded-for"]
VALUES = [b"", b"web", b" Web ", b"caf\xe9", b"a, b"]


def test_the_same_answer_as_starlettes_headers_get() -> None:
    raw_sets = [
        [],
        [(b"host", b"x")],
        [(b"user-agent", b"one"), (b"user-agent", b"two")],  # the first one counts
        *([(name, value)] for name, value in itertools.product(NAMES, VALUES)),
        [(name, b"v") for name in NAMES],
    ]
    for raw in raw_sets:
        scope = {"type": "http", "headers": list(raw)}
        for name in NAMES:
            assert header_text(scope, name) == Headers(scope={"headers": list(raw)}).get(name.decode())
