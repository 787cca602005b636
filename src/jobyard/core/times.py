"""Moments given as text: ISO-8601 datetimes, or ISO-8601 durations counted back from now.

``2015-01-01T00:00:00Z`` is that moment; ``P7D``, ``PT3H``, ``P1DT12H30M`` mean that long before
``now`` (as Scale reads its ``started`` and ``ended`` parameters). Durations take days, hours,
minutes and seconds (fractions allowed) and weeks; years and months are refused, as their length
varies. A datetime must carry a time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from jobyard.core.errors import Invalid

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_SECONDS = {"weeks": 604800.0, "days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0}
MAX_DURATION = 100 * 366 * 86400.0


def parse_duration(text: str) -> float | None:
    """Seconds of an ISO-8601 duration (``P7D``, ``PT1H30M``); None when it is not one."""
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return None
    seconds = sum(float(v) * _SECONDS[k] for k, v in match.groupdict().items() if v)
    return seconds if seconds <= MAX_DURATION else None


def parse_moment(text: str, *, now: float, field: str) -> float:
    """Epoch seconds of a datetime with a time zone, or of ``now`` minus a duration."""
    value = text.strip()
    if value.startswith("P"):
        seconds = parse_duration(value)
        if seconds is None:
            raise Invalid(f"{field} must be an ISO-8601 duration like P7D or PT3H30M", field=field)
        return now - seconds
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise Invalid(
            f"{field} must be an ISO-8601 datetime like 2015-01-01T00:00:00Z, or a duration "
            "like P7D",
            field=field,
        ) from exc
    if moment.tzinfo is None:
        raise Invalid(f"{field} needs a time zone, e.g. 2015-01-01T00:00:00Z", field=field)
    return moment.timestamp()


def iso_z(ts: float) -> str:
    """An epoch as ISO-8601 UTC with a ``Z`` (milliseconds when it has any)."""
    moment = datetime.fromtimestamp(ts, UTC)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")
