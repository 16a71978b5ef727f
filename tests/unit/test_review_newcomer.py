"""Hostile newcomer review of issue 20 (README path, the examples command, bad inputs): reproduced problems.

Each test states what should hold and fails on the code it was written against (``xfail(strict=True)``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from airflow_provider_neetocal import examples
from airflow_provider_neetocal.exceptions import NeetoCalValidationError

FIRST_LINE_WIDTH = 120


def test_pipeline_example_reads_its_csv_from_a_dags_folder_with_a_space(tmp_path: Path) -> None:
    """The README's one command copies the examples into any DAGs folder, quoted paths with spaces
    included; the pipeline DAG copied there must then read its own sample CSV with its default Param."""
    dags = tmp_path / "my dags"
    examples.copy_examples(dags)
    spec = importlib.util.spec_from_file_location("review_newcomer_pipeline", dags / "neetocal_pipeline.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        extract = module.attendees.operator  # the XComArg of extract_attendees()
        rows = extract.python_callable(params={"attendees_csv": module.ATTENDEES_CSV_URL})
    finally:
        sys.modules.pop(spec.name, None)
    assert rows, "the sample CSV has rows"


def test_sync_example_reads_its_csv_from_a_dags_folder_with_a_space(tmp_path: Path) -> None:
    """The daily sync example's default table URL, copied into a DAGs folder whose path has a space, is
    read by the sync operator's row loader (the same ObjectStoragePath road as the pipeline's)."""
    from airflow_provider_neetocal.operators.sync import load_rows

    dags = tmp_path / "my dags"
    examples.copy_examples(dags)
    spec = importlib.util.spec_from_file_location("review_newcomer_sync", dags / "neetocal_daily_sync.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        url = module.ONBOARDING_CSV_URL
    finally:
        sys.modules.pop(spec.name, None)
    assert " " in url
    assert load_rows(url), "the sample CSV has rows"


def test_copy_into_an_empty_destination_fails_and_writes_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    """An empty destination is a failed command substitution, not "here": the command must refuse it
    (exit status ≠ 0, saying the DAGs folder is missing) and write nothing into the working directory."""
    monkeypatch.chdir(tmp_path)

    status = examples.main(["copy", ""])

    assert status != 0
    assert list(tmp_path.iterdir()) == []


def test_copy_refusal_first_line_fits(tmp_path: Path) -> None:
    """Issue 20: every failure reads in one line without scrolling: the first line of the copy command's
    refusal (what happened, and `--force`) fits in 120 characters; the file list can follow."""
    dags = tmp_path / "home" / "alice" / "airflow" / "dags"
    examples.copy_examples(dags)

    with pytest.raises(FileExistsError) as refused:
        examples.copy_examples(dags)

    first = str(refused.value).splitlines()[0]
    assert "--force" in first
    assert len(first) <= FIRST_LINE_WIDTH, first


def test_event_trigger_refuses_a_host_email_that_is_not_an_email() -> None:
    """The trigger's docstring says its arguments are checked when built: a host_email that is no email
    address fails at DAG parse time, naming host_email, as the list operator's does."""
    from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger

    with pytest.raises(NeetoCalValidationError, match="host_email"):
        NeetoCalBookingEventTrigger(host_email="not-an-email")


@pytest.mark.parametrize(
    "address",
    ["x", "a@b", "a@b.", "@b.com", "a b@c.com", "a@b@c.com", "a@@b.com", "a\t@b.com", "", "  ", 42, ["a@b.com"]],
)
def test_whatever_the_event_trigger_refuses_as_host_email_the_list_operator_refuses_too(address: object) -> None:
    """The trigger's parse-time check is the cheap part of the list operator's rule, never stricter."""
    from airflow_provider_neetocal.booking import checked_email
    from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger

    with pytest.raises(NeetoCalValidationError, match="host_email"):
        NeetoCalBookingEventTrigger(host_email=address)
    with pytest.raises(NeetoCalValidationError):
        checked_email(address, "host_email")


@pytest.mark.parametrize("address", ["a@b.com", " a@b.com ", "ä@bü.de", "first.last+tag@sub.example.co.uk"])
def test_the_event_trigger_keeps_a_host_email_the_list_operator_accepts(address: str) -> None:
    from airflow_provider_neetocal.booking import checked_email
    from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger

    checked_email(address, "host_email")
    assert NeetoCalBookingEventTrigger(host_email=address).host_email == address


class _TI:
    try_number = 1

    def xcom_push(self, key: str, value: object) -> None:
        pass


