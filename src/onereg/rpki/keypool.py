"""Pre-generated RSA-2048 keys, so that issuing a signed object does not wait for key generation.

Every EE certificate needs a fresh key (RFC 6487 one-time-use EE keys, and OctoRPKI rejects a
reused one), and generating an RSA-2048 key costs tens of milliseconds, more than everything else
in a ROA together. Worker processes generate keys ahead of demand; the issuer takes a ready one.
Keys cross the process boundary as PKCS#8 DER because cryptography's key objects do not pickle.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_BITS = 2048
PUBLIC_EXPONENT = 65537

KeySource = Callable[[], rsa.RSAPrivateKey]


def generate_key() -> rsa.RSAPrivateKey:
    """One fresh key, generated in the caller's process (the pool-less source)."""
    return rsa.generate_private_key(PUBLIC_EXPONENT, KEY_BITS)


def _generate_der(count: int) -> list[bytes]:
    return [
        generate_key().private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for _ in range(count)
    ]


def _lower_priority() -> None:
    """Workers refill at a lower priority, so that on a small machine they use idle time and do
    not slow the issuing process they exist to speed up."""
    os.nice(10)


def _load(der: bytes) -> rsa.RSAPrivateKey:
    # The consistency check on load costs about as much as a signature; these keys come from our
    # own workers, so skip it.
    key = serialization.load_der_private_key(
        der, password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the key pool produced a non-RSA key")
    return key


class KeyPool:
    """A reservoir of ready keys kept near `target` by `workers` background processes.

    Use it as a callable key source (`pool()` returns a key) and close it, or use it as a context
    manager. When the reservoir runs dry the caller waits for the next batch rather than
    generating in-process, so that the pool never makes issuance slower than it would be alone.
    """

    def __init__(self, target: int = 64, workers: int = 2, batch: int = 8) -> None:
        self._target = target
        self._batch = batch
        self._ready: deque[bytes] = deque()
        self._pending: list[Future[list[bytes]]] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._executor = ProcessPoolExecutor(max_workers=workers, initializer=_lower_priority)
        self._closed = False
        with self._lock:
            self._refill()

    def _refill(self) -> None:
        """Submit batches until ready + in-flight keys reach the target (lock held)."""
        in_flight = len(self._pending) * self._batch
        while not self._closed and len(self._ready) + in_flight < self._target:
            future = self._executor.submit(_generate_der, self._batch)
            future.add_done_callback(self._arrive)
            self._pending.append(future)
            in_flight += self._batch

    def _arrive(self, future: Future[list[bytes]]) -> None:
        with self._arrived:
            if future in self._pending:
                self._pending.remove(future)
            if not future.cancelled() and future.exception() is None:
                self._ready.extend(future.result())
            self._arrived.notify_all()

    def ready(self) -> int:
        with self._lock:
            return len(self._ready)

    def wait_full(self, timeout: float | None = None) -> bool:
        """Block until the reservoir holds `target` keys (benchmarks start from a warm pool)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self._ready) >= self._target, timeout)

    def __call__(self) -> rsa.RSAPrivateKey:
        with self._arrived:
            if self._closed:
                raise RuntimeError("the key pool is closed")
            if not self._ready:
                self._refill()
                self._arrived.wait_for(lambda: bool(self._ready) or not self._pending)
            der = self._ready.popleft() if self._ready else None
            self._refill()
        return _load(der) if der is not None else generate_key()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pending = list(self._pending)
        for future in pending:
            future.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> KeyPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
