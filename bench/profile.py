"""How long and how hard each figure runs: the full run (`make bench`) and a seconds-long smoke run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    clients: int  # concurrent load-generator clients
    users: int  # registered accounts (a multiple of clients: each client owns its users)
    # Measuring window per HTTP figure, split into rounds. Logins finish in groups (the hashing thread
    # hands results back up to 16 at a time), so a window counts completions in steps of a group: in
    # 5 s rounds of ~300 sign-ins one step could move a round's rate by ~5 %, more than the gaps the targets
    # are read at; 15 s rounds bring that to ~2 % a round and under 1 % for a figure.
    load_seconds: float
    warmup_seconds: float
    hash_seconds: float  # each bare Argon2id baseline run (one per round)
    micro_seconds: float  # warm verification rates
    spawns: int  # cold-start and import samples (median taken)


FULL = Profile(
    "full",
    clients=16,
    users=64,
    load_seconds=45,
    warmup_seconds=1.5,
    hash_seconds=4,
    micro_seconds=3,
    spawns=10,
)
SMOKE = Profile(
    "smoke",
    clients=4,
    users=4,
    load_seconds=1,
    warmup_seconds=0.3,
    hash_seconds=0.5,
    micro_seconds=0.3,
    spawns=2,
)
