"""`onereg rov`'s process settings (cli.oneshot): one BLAS thread unless the user set a number,
set before numpy is imported, and glibc's malloc told to keep freed memory. Each case runs in
a fresh interpreter, so the test process keeps its own settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import os, sys

class Watch:  # what OPENBLAS_NUM_THREADS said when numpy was first looked for
    seen = "numpy not imported"
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and Watch.seen == "numpy not imported":
            Watch.seen = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
        return None

sys.meta_path.insert(0, Watch())
import onereg.cli.rov
from onereg.cli import oneshot
print(Watch.seen, oneshot.keep_freed_memory())
"""


def _probe(blas: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if blas is not None:
        env["OPENBLAS_NUM_THREADS"] = blas
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_one_blas_thread_unless_the_user_says_otherwise() -> None:
    assert _probe(None)[0] == "1"  # set when cli.rov's imports reach numpy
    assert _probe("3")[0] == "3"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibc_accepts_the_malloc_settings() -> None:
    assert _probe(None)[1] == "True"
