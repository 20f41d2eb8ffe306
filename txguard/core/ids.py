"""Decision ids: UUIDv7 (RFC 9562) from the operating system's randomness.

48 bits of Unix milliseconds, the version, a 12-bit counter, the variant and 62 random bits, so
ids sort by time. Within one process ids are strictly increasing: in the same millisecond (or if
the clock steps back) the counter goes up by one, and past its last value the timestamp moves on
a millisecond (RFC 9562 section 6.2, method 1). A new millisecond starts the counter at a random
value below 2**11, leaving room to count. Random bits come from :func:`os.urandom` (one read of
10 bytes per id: the 62 random bits and a counter start), never from :mod:`random`: an id must not
reveal or repeat another.
"""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # the last millisecond used, the last counter used


def uuid7() -> str:
    """A new UUIDv7 string such as ``0190f5e2-4b1c-7a3e-9f0c-2d4e6a8b0c1d``."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 62 random bits, then 11 for a new millisecond's counter
    with _lock:
        if ms <= _last[0]:
            ms = _last[0]
            counter = _last[1] + 1
            if counter > 0xFFF:
                ms += 1
                counter = (rand >> 62) & 0x7FF
        else:
            counter = (rand >> 62) & 0x7FF
        _last[0], _last[1] = ms, counter
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
