"""New random ids in the form `str(uuid.uuid4())` gives, without building the `UUID` object.

A sign-in makes two (its challenge, its session); `uuid.uuid4()` turns the 16 random bytes into an
integer, masks the version and variant bits in with big-integer arithmetic, sets two attributes through
`object.__setattr__`, and `str()` formats the integer back to hex: several times the cost of the bytes.
"""

from __future__ import annotations

import os


def new_uuid4() -> str:
    """16 bytes from the OS's random source with the version (4) and variant (RFC 4122) bits set, as
    `str(uuid.uuid4())`: 8-4-4-4-12 lower-case hex digits."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # variant RFC 4122
    hexed = raw.hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"
