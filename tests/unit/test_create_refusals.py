"""A refused create reads the same whatever NeetoCal's words, and a refused key sends nothing more (issue 20).

HTTP is mocked at the ``requests`` layer; ``requests_mock`` refuses any request not registered, so the
request history is exactly what was sent.
"""

from __future__ import annotations

import pytest
import requests_mock as rm

from airflow_provider_neetocal.exceptions import NeetoCalAuthError, NeetoCalClientError
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.operators.booking import FIRST_LINE_WIDTH
from tests.unit.test_operator_exactly_once import (
    BOOKINGS,
    MEETINGS,
    SLOTLESS,
    context_for,
    make_operator,
    methods,
    mock_listings,
    mock_meetings,
)

ANOTHER_WORDING = "The slot is no longer available."
REFUSED_KEY = {"error": "Could not authenticate, invalid API Key"}


@pytest.fixture(autouse=True)
def _connection(neetocal_conn) -> None:
    neetocal_conn("acme")


@pytest.mark.parametrize(
    "body",
    [
        {"error": ANOTHER_WORDING},
        {"errors": ["Slot unavailable"]},
        {"message": "Ce créneau est pris"},
        {"error": "{} {0} {meeting}"},
        {},
    ],
    ids=["another-wording", "errors-list", "other-language", "braces", "no-reason"],
)
def test_a_422_on_the_create_names_the_slot_zone_and_meeting_whatever_neetocal_says(body) -> None:
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, status_code=422, json=body)
        with pytest.raises(NeetoCalClientError) as raised:
            make_operator([]).execute(context_for())

    first, details = str(raised.value).split("\n")
    assert first.startswith("Slot 2030-07-15 13:30 (Asia/Kolkata) of Meeting with Oliver Smith refused")
    assert len(first) <= FIRST_LINE_WIDTH
    assert details.startswith("NeetoCal answered HTTP 422 to POST /bookings")
    for words in body.values():
        assert (words if isinstance(words, str) else words[0]) in details


def test_a_422_on_a_slotless_create_names_the_first_free_slot_the_meeting_and_the_zone() -> None:
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, status_code=422, json={"error": ANOTHER_WORDING})
        with pytest.raises(NeetoCalClientError) as raised:
            make_operator([], **SLOTLESS).execute(context_for())

    assert str(raised.value).splitlines()[0] == (
        "First free slot of meeting-with-oliver-smith (Asia/Kolkata) refused — open more slots or fix what "
        "NeetoCal names"
    )  # a slot-less first try looks nothing up, so the meeting is named by its slug


@pytest.mark.parametrize(
    ("refused", "slotless"),
    [("GET /meetings", False), ("GET /bookings", False), ("POST /bookings", False), ("POST /bookings", True)],
)
def test_after_a_401_the_create_sends_nothing_more(refused: str, slotless: bool) -> None:
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        method, path = refused.split()
        m.register_uri(method, f"{BOOKINGS.removesuffix('/bookings')}{path}", status_code=401, json=REFUSED_KEY)
        with pytest.raises(NeetoCalAuthError) as raised:
            make_operator([], **(SLOTLESS if slotless else {})).execute(context_for())

    sent = methods(m)
    assert sent[-1] == refused, sent  # the 401 was the last request
    assert raised.value.status == 401
    first, details = str(raised.value).split("\n")
    assert first.startswith("NeetoCal refused the API key — check the connection's API key")
    assert details.endswith("HTTP 401 to " + refused + ": Could not authenticate, invalid API Key")


def test_after_a_401_the_hook_raises_the_same_refusal_without_sending() -> None:
    hook = NeetoCalHook()
    with rm.Mocker() as m:
        m.get(BOOKINGS, status_code=401, json=REFUSED_KEY)
        with pytest.raises(NeetoCalAuthError) as first:
            list(hook.list_bookings())
        for attempt in (lambda: hook.get_booking("abc1234"), lambda: hook.create_booking({"meeting_slug": "x"})):
            with pytest.raises(NeetoCalAuthError) as again:
                attempt()
            assert str(again.value) == str(first.value)

    assert len(m.request_history) == 1


def test_a_403_is_not_a_refused_key_so_other_requests_still_go_out() -> None:
    """A 403 can be one endpoint the key may not use (e.g. GET /meetings); the create may still pass."""
    hook = NeetoCalHook()
    with rm.Mocker() as m:
        m.get(MEETINGS, status_code=403, json={"error": "Forbidden"})
        m.get(BOOKINGS, json={"bookings": [], "pagination": {"total_pages": 1}})
        with pytest.raises(NeetoCalAuthError):
            list(hook.list_meetings())
        assert list(hook.list_bookings()) == []

    assert len(m.request_history) == 2
