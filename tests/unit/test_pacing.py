"""Pacer: one even pace and one pause for every thread of a bulk task (a fake clock, no waiting)."""

from __future__ import annotations

import math

import pytest

from airflow_provider_neetocal.pacing import Pacer, checked_rate


class FakeClock:
    """A clock that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def pacer(clock: FakeClock, rate: float | None = None) -> Pacer:
    return Pacer(rate, clock=clock, sleep=clock.sleep)


def test_without_a_limit_or_a_pause_nobody_waits(clock):
    gate = pacer(clock)
    for _ in range(1000):
        gate.wait()
    assert clock.sleeps == []
    assert gate.requests == 1000


def test_requests_are_spaced_evenly_at_the_rate(clock):
    gate = pacer(clock, rate=10)
    starts = []
    for _ in range(5):
        gate.wait()
        starts.append(clock.now)
    assert starts == pytest.approx([100.0, 100.1, 100.2, 100.3, 100.4])


def test_no_more_than_the_rate_starts_in_any_second(clock):
    gate = pacer(clock, rate=7)
    starts = []
    for _ in range(50):
        gate.wait()
        starts.append(clock.now)
    assert max(sum(1 for t in starts if s <= t < s + 1 - 1e-9) for s in starts) == 7


def test_threads_reserving_at_once_get_successive_starts(clock):
    gate = pacer(clock, rate=4)
    # Four threads ask at the same instant: each is told a later start than the one before.
    assert [gate.reserve() for _ in range(4)] == pytest.approx([0.0, 0.25, 0.5, 0.75])


def test_an_idle_gap_does_not_bank_a_burst(clock):
    gate = pacer(clock, rate=2)
    gate.wait()
    clock.now += 10  # nothing sent for ten seconds
    assert [gate.reserve() for _ in range(3)] == pytest.approx([0.0, 0.5, 1.0])


def test_a_pause_holds_every_request_until_it_ends(clock):
    gate = pacer(clock)
    gate.pause(2.0)
    assert gate.paused()
    assert [gate.reserve() for _ in range(3)] == [2.0, 2.0, 2.0]
    gate.wait()
    assert clock.now == 102.0
    assert not gate.paused()


def test_a_pause_then_the_rate_spaces_the_restart(clock):
    gate = pacer(clock, rate=10)
    gate.pause(1.0)
    assert [gate.reserve() for _ in range(3)] == pytest.approx([1.0, 1.1, 1.2])


def test_a_shorter_pause_does_not_cut_a_longer_one(clock):
    gate = pacer(clock)
    gate.pause(5.0)
    gate.pause(1.0)
    assert gate.reserve() == 5.0
    assert gate.pauses == 2
    assert gate.paused_seconds == 5.0


def test_a_thread_whose_start_fell_in_a_new_pause_queues_again(clock):
    gate = pacer(clock, rate=1)
    gate.wait()  # the first request goes at once; the next start is a second later
    original_sleep = clock.sleep

    def sleep_while_a_429_arrives(seconds: float) -> None:
        original_sleep(seconds)
        if len(clock.sleeps) == 1:
            gate.pause(3.0)  # another worker met a 429 just as this one woke up

    gate._sleep = sleep_while_a_429_arrives
    gate.wait()
    assert clock.now == pytest.approx(104.0)  # woke at 101, paused until 104, then sent
    assert gate.requests == 2


@pytest.mark.parametrize("seconds", [0, -1, math.inf, math.nan])
def test_a_pause_of_no_finite_length_is_ignored(clock, seconds):
    gate = pacer(clock)
    gate.pause(seconds)
    assert not gate.paused()
    assert gate.pauses == 0


@pytest.mark.parametrize("value", [0, -5, math.inf, math.nan, True, "10"])
def test_a_rate_must_be_a_positive_number(value):
    with pytest.raises(ValueError, match="max_requests_per_second"):
        checked_rate(value)


@pytest.mark.parametrize("value", [5e-324, 1e-300, 0.001, 0.0099])
def test_a_rate_slower_than_one_request_every_100_s_is_refused(value):
    # 5e-324 once passed and made the interval infinite: the task crashed in time.sleep(inf).
    with pytest.raises(ValueError, match=r"from 0\.01"):
        checked_rate(value)


def test_the_slowest_rate_accepted_is_one_request_every_100_s():
    assert checked_rate(0.01) == 0.01


def test_no_rate_means_no_limit():
    assert checked_rate(None) is None
    assert checked_rate(5) == 5.0


# ---- the hook consults it ----------------------------------------------------------------------------

API = "https://acme.neetocal.com/api/external/v1"


def test_the_hook_asks_the_pacer_before_every_request_and_a_429_pauses_it(neetocal_conn, clock):
    import requests_mock as rm

    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

    neetocal_conn("acme")
    gate = pacer(clock)
    hook = NeetoCalHook(pacer=gate)
    hook._sleep = clock.sleep
    with rm.Mocker() as m:
        m.get(
            f"{API}/bookings/abc1234",
            [
                {"status_code": 429, "headers": {"Retry-After": "7"}, "json": {"error": "slow down"}},
                {"json": {"sid": "x"}},
            ],
        )
        assert hook.get_booking("abc1234") == {"sid": "x"}
    assert gate.requests == 2  # the first try and the retry both passed the gate
    assert gate.pauses == 1
    assert gate.paused_seconds == 7.0
    assert clock.sleeps == [7.0]  # the worker that met the 429 waited once, not twice


def test_rows_of_one_attendee_form_one_group_fixed_slots_first():
    from airflow_provider_neetocal.operators.bulk import attendee_groups

    payloads = [
        {"email": "eve@example.com"},  # slot-less
        {"email": "sam@example.com", "slot_date": "2031-01-06", "slot_start_time": "10:00 AM", "time_zone": "UTC"},
        {"email": "EVE@example.com", "slot_date": "2031-01-06", "slot_start_time": "11:00 AM", "time_zone": "UTC"},
        {"email": "ann@example.com"},
    ]
    assert attendee_groups(payloads) == [[2, 0], [1], [3]]
