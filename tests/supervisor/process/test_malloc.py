"""glibc's mmap threshold stays fixed once pinned: large temporary blocks keep their own mmap
(returned on free) instead of joining the heap, where they fragmented it in the long soak."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

# In a fresh interpreter (the allocator's state is per process): free a 4 MiB block, which
# raises glibc's dynamic threshold to 4 MiB, then keep 16 blocks of 256 KiB and print how much
# of them glibc mmapped (mallinfo2's hblkhd) and how much the heap grew (arena).
PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from supervisor.process.malloc import pin_large_blocks_to_mmap
    if sys.argv[1] == "pin":
        assert pin_large_blocks_to_mmap()
    libc = ctypes.CDLL(None)
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]
    libc.mallinfo2.restype = Info
    big = bytearray(4 << 20)
    del big
    before = libc.mallinfo2()
    kept = [bytearray(256 << 10) for _ in range(16)]
    after = libc.mallinfo2()
    print(after.hblkhd - before.hblkhd, after.arena - before.arena)
    """
)


def probe(mode: str) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True
    )
    mapped, heap = done.stdout.split()
    return int(mapped), int(heap)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_large_blocks_keep_their_own_mmap_after_a_larger_one_was_freed() -> None:
    """Pinned: 16 x 256 KiB after a freed 4 MiB block are all mmapped and the heap does not
    grow; unpinned (glibc's dynamic threshold), the same blocks land in the heap."""
    mapped, heap = probe("pin")
    assert mapped >= 16 * (256 << 10)
    assert heap < 256 << 10
    mapped, heap = probe("default")
    assert mapped < 256 << 10
    assert heap >= 16 * (256 << 10)
