"""Invalid input never reaches NeetoCal: checked over real HTTP against a running sandbox.

The operator validates before it builds a hook, and the hook refuses an unusable connection before
it opens a socket. Here that is proved from the outside: the sandbox records every request it
receives, so each hypothesis-generated invalid case must raise the typed error and leave
``sandbox.requests`` empty. A socket guard also fails the test if anything tries to resolve or
reach a host other than loopback. Totals are printed at the end of the module.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_neetocal.booking import build_booking_payload
from airflow_provider_neetocal.connection import api_root_url
from airflow_provider_neetocal.exceptions import NeetoCalConfigError, NeetoCalValidationError
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.operators.read import NeetoCalFindSlotsOperator, NeetoCalListBookingsOperator
from airflow_provider_neetocal.sensors.booking import NeetoCalBookingSensor
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger
from tests.conftest import TEST_API_KEY, neetocal_conn_json
from tests.unit.test_properties import CONN_TEXT, INVALID, VALID_BASE, booking_arguments, one_invalid_argument

pytestmark = pytest.mark.integration

FUZZ_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
VALID_PAYLOAD = build_booking_payload(**VALID_BASE, slot_date="2030-07-15", slot_start_time="10:00 AM")

#: Invalid cases run, requests the sandbox received for them, and non-loopback connects attempted.
COUNTS: Counter[str] = Counter({"requests_reached_api": 0, "non_loopback_lookups": 0})


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request: pytest.FixtureRequest):
    yield
    if COUNTS:
        lines = ", ".join(f"{name}={count}" for name, count in sorted(COUNTS.items()))
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(f"\n[test_bad_input_reaches_nothing] {lines}")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse (and record) any name lookup of a host other than loopback: nothing may leave the machine."""
    attempted: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in ("127.0.0.1", "localhost", "::1"):
            attempted.append(name)
            COUNTS["non_loopback_lookups"] += 1
            raise OSError(f"test guard: no traffic to {name!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield attempted
    assert attempted == []


class RecordingTI:
    """The slice of a task instance the operator touches."""

    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def operator_for(args: dict[str, Any], **kwargs: Any) -> NeetoCalCreateBookingOperator:
    """The operator for builder arguments: the builder's ``email`` is the operator's ``attendee_email``."""
    arguments = {("attendee_email" if key == "email" else key): value for key, value in args.items()}
    return NeetoCalCreateBookingOperator(task_id="book", **arguments, **kwargs)


def builder_terms(fields: list[str]) -> list[str]:
    """Field names as the builder says them (the operator names the attendee ``attendee_email``)."""
    return ["email" if field == "attendee_email" else field for field in fields]


def run_expecting_refusal(sandbox: Any, args: dict[str, Any], if_exists: str, try_number: int) -> list[str]:
    operator = operator_for(args, if_exists=if_exists)
    COUNTS["invalid_operator_runs"] += 1
    with pytest.raises(NeetoCalValidationError) as caught:
        operator.execute({"ti": RecordingTI(try_number), "dag_run": None})
    COUNTS["requests_reached_api"] += len(sandbox.requests)
    assert sandbox.requests == []
    return builder_terms(caught.value.fields)


def test_control_valid_arguments_do_reach_the_sandbox(sandbox):
    """Without this, "zero requests" could mean the operator never talked to this sandbox at all."""
    args = {**VALID_BASE, "slot_date": "2030-07-15", "slot_start_time": "10:00 AM"}

    booking = operator_for(args).execute({"ti": RecordingTI(), "dag_run": None})

    assert [r.method for r in sandbox.requests if r.path == "/bookings"][-1] == "POST"
    assert sandbox.bookings == [booking]


@st.composite
def several_invalid_arguments(draw: st.DrawFn) -> tuple[set[str], dict[str, Any]]:
    """Valid arguments with two or three replaced by invalid values (slot fields kept apart)."""
    fields = draw(
        st.sets(st.sampled_from(sorted(set(INVALID) - {"slot_date", "slot_start_time"})), min_size=2, max_size=3)
    )
    return fields, {**VALID_BASE, **{field: draw(INVALID[field]) for field in fields}}


@FUZZ_SETTINGS
@given(
    case=one_invalid_argument(),
    if_exists=st.sampled_from(["reuse", "fail", "create"]),
    try_number=st.sampled_from([1, 2]),
)
def test_an_invalid_booking_argument_fails_the_task_and_sends_no_request(sandbox, case, if_exists, try_number):
    field, args = case

    fields = run_expecting_refusal(sandbox, args, if_exists, try_number)

    assert fields == [field]


@FUZZ_SETTINGS
@given(case=several_invalid_arguments(), try_number=st.sampled_from([1, 2]))
def test_several_invalid_arguments_are_all_named_and_nothing_is_sent(sandbox, case, try_number):
    fields, args = case

    named = run_expecting_refusal(sandbox, args, "reuse", try_number)

    assert set(named) == fields


def refused_by_the_builder(args: dict[str, Any]) -> bool:
    try:
        build_booking_payload(**args)
    except NeetoCalValidationError:
        return True
    except Exception:  # a crash the unit properties report; here only clean refusals are replayed
        return False
    return False


@FUZZ_SETTINGS
@given(args=booking_arguments().filter(refused_by_the_builder))
def test_any_refused_arguments_send_nothing_through_the_operator(sandbox, args):
    run_expecting_refusal(sandbox, args, "reuse", 1)


# --- connection junk ---------------------------------------------------------------------------------


def use_connection(monkeypatch: pytest.MonkeyPatch, host: str, password: str = TEST_API_KEY, **extra: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_JUNK", neetocal_conn_json(host, password, **extra))


def expect_config_error(sandbox: Any, field: str) -> None:
    """The operator and the hook's create both refuse the connection, and the sandbox hears nothing."""
    operator = operator_for(dict(VALID_BASE), neetocal_conn_id="neetocal_junk")
    COUNTS["junk_connection_runs"] += 1
    with pytest.raises(NeetoCalConfigError) as from_operator:
        operator.execute({"ti": RecordingTI(), "dag_run": None})
    with pytest.raises(NeetoCalConfigError) as from_hook:
        NeetoCalHook("neetocal_junk").create_booking(VALID_PAYLOAD)
    ok, message = NeetoCalHook("neetocal_junk").test_connection()
    COUNTS["requests_reached_api"] += len(sandbox.requests)
    assert (from_operator.value.field, from_hook.value.field) == (field, field)
    assert field in str(from_operator.value)
    assert not ok
    # Named on the first line, or on the details line when the first says why in the form's words.
    assert f"connection {field}" in message or f"\n{field}: " in message
    assert sandbox.requests == []


@pytest.mark.parametrize("password", ["", "   "], ids=["empty", "blank"])
def test_an_empty_api_key_is_refused_before_any_request(sandbox, monkeypatch, password):
    use_connection(monkeypatch, sandbox.url, password)

    expect_config_error(sandbox, "password")


@pytest.mark.parametrize(
    "host",
    ["http://example.com", "http://10.0.0.1:8765", "http://acme.neetocal.com", "http://[2001:db8::1]:80"],
)
def test_plain_http_to_another_machine_is_refused_before_any_request(sandbox, monkeypatch, host):
    use_connection(monkeypatch, host)

    expect_config_error(sandbox, "host")


def test_plain_http_base_url_to_another_machine_is_refused_before_any_request(sandbox, monkeypatch):
    use_connection(monkeypatch, "acme", base_url="http://192.0.2.10:8765")

    expect_config_error(sandbox, "base_url")


@pytest.mark.parametrize(
    "host", ["acme_corp", "-acme", "acme-", "ac me", "a" * 64, "b\u00fccher", "acme.example.com", ""]
)
def test_a_bad_workspace_subdomain_is_refused_before_any_request(sandbox, monkeypatch, host):
    use_connection(monkeypatch, host)

    expect_config_error(sandbox, "host")


@pytest.mark.parametrize(
    "template",
    [
        "http://user:pw@127.0.0.1:{port}",
        "http://127.0.0.1:{port}/?token=x",
        "ftp://127.0.0.1:{port}",
        "http://127.0.0.1:{port}#f",
    ],
)
def test_a_loopback_url_the_rules_refuse_sends_nothing_to_the_sandbox_behind_it(sandbox, monkeypatch, template):
    port = sandbox.url.rsplit(":", 1)[1]
    use_connection(monkeypatch, "acme", base_url=template.format(port=port))

    expect_config_error(sandbox, "base_url")


def refused_host(host: Any) -> bool:
    """Hosts the rules refuse (and that a connection can hold: lone surrogates cannot be stored)."""
    try:
        host.encode("utf-8")
    except UnicodeEncodeError:
        return False
    try:
        api_root_url(host)
    except NeetoCalConfigError:
        return True
    return False


@FUZZ_SETTINGS
@given(host=CONN_TEXT.filter(refused_host))
def test_any_refused_host_sends_nothing(sandbox, monkeypatch, host):
    use_connection(monkeypatch, host)

    expect_config_error(sandbox, "host")


@pytest.mark.parametrize("workspace", ["localhost.neetocal.com", "LOCALHOST.neetocal.com."])
def test_a_workspace_named_localhost_never_sends_the_key_to_the_local_sandbox(
    sandbox, monkeypatch, loopback_only, workspace
):
    """Before the fix the hook rewrote it to http://localhost:<port>: the sandbox listening there got the key.

    Now it goes to https://localhost.neetocal.com (which the loopback guard stops at the name lookup).
    """
    port = int(sandbox.url.rsplit(":", 1)[1])
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEETOCAL_JUNK",
        json.dumps({"conn_type": "neetocal", "host": workspace, "port": port, "password": TEST_API_KEY}),
    )
    hook = NeetoCalHook("neetocal_junk")

    ok, _ = hook.test_connection()

    assert hook.base_url == f"https://localhost.neetocal.com:{port}/api/external/v1"
    assert not ok
    assert sandbox.requests == []
    assert loopback_only == ["localhost.neetocal.com"]  # the one lookup went to NeetoCal's domain, stopped
    loopback_only.clear()
    COUNTS["non_loopback_lookups"] -= 1


def test_a_loopback_address_under_the_neetocal_domain_sends_nothing(sandbox, monkeypatch):
    port = int(sandbox.url.rsplit(":", 1)[1])
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEETOCAL_JUNK",
        json.dumps({"conn_type": "neetocal", "host": "127.0.0.1.neetocal.com", "port": port, "password": "k" * 20}),
    )

    expect_config_error(sandbox, "host")


