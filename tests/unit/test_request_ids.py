"""Request ids made by the request middleware (`api.middleware.RequestIds`): 16 random bytes as 32 hex
digits each, as `os.urandom(16).hex()` gave, read from the OS in batches."""

from __future__ import annotations

import os
import re

import pytest

from twostep.api.middleware import RequestIds

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_ids_are_32_hex_digits_and_never_repeat_across_batches() -> None:
    ids = RequestIds()
    made = [ids.new() for _ in range(3 * RequestIds.BATCH // 16 + 5)]  # more than three batches
    assert all(HEX32.match(one) for one in made)
    assert len(set(made)) == len(made)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_hand_out_its_parents_ids() -> None:
    ids = RequestIds()
    ids.new()  # a batch is read and partly left
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then out without running the parent's clean-up
        os.close(read)
        os.write(write, ids.new().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert HEX32.match(child)
    assert child != ids.new()
