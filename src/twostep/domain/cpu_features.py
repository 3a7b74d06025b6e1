"""What the CPU twostep runs on can compute: Linux's feature flags, read when a hashing path decides
whether to load vector code (`argon2_vector`, `argon2_sodium`)."""

from __future__ import annotations

from pathlib import Path


def x86_64(machine: str) -> bool:
    """Whether `platform.machine()` names x86-64 (Linux says x86_64, Windows AMD64)."""
    return machine.lower() in ("x86_64", "amd64")


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The whole words of /proc/cpuinfo's `flags` lines (`avx2`, never a prefix of `avx2_vnni`)."""
    return frozenset(
        flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split()
    )


def read_cpuinfo() -> str:
    """Linux's list of the CPU's features; "" elsewhere, where no vector path is taken."""
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