# --- issue 20: the read operators, the sensor, the event trigger -----------------------------------------


def find_slots(**overrides: Any) -> NeetoCalFindSlotsOperator:
    arguments = {"meeting_slug": "quick-sync", "date_from": "2030-01-08", "date_to": "2030-01-08", "time_zone": "UTC"}
    return NeetoCalFindSlotsOperator(task_id="slots", **{**arguments, **overrides})


@pytest.mark.parametrize(
    ("operator", "field"),
    [
        (find_slots(time_zone="Mars/Olympus"), "time_zone"),
        (find_slots(meeting_slug="None"), "meeting_slug"),
        (find_slots(meeting_slug="a/b"), "meeting_slug"),
        (find_slots(limit=True), "limit"),
        (NeetoCalListBookingsOperator(task_id="list", client_email="not-an-email"), "client_email"),
        (NeetoCalListBookingsOperator(task_id="list", host_email="host@"), "host_email"),
        (NeetoCalListBookingsOperator(task_id="list", max_xcom_bookings="10"), "max_xcom_bookings"),
        (NeetoCalListBookingsOperator(task_id="list", max_xcom_bookings=0), "max_xcom_bookings"),
    ],
    ids=lambda value: getattr(value, "task_id", value),
)
def test_a_bad_read_operator_argument_sends_nothing(sandbox, operator, field):
    with pytest.raises(NeetoCalValidationError) as caught:
        operator.execute({"ti": RecordingTI(), "dag_run": None})

    assert caught.value.fields == [field]
    assert sandbox.requests == []


