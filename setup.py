"""The vector builds of libargon2 (x86-64 only, each optional: a machine without a C compiler installs
twostep without them and hashes through libsodium or argon2-cffi; see `domain/argon2_vector.py`).

libargon2's reference sources (native/argon2, the copy argon2-cffi-bindings ships) pick their block
function by the instructions they are compiled for: argon2-cffi's wheels are compiled for any x86-64,
so they compute with SSE2. Each build here is compiled for one instruction set beyond it, and twostep
loads the one the CPU it runs on has: a wheel or an image built on one machine stays right on another.
The libraries are plain C (no Python API): they are loaded through cffi, not imported.
"""

from __future__ import annotations

import platform

from setuptools import Extension, setup

SOURCES = [
    f"native/argon2/src/{name}"
    for name in ("argon2.c", "core.c", "encoding.c", "opt.c", "thread.c", "blake2/blake2b.c")
]
# Only argon2.h's public functions are exported, and calls inside the library stay inside it.
FLAGS = ["-O3", "-DARGON2_NO_THREADS", "-DA2_VISCTL=1", "-fvisibility=hidden"]
VARIANTS = {"avx2": ["-mavx2"], "avx512": ["-mavx512f", "-mavx2"]}


def vector_build(name: str, flags: list[str]) -> Extension:
    return Extension(
        f"twostep.domain.libargon2_{name}",
        SOURCES,
        include_dirs=["native/argon2/include", "native/argon2/src"],
        extra_compile_args=[*FLAGS, *flags],
        extra_link_args=["-Wl,-Bsymbolic"],
        optional=True,
    )


X86_64 = platform.machine().lower() in {"x86_64", "amd64"}
setup(ext_modules=[vector_build(name, flags) for name, flags in VARIANTS.items()] if X86_64 else [])
