"""Shifts this process's wall clock by JOBYARD_TEST_CLOCK_OFFSET seconds (tests/chaos).

On PYTHONPATH, Python imports it at start-up: ``time.time`` and ``time.time_ns`` (what jobyard
reads the wall clock with) then run ahead or behind by the offset, as on a host whose clock
jumped. A test shim, in place of libfaketime, for one process only; monotonic clocks are left
alone, as a real clock jump leaves them.
"""

import os
import time

_offset = float(os.environ.get("JOBYARD_TEST_CLOCK_OFFSET", "0"))
if _offset:
    _time, _time_ns = time.time, time.time_ns
    time.time = lambda: _time() + _offset
    time.time_ns = lambda: _time_ns() + int(_offset * 1e9)
