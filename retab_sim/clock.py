"""The simulated clock: fixed until advanced, or following the wall clock in realtime mode."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SimClock:
    """The simulator's notion of "now", in epoch milliseconds; thread-safe."""

    def __init__(self, start: datetime, *, realtime: bool = False) -> None:
        self._base_ms = (start - _EPOCH) // timedelta(milliseconds=1)
        self._realtime = realtime
        self._t0 = time.monotonic()
        self._offset_ms = 0
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        """Current simulated time in epoch milliseconds."""
        elapsed = int((time.monotonic() - self._t0) * 1000) if self._realtime else 0
        return self._base_ms + self._offset_ms + elapsed

    def now(self) -> datetime:
        """Current simulated time as an aware UTC datetime."""
        return _EPOCH + timedelta(milliseconds=self.now_ms())

    def advance(self, seconds: float) -> int:
        """Move the clock forward; returns the new now in epoch milliseconds."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset_ms += round(seconds * 1000)
        return self.now_ms()
