"""libargon2 compiled for AVX-512F or AVX2, computing in the working area each hashing thread keeps.

argon2-cffi's libargon2 is compiled to run on any x86-64, so it compresses Argon2's blocks with SSE2.
The same sources (native/argon2, the copy argon2-cffi-bindings ships) pick wider vector code when they
are compiled for it: `setup.py` builds them once for AVX2 and once for AVX-512F, next to this module,
where a C compiler is at hand. This path loads the widest build the CPU has, and lends it the kept area
(`argon2_area`), so no check pays page faults for a fresh one. One check at twostep's parameters (19 MiB,
t=2, p=1) on the bench's machine (AMD EPYC, AVX-512), in CPU time:

- argon2-cffi's libargon2 (SSE2) in a kept area: ~16-18 ms;
- libsodium (`argon2_sodium`): ~4.7 ms computing plus ~7 ms of page faults, as it maps a fresh area;
- this path: ~8 ms with AVX2, ~5-6 ms with AVX-512F.

The builds are plain C, loaded through cffi (not imported as Python modules). Each is chosen only where
/proc/cpuinfo lists the instructions it was compiled for, so an image built on one machine stays right on
another. Where none loads (arm64, no compiler at install time, an older CPU), the path declines and the
next one takes the hash. The digests are libargon2's own, byte for byte the same in every build.
"""

from __future__ import annotations

import functools
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

from twostep.domain.argon2_area import KeptAreaArgon2, Libargon2
from twostep.domain.cpu_features import cpu_flags, read_cpuinfo, x86_64

# The builds, widest first, each with the /proc/cpuinfo flag its instructions need (setup.py).
BUILDS = (("avx512", "avx512f"), ("avx2", "avx2"))
NAMES = {"avx512": "libargon2 built for AVX-512F", "avx2": "libargon2 built for AVX2"}

# argon2.h's context and `argon2_ctx`, as this path calls them.
DECLARATIONS = """
typedef int (*allocate_fptr)(uint8_t **memory, size_t bytes_to_allocate);
typedef void (*deallocate_fptr)(uint8_t *memory, size_t bytes_to_allocate);
typedef struct Argon2_Context {
    uint8_t *out; uint32_t outlen;
    uint8_t *pwd; uint32_t pwdlen;
    uint8_t *salt; uint32_t saltlen;
    uint8_t *secret; uint32_t secretlen;
    uint8_t *ad; uint32_t adlen;
    uint32_t t_cost; uint32_t m_cost; uint32_t lanes; uint32_t threads;
    uint32_t version;
    allocate_fptr allocate_cbk; deallocate_fptr free_cbk;
    uint32_t flags;
} argon2_context;
int argon2_ctx(argon2_context *context, int type);
"""


def build_file(name: str, folder: Path) -> Path | None:
    """The compiled build `name` in `folder` (its file name ends as Python's extensions' do), if any."""
    for suffix in EXTENSION_SUFFIXES:
        path = folder / f"libargon2_{name}{suffix}"
        if path.is_file():
            return path
    return None


def chosen_build(machine: str, cpuinfo: str, folder: Path) -> Path | None:
    """The widest build that is there and whose instructions this CPU has; None for none."""
    if not x86_64(machine):
        return None
    flags = cpu_flags(cpuinfo)
    for name, needs in BUILDS:
        path = build_file(name, folder)
        if needs in flags and path is not None:
            return path
    return None


def load(path: Path) -> Libargon2 | None:
    """The build in `path` (named as `build_file` names it), loaded; None where it does not load."""
    from cffi import FFI

    ffi = FFI()
    ffi.cdef(DECLARATIONS)
    try:
        library: Any = ffi.dlopen(str(path))  # its functions are those DECLARATIONS names
    except OSError:
        return None
    build = path.name.removeprefix("libargon2_").split(".")[0]
    return Libargon2(ffi, library.argon2_ctx, NAMES.get(build, path.name))


@functools.cache
def vector_library() -> Libargon2 | None:
    """The chosen build, loaded on first use (the Lambda handlers and the commands that never hash do not
    pay for it); None where there is none, or it does not load."""
    import platform  # here, not at the top: most processes that import this module never hash

    path = chosen_build(platform.machine(), read_cpuinfo(), Path(__file__).parent)
    return None if path is None else load(path)


class VectorArgon2(KeptAreaArgon2):
    """Hash and verify like argon2-cffi's `PasswordHasher`, with the vector build, in kept areas."""

    def library(self) -> Libargon2 | None:
        return vector_library()
