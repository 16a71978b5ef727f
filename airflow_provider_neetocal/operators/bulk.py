"""The bulk path: many bookings from one task, one HTTP session, every row checked before any request."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal._compat import AirflowFailException
from airflow_provider_neetocal.booking import build_booking_payload, is_absent
from airflow_provider_neetocal.connection import DEFAULT_CONN_ID
from airflow_provider_neetocal.exactly_once import ExactlyOnce, IfExists, checked_if_exists, slot_start_utc
from airflow_provider_neetocal.exceptions import (
    FieldProblem,
    NeetoCalApiError,
    NeetoCalBookingClaimedError,
    NeetoCalBookingExistsError,
    NeetoCalBookingUnknownError,
    NeetoCalBulkClientError,
    NeetoCalBulkError,
    NeetoCalValidationError,
)
from airflow_provider_neetocal.operators.base import NeetoCalBaseOperator
from airflow_provider_neetocal.operators.booking import run_start_of

if TYPE_CHECKING:
    from airflow_provider_neetocal._compat import Context

#: Keys a row may carry: the create operator's booking arguments.
ROW_FIELDS = (
    "meeting_slug",
    "name",
    "email",
    "attendee_email",
    "time_zone",
    "slot_start",
    "slot_date",
    "slot_start_time",
    "preferred_meeting_spot",
    "form_responses",
    "metadata",
)
BOOKING_SIDS_XCOM_KEY = "booking_sids"
FAILURES_XCOM_KEY = "failures"


class NeetoCalCreateBookingsOperator(NeetoCalBaseOperator):
    """Create one NeetoCal booking per row, in one task, each exactly once.

    The alternative to mapping :class:`NeetoCalCreateBookingOperator` over rows when there are
    many: one task instance and one keep-alive HTTP session instead of one of each per booking.
    Every row is validated before the first request, so a bad row in a batch of 500 fails the task
    with the row number and field, having sent nothing. Rows are then created one by one with the
    same exactly-once rules as the single-booking operator (look-up, recovery of lost answers);
    a row NeetoCal refuses (e.g. a taken slot) does not stop the others. The task fails at the end
    if any row failed, and a retry adopts the rows already booked instead of booking them again.

    Returns a list aligned with the rows: the booking, or ``None`` for a row that failed. Also
    pushes ``booking_sids`` (aligned the same way) and ``failures`` (row, email, error).

    :param bookings: the rows: a list of mappings with the create operator's arguments
        (``name``, ``email``, ``slot_start`` or ``slot_date``/``slot_start_time``, ...), an upstream
        ``XComArg``, or a JSON string of such a list.
    :param meeting_slug: default for rows without one.
    :param time_zone: default for rows without one.
    :param preferred_meeting_spot: default for rows without one.
    :param if_exists: as for :class:`NeetoCalCreateBookingOperator`.
    :param fail_on_error: fail the task when a row failed (default); otherwise only report it.
    :param neetocal_conn_id: the ``neetocal`` connection to use.
    """

    template_fields: Sequence[str] = (
        "bookings",
        "meeting_slug",
        "time_zone",
        "preferred_meeting_spot",
        "neetocal_conn_id",
    )
    template_fields_renderers = {"bookings": "json"}
    ui_color = "#e4f1fe"

    def __init__(
        self,
        *,
        bookings: Any,
        meeting_slug: str | None = None,
        time_zone: str | None = None,
        preferred_meeting_spot: str | None = None,
        if_exists: IfExists = "reuse",
        fail_on_error: bool = True,
        neetocal_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(neetocal_conn_id=neetocal_conn_id, **kwargs)
        self.if_exists = checked_if_exists(if_exists)
        self.bookings = bookings
        self.meeting_slug = meeting_slug
        self.time_zone = time_zone
        self.preferred_meeting_spot = preferred_meeting_spot
        self.fail_on_error = fail_on_error

    def build_payloads(self) -> list[dict[str, Any]]:
        """Validate every row (with the operator's defaults) and build its payload, or raise for all."""
        rows = _rows(self.bookings)
        defaults = {
            "meeting_slug": self.meeting_slug,
            "time_zone": self.time_zone,
            "preferred_meeting_spot": self.preferred_meeting_spot,
        }
        payloads: dict[int, dict[str, Any]] = {}
        problems: list[FieldProblem] = []
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                problems.append(FieldProblem(f"bookings[{index}]", row, "expected a mapping of booking arguments"))
                continue
            unknown = sorted(set(row) - set(ROW_FIELDS))
            if unknown:
                problems.append(
                    FieldProblem(
                        f"bookings[{index}]", unknown, f"unknown keys; expected some of {', '.join(ROW_FIELDS)}"
                    )
                )
                continue
            arguments = {k: v for k, v in defaults.items() if not is_absent(v)} | dict(row)
            if "attendee_email" in arguments:
                if "email" in arguments:
                    problems.append(
                        FieldProblem(f"bookings[{index}]", row, "both email and attendee_email: give the attendee once")
                    )
                    continue
                arguments["email"] = arguments.pop("attendee_email")
            arguments.setdefault("meeting_slug", None)
            arguments.setdefault("name", None)
            arguments.setdefault("email", None)
            arguments.setdefault("time_zone", None)
            try:
                payloads[index] = build_booking_payload(**arguments)
            except NeetoCalValidationError as invalid:
                problems.extend(
                    FieldProblem(f"bookings[{index}].{p.field}", p.value, p.problem) for p in invalid.problems
                )
        problems.extend(_repeated_requests(payloads))
        if problems:
            raise NeetoCalValidationError(problems)
        return list(payloads.values())

    def execute(self, context: Context) -> list[dict[str, Any] | None]:
        """Validate all rows, then create each exactly once; report and fail at the end if any failed."""
        payloads = self.build_payloads()
        self.warn_if_retry_delay_is_short()
        once = ExactlyOnce(
            self.hook,
            if_exists=self.if_exists,
            retrying=context["ti"].try_number > 1,
            run_started=run_start_of(context),
        )
        for payload in payloads:
            once.reserve(payload)
        results: list[dict[str, Any] | None] = [None] * len(payloads)
        failures: list[dict[str, Any]] = []
        created_count = recovered_count = 0
        # Fixed-slot rows first: their look-ups are exact, so they claim their bookings before a
        # slot-less row of the same attendee could mistake one for its own.
        for index in sorted(range(len(payloads)), key=lambda i: slot_start_utc(payloads[i]) is None):
            payload = payloads[index]
            try:
                booking, created = once.obtain(payload)
            except (
                NeetoCalApiError,
                NeetoCalBookingExistsError,
                NeetoCalBookingClaimedError,
                NeetoCalBookingUnknownError,
            ) as error:
                self.log.warning("Row %d (%s) was not booked: %s", index, payload["email"], error)
                permanent = isinstance(error, AirflowFailException)
                failures.append({"row": index, "email": payload["email"], "error": str(error), "permanent": permanent})
                continue
            created_count += int(created)
            recovered_count += int(not created)
            results[index] = booking
        failures.sort(key=lambda f: f["row"])
        ti = context["ti"]
        ti.xcom_push(key=BOOKING_SIDS_XCOM_KEY, value=[b.get("sid") if b else None for b in results])
        ti.xcom_push(key=FAILURES_XCOM_KEY, value=failures)
        self.log.info(
            "NeetoCal bulk booking: %d rows, %d created, %d recovered (not created again), %d failed",
            len(payloads),
            created_count,
            recovered_count,
            len(failures),
        )
        if failures and self.fail_on_error:
            if all(f["permanent"] for f in failures):
                raise NeetoCalBulkClientError(failures, total=len(payloads))
            raise NeetoCalBulkError(failures, total=len(payloads))
        return results


def _rows(value: Any) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise NeetoCalValidationError(
                [FieldProblem("bookings", value, "a string that is not JSON: expected a list of booking rows")]
            ) from None
    # Any sequence: an upstream task's XCom arrives lazily (LazyXComSequence), not as a list.
    if isinstance(value, Mapping | str | bytes) or not isinstance(value, Sequence):
        raise NeetoCalValidationError([FieldProblem("bookings", value, "expected a list of booking rows (mappings)")])
    return list(value)


def _repeated_requests(payloads: dict[int, dict[str, Any]]) -> list[FieldProblem]:
    """Rows asking for the same booking: one booking can answer only one row, so they are refused.

    Same meeting, attendee and start; or, without a slot, the same meeting and attendee (NeetoCal
    would pick a slot for each, and a retry could not tell which booking belongs to which row).
    """
    first_row: dict[tuple[str, str, str | None], int] = {}
    problems: list[FieldProblem] = []
    for index, payload in payloads.items():
        start = slot_start_utc(payload)
        key = (
            str(payload["meeting_slug"]).lower(),
            str(payload["email"]).lower(),
            start.isoformat() if start else None,
        )
        if key in first_row:
            problems.append(
                FieldProblem(
                    f"bookings[{index}]",
                    payload["email"],
                    f"asks for the same booking as bookings[{first_row[key]}] (same meeting, attendee and "
                    f"{'start' if start else 'no slot'}): remove the duplicate row, or give each its own slot",
                )
            )
        else:
            first_row[key] = index
    return problems
