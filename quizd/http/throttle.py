"""Per-address throttles for the public and the failed parts of the control plane (sans-IO).

Two things on the HTTP port cost the node something an anonymous client can ask for again
and again: rendering a QR code that is not cached yet (milliseconds of pure-Python work
that holds the GIL), and trying admin tokens.  Each gets a token bucket per client address,
and the QR codes also one bucket for the whole node, so that many addresses together
cannot take the event loop either.

Memory is bounded: at most ``max_addresses`` buckets are kept, the least recently used
one is dropped first (a dropped bucket was full or nearly: forgetting it only forgives).
"""

from __future__ import annotations

from collections import OrderedDict

import attrs


@attrs.define(slots=True)
class Bucket:
    """A token bucket: ``rate`` tokens a second up to ``burst``."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_s(self, now: float) -> float:
        """0 when a token is there, else how long until one is."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> float:
        """Take a token: 0 when one was there, else how long until one is (nothing taken)."""
        wait = self.wait_s(now)
        if wait == 0.0:
            self.tokens -= 1.0
        return wait


class AddressThrottle:
    """One :class:`Bucket` per client address, the least recently used dropped past a cap."""

    def __init__(self, rate: float, burst: int, max_addresses: int = 10_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def _bucket(self, address: str, now: float) -> Bucket:
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = Bucket(self.rate, self.burst, self.burst, now)
            if len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(address)
        return bucket

    def wait_s(self, address: str, now: float) -> float:
        """How long ``address`` must wait before it may try (0 = now); takes nothing."""
        bucket = self._buckets.get(address)
        return 0.0 if bucket is None else bucket.wait_s(now)

    def take(self, address: str, now: float) -> float:
        """Charge ``address`` one token: 0 when it had one, else how long until it has."""
        return self._bucket(address, now).take(now)

    def __len__(self) -> int:
        return len(self._buckets)
