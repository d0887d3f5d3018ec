"""PID 1 duty: keep the C heap from growing for ever under a steady load.

glibc serves a request of 128 KiB or more with its own mmap, returned to the kernel on free() -
until the first such block is freed: from then on its *dynamic* threshold rises to that block's
size (up to 32 MiB), and blocks of that size come from the heap instead. The supervisor makes
such blocks all the time and frees them at once or soon: each `/metrics` body, a re-sync's list,
a rendered config, the tables of the bounded sets of ended calls and channels as they turn over.
In the heap they fall between long-lived small blocks, the holes they leave rarely fit the next
one exactly, and the heap creeps up: measured in the long soak as RSS growing ~200-450 KB/min
after every bounded structure was full (bench/reports/soak-long.md), with the Python objects'
memory flat. Fixing the threshold at glibc's own default keeps those blocks out of the heap.

Not glibc (musl, another allocator): nothing to do, and `pin_large_blocks_to_mmap` says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: mallopt(3) parameter: the size from which a request is served by its own mmap.
M_MMAP_THRESHOLD = -3
#: glibc's default threshold (DEFAULT_MMAP_THRESHOLD_MIN); setting it turns the dynamic one off.
MMAP_THRESHOLD_BYTES = 128 * 1024


def pin_large_blocks_to_mmap(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold (no dynamic rise); False where there is no glibc mallopt."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        libc = None
    # gnu_get_libc_version: glibc only (musl's mallopt exists but does nothing).
    if libc is None or not hasattr(libc, "gnu_get_libc_version"):
        log.info("not glibc: the allocator's mmap threshold is left as it is")
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold) == 1)
