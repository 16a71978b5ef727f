"""Free slots as booking rows: the pure core of ``NeetoCalFindSlotsOperator``.

v1's ``GET /slots/{meeting_slug}`` documents its outer shape (``{"slots": [{"date", "day", "slots"}]}``)
but not what a day's ``slots`` holds. What has been observed, and what the sandbox serves, is an object
mapping ``"hh:mm AM/PM"`` to ``{"starts_at", "ends_at", "available_spots"}``; a list of such times,
or of objects carrying one, is accepted too. Anything else fails with an error quoting the shape,
instead of being read as "no free slots" (an unknown is never a "no").
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalServerError, NeetoCalValidationError

#: Longest window one task reads (one ``GET /slots`` per calendar month in it).
MAX_WINDOW_DAYS = 92
_TIME_RE = re.compile(r"^(0[1-9]|1[0-2]):[0-5]\d (AM|PM)$")
_TIME_KEYS = ("slot_start_time", "start_time", "time")


def checked_window(date_from: Any, date_to: Any) -> tuple[dt.date, dt.date]:
    """``date_from`` / ``date_to`` (``YYYY-MM-DD``, inclusive) as dates, at most :data:`MAX_WINDOW_DAYS` apart."""
    problems: list[FieldProblem] = []
    dates: list[dt.date] = []
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        try:
            dates.append(value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value).strip()))
        except ValueError:
            problems.append(FieldProblem(name, value, "expected a date as YYYY-MM-DD, e.g. '2030-01-07'"))
    if not problems:
        start, end = dates
        if end < start:
            problems.append(FieldProblem("date_to", date_to, f"is before date_from {start.isoformat()}"))
        elif (end - start).days >= MAX_WINDOW_DAYS:
            problems.append(
                FieldProblem("date_to", date_to, f"expected at most {MAX_WINDOW_DAYS} days after date_from")
            )
    if problems:
        raise NeetoCalValidationError(problems)
    return dates[0], dates[1]


def months_of(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    """The ``(year, month)`` pairs a window touches: one ``GET /slots`` each."""
    months: list[tuple[int, int]] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def slot_rows(
    days: list[Any], *, meeting_slug: str, time_zone: str, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    """Rows (``meeting_slug``, ``slot_date``, ``slot_start_time``, ``time_zone``) for each free slot in the window.

    :raises NeetoCalServerError: quoting the part of the answer whose shape is unknown.
    """
    rows: list[dict[str, Any]] = []
    for day in days:
        if not isinstance(day, Mapping) or not isinstance(day.get("date"), str):
            raise _shape(f"a day is {_quote(day)}, expected an object with 'date' and 'slots'")
        try:
            date = dt.date.fromisoformat(day["date"])
        except ValueError:
            raise _shape(f"a day's date is {_quote(day['date'])}, expected YYYY-MM-DD") from None
        if not start <= date <= end:
            continue
        for time in _free_times(day.get("slots"), date):
            rows.append(
                {
                    "meeting_slug": meeting_slug,
                    "slot_date": date.isoformat(),
                    "slot_start_time": time,
                    "time_zone": time_zone,
                }
            )
    return sorted(rows, key=lambda r: (r["slot_date"], _minutes(r["slot_start_time"])))


def _free_times(slots: Any, date: dt.date) -> list[str]:
    if slots is None or slots == {} or slots == []:
        return []
    if isinstance(slots, Mapping):
        return [time for time, detail in slots.items() if _checked_time(time, slots) and _free(detail, slots)]
    if isinstance(slots, list):
        times: list[str] = []
        for item in slots:
            if isinstance(item, str):
                times.append(_checked_time(item, slots))
            elif isinstance(item, Mapping) and any(isinstance(item.get(k), str) for k in _TIME_KEYS):
                time = next(item[k] for k in _TIME_KEYS if isinstance(item.get(k), str))
                if _free(item, slots):
                    times.append(_checked_time(time, slots))
            else:
                raise _shape(f"the slots of {date.isoformat()} hold {_quote(item)}, expected times or objects with one")
        return times
    raise _shape(f"the slots of {date.isoformat()} are {_quote(slots)}, expected an object or a list")


def _checked_time(value: Any, context: Any) -> str:
    if isinstance(value, str) and _TIME_RE.match(value.strip()):
        return value.strip()
    raise _shape(f"slot time {_quote(value)} in {_quote(context)}, expected 'hh:mm AM/PM'")


def _free(detail: Any, context: Any) -> bool:
    if not isinstance(detail, Mapping) or "available_spots" not in detail:
        return True
    spots = detail["available_spots"]
    if isinstance(spots, int) and not isinstance(spots, bool):
        return spots > 0
    raise _shape(f"available_spots {_quote(spots)} in {_quote(context)}, expected a whole number")


def _minutes(time: str) -> int:
    hours, rest = time.split(":")
    minutes, half = rest.split(" ")
    return (int(hours) % 12 + (12 if half == "PM" else 0)) * 60 + int(minutes)


def _quote(value: Any, limit: int = 200) -> str:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shape(problem: str) -> NeetoCalServerError:
    return NeetoCalServerError(
        method="GET",
        endpoint="/slots",
        status=None,
        message=f"unknown shape of the slots answer (undocumented; this provider reads the observed one): {problem}",
    )


__all__ = ["MAX_WINDOW_DAYS", "checked_window", "months_of", "slot_rows"]
