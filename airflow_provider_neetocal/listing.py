"""When a paged listing can be trusted to hold every booking: the rule, pure (no HTTP).

``GET /bookings`` pages by offset. A booking made, cancelled (under a ``type`` filter) or moved in
the part of the listing already read while later pages are read shifts every later booking by one
place: one is then read twice, or one that existed the whole time is never read. A listing that
proves a booking absent (exactly-once's look-ups) or promises "every booking" (the list operator)
must not be able to miss one, whatever order the server lists in. So:

* **One page is one answer**: a listing that fits on one page is a snapshot, nothing can shift.
* **Several pages** are walked twice. A walk that read a booking twice, or whose announced count
  changed between pages, raced with a change. Two walks in a row that did not race and read the
  same bookings prove the listing: a booking that existed throughout and was missed by a walk was
  shifted by a change in the part already read, and every such change (a booking added, removed or
  moved there) either makes that walk read a booking twice or makes the two walks differ.

The order of the listing is never relied on (only NeetoCal knows it); on API v2 the hook asks for
creation order, in which new bookings land on the last page and races are rarer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: Most walks of one listing before giving up on it as still changing.
MAX_WALKS = 4


def booking_key(booking: Any) -> str:
    """What tells two listed bookings apart: the sid, or the whole entry when it has none."""
    if isinstance(booking, dict) and isinstance(booking.get("sid"), str) and booking["sid"]:
        return "sid:" + booking["sid"]
    return "entry:" + json.dumps(booking, sort_keys=True, default=str)


@dataclass
class Walk:
    """One walk over every page of a listing, as it went."""

    bookings: dict[str, Any] = field(default_factory=dict)
    pages: int = 0
    repeated: list[str] = field(default_factory=list)
    announced: set[tuple[Any, Any]] = field(default_factory=set)
    #: The sids its first page listed (bookings that existed when the walk's first answer was given).
    first_page: list[str] = field(default_factory=list)
    #: ``total_records`` as the first page announced it (``None`` when it did not).
    first_total: int | None = None

    def add_page(self, items: list[Any], pagination: dict[str, Any]) -> None:
        """Take one page's bookings and what it announced (``total_records``, ``total_pages``)."""
        self.pages += 1
        if self.pages == 1:
            self.first_page = [item["sid"] for item in items if booking_key(item).startswith("sid:")]
            total = pagination.get("total_records")
            self.first_total = total if isinstance(total, int) and not isinstance(total, bool) else None
        self.announced.add((pagination.get("total_records"), pagination.get("total_pages")))
        for item in items:
            key = booking_key(item)
            if key in self.bookings:
                self.repeated.append(key)
            self.bookings[key] = item

    def made_since_first_page(self, final: int) -> int:
        """How many bookings the listing gained (net) between this walk's first answer and a final
        count of ``final``: at least that many were made (or approved) meanwhile; 0 when unknown."""
        return max(0, final - self.first_total) if self.first_total is not None else 0

    @property
    def raced(self) -> bool:
        """Whether this walk saw the listing change under it (a booking read twice, a changed count)."""
        return bool(self.repeated) or len(self.announced) > 1

    def why_raced(self) -> str:
        if self.repeated:
            return f"{len(self.repeated)} booking(s) read twice ({self.repeated[0].split(':', 1)[-1][:40]}...)"
        if len(self.announced) > 1:
            return f"the announced count changed between pages ({sorted(map(str, self.announced))})"
        return "the bookings read differ from the previous walk's"


def proven(previous: Walk | None, current: Walk) -> bool:
    """Whether ``current`` (after ``previous``, the walk before it, if any) holds every booking."""
    if current.raced:
        return False
    if current.pages <= 1:
        return True
    return previous is not None and not previous.raced and previous.bookings.keys() == current.bookings.keys()