def test_free_slots_on_a_dst_fall_back_day_are_all_bookable_as_they_are(sandbox):
    """quick-sync is open all day: in New York on 2030-11-03, 01:00-01:59 happens twice."""
    rows = find_slots(date_from="2030-11-03", date_to="2030-11-03", time_zone="America/New_York").execute(
        {"ti": RecordingTI(), "dag_run": None}
    )

    times = [row["slot_start_time"] for row in rows]
    assert {"12:30 AM", "02:00 AM"} <= set(times)
    assert not {"01:00 AM", "01:30 AM"} & set(times)
    for row in rows:  # what the bulk operator builds each row with
        build_booking_payload(**row, name="Ada", email="ada@example.com")
    booking = operator_for({**rows[0], "name": "Ada", "email": "ada@example.com"}).execute(
        {"ti": RecordingTI(), "dag_run": None}
    )
    assert booking["sid"]


def test_a_sensor_given_one_status_as_a_string_waits_for_that_status(sandbox):
    hook = NeetoCalHook()
    booking = hook.create_booking(VALID_PAYLOAD)
    hook.cancel_booking(booking["sid"])
    sensor = NeetoCalBookingSensor(task_id="wait", booking_sid=booking["sid"], target_statuses="cancelled")

    result = sensor.poke({"ti": RecordingTI()})

    assert result.xcom_value["status"] == "cancelled"


def test_a_bad_event_trigger_is_refused_when_built_before_any_request(sandbox):
    for arguments in ({"api_version": "v9"}, {"meeting_slug": "a/b"}, {"neetocal_conn_id": ""}):
        with pytest.raises(NeetoCalValidationError):
            NeetoCalBookingEventTrigger(**arguments)
    assert sandbox.requests == []
