"""What each error type says, word for word: the reason and what to do first, the HTTP details last.

The Airflow log viewer does not wrap lines, so the first ~90 characters of the message are what a
user reads; these tests pin that each type leads with what happened (and, where a slot is
involved, the slot in the attendee's zone), never with ``NeetoCal answered HTTP ...``.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_neetocal.exceptions import (
    FIRST_LINE_WIDTH,
    FieldProblem,
    NeetoCalApiError,
    NeetoCalAuthError,
    NeetoCalBookingClaimedError,
    NeetoCalBookingExistsError,
    NeetoCalBookingGoneError,
    NeetoCalBookingUnknownError,
    NeetoCalBulkError,
    NeetoCalClientError,
    NeetoCalConfigError,
    NeetoCalConnectionError,
    NeetoCalJournalUnreadableError,
    NeetoCalNotFoundError,
    NeetoCalOutcomeUnknownError,
    NeetoCalPaginationError,
    NeetoCalRateLimitError,
    NeetoCalServerError,
    NeetoCalValidationError,
    start_in_attendee_zone,
)

TAKEN = "The selected slot is not available: it is already booked"
BOOKING = {
    "sid": "8sqtzrs",
    "email": "eve@example.com",
    "starts_at": "2031-07-15T05:30:00.000Z",
    "time_zone": "Asia/Kolkata",
    "created_at": "2031-07-01T10:00:00.000Z",
}


def test_client_error_leads_with_neetocals_refusal_and_what_to_do() -> None:
    error = NeetoCalClientError(method="POST", endpoint="/bookings", status=422, message=TAKEN)

    assert str(error) == (
        "NeetoCal refused the request — fix it and run again; retrying the same request cannot help\n"
        "NeetoCal answered HTTP 422 to POST /bookings: The selected slot is not available: it is already booked"
    )
    assert (error.status, error.api_message, error.errors) == (422, TAKEN, [TAKEN])


def test_a_lead_from_the_operator_goes_first_and_neetocals_words_move_into_the_details() -> None:
    error = NeetoCalClientError(method="POST", endpoint="/bookings", status=422, message=TAKEN)

    error.lead_with("Slot 2031-07-15 11:00 AM (Asia/Kolkata) is already booked — pick another")

    assert str(error) == (
        "Slot 2031-07-15 11:00 AM (Asia/Kolkata) is already booked — pick another\n"
        f"NeetoCal answered HTTP 422 to POST /bookings: {TAKEN}"
    )
    assert error.args == (str(error),)
    assert isinstance(error, NeetoCalClientError)


def test_auth_error_points_at_the_connections_key() -> None:
    error = NeetoCalAuthError(
        method="GET", endpoint="/bookings", status=401, message="Could not authenticate, invalid API Key"
    )

    assert str(error) == (
        "NeetoCal refused the API key — check the connection's API key (NeetoCal → Admin panel → API Keys) and "
        "Workspace\nNeetoCal answered HTTP 401 to GET /bookings: Could not authenticate, invalid API Key"
    )


def test_not_found_error_points_at_the_slug_sid_and_workspace() -> None:
    error = NeetoCalNotFoundError(method="GET", endpoint="/bookings/abc", status=404, message="Booking not found")

    assert str(error) == (
        "Not found in this NeetoCal workspace — check the meeting slug or booking sid and the connection's Workspace\n"
        "NeetoCal answered HTTP 404 to GET /bookings/abc: Booking not found"
    )


def test_redirect_error_says_it_was_not_followed_without_a_second_advice() -> None:
    message = "redirect to 'https://elsewhere/' not followed, so the API key stays with the configured server"
    error = NeetoCalClientError(method="GET", endpoint="/bookings", status=302, message=message)

    assert str(error) == (
        "NeetoCal answered with a redirect, not followed — set the connection's Workspace / base URL to the server "
        f"NeetoCal redirects to\nNeetoCal answered HTTP 302 to GET /bookings: {message}"
    )


def test_rate_limit_error_says_how_long_neetocal_asked_to_wait() -> None:
    error = NeetoCalRateLimitError(retry_after=12.0, method="GET", endpoint="/bookings", status=429, message="slow")

    assert error.retry_after == 12.0
    assert str(error) == (
        "NeetoCal is rate-limiting this API key — send fewer requests per second; Airflow retries if the task has "
        "retries left\nNeetoCal answered HTTP 429 to GET /bookings, asking to wait 12 s: slow"
    )


def test_rate_limit_error_without_retry_after_does_not_invent_a_wait() -> None:
    error = NeetoCalRateLimitError(method="GET", endpoint="/bookings", status=429, message="")

    assert str(error) == (
        "NeetoCal is rate-limiting this API key — send fewer requests per second; Airflow retries if the task has "
        "retries left\nNeetoCal answered HTTP 429 to GET /bookings"
    )


@pytest.mark.parametrize(
    ("status", "what"),
    [
        (503, "NeetoCal had a server error"),
        (408, "NeetoCal timed out on the request"),
        (None, "NeetoCal's answer could not be used"),
    ],
)
def test_server_error_says_what_went_wrong_and_that_it_is_retried(status: int | None, what: str) -> None:
    error = NeetoCalServerError(method="GET", endpoint="/bookings", status=status, message="boom")

    details = f"NeetoCal answered HTTP {status} to GET /bookings" if status else "GET /bookings"
    assert (
        str(error) == f"{what}: boom — probably temporary: Airflow retries the task if it has retries left\n{details}"
    )


def test_server_error_without_a_message_still_leads_with_the_reason() -> None:
    error = NeetoCalServerError(method="GET", endpoint="/bookings", status=500, message="")

    assert str(error) == (
        "NeetoCal had a server error — probably temporary: Airflow retries the task if it has retries left\n"
        "NeetoCal answered HTTP 500 to GET /bookings"
    )
    assert error.errors == []


def test_pagination_error_says_the_pages_do_not_add_up() -> None:
    error = NeetoCalPaginationError(
        method="GET", endpoint="/bookings", status=None, message="page 2 repeats the items of page 1"
    )

    assert str(error) == (
        "NeetoCal's listing pages do not add up — probably temporary: Airflow retries the task if it has retries "
        "left\nGET /bookings: page 2 repeats the items of page 1"
    )


def test_connection_error_says_neetocal_was_not_reached_and_that_no_answer_came() -> None:
    error = NeetoCalConnectionError(
        request_sent=False, method="GET", endpoint="/bookings/abc", status=None, message="connection refused"
    )

    assert str(error) == (
        "Could not reach NeetoCal — check Workspace / base URL, proxy and network; Airflow retries if the task has "
        "retries left\nGET /bookings/abc: no HTTP answer: connection refused"
    )
    assert error.request_sent is False


def test_outcome_unknown_error_leads_with_may_have_been_applied_and_not_resent() -> None:
    cause = NeetoCalConnectionError(
        request_sent=True, method="POST", endpoint="/bookings", status=None, message="read timed out"
    )

    error = NeetoCalOutcomeUnknownError(cause=cause)

    assert error.cause is cause
    assert (error.method, error.endpoint, error.status, error.errors) == ("POST", "/bookings", None, ["read timed out"])
    assert str(error) == (
        "The answer was lost after sending: NeetoCal may have applied the request — not re-sent; a retry checks "
        "NeetoCal first\nCould not reach NeetoCal: read timed out (POST /bookings: no HTTP answer)"
    )


def test_brief_drops_the_advice_for_a_log_line_about_a_retry_in_progress() -> None:
    error = NeetoCalServerError(method="GET", endpoint="/bookings", status=503, message="busy")

    assert error.brief() == "NeetoCal had a server error: busy (NeetoCal answered HTTP 503 to GET /bookings)"


def test_booking_exists_error_names_the_attendee_and_the_start_in_their_zone() -> None:
    assert str(NeetoCalBookingExistsError(BOOKING)) == (
        "eve@example.com already booked at 2031-07-15 11:00 (Asia/Kolkata) — if_exists='fail' stops here; 'reuse' "
        "would adopt it\nNeetoCal booking 8sqtzrs, created 2031-07-01T10:00:00.000Z"
    )


def test_booking_claimed_error_leads_with_the_duplicate_request_in_the_attendees_zone() -> None:
    text = str(NeetoCalBookingClaimedError(BOOKING))

    assert text.startswith(
        "Duplicate request in this DAG run: eve@example.com at 2031-07-15 11:00 (Asia/Kolkata) — drop it or give "
        "it its own slot\nNeetoCal booking 8sqtzrs was created during this DAG run"
    )
    assert text.endswith("run again after those 5 minutes to reuse it")


def test_booking_unknown_error_leads_with_what_cannot_be_proven_and_that_nothing_was_sent() -> None:
    text = str(NeetoCalBookingUnknownError(reason="GET /meetings failed", sent=False))

    assert text.startswith(
        "Cannot prove NeetoCal does not already hold this booking; nothing sent — fix the look-up (below)\n"
        "GET /meetings failed. Nothing was sent"
    )
    assert text.endswith("set if_exists='create'")


def test_booking_unknown_error_after_a_send_says_the_outcome_is_unknown_and_a_retry_looks_it_up() -> None:
    text = str(NeetoCalBookingUnknownError(reason="listing failed", sent=True, cause="read timed out"))

    assert text.startswith(
        "The booking was sent but its outcome is unknown. Not sent again by this try — a retry looks it up\n"
        "The answer: read timed out; looking it up: listing failed."
    )
    assert "An Airflow retry (after retry_delay) looks it up again" in text


def test_bulk_error_leads_with_the_count_then_one_line_per_failed_row() -> None:
    failures = [{"row": 2, "email": "x@example.com", "error": "boom", "permanent": True}]

    assert (
        str(NeetoCalBulkError(failures, total=5)) == "1 of 5 NeetoCal bookings failed:\n  - row 2 (x@example.com): boom"
    )


def test_validation_error_leads_with_the_field_value_and_expected_form() -> None:
    error = NeetoCalValidationError([FieldProblem("slot_start_time", "25:00", "expected 'hh:mm AM/PM'")])

    assert str(error) == "Invalid NeetoCal booking argument slot_start_time='25:00': expected 'hh:mm AM/PM'"


def test_config_error_leads_with_the_connection_field() -> None:
    assert str(NeetoCalConfigError("host", "is empty")) == "Invalid NeetoCal connection host: is empty"


@pytest.mark.parametrize(
    "error",
    [
        NeetoCalClientError(method="POST", endpoint="/bookings", status=422, message=TAKEN),
        NeetoCalAuthError(method="GET", endpoint="/bookings", status=401, message="invalid API Key"),
        NeetoCalNotFoundError(method="GET", endpoint="/meetings/x", status=404, message="Meeting not found"),
        NeetoCalRateLimitError(retry_after=1.0, method="GET", endpoint="/bookings", status=429, message="slow"),
        NeetoCalServerError(method="GET", endpoint="/bookings", status=502, message="bad gateway"),
        NeetoCalConnectionError(request_sent=False, method="GET", endpoint="/bookings", status=None, message="x"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_no_api_error_leads_with_the_http_status(error: NeetoCalApiError) -> None:
    first, details = str(error).split("\n")

    assert "HTTP" not in first
    assert not first.startswith(("NeetoCal answered", "GET ", "POST "))
    assert details.startswith(("NeetoCal answered HTTP", "GET /bookings: no HTTP answer"))


def test_start_in_attendee_zone_falls_back_to_what_neetocal_sent() -> None:
    assert start_in_attendee_zone({"starts_at": "2031-07-15T05:30:00Z", "time_zone": "America/New_York"}) == (
        "2031-07-15 01:30 (America/New_York)"
    )
    assert start_in_attendee_zone({"starts_at": "not a date", "time_zone": "Asia/Kolkata"}) == "not a date"
    assert start_in_attendee_zone({"starts_at": "2031-07-15T05:30:00Z", "time_zone": "No/Such_Zone"}) == (
        "2031-07-15T05:30:00Z"
    )
    assert start_in_attendee_zone({"starts_at": "2031-07-15T05:30:00Z"}) == "2031-07-15T05:30:00Z"


# --- the operator's lead for a refused slot ------------------------------------------------------------------

SLOTTED = {"meeting_slug": "m", "slot_date": "2031-07-15", "slot_start_time": "02:00 PM", "time_zone": "Asia/Tokyo"}


def refusal(message: str, status: int = 422) -> NeetoCalClientError:
    return NeetoCalClientError(method="POST", endpoint="/bookings", status=status, message=message)


def test_a_taken_slot_leads_with_the_slot_in_the_attendees_zone_the_meeting_and_what_to_do() -> None:
    from airflow_provider_neetocal.operators.booking import slot_refusal_lead, slot_refusal_reason

    error = refusal(TAKEN)
    error.lead_with(slot_refusal_lead(slot_refusal_reason(error) or "", SLOTTED, "Meeting with Oliver Smith"))

    assert str(error) == (
        "Slot 2031-07-15 14:00 (Asia/Tokyo) of Meeting with Oliver Smith refused — pick another or fix what NeetoCal "
        f"names\nNeetoCal answered HTTP 422 to POST /bookings: {TAKEN}"
    )


def test_a_short_reason_that_fits_the_first_line_is_quoted_in_it() -> None:
    from airflow_provider_neetocal.operators.booking import slot_refusal_lead, slot_refusal_reason

    why = slot_refusal_reason(refusal("Slot taken."))

    assert slot_refusal_lead(why or "", SLOTTED, "Demo") == (
        "Slot 2031-07-15 14:00 (Asia/Tokyo) of Demo refused: Slot taken — pick another or fix what NeetoCal names"
    )


def test_a_slotless_refusal_names_the_first_free_slot_the_meeting_and_the_zone() -> None:
    from airflow_provider_neetocal.operators.booking import slot_refusal_lead

    assert slot_refusal_lead("No slots", {"time_zone": "UTC"}, "Demo") == (
        "First free slot of Demo (UTC) refused: No slots — open more slots or fix what NeetoCal names"
    )


@pytest.mark.parametrize(
    "error",
    [
        refusal(TAKEN, status=409),
        refusal(TAKEN, status=400),
        NeetoCalClientError(method="GET", endpoint="/bookings", status=422, message=TAKEN),
    ],
    ids=["409", "400", "a GET"],
)
def test_only_a_422_to_the_create_post_counts_as_a_refused_slot(error: NeetoCalClientError) -> None:
    from airflow_provider_neetocal.operators.booking import slot_refusal_reason

    assert slot_refusal_reason(error) is None


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (TAKEN, TAKEN),
        ("The slot is no longer available.", "The slot is no longer available"),
        ("Language can't be blank", "Language can't be blank"),
        ("", ""),
        ("two\nlines ", "two lines"),
    ],
)
def test_any_422_to_the_create_is_a_refused_slot_whatever_neetocals_words(message: str, why: str) -> None:
    from airflow_provider_neetocal.operators.booking import slot_refusal_reason

    assert slot_refusal_reason(refusal(message)) == why


def test_the_operator_leads_a_taken_slot_with_the_slot_and_the_meeting_name_it_already_listed(neetocal_conn) -> None:
    import requests_mock as rm

    from tests.unit.test_operator_exactly_once import (
        BOOKINGS,
        SLOT_TAKEN,
        context_for,
        make_operator,
        methods,
        mock_listings,
        mock_meetings,
    )

    neetocal_conn("acme")
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, status_code=422, json=SLOT_TAKEN)
        with pytest.raises(NeetoCalClientError) as raised:
            make_operator([]).execute(context_for())

    assert str(raised.value).startswith(
        "Slot 2030-07-15 13:30 (Asia/Kolkata) of Meeting with Oliver Smith refused — pick another"
    )
    assert methods(m) == ["GET /meetings", "GET /bookings", "POST /bookings"]  # the name cost no request


def test_the_operator_names_the_meeting_by_its_slug_when_nothing_listed_it(neetocal_conn) -> None:
    import requests_mock as rm

    from tests.unit.test_operator_exactly_once import BOOKINGS, SLOT_TAKEN, context_for, make_operator, methods

    neetocal_conn("acme")
    with rm.Mocker() as m:
        m.post(BOOKINGS, status_code=422, json=SLOT_TAKEN)
        with pytest.raises(NeetoCalClientError) as raised:
            make_operator([], if_exists="create").execute(context_for())

    assert str(raised.value).startswith(
        "Slot 2030-07-15 13:30 (Asia/Kolkata) of meeting-with-oliver-smith refused — pick another"
    )
    assert methods(m) == ["POST /bookings"]


# -- from the hostile review of the form and messages ---------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        NeetoCalClientError(method="POST", endpoint="/bookings", status=422, message="Email is invalid"),
        NeetoCalAuthError(method="GET", endpoint="/bookings", status=401, message="Invalid API key"),
        NeetoCalNotFoundError(method="GET", endpoint="/bookings/x1", status=404, message="Booking not found"),
        NeetoCalRateLimitError(method="GET", endpoint="/bookings", status=429, message="slow", retry_after=12.0),
        NeetoCalServerError(method="GET", endpoint="/bookings", status=503, message="boom"),
        NeetoCalConnectionError(
            method="POST", endpoint="/bookings", status=None, message="connection refused", request_sent=False
        ),
        NeetoCalOutcomeUnknownError(
            cause=NeetoCalServerError(method="POST", endpoint="/bookings", status=502, message="Bad gateway")
        ),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_api_error_survives_pickle_and_deepcopy_with_its_lead(error: NeetoCalApiError) -> None:
    import copy
    import pickle

    error.lead_with("Slot 2031-07-15 11:00 (Asia/Kolkata) is already booked")
    for copied in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(copied) is type(error)
        assert str(copied) == str(error)
        assert copied.lead == error.lead
        assert copied.status == error.status


@pytest.mark.parametrize(
    "error",
    [
        NeetoCalServerError(method="GET", endpoint="/bookings", status=408, message="Timed out."),
        NeetoCalClientError(method="POST", endpoint="/bookings", status=422, message="Email is invalid."),
        NeetoCalServerError(method="GET", endpoint="/bookings", status=503, message="Down."),
    ],
    ids=lambda error: type(error).__name__,
)
def test_neetocals_final_period_does_not_precede_the_advice_dash(error: NeetoCalApiError) -> None:
    assert ". —" not in str(error)
    assert str(error).split(" — ")[0].endswith(error.api_message.rstrip("."))


def test_neetocals_words_too_long_for_the_first_line_lead_the_second_whole() -> None:
    words = "The provided API key is invalid, expired, or lacks access to this workspace's bookings."
    error = NeetoCalAuthError(method="GET", endpoint="/bookings", status=401, message=words)

    first, details = str(error).split("\n")

    assert first == (
        "NeetoCal refused the API key — check the connection's API key (NeetoCal → Admin panel → API Keys) "
        "and Workspace"
    )
    assert details == f"NeetoCal answered HTTP 401 to GET /bookings: {words}"


def test_a_cut_message_keeps_its_ellipsis_before_the_advice() -> None:
    error = NeetoCalServerError(method="GET", endpoint="/bookings", status=503, message="a very long reason...")
    assert "a very long reason... — " in str(error)


def test_a_slot_refusal_quotes_neetocals_reason_without_its_period_and_keeps_a_long_one_off_the_first_line() -> None:
    from airflow_provider_neetocal.operators.booking import FIRST_LINE_WIDTH, slot_refusal_lead, slot_refusal_reason

    short = slot_refusal_reason(refusal("Outside the meeting's hours."))
    assert short == "Outside the meeting's hours"
    assert ". —" not in slot_refusal_lead(short, SLOTTED, "Demo")

    long_message = "The slot is no longer available: " + "#" * 400
    error = refusal(long_message)
    error.lead_with(slot_refusal_lead(slot_refusal_reason(error) or "", SLOTTED, "Demo"))
    first, details = str(error).split("\n")
    assert len(first) <= FIRST_LINE_WIDTH
    assert "#" not in first
    assert details.endswith(long_message)  # quoted whole on the next line


@pytest.mark.parametrize(
    "meeting", ["Meeting with Oliver Smith", "M" * 255, "Two\nlines", "Quarterly planning review with the whole team"]
)
@pytest.mark.parametrize(
    "payload",
    [SLOTTED, {**SLOTTED, "time_zone": "America/Argentina/ComodRivadavia"}, {"time_zone": "Asia/Kolkata"}],
    ids=["slot", "long-zone", "first-free"],
)
@pytest.mark.parametrize("message", [TAKEN, "The slot is no longer available", "", "Nope"])
def test_the_first_line_of_any_refused_create_names_slot_zone_meeting_and_fits_the_log_viewer(
    meeting: str, payload: dict[str, Any], message: str
) -> None:
    from airflow_provider_neetocal.operators.booking import FIRST_LINE_WIDTH, slot_refusal_lead, slot_refusal_reason

    error = refusal(message)
    error.lead_with(slot_refusal_lead(slot_refusal_reason(error) or "", payload, meeting))
    first, details = str(error).split("\n")

    assert len(first) <= FIRST_LINE_WIDTH
    assert f"({payload['time_zone']})" in first
    assert ("Slot 2031-07-15 14:00" if "slot_date" in payload else "First free slot of") in first
    assert " ".join(meeting.split())[:7] in first
    assert details == f"NeetoCal answered HTTP 422 to POST /bookings{': ' + message if message else ''}"


@pytest.mark.parametrize(
    "error",
    [
        NeetoCalBookingExistsError(BOOKING),
        NeetoCalBookingClaimedError(BOOKING),
        NeetoCalBookingUnknownError(reason="GET /meetings failed", sent=False),
        NeetoCalBookingUnknownError(reason="listing failed", sent=True, cause="read timed out"),
        NeetoCalBookingGoneError({**BOOKING, "status": "cancelled"}),
        NeetoCalJournalUnreadableError(key="neetocal_booking_" + "k" * 60, reason="not JSON"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_the_exactly_once_errors_lead_with_what_happened_and_what_to_do_in_a_line_that_fits(error: Exception) -> None:
    first, details = str(error).split("\n", 1)

    assert len(first) <= FIRST_LINE_WIDTH, first
    assert " — " in first  # what happened — what to do
    assert details.strip()


@pytest.mark.parametrize(
    "error",
    [
        NeetoCalValidationError(
            [
                FieldProblem(
                    "slot_start_time", "25:00", "hour 25 does not exist on a 24-hour clock: expected " + "x" * 90
                )
            ]
        ),
        NeetoCalValidationError(
            [FieldProblem("preferred_meeting_spot", "y" * 200, "not offered: expected one of a, b")]
        ),
        NeetoCalConfigError("host", "'acme corp' is not a workspace subdomain: expected " + "z" * 120),
        NeetoCalConfigError("base_url", "w" * 200),
    ],
    ids=["validation", "validation-long-value", "config", "config-no-break"],
)
def test_a_long_argument_or_connection_refusal_fits_the_first_line_and_keeps_the_problem_whole(
    error: Exception,
) -> None:
    first, details = str(error).split("\n")

    assert len(first) <= FIRST_LINE_WIDTH, first
    assert first.startswith(("Invalid NeetoCal booking argument ", "Invalid NeetoCal connection "))
    assert first.endswith(("— fix it; nothing was sent", "— fix the connection; nothing was sent"))
    problem = error.problems[0] if isinstance(error, NeetoCalValidationError) else error
    assert details == (
        str(problem) if isinstance(error, NeetoCalValidationError) else f"{error.field}: {error.problem}"
    )


def test_a_refusal_that_fits_stays_on_one_line() -> None:
    error = NeetoCalValidationError([FieldProblem("slot_start_time", "25:00", "expected 'hh:mm AM/PM'")])

    assert "\n" not in str(error)
