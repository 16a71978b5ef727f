"""``ExactlyOnce`` around its listings: one workspace listing instead of a look-up per attendee, fresh
look-ups after a POST, what the task log says, and the look-up's reasons word for word.

Written for the survivors of mutation testing (``make mutation``): which rows count, how many pages
the listing may take, how its bookings are grouped, when it is given up, that a look-up before the
first POST reads it and one after a POST asks NeetoCal again, a booking never handed out twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pendulum
import pytest

from airflow_provider_neetocal.exactly_once import Absent, ExactlyOnce, Found, Unknowable, judge_lookup, slot_start_utc
from airflow_provider_neetocal.exceptions import (
    NeetoCalAuthError,
    NeetoCalBookingClaimedError,
    NeetoCalBookingUnknownError,
    NeetoCalClientError,
    NeetoCalOutcomeUnknownError,
    NeetoCalServerError,
)

SLUG = "meeting-with-oliver-smith"
MEETING = {"id": "m-1", "slug": SLUG, "name": "Meeting with Oliver Smith", "kind": "group"}
RUN_START = pendulum.datetime(2030, 7, 1, 12, 0, tz="UTC")
#: 01:30 PM in Asia/Kolkata on 2030-07-15 is 08:00 UTC.
SLOTTED: dict[str, Any] = {
    "meeting_slug": SLUG,
    "name": "Eve Smith",
    "email": "eve@example.com",
    "time_zone": "Asia/Kolkata",
    "slot_date": "2030-07-15",
    "slot_start_time": "01:30 PM",
}
SLOTLESS: dict[str, Any] = {k: v for k, v in SLOTTED.items() if not k.startswith("slot_")}
LOG = "test.exactly_once.listing"


def booking(**fields: Any) -> dict[str, Any]:
    """Eve's booking at the slot above, made before the run started (an earlier run's)."""
    return {
        "sid": "8sqtzrs",
        "email": "eve@example.com",
        "status": "confirmed",
        "meeting_id": "m-1",
        "starts_at": "2030-07-15T08:00:00Z",
        "created_at": "2030-06-01T12:00:00Z",
        **fields,
    }


def row(email: str, *, slotted: bool = True) -> dict[str, Any]:
    return {**(SLOTTED if slotted else SLOTLESS), "email": email}


class Hook:
    """Serves the workspace listing as told; records every request the driver makes."""

    def __init__(
        self,
        workspace: Any = (),
        *,
        fail_after: Exception | None = None,
        attendee: Any = (),
        posts: Any = (),
        meetings: Any = (MEETING,),
        answers: list[Any] | None = None,
    ) -> None:
        self.workspace = workspace
        self.fail_after = fail_after
        self.attendee = attendee  # what GET /bookings?client_email=... answers (or raises)
        self.posts = list(posts)
        self.meetings = list(meetings)
        self.answers = answers  # when given: one GET /bookings?client_email=... answer per call, in order
        self.slept: list[float] = []
        self.max_pages: list[int] = []
        self.asked_for: list[str] = []
        self.log = logging.getLogger(LOG)

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def list_bookings_complete(
        self, *, max_pages: int | None = None, client_email: str | None = None
    ) -> list[Any] | None:
        """``GET /bookings``, walked until proven: the workspace's (with ``max_pages``) or one attendee's."""
        if client_email is not None:
            return list(self.list_bookings(client_email=client_email))
        assert max_pages is not None
        walk = self.list_bookings_within(max_pages)
        return None if walk is None else list(walk)

    def list_bookings_within(self, max_pages: int) -> Iterator[dict[str, Any]] | None:
        self.max_pages.append(max_pages)
        if isinstance(self.workspace, Exception):
            raise self.workspace
        if self.workspace is None:
            return None

        def walk() -> Iterator[dict[str, Any]]:
            yield from self.workspace
            if self.fail_after is not None:
                raise self.fail_after  # a later page fails

        return walk()

    def list_bookings(self, *, client_email: str) -> list[Any]:
        self.asked_for.append(client_email)
        if self.answers is not None:
            return list(self.answers.pop(0))
        if isinstance(self.attendee, Exception):
            raise self.attendee
        return list(self.attendee)

    def list_meetings(self) -> list[dict[str, Any]]:
        return list(self.meetings)

    def create_booking(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = self.posts.pop(0)  # an IndexError: a POST nobody expected
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)


def driver(hook: Hook, **kwargs: Any) -> ExactlyOnce:
    kwargs.setdefault("run_started", RUN_START)
    return ExactlyOnce(hook, **kwargs)  # type: ignore[arg-type]


def error(kind: type, status: int) -> Exception:
    return kind(method="GET", endpoint="/bookings", status=status, message="nope")


def test_a_first_try_lists_the_workspace_once_with_half_as_many_pages_as_attendees_and_reads_it_before_sending() -> (
    None
):
    # A listing of several pages is walked twice to be proven (listing.py): half a page per attendee
    # keeps it no dearer than one look-up per attendee.
    hook = Hook([booking(email="EVE@example.com"), booking(sid="bob1", email="bob@example.com")])
    exactly_once = driver(hook)
    rows = [row("eve@example.com"), row("Eve@Example.com"), row("bob@example.com"), row("ann@example.com")]
    rows += [row("joe@example.com")]

    assert exactly_once.list_before_sending(rows)
    assert hook.max_pages == [2]  # four attendees, whatever the case of their addresses

    assert exactly_once.obtain(row("eve@example.com")) == (booking(email="EVE@example.com"), False)
    assert hook.asked_for == []  # answered from the listing, not by another GET /bookings


def test_bookings_of_attendees_outside_the_batch_are_not_kept() -> None:
    hook = Hook([booking(email="mallory@example.com")])
    exactly_once = driver(hook, if_exists="fail")

    assert exactly_once.list_before_sending([row("eve@example.com")])

    assert exactly_once._listing == {"eve@example.com": []}


def test_a_retry_never_lists_the_workspace() -> None:
    hook = Hook([booking()])

    assert driver(hook, retrying=True).list_before_sending([row("eve@example.com")]) is False
    assert hook.max_pages == []


def test_fixed_slot_rows_sent_without_a_look_up_do_not_count() -> None:
    hook = Hook([booking()])

    assert driver(hook, if_exists="create").list_before_sending([row("eve@example.com")]) is False
    assert hook.max_pages == []


def test_slotless_rows_count_even_when_nothing_is_looked_up_for_fixed_slots() -> None:
    hook = Hook([booking()])

    assert driver(hook, if_exists="create").list_before_sending(
        [row("eve@example.com", slotted=False), row("bob@example.com")]
    )
    assert hook.max_pages == [1]


def test_a_workspace_with_more_pages_than_attendees_is_not_listed() -> None:
    hook = Hook(None)
    exactly_once = driver(hook)

    assert exactly_once.list_before_sending([row("eve@example.com")]) is False
    assert exactly_once._listing is None


def test_a_listed_booking_without_an_attendee_gives_the_listing_up(caplog: pytest.LogCaptureFixture) -> None:
    hook = Hook([booking(), booking(sid="anon", email=None)])
    exactly_once = driver(hook)

    with caplog.at_level(logging.INFO, logger=LOG):
        assert exactly_once.list_before_sending([row("eve@example.com")]) is False

    assert exactly_once._listing is None
    assert [r.getMessage() for r in caplog.records] == [
        "A listed booking names no attendee; looking each attendee up instead"
    ]
    assert [r.levelno for r in caplog.records] == [logging.INFO]


@pytest.mark.parametrize(
    ("workspace", "fail_after"),
    [(error(NeetoCalServerError, 503), None), ([booking()], error(NeetoCalServerError, 503))],
    ids=["first-page", "later-page"],
)
def test_a_failed_listing_falls_back_to_one_look_up_per_attendee_with_a_warning(
    workspace: Any, fail_after: Exception | None, caplog: pytest.LogCaptureFixture
) -> None:
    hook = Hook(workspace, fail_after=fail_after)
    exactly_once = driver(hook)

    with caplog.at_level(logging.INFO, logger=LOG):
        assert exactly_once.list_before_sending([row("eve@example.com")]) is False

    assert exactly_once._listing is None
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "Could not list the workspace's bookings (NeetoCal had a server error: nope (NeetoCal answered HTTP 503 "
            "to GET /bookings)); "
            "looking each attendee up",
        )
    ]


def test_a_403_on_the_listing_falls_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    hook = Hook(error(NeetoCalAuthError, 403))
    exactly_once = driver(hook)

    with caplog.at_level(logging.INFO, logger=LOG):
        assert exactly_once.list_before_sending([row("eve@example.com")]) is False

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "Could not list the workspace's bookings (NeetoCal refused the API key: nope (NeetoCal answered HTTP 403 "
            "to GET /bookings)); "
            "looking each attendee up",
        )
    ]


def test_a_401_on_the_listing_fails_the_task_as_the_auth_error_it_is() -> None:
    with pytest.raises(NeetoCalAuthError) as raised:
        driver(Hook(error(NeetoCalAuthError, 401))).list_before_sending([row("eve@example.com")])

    assert raised.value.status == 401


def test_a_slotless_first_try_takes_its_before_sending_snapshot_from_the_listing() -> None:
    made = booking(sid="new1", starts_at="2030-07-20T08:00:00Z", created_at="2030-07-01T12:00:10Z")
    hook = Hook([booking()], posts=[made])
    exactly_once = driver(hook)
    assert exactly_once.list_before_sending([row("eve@example.com", slotted=False)])

    assert exactly_once.obtain(row("eve@example.com", slotted=False)) == (made, True)
    assert hook.asked_for == []


def test_an_explicit_look_up_asks_neetocal_afresh_even_with_a_listing() -> None:
    hook = Hook([booking()], attendee=[])
    exactly_once = driver(hook)
    assert exactly_once.list_before_sending([row("eve@example.com")])

    assert exactly_once.look_up(row("eve@example.com")) == Absent()
    assert hook.asked_for == ["eve@example.com"]


# ---- the driver around the listing ------------------------------------------------------------


def test_a_failed_listing_before_a_slotless_post_is_logged_and_the_post_still_goes_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = booking(sid="new1", created_at="2030-07-01T12:00:10Z")
    hook = Hook(attendee=error(NeetoCalServerError, 503), posts=[made])

    with caplog.at_level(logging.INFO, logger=LOG):
        assert driver(hook).obtain(row("eve@example.com", slotted=False)) == (made, True)

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "Could not list the attendee's bookings before sending (NeetoCal had a server error: nope (NeetoCal "
            "answered HTTP 503 to GET /bookings)): if the answer is lost, only creation times can tell this booking "
            "from earlier ones",
        )
    ]


def test_an_entry_of_the_listing_that_is_no_booking_makes_the_look_up_unknowable_not_a_crash() -> None:
    hook = Hook(attendee=["not a booking"])

    assert driver(hook).look_up(row("eve@example.com")) == Unknowable(
        "an entry of the listing is not a booking object (str)"
    )


def test_a_found_booking_without_a_sid_is_adopted() -> None:
    sidless = {k: v for k, v in booking().items() if k != "sid"}
    hook = Hook(attendee=[sidless])

    assert driver(hook).obtain(row("eve@example.com")) == (sidless, False)


def test_a_booking_already_handed_out_is_not_handed_out_again_even_when_a_post_answers_with_it() -> None:
    hook = Hook(posts=[booking(created_at="2030-07-01T12:00:10Z")])
    exactly_once = driver(hook)
    exactly_once.claimed.add("8sqtzrs")  # another row of the batch holds it

    with pytest.raises(NeetoCalBookingClaimedError) as raised:
        exactly_once.obtain(row("eve@example.com", slotted=False))

    assert raised.value.booking == booking(created_at="2030-07-01T12:00:10Z")


def test_a_lost_answer_never_found_says_no_booking_found_yet() -> None:
    lost = NeetoCalOutcomeUnknownError(
        cause=NeetoCalServerError(method="POST", endpoint="/bookings", status=502, message="bad gateway")
    )
    hook = Hook(posts=[lost])

    with pytest.raises(NeetoCalBookingUnknownError) as raised:
        driver(hook, settle_seconds=0).obtain(row("eve@example.com", slotted=False))

    assert raised.value.reason == "no booking found (yet)"
    assert raised.value.sent is True


def test_after_a_lost_answer_the_look_up_asks_neetocal_afresh_not_the_listing() -> None:
    lost = NeetoCalOutcomeUnknownError(
        cause=NeetoCalServerError(method="POST", endpoint="/bookings", status=502, message="bad gateway")
    )
    made = booking(created_at="2030-07-01T12:00:10Z")
    hook = Hook([], attendee=[made], posts=[lost])
    exactly_once = driver(hook)
    assert exactly_once.list_before_sending([row("eve@example.com")])

    assert exactly_once.obtain(row("eve@example.com")) == (made, False)
    assert hook.asked_for == ["eve@example.com"]  # only the look-up after the POST asked


def test_a_retry_refused_by_neetocal_judges_a_booking_that_appeared_meanwhile_by_its_creation_time() -> None:
    # Listed after the refusal, without created_at: it may be an earlier run's, so it is not adopted.
    refused = NeetoCalClientError(method="POST", endpoint="/bookings", status=422, message="slot taken")
    undated = {k: v for k, v in booking().items() if k != "created_at"}
    hook = Hook(answers=[[], [undated]], posts=[refused])

    with pytest.raises(NeetoCalBookingUnknownError) as raised:
        driver(hook, retrying=True).obtain(row("eve@example.com", slotted=False))

    assert raised.value.reason == "booking '8sqtzrs' of this attendee has no readable created_at"


# ---- what the task log says --------------------------------------------------------------------


def test_a_lost_answer_is_logged_then_each_look_up_and_the_settle_wait(caplog: pytest.LogCaptureFixture) -> None:
    lost = NeetoCalOutcomeUnknownError(
        cause=NeetoCalServerError(method="POST", endpoint="/bookings", status=502, message="bad gateway")
    )
    hook = Hook(posts=[lost])

    with caplog.at_level(logging.DEBUG, logger=LOG), pytest.raises(NeetoCalBookingUnknownError):
        driver(hook, settle_seconds=3).obtain(row("eve@example.com", slotted=False))

    assert hook.slept == [3]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, f"{lost}; looking the booking up before anything else"),
        (logging.DEBUG, "Looked the booking up: no such booking"),
        (logging.INFO, "Nothing found yet; looking again in 3 s"),
        (logging.DEBUG, "Looked the booking up: no such booking"),
    ]


def test_sending_without_proof_of_absence_under_if_exists_create_is_a_warning_saying_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = booking(sid="new1", created_at="2030-07-01T12:00:10Z")
    hook = Hook(attendee=[booking()], meetings=[], posts=[made])

    with caplog.at_level(logging.WARNING, logger=LOG):
        assert driver(hook, retrying=True, if_exists="create").obtain(row("eve@example.com")) == (made, True)

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "Cannot prove the booking absent (cannot tell: booking '8sqtzrs' of this attendee cannot be "
            "attributed: meeting 'meeting-with-oliver-smith' is not listed by GET /meetings (hidden, not visible "
            "to this API key, or another slug)); sending anyway because if_exists='create'",
        )
    ]


# ---- the look-up's reasons, word for word --------------------------------------------------------


def judge(bookings: list[Any], payload: dict[str, Any], meeting: Any = MEETING) -> Any:
    return judge_lookup(bookings, payload, meeting, run_started=RUN_START)


def test_a_candidate_for_a_meeting_get_meetings_does_not_list_is_unknowable_saying_so() -> None:
    assert judge([booking()], SLOTTED, None) == Unknowable(
        "booking '8sqtzrs' of this attendee cannot be attributed: meeting 'meeting-with-oliver-smith' is not "
        "listed by GET /meetings (hidden, not visible to this API key, or another slug)"
    )


def test_a_candidate_for_an_unlisted_meeting_leads_with_the_unknown_slug() -> None:
    for candidate in (booking(), booking(starts_at=None)):
        result = judge([candidate], SLOTTED | {"meeting_slug": "no-such-meeting"}, None)

        assert isinstance(result, Unknowable)
        assert result.lead == (
            "Meeting 'no-such-meeting' not found in this NeetoCal workspace; nothing sent — check meeting_slug"
        )


def test_a_candidate_that_names_no_meeting_is_unknowable_saying_so() -> None:
    nameless = {k: v for k, v in booking().items() if k != "meeting_id"}

    assert judge([nameless], SLOTTED) == Unknowable(
        "booking '8sqtzrs' of this attendee names no meeting (no meeting_id or meeting.name)"
    )


def test_every_doubt_is_named_separated_by_semicolons() -> None:
    assert judge([booking(sid="a", starts_at=None), booking(sid="b", starts_at="soon")], SLOTTED) == Unknowable(
        "booking 'a' of this attendee has no readable starts_at; booking 'b' of this attendee has no readable starts_at"
    )


def test_two_candidates_for_a_slotless_request_are_unknowable_naming_both() -> None:
    during_run = "2030-07-01T12:00:10Z"
    both = [booking(sid="a", created_at=during_run), booking(sid="b", created_at=during_run)]

    assert judge(both, SLOTLESS) == Unknowable(
        "2 live bookings of this attendee for meeting 'meeting-with-oliver-smith' were created during this DAG "
        "run ('a', 'b') and the request names no slot: cannot tell which one it made"
    )


def test_a_slotless_request_adopts_a_booking_without_a_readable_start() -> None:
    startless = booking(starts_at=None, created_at="2030-07-01T12:00:10Z")

    assert judge([startless], SLOTLESS) == Found(startless, made_in_this_run=True)


def test_the_requested_slot_is_in_utc_whatever_the_machine_s_time_zone() -> None:
    with pendulum.test_local_timezone(pendulum.timezone("America/New_York")):
        assert slot_start_utc(SLOTTED).isoformat() == "2030-07-15T08:00:00+00:00"
