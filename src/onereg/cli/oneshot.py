"""Process settings for a one-shot command that works through large numpy arrays (`onereg rov`).

Two costs of such a command are the process's, not the work's, and were measured on the 2014
table against 10^6 VRPs (2 cores, Debian 12, glibc):

* numpy's OpenBLAS starts a pool of threads when numpy is imported, whether or not a matrix is
  ever multiplied (onereg multiplies none): ~0.04-0.1 s of CPU. OpenBLAS reads its setting
  only when it loads, so importing this module sets it before anything imports numpy (an
  explicit setting by the user is kept).
* glibc hands freed blocks back to the kernel (trimming the heap, and the dynamic mmap
  threshold starts low), so each of the readers' many text-sized temporary arrays is new
  memory, faulted in page by page: 74,000 page faults and 0.25-0.4 s of system time.
  `keep_freed_memory` keeps blocks up to 32 MiB in the heap and the heap untrimmed, so a
  freed array's pages serve the next one (51,000 faults, 0.13 s). The process ends soon after,
  which is what makes keeping the memory right; nothing else in onereg calls it.
"""

from __future__ import annotations

import ctypes
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_LARGEST_HEAP_BLOCK = 32 << 20  # glibc's upper bound for the mmap threshold on 64-bit
_NEVER_TRIM = (1 << 31) - 1


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed memory rather than return it; False where there is no
    `mallopt` (another C library) or it refuses, which changes nothing but the speed."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _LARGEST_HEAP_BLOCK)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM)
    )
