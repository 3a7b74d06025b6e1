"""How long and how hard each figure runs: the full run (`make bench`) and a seconds-long smoke run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    clients: int  # concurrent load-generator clients
    users: int  # registered accounts (a multiple of clients: each client owns its users)
    load_seconds: float  # measuring window per HTTP figure
    warmup_seconds: float
    hash_seconds: float  # each bare Argon2id baseline run (one per round)
    micro_seconds: float  # warm verification rates
    spawns: int  # cold-start and import samples (median taken)


FULL = Profile(
    "full",
    clients=16,
    users=64,
    load_seconds=15,
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
