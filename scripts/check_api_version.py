"""Check a NeetoCal API version against a real (test) workspace: book, read, reschedule and cancel one booking.

For what the provider cannot know from NeetoCal's documentation (see docs/api-versions.md): whether
API v2 answers a single booking bare or as ``{"booking": {...}}``, which status a create answers, and
whether each call takes what the provider sends. Every request is one the provider's contract module
(``airflow_provider_neetocal.api_contract``) builds, sent once (no retries) through the hook's session
(its key header, timeouts, no redirects); every answer is printed raw, status and body, with the key
removed. The booking it makes is cancelled at the end, also when a step in between fails.

    export NEETOCAL_API_KEY=...   # a key of a TEST workspace: this books (and cancels) a real meeting
    python scripts/check_api_version.py --workspace acme --api-version v2 --meeting-slug my-test-meeting

Exit status 0 when every step answered 2xx, 1 otherwise, 2 for bad arguments. Works against the
local sandbox too (``--base-url http://127.0.0.1:8765``), which is how it is tested.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

CONN_ID = "neetocal_api_check"
KEY_ENV = "NEETOCAL_API_KEY"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--workspace", help="workspace subdomain, e.g. acme for https://acme.neetocal.com")
    target.add_argument("--base-url", help="origin of a NeetoCal-compatible server, e.g. http://127.0.0.1:8765")
    parser.add_argument("--api-version", default="v2", help="v1 or v2 (default: %(default)s)")
    parser.add_argument("--meeting-slug", required=True, help="slug of a scheduling link of the test workspace")
    parser.add_argument("--attendee-email", default="neetocal-api-check@example.com", help="who is booked")
    parser.add_argument("--time-zone", default="UTC", help="IANA zone the slots are read in (default: %(default)s)")
    parser.add_argument("--days-ahead", type=int, default=1, help="look for slots from this many days on (default: 1)")
    parser.add_argument("--api-key", help=f"the API key (better: the {KEY_ENV} environment variable)")
    return parser


@contextlib.contextmanager
def temporary_connection(host: str, api_key: str, api_version: str) -> Iterator[str]:
    """An ``AIRFLOW_CONN_*`` for the hook, removed again on the way out."""
    variable = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    previous = os.environ.get(variable)
    conn = {"conn_type": "neetocal", "host": host, "password": api_key, "extra": {"api_version": api_version}}
    os.environ[variable] = json.dumps(conn)
    try:
        yield CONN_ID
    finally:
        if previous is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous


class Checker:
    """Sends contract calls once each and prints what came back."""

    def __init__(self, hook: Any, out: Any) -> None:
        self.hook = hook
        self.out = out
        self.failures: list[str] = []
        self.findings: list[str] = []

    def send(self, step: str, call: Any) -> tuple[int | None, Any]:
        """Send ``call`` once; print the step, the request (no key) and the raw answer."""
        query = f"?{'&'.join(f'{k}={v}' for k, v in call.query.items())}" if call.query else ""
        print(f"\n== {step}: {call.method} {self.hook.base_url}{call.path}{query}", file=self.out)
        if call.json is not None:
            print(f"   body: {json.dumps(call.json)}", file=self.out)
        try:
            response = self.hook.session.request(
                call.method,
                self.hook.base_url + call.path,
                params=call.query or None,
                json=call.json,
                timeout=self.hook.timeout,
                allow_redirects=False,
            )
        except Exception as error:  # a check script reports, whatever happened
            print(f"   no answer: {self.hook._redact(str(error))}", file=self.out)
            self.failures.append(f"{step}: no answer")
            return None, None
        text = self.hook._redact(response.text)
        print(f"   -> HTTP {response.status_code} {response.reason}", file=self.out)
        try:
            body: Any = json.loads(text) if text.strip() else None
            print("   " + json.dumps(body, indent=2).replace("\n", "\n   "), file=self.out)
        except ValueError:
            body = None
            print(f"   (not JSON) {text[:2000]}", file=self.out)
        if not 200 <= response.status_code < 300:
            self.failures.append(f"{step}: HTTP {response.status_code}")
        return response.status_code, body

    def note_booking_shape(self, step: str, status: int | None, body: Any) -> None:
        """What the answer's body is: a bare booking (a ``sid`` at the top), a wrapped one (a ``booking``
        object holding it, the rule ``api_contract.booking_of`` reads by), or no booking at all."""
        if not isinstance(body, dict):
            return
        inner = body.get("booking")
        if isinstance(body.get("sid"), str) and body["sid"]:
            shape = "booking answered bare"
        elif isinstance(inner, dict) and isinstance(inner.get("sid"), str) and inner["sid"]:
            others = sorted(set(body) - {"booking"})
            shape = 'booking answered wrapped {"booking": ...}' + (f" beside {others}" if others else "")
        else:
            shape = f"no booking in the answer (keys: {sorted(body) or 'none'})"
        self.findings.append(f"{step}: HTTP {status}, {shape}")


def free_slots(days: list[Any], start: dt.date) -> list[tuple[str, str]]:
    """``(date, "hh:mm AM/PM")`` of every free slot from ``start`` on, read as the provider reads slots
    (:func:`airflow_provider_neetocal.slots.slot_rows`: the observed shapes, full slots left out)."""
    from airflow_provider_neetocal.slots import slot_rows

    rows = slot_rows(days, meeting_slug="-", time_zone="UTC", start=start, end=dt.date.max)
    return [(row["slot_date"], row["slot_start_time"]) for row in rows]


def main(argv: Sequence[str] | None = None, out: Any = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    api_key = args.api_key or os.environ.get(KEY_ENV, "")
    if not api_key.strip():
        parser.error(f"no API key: set {KEY_ENV} (or --api-key)")

    from airflow_provider_neetocal import api_contract as contract
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

    try:
        version = contract.checked_api_version(args.api_version, "--api-version")
    except Exception as error:
        parser.error(str(error))
    with temporary_connection(args.base_url or args.workspace, api_key, version) as conn_id:
        hook = NeetoCalHook(conn_id)
        checker = Checker(hook, out)
        print(f"Checking NeetoCal API {version} at {hook.base_url} with meeting {args.meeting_slug!r}", file=out)
        try:
            return run_checks(checker, contract, version, args)
        finally:
            hook.close()


def run_checks(checker: Checker, contract: Any, version: str, args: argparse.Namespace) -> int:
    hook = checker.hook
    meeting_sid = None
    if version == "v2":
        try:
            meeting_sid = hook.meeting_sid(args.meeting_slug)
        except Exception as error:
            print(f"\ncannot find the meeting's sid through GET /meetings: {error}", file=checker.out)
            return 1
        print(f"\nmeeting {args.meeting_slug!r} has sid {meeting_sid!r} (GET /meetings)", file=checker.out)
    start = dt.date.today() + dt.timedelta(days=args.days_ahead)
    slots: list[tuple[str, str]] = []
    for month_start in (start, (start.replace(day=1) + dt.timedelta(days=32)).replace(day=1)):
        call = contract.get_slots(
            version,
            time_zone=args.time_zone,
            year=month_start.year,
            month=month_start.month,
            meeting_slug=args.meeting_slug,
            meeting_sid=meeting_sid,
        )
        _, body = checker.send(f"slots {month_start:%Y-%m}", call)
        days = contract.slot_days_of(body) if isinstance(body, dict) else []
        slots += free_slots(days, start)
        if len(slots) >= 2:
            break
    if len(slots) < 2:
        print("\nfewer than two free slots found (or their shape is not {time: ...}): cannot go on", file=checker.out)
        return 1
    (first_date, first_time), (new_date, new_time) = slots[0], slots[1]
    payload = {
        "meeting_slug": args.meeting_slug,
        "name": "NeetoCal API check",
        "email": args.attendee_email,
        "time_zone": args.time_zone,
        "slot_date": first_date,
        "slot_start_time": first_time,
    }
    status, body = checker.send("create", contract.create_booking(version, payload))
    checker.note_booking_shape("create", status, body)
    booking = contract.booking_of(version, body) if isinstance(body, dict) else {}
    sid = booking.get("sid")
    if not isinstance(sid, str) or not sid:
        print("\nno booking sid in the create answer: stopping (check the workspace for a booking)", file=checker.out)
        return 1
    try:
        status, body = checker.send("get", contract.get_booking(version, sid))
        checker.note_booking_shape("get", status, body)
        move = {"slot_date": new_date, "slot_start_time": new_time, "time_zone": args.time_zone}
        if version == "v1":
            move |= {"name": payload["name"], "email": payload["email"]}
        status, body = checker.send(
            "reschedule", contract.reschedule_booking(version, sid, move, contract.booking_of(version, body or {}))
        )
        checker.note_booking_shape("reschedule", status, body)
    finally:
        status, body = checker.send("cancel", contract.cancel_booking(version, sid, "NeetoCal API check"))
        checker.note_booking_shape("cancel", status, body)
        status, body = checker.send("get after cancel", contract.get_booking(version, sid))
        final = contract.booking_of(version, body) if isinstance(body, dict) else {}
        checker.findings.append(f"after cancel: status {final.get('status')!r}")
    print("\n== findings", file=checker.out)
    for line in checker.findings:
        print(f"   {line}", file=checker.out)
    if checker.failures:
        print("== failed steps: " + "; ".join(checker.failures), file=checker.out)
        return 1
    print("== every step answered 2xx", file=checker.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
