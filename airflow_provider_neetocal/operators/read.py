"""Read operators for reporting and planning pipelines: one booking, a listing, free slots."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal.booking import checked_booking_sid, is_absent
from airflow_provider_neetocal.booking_wait import booking_summary
from airflow_provider_neetocal.connection import DEFAULT_CONN_ID
from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError
from airflow_provider_neetocal.links import NeetoCalBookingLink
from airflow_provider_neetocal.operators.base import NeetoCalBaseOperator
from airflow_provider_neetocal.operators.booking import push_booking_references
from airflow_provider_neetocal.slots import checked_window, months_of, slot_rows

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_neetocal._compat import Context

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
        kind = None if is_absent(self.type) else self.type
        if kind is not None and kind not in BOOKING_TYPES:
            raise NeetoCalValidationError([FieldProblem("type", kind, f"expected one of {', '.join(BOOKING_TYPES)}")])
        bookings = self.hook.list_bookings_complete(
            type=kind,
            client_email=None if is_absent(self.client_email) else self.client_email,
            host_email=None if is_absent(self.host_email) else self.host_email,
        )
        assert bookings is not None  # only a max_pages makes it None
        if not is_absent(self.output_path):
            return self._write(bookings, str(self.output_path))
        summaries: list[dict[str, Any]] = []
        for booking in bookings:
            if len(summaries) >= self.max_xcom_bookings:
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
        self.log.info("Listed %d NeetoCal bookings", len(summaries))
        return summaries

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
        start, end = checked_window(self.date_from, self.date_to)
        problems = []
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            problems.append(FieldProblem("limit", self.limit, "expected a whole number of at least 1, or None"))
        if not isinstance(self.time_zone, str) or not self.time_zone.strip():
            problems.append(
                FieldProblem("time_zone", self.time_zone, "expected an IANA time zone, e.g. 'Europe/Paris'")
            )
        if problems:
            raise NeetoCalValidationError(problems)
        from airflow_provider_neetocal.api_contract import get_slots

        hook = self.hook
        rows: list[dict[str, Any]] = []
        for year, month in months_of(start, end):
            days = hook.get_slots(self.meeting_slug, time_zone=self.time_zone, year=year, month=month)
            endpoint = get_slots(
                hook.api_version,
                time_zone=self.time_zone,
                year=year,
                month=month,
                meeting_slug=self.meeting_slug,
                meeting_sid=hook.meeting_sid(self.meeting_slug) if hook.api_version == "v2" else None,
            ).path
            rows.extend(
                slot_rows(
                    days,
                    meeting_slug=self.meeting_slug,
                    time_zone=self.time_zone,
                    start=start,
                    end=end,
                    endpoint=endpoint,
                )
            )
            if self.limit is not None and len(rows) >= self.limit:
                break
        rows = rows[: self.limit] if self.limit is not None else rows
        self.log.info(
            "Found %d free slots of %s from %s to %s (%s)", len(rows), self.meeting_slug, start, end, self.time_zone
        )
        return rows


__all__ = ["NeetoCalFindSlotsOperator", "NeetoCalGetBookingOperator", "NeetoCalListBookingsOperator"]
