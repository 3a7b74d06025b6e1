"""`domain.ids.new_uuid4`: ids of the form and the randomness `str(uuid.uuid4())` has."""

from __future__ import annotations

import uuid

from twostep.domain.ids import new_uuid4


def test_new_ids_are_version_4_uuids_as_uuid4_writes_them() -> None:
    made = [new_uuid4() for _ in range(2000)]
    for one in made:
        parsed = uuid.UUID(one)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == one  # lower case, 8-4-4-4-12
    assert len(set(made)) == len(made)


def test_every_other_bit_varies() -> None:
    # The 122 random bits are the OS's: across many ids each one is seen both set and clear.
    fixed = (0xF000 << 64) | (0xC000 << 48)  # the version nibble and the variant bits
    seen_set = seen_clear = 0
    for _ in range(500):
        value = uuid.UUID(new_uuid4()).int
        seen_set |= value
        seen_clear |= ~value
    free = ((1 << 128) - 1) & ~fixed
    assert seen_set & free == free
    assert seen_clear & free == free