def test_missing_api_key_first_line_says_the_api_key_is_missing(neetocal_conn) -> None:
    """A connection without a key is the first thing a newcomer gets wrong: the first line names the field as
    the form labels it (API key) and says it is missing."""
    from airflow_provider_neetocal.exceptions import NeetoCalConfigError
    from airflow_provider_neetocal.operators.read import NeetoCalListBookingsOperator

    neetocal_conn("acme", password="")

    with pytest.raises(NeetoCalConfigError) as refused:
        NeetoCalListBookingsOperator(task_id="list").execute({"ti": _TI(), "dag_run": None})

    first = str(refused.value).splitlines()[0]
    assert len(first) <= FIRST_LINE_WIDTH
    assert "API key" in first, first
    assert "no " in first or "missing" in first or "empty" in first, first


def test_plain_http_host_first_line_says_why(neetocal_conn) -> None:
    """The first line says what is wrong with the host (plain http / use https://), not only which field."""
    from airflow_provider_neetocal.exceptions import NeetoCalConfigError
    from airflow_provider_neetocal.operators.read import NeetoCalListBookingsOperator

    neetocal_conn("http://example.com")

    with pytest.raises(NeetoCalConfigError) as refused:
        NeetoCalListBookingsOperator(task_id="list").execute({"ti": _TI(), "dag_run": None})

    first = str(refused.value).splitlines()[0]
    assert len(first) <= FIRST_LINE_WIDTH
    assert "http" in first.replace("https", ""), first


def test_an_unknown_connection_extra_fails_naming_it(neetocal_conn, requests_mock) -> None:
    """A newcomer writing the extras as JSON from the README's table gets the key wrong: an unknown extra
    fails before any request, naming it and the known ones."""
    from airflow_provider_neetocal.exceptions import NeetoCalConfigError
    from airflow_provider_neetocal.operators.read import NeetoCalListBookingsOperator

    neetocal_conn("acme", read_timeout=5)

    with pytest.raises(NeetoCalConfigError, match="read_timeout"):
        NeetoCalListBookingsOperator(task_id="list").execute({"ti": _TI(), "dag_run": None})
    assert requests_mock.call_count == 0


def test_bulk_operator_module_loads_no_more_of_the_provider_than_the_create_operator() -> None:
    """A DAG file importing operators.bulk pays what one importing operators.booking pays: the payload
    builder, exactly-once machinery, journal and error classes load when a task runs, not at parse."""
    import subprocess

    probe = (
        "import sys\n"
        "try:\n    import airflow.sdk\n"  # Airflow 3: what a DAG file loads first
        "except ImportError:\n    import airflow.models.baseoperator\n"  # Airflow 2
        "import airflow_provider_neetocal.operators.booking\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_neetocal.operators.bulk\n"
        "added = set(sys.modules) - before - {'airflow_provider_neetocal.operators.bulk'}\n"
        "print('ADDED:' + ' '.join(sorted(added)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    added = next(line for line in out.splitlines() if line.startswith("ADDED:"))[len("ADDED:") :].split()

    assert added == [], added


@pytest.mark.parametrize(
    ("extra", "read_timeout"),
    [
        pytest.param(
            {"timeout": 5, "api_version": "v2", "base_url": "", "proxy": None, "ca_bundle": None}, 5, id="form"
        ),
        pytest.param({"extra__neetocal__timeout": "5"}, 5, id="airflow-2-form-prefix"),
        pytest.param({"read_timeout": ""}, 30, id="an-unknown-key-left-empty"),
    ],
)
def test_the_extras_the_connection_form_writes_are_accepted(neetocal_conn, extra, read_timeout) -> None:
    """The form's own fields (set or cleared), with Airflow 2's prefix or without, never trip the refusal."""
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

    neetocal_conn("acme", **extra)

    hook = NeetoCalHook()
    assert hook.base_url.startswith("https://acme.neetocal.com/")
    assert hook.timeout[1] == read_timeout


def test_an_unknown_extra_names_the_accepted_ones(neetocal_conn) -> None:
    from airflow_provider_neetocal.exceptions import NeetoCalConfigError
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
    from airflow_provider_neetocal.provider_info import CONN_FIELDS

    neetocal_conn("acme", apiversion="v2")

    with pytest.raises(NeetoCalConfigError) as refused:
        NeetoCalHook().base_url  # noqa: B018 - reading it resolves the connection

    first, details = str(refused.value).split("\n", 1)
    assert "'apiversion'" in first
    assert len(first) <= FIRST_LINE_WIDTH
    assert all(name in details for name in CONN_FIELDS)
