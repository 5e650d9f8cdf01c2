"""One BLAS thread for commands that import numpy but multiply no matrices (`onereg rov`).

numpy's OpenBLAS starts a pool of threads when numpy is imported, whether or not any matrix
is multiplied; on the 2-core machines `onereg rov` was measured on, that start-up cost the
whole command about 0.1 s of CPU and wall time, and onereg never calls BLAS. OpenBLAS reads
the setting only when it loads, so this module is imported before anything imports numpy, and
an explicit setting by the user is kept.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
