"""Read operators for reporting and planning pipelines: one booking, a listing, free slots.

Like :mod:`airflow_provider_neetocal.operators.booking`, this module imports only what building an
operator needs; the checks, the slots parser and the exception types load when a task runs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal.connection import DEFAULT_CONN_ID
from airflow_provider_neetocal.links import NeetoCalBookingLink
from airflow_provider_neetocal.operators.base import NeetoCalBaseOperator

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from airflow_provider_neetocal._compat import Context
    from airflow_provider_neetocal.exceptions import FieldProblem

#: ``type`` values ``GET /bookings`` takes.
BOOKING_TYPES = ("upcoming", "past", "cancelled", "incomplete")
#: Most bookings returned through XCom; more must go to ``output_path``.
DEFAULT_MAX_XCOM_BOOKINGS = 1000


class NeetoCalGetBookingOperator(NeetoCalBaseOperator):
    """Read one booking (``GET /bookings/{sid}``) and return it (XCom), with its link in the UI.

    :param booking_sid: the booking's sid (templated).
    :param neetocal_conn_id: the ``neetocal`` connection.
    """

    template_fields: Sequence[str] = ("booking_sid", "neetocal_conn_id")
    operator_extra_links = (NeetoCalBookingLink(),)
    ui_color = "#e0f2fe"

    def __init__(self, *, booking_sid: str, neetocal_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(neetocal_conn_id=neetocal_conn_id, **kwargs)
        self.booking_sid = booking_sid

    def execute(self, context: Context) -> dict[str, Any]:
        """Read the booking; a missing one fails the task at once (404, no retry)."""
        from airflow_provider_neetocal.booking import checked_booking_sid
        from airflow_provider_neetocal.operators.booking import push_booking_references

        booking = self.hook.get_booking(checked_booking_sid(self.booking_sid))
        push_booking_references(context, booking)
        self.log.info(
            "NeetoCal booking %s is %s, %s", booking.get("sid"), booking.get("status"), booking.get("starts_at")
        )
        return booking


class NeetoCalListBookingsOperator(NeetoCalBaseOperator):
    """List bookings (``GET /bookings``, every page) with NeetoCal's filters.

    Returns a compact summary per booking (sid, status, attendee, host, times, meeting id, reason,
    created / updated) through XCom, at most ``max_xcom_bookings`` of them; a larger listing, or
    full booking objects, go to ``output_path`` (any ``ObjectStoragePath`` URL: ``file://``,
    ``s3://``, ...), written as JSON Lines, and the task returns ``{"path", "count"}``.

    Each booking is returned once, and none that existed while the task listed is missing, even
    when the workspace changes between two pages (see :meth:`NeetoCalHook.list_bookings_complete`:
    a listing of several pages is read until two walks agree, so it costs at least twice its pages;
    a listing that keeps changing fails the task, retryably, rather than return a partial answer).

    :param type: ``upcoming``, ``past``, ``cancelled`` or ``incomplete``; all when ``None``.
    :param client_email: only this attendee's bookings.
    :param host_email: only bookings this team member hosts.
    :param output_path: write the bookings here (JSON Lines, full objects) instead of XCom (templated).
    :param max_xcom_bookings: most bookings returned through XCom (default 1000).
    """

    template_fields: Sequence[str] = ("type", "client_email", "host_email", "output_path", "neetocal_conn_id")
    ui_color = "#e0f2fe"

    def __init__(
        self,
        *,
        type: str | None = None,
        client_email: str | None = None,
        host_email: str | None = None,
        output_path: str | None = None,
        max_xcom_bookings: int = DEFAULT_MAX_XCOM_BOOKINGS,
        neetocal_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(neetocal_conn_id=neetocal_conn_id, **kwargs)
        self.type = type
        self.client_email = client_email
        self.host_email = host_email
        self.output_path = output_path
        self.max_xcom_bookings = max_xcom_bookings

    def execute(self, context: Context) -> Any:
        """Walk every page; return the summaries, or write the bookings to ``output_path``."""
        from airflow_provider_neetocal.booking import is_absent
        from airflow_provider_neetocal.booking_wait import booking_summary
        from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

        kind, client_email, host_email, most = self._checked_arguments()
        bookings = self.hook.list_bookings_complete(type=kind, client_email=client_email, host_email=host_email)
        assert bookings is not None  # only a max_pages makes it None
        if not is_absent(self.output_path):
            return self._write(bookings, str(self.output_path))
        summaries: list[dict[str, Any]] = []
        for booking in bookings:
            if len(summaries) >= most:
                raise NeetoCalValidationError(
                    [
                        FieldProblem(
                            "max_xcom_bookings",
                            self.max_xcom_bookings,
                            "the listing holds more bookings than XCom should carry: set output_path "
                            "(e.g. 'file:///data/bookings.jsonl' or an s3:// URL) or narrow the filters",
                        )
                    ]
                )
            summaries.append(booking_summary(booking))
        self.log.info(
            "Listed %d NeetoCal bookings (type=%s, client_email=%s, host_email=%s; None: not filtered)",
            len(summaries),
            kind,
            client_email,
            host_email,
        )
        return summaries

    def _checked_arguments(self) -> tuple[str | None, str | None, str | None, int]:
        """The filters and the XCom bound, every problem named before the listing sends anything.

        An address that is not one would filter the listing down to ``[]`` (read as "no bookings"),
        and a bad bound would only fail after every page had been read.
        """
        from airflow_provider_neetocal.booking import checked_email, is_absent
        from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

        problems: list[FieldProblem] = []
        kind = None if is_absent(self.type) else self.type
        if kind is not None and kind not in BOOKING_TYPES:
            problems.append(FieldProblem("type", kind, f"expected one of {', '.join(BOOKING_TYPES)}"))
        emails: dict[str, str | None] = {}
        for field in ("client_email", "host_email"):
            value = getattr(self, field)
            emails[field] = None
            if not is_absent(value):
                try:
                    emails[field] = checked_email(value, field)
                except NeetoCalValidationError as invalid:
                    problems.extend(invalid.problems)
        most = self.max_xcom_bookings
        if not isinstance(most, int) or isinstance(most, bool) or most < 1:
            problems.append(
                FieldProblem(
                    "max_xcom_bookings",
                    most,
                    "expected a whole number of 1 or more (a number, not text), e.g. 1000; "
                    "a listing larger than that goes to output_path",
                )
            )
        if problems:
            raise NeetoCalValidationError(problems)
        return kind, emails["client_email"], emails["host_email"], most

    def _write(self, bookings: Any, url: str) -> dict[str, Any]:
        from airflow_provider_neetocal._compat import ObjectStoragePath

        path = ObjectStoragePath(url)
        count = 0
        with path.open("w") as out:
            for booking in bookings:
                out.write(json.dumps(booking, ensure_ascii=False) + "\n")
                count += 1
        self.log.info("Wrote %d NeetoCal bookings to %s", count, url)
        return {"path": url, "count": count}


class NeetoCalFindSlotsOperator(NeetoCalBaseOperator):
    """Free slots of a meeting between two dates, in a time zone, as rows the booking operators take.

    Each row is ``{"meeting_slug", "slot_date", "slot_start_time", "time_zone"}``, ordered by time:
    merge in ``name`` and ``email`` and hand it to ``NeetoCalCreateBookingOperator`` (``**row``) or
    the bulk operator. One ``GET /slots/{meeting_slug}`` per calendar month of the window. v1 does not
    document the inner shape of that answer: this rests on the observed one, and an unknown shape
    fails with an error quoting it.

    :param meeting_slug: the meeting (scheduling link) slug (templated).
    :param date_from: first day, ``YYYY-MM-DD`` (templated).
    :param date_to: last day, inclusive; at most 92 days after ``date_from`` (templated).
    :param time_zone: IANA zone the days and times are in (templated).
    :param limit: return at most this many (the earliest) slots; all when ``None``.

    Every row is one the create and bulk operators accept as it is: a wall-clock time a DST change
    repeats or skips in ``time_zone`` (which ``slot_date`` + ``slot_start_time`` cannot book
    unambiguously) is left out, with a warning in the task log.
    """

    template_fields: Sequence[str] = ("meeting_slug", "date_from", "date_to", "time_zone", "neetocal_conn_id")
    ui_color = "#e0f2fe"

    def __init__(
        self,
        *,
        meeting_slug: str,
        date_from: str,
        date_to: str,
        time_zone: str,
        limit: int | None = None,
        neetocal_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(neetocal_conn_id=neetocal_conn_id, **kwargs)
        self.meeting_slug = meeting_slug
        self.date_from = date_from
        self.date_to = date_to
        self.time_zone = time_zone
        self.limit = limit

    def execute(self, context: Context) -> list[dict[str, Any]]:
        """Read each month of the window and return its free slots as rows."""
        from airflow_provider_neetocal.slots import months_of, slot_rows

        slug, zone, (start, end), limit = self._checked_arguments()
        from airflow_provider_neetocal.api_contract import get_slots

        hook = self.hook
        rows: list[dict[str, Any]] = []
        for year, month in months_of(start, end):
            days = hook.get_slots(slug, time_zone=zone, year=year, month=month)
            endpoint = get_slots(
                hook.api_version,
                time_zone=zone,
                year=year,
                month=month,
                meeting_slug=slug,
                meeting_sid=hook.meeting_sid(slug) if hook.api_version == "v2" else None,
            ).path
            found = slot_rows(days, meeting_slug=slug, time_zone=zone, start=start, end=end, endpoint=endpoint)
            rows.extend(self._bookable(found))
            if limit is not None and len(rows) >= limit:
                break
        rows = rows[:limit] if limit is not None else rows
        self.log.info("Found %d free slots of %s from %s to %s (%s)", len(rows), slug, start, end, zone)
        return rows

    def _checked_arguments(self) -> tuple[str, str, tuple[dt.date, dt.date], int | None]:
        """Every argument checked, all problems named at once, before anything is sent."""
        from airflow_provider_neetocal.booking import checked_meeting_slug, checked_time_zone
        from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError
        from airflow_provider_neetocal.slots import checked_window

        problems: list[FieldProblem] = []
        checked: dict[str, Any] = {}
        for field, check in (
            ("meeting_slug", lambda: checked_meeting_slug(self.meeting_slug)),
            ("time_zone", lambda: checked_time_zone(self.time_zone)),
            ("window", lambda: checked_window(self.date_from, self.date_to)),
        ):
            try:
                checked[field] = check()
            except NeetoCalValidationError as invalid:
                problems.extend(invalid.problems)
        limit = self.limit
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            problems.append(FieldProblem("limit", limit, "expected a whole number of at least 1 (not text), or None"))
        if problems:
            raise NeetoCalValidationError(problems)
        return checked["meeting_slug"], checked["time_zone"], checked["window"], limit

    def _bookable(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``rows`` without the wall-clock times a create refuses (a repeated or skipped hour at a DST change).

        NeetoCal takes a slot as date + wall-clock time, which on a fall-back day names two instants:
        such a slot cannot be booked unambiguously, so it is left out (and said so) rather than
        handed to a create operator that would refuse it.
        """
        from airflow_provider_neetocal.booking import wall_clock_refusal

        kept: list[dict[str, Any]] = []
        for row in rows:
            refusal = wall_clock_refusal(row["slot_date"], row["slot_start_time"], row["time_zone"])
            if refusal is None:
                kept.append(row)
            else:
                self.log.warning("Left out free slot %s %s: %s", row["slot_date"], row["slot_start_time"], refusal)
        return kept


__all__ = ["NeetoCalFindSlotsOperator", "NeetoCalGetBookingOperator", "NeetoCalListBookingsOperator"]
