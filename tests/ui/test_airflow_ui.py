"""The provider in the real Airflow 3 UI, driven in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, through Selenium; nothing downloads a browser).

One throw-away Airflow per module (see ``stack.py``): the sandbox, ``airflow api-server``,
``airflow dag-processor`` and ``airflow scheduler`` (LocalExecutor) on free 127.0.0.1 ports, with a
project-local ``AIRFLOW_HOME`` under ``.airflow/ui``. Screenshots of every step go to
``artifacts/ui/``. Skips, with the reason in pytest's summary, where the browser, Selenium or a
recent enough Airflow is missing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
from packaging.version import Version

from airflow_provider_neetocal._compat import AIRFLOW_V_3_2_PLUS, AIRFLOW_VERSION
from airflow_provider_neetocal.provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from tests.conftest import ROOT
from tests.ui.stack import SANDBOX_API_KEY, AirflowStack

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.ui

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "artifacts" / "ui"
DAG_ID = "neetocal_manual_booking"
#: Opened only to read its trigger form: every field titled and described.
FOLLOWUP_DAG_ID = "neetocal_meeting_followup"
NEETOCAL = "NeetoCal"
WRONG_KEY = "not-the-sandbox-key-000"
#: Airflow releases whose Test button refuses a connection stored without a port (the UI sends port 0):
#: apache/airflow#73298, fixed from 3.4.0b1. The README and docs/ui.md say so.
PORTLESS_TEST_REFUSED = Version("3.3.1") <= Version(str(AIRFLOW_VERSION)) < Version("3.4.0b1")


def _why_no_ui_test() -> str | None:
    if not AIRFLOW_V_3_2_PLUS:
        return (
            f"the UI test drives the Airflow >= 3.2 UI, whose connection form comes from provider info; "
            f"this is Airflow {AIRFLOW_VERSION} (make test runs it on 3.3)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (it is in the provider's test dependency group)"
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not (Path(path).is_file() and os.access(path, os.X_OK))]
    if missing:
        return (
            f"{' and '.join(missing)} not found: apt-get install chromium chromium-driver "
            "(or set CHROMIUM_BINARY / CHROMEDRIVER)"
        )
    return None


_SKIP_REASON = _why_no_ui_test()
#: CI sets this after installing Chromium: a missing browser then fails the run instead of skipping.
_REQUIRED = os.environ.get("NEETOCAL_UI_TEST_REQUIRED") == "1" and AIRFLOW_V_3_2_PLUS
if _SKIP_REASON and _REQUIRED:

    def test_ui_test_can_run() -> None:
        pytest.fail(f"NEETOCAL_UI_TEST_REQUIRED=1 but the UI test cannot run: {_SKIP_REASON}")

elif _SKIP_REASON:
    pytestmark = [pytest.mark.ui, pytest.mark.skip(reason=f"UI test skipped: {_SKIP_REASON}")]


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[AirflowStack]:
    """Sandbox + API server + DAG processor + scheduler; the DAGs folder holds only the form DAG."""
    if _SKIP_REASON:  # only reached when NEETOCAL_UI_TEST_REQUIRED=1; test_ui_test_can_run fails
        pytest.skip(_SKIP_REASON)
    (ROOT / ".airflow").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="ui-", dir=ROOT / ".airflow"))  # project-local, one per run
    dags = root / "dags"
    dags.mkdir()
    for dag_id in (DAG_ID, FOLLOWUP_DAG_ID):
        shutil.copy(ROOT / "example_dags" / f"{dag_id}.py", dags)
    running = AirflowStack(home=root / "home", dags_folder=dags)
    failed_before = request.session.testsfailed
    passed = False
    try:
        running.start()
        yield running
        passed = request.session.testsfailed == failed_before
    finally:
        running.stop()
        print(f"\nUI stack timings: {', '.join(f'{k} {v:.0f} s' for k, v in running.timings.items())}")
        if passed:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"UI stack logs kept in {running.home}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="neetocal-ui-chromium-")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def shot(browser: Any) -> Callable[[str], Path]:
    def save(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        browser.save_screenshot(str(path))
        return path

    return save


def wait_until(condition: Callable[[], Any], timeout: float = 20, what: str = "the page") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except Exception:  # the element is being re-rendered; ask again
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def visible_dialog(browser: Any) -> Any:
    from selenium.webdriver.common.by import By

    return wait_until(
        lambda: next((d for d in browser.find_elements(By.CSS_SELECTOR, "[role=dialog]") if d.is_displayed()), None),
        what="a dialog",
    )


def button(container: Any, text: str) -> Any:
    from selenium.webdriver.common.by import By

    return wait_until(
        lambda: next((b for b in container.find_elements(By.CSS_SELECTOR, "button") if b.text == text), None),
        what=f"the {text!r} button",
    )


def label_of(browser: Any, element: Any) -> str:
    from selenium.webdriver.common.by import By

    labels = browser.find_elements(By.CSS_SELECTOR, f"label[for='{element.get_attribute('id')}']")
    return " ".join(label.text for label in labels).replace("*", "").strip()


def toast_after(browser: Any, action: Callable[[], None], what: str) -> str:
    """Run ``action`` and return the whole text of the first toast it raises.

    A toast slides in: its title can be visible a frame before its description is (a loaded CI
    run read "Test Connection Successful" alone), so the text counts only once the description's
    content, when the toast has one, is part of the visible text and two reads agree.
    """
    from selenium.webdriver.common.by import By

    selector = "[data-scope=toast][data-part=root]"
    before = {t.id for t in browser.find_elements(By.CSS_SELECTOR, selector)}
    action()

    def complete(toast: Any) -> str | None:
        text = str(toast.text or "")
        if not text:
            return None
        for part in toast.find_elements(By.CSS_SELECTOR, "[data-part=description]"):
            content = " ".join(str(part.get_attribute("textContent") or "").split())
            if not content or content not in " ".join(text.split()):
                return None
        return text

    seen: list[str | None] = [None]

    def settled() -> str | None:
        """The new toast's text once two reads a quarter second apart agree."""
        fresh = (t for t in browser.find_elements(By.CSS_SELECTOR, selector) if t.id not in before)
        text = next((text for t in fresh if (text := complete(t))), None)
        agreed = text if text is not None and text == seen[0] else None
        seen[0] = text
        return agreed

    return str(wait_until(settled, what=f"the toast after {what}"))


def open_connection_form(browser: Any, stack: AirflowStack, conn_id: str) -> tuple[Any, Any, Any]:
    """Admin → Connections → Add Connection, id typed and type NeetoCal chosen: (dialog, host, password)."""
    from selenium.webdriver.common.by import By

    browser.get(f"{stack.base_url}/connections")
    button(browser, "Add Connection").click()
    dialog = visible_dialog(browser)
    dialog.find_element(By.CSS_SELECTOR, "input[name=connection_id]").send_keys(conn_id)
    combobox = dialog.find_element(By.CSS_SELECTOR, "input[role=combobox]")
    combobox.click()
    combobox.send_keys("Neeto")
    option = wait_until(
        lambda: next((o for o in browser.find_elements(By.CSS_SELECTOR, "[role=option]") if o.text == NEETOCAL), None),
        what="the NeetoCal connection type",
    )
    option.click()
    host = wait_until(lambda: dialog.find_element(By.CSS_SELECTOR, "input[name=host]"), what="the Workspace field")
    return dialog, host, dialog.find_element(By.CSS_SELECTOR, "input[name=password]")


def save_connection(browser: Any, dialog: Any, conn_id: str) -> None:
    from selenium.webdriver.common.by import By

    button(dialog, "Save").click()
    wait_until(lambda: conn_id in browser.find_element(By.CSS_SELECTOR, "tbody").text, what=f"the saved {conn_id}")


def field_label(dialog: Any, label: str) -> str:
    """The whole text of the form label that names ``label``, required marker (``*``) included."""
    from selenium.webdriver.common.by import By

    return str(
        wait_until(
            lambda: next(
                (lab.text for lab in dialog.find_elements(By.CSS_SELECTOR, "label") if label in lab.text), None
            ),
            what=f"the label {label!r}",
        )
    )


def test_connection_form_offers_neetocal_with_our_fields(stack: AirflowStack, browser: Any, shot: Any) -> None:
    from selenium.webdriver.common.by import By

    dialog, host, password = open_connection_form(browser, stack, "neetocal_ui")
    shot("01-connection-form")

    placeholders = UI_FIELD_BEHAVIOUR["placeholders"]
    assert label_of(browser, host) == "Workspace"
    assert host.get_attribute("placeholder") == placeholders["host"]
    assert label_of(browser, password) == "API key"
    assert password.get_attribute("type") == "password"
    assert password.get_attribute("placeholder") == placeholders["password"]
    for hidden in ("login", "port", "schema"):
        assert not [f for f in dialog.find_elements(By.CSS_SELECTOR, f"input[name={hidden}]") if f.is_displayed()]

    host.send_keys(stack.sandbox_url)
    password.send_keys(SANDBOX_API_KEY)
    button(dialog, "Extra Fields").click()
    wait_until(lambda: dialog.find_element(By.CSS_SELECTOR, "input[name=element_timeout]").is_displayed())
    for name, spec in CONN_FIELDS.items():
        schema = spec["schema"]
        # An enum (the API version) is a dropdown: its container carries the id, its input is hidden.
        selector = f"#element_{name}" if "enum" in schema else f"input[name=element_{name}]"
        assert dialog.find_element(By.CSS_SELECTOR, selector).is_displayed()
        assert spec["label"] in dialog.text
        assert spec["description"] in dialog.text
        if "enum" in schema:
            assert schema["values_display"][schema["default"]] in dialog.text  # preselected
        # Every extra field is optional: no required marker next to its label.
        assert "*" not in field_label(dialog, spec["label"]), spec["label"]
    shot("02-connection-extra-fields")

    # The API version can be cleared (the dropdown always offers it) without the form calling it required.
    version = dialog.find_element(By.CSS_SELECTOR, "#element_api_version")
    shown_default = CONN_FIELDS["api_version"]["schema"]["values_display"]["v1"]
    assert shown_default in version.text
    version.find_element(By.CSS_SELECTOR, "[aria-label='Clear selected options']").click()
    wait_until(lambda: shown_default not in version.text, what="the API version to be cleared")
    assert "This field is required" not in dialog.text
    assert "*" not in field_label(dialog, CONN_FIELDS["api_version"]["label"])
    shot("02b-connection-api-version-cleared")

    save_connection(browser, dialog, "neetocal_ui")
    saved = stack.api("GET", "/api/v2/connections/neetocal_ui")
    assert saved["conn_type"] == "neetocal"
    assert saved["host"] == stack.sandbox_url
    assert saved["port"] is None  # the form hides the port: the connection Airflow 3.3.1/3.3.2 cannot test
    # Extra fields left empty are saved as nulls, read as "not set" (tests/unit/test_connection_form.py);
    # the cleared API version too (the hook then speaks v1).
    extra = json.loads(saved["extra"] or "{}")
    assert set(extra.values()) <= {None}
    shot("03-connection-saved")

    wrong, wrong_host, wrong_password = open_connection_form(browser, stack, "neetocal_ui_wrong_key")
    wrong_host.send_keys(stack.sandbox_url)
    wrong_password.send_keys(WRONG_KEY)
    save_connection(browser, wrong, "neetocal_ui_wrong_key")


def airflow_cli(stack: AirflowStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``airflow`` command against the test's Airflow, the way a user runs it next to the API server."""
    return subprocess.run(
        [str(stack.bin_dir / "airflow"), *args],
        env=stack.env(),
        cwd=stack.home,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def add_by_cli(stack: AirflowStack, conn_id: str, key: str, *port: str) -> None:
    added = airflow_cli(
        stack,
        "connections",
        "add",
        conn_id,
        "--conn-type",
        "neetocal",
        "--conn-host",
        stack.sandbox_url,
        "--conn-password",
        key,
        *port,
    )
    assert added.returncode == 0, added.stdout + added.stderr


def add_by_rest(stack: AirflowStack, conn_id: str, key: str, **port: int) -> None:
    body = {"connection_id": conn_id, "conn_type": "neetocal", "host": stack.sandbox_url, "password": key}
    assert stack.api("POST", "/api/v2/connections", body | port) is not None


#: Each connection the Test button is clicked on: how it was made, whether it has port 0, the right key.
TESTED = [
    ("neetocal_cli", "CLI", False, True),
    ("neetocal_cli_port0", "CLI", True, True),
    ("neetocal_cli_wrong_key", "CLI", True, False),
    ("neetocal_ui", "form", False, True),
    ("neetocal_ui_wrong_key", "form", False, False),
    ("neetocal_rest", "REST", False, True),
    ("neetocal_rest_port0", "REST", True, True),
    ("neetocal_rest_wrong_key", "REST", True, False),
]


def test_the_test_button_on_connections_made_by_cli_form_and_rest(stack: AirflowStack, browser: Any, shot: Any) -> None:
    """The Test button on connections made with ``airflow connections add``, in the form and through REST.

    On Airflow 3.3.1 and 3.3.2 a connection stored without a port answers *Bad Request* whatever its key
    (the UI sends ``port: 0``; apache/airflow#73298, fixed from 3.4.0b1): the test asserts exactly that,
    and that both documented workarounds work there: port 0 (CLI ``--conn-port 0``, REST ``"port": 0``)
    and ``airflow connections test``. On other versions every connection tests by its key.
    """
    from selenium.webdriver.common.by import By

    for conn_id, how, port0, right in TESTED:
        key = SANDBOX_API_KEY if right else WRONG_KEY
        if how == "CLI":
            add_by_cli(stack, conn_id, key, *(("--conn-port", "0") if port0 else ()))
        elif how == "REST":
            add_by_rest(stack, conn_id, key, **({"port": 0} if port0 else {}))
        stored = stack.api("GET", f"/api/v2/connections/{conn_id}")
        assert stored["port"] == (0 if port0 else None), (conn_id, stored["port"])

    browser.get(f"{stack.base_url}/connections")

    def test_button(conn_id: str) -> Any:
        rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
        row = next(r for r in rows if r.text.split()[0] == conn_id)
        return row.find_element(By.CSS_SELECTOR, "button[aria-label='Test Connection']")

    def click(conn_id: str) -> Callable[[], None]:
        return lambda: browser.execute_script("arguments[0].click()", wait_until(lambda: test_button(conn_id)))

    answers = {}
    for conn_id, how, port0, right in TESTED:
        answers[conn_id] = answer = toast_after(browser, click(conn_id), f"testing {conn_id}")
        shot(f"04-test-connection-{conn_id}")
        print(f"\nTest button, Airflow {AIRFLOW_VERSION}, {how}-made {conn_id}: {answer!r}")
        assert WRONG_KEY not in answer
        assert SANDBOX_API_KEY not in answer
        if PORTLESS_TEST_REFUSED and not port0:
            assert answer.startswith("Test Connection Failed"), (conn_id, answer)
            assert "Bad Request" in answer, (conn_id, answer)
        elif right:
            assert answer.startswith("Test Connection Successful"), (conn_id, answer)
            assert "the API key was accepted" in answer, (conn_id, answer)
        else:
            assert answer.startswith("Test Connection Failed"), (conn_id, answer)
            assert "401" in answer, (conn_id, answer)
            assert "invalid API Key" in answer, (conn_id, answer)

    # The other workaround, for a connection that cannot be given port 0 (the form hides the port):
    # the CLI's test, which does not go through the API server's check.
    good = airflow_cli(stack, "connections", "test", "neetocal_ui")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Connection success!" in good.stdout, good.stdout
    refused = airflow_cli(stack, "connections", "test", "neetocal_ui_wrong_key")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "Connection failed!" in refused.stdout, refused.stdout + refused.stderr
    assert "401" in refused.stdout, refused.stdout + refused.stderr
    assert WRONG_KEY not in refused.stdout + refused.stderr


def test_the_meeting_followup_form_titles_and_describes_every_field(stack: AirflowStack, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    from airflow_provider_neetocal._compat import dagbag_class

    params = (
        dagbag_class()(dag_folder=str(ROOT / "example_dags" / f"{FOLLOWUP_DAG_ID}.py")).get_dag(FOLLOWUP_DAG_ID).params
    )
    stack.wait_for(lambda: stack.api("GET", f"/api/v2/dags/{FOLLOWUP_DAG_ID}"), 120, f"{FOLLOWUP_DAG_ID} parsed")
    browser.get(f"{stack.base_url}/dags/{FOLLOWUP_DAG_ID}")
    wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "button[aria-label='Trigger Dag']")).click()
    dialog = visible_dialog(browser)
    for key in params:
        wait_until(lambda key=key: dialog.find_element(By.CSS_SELECTOR, f"[name=element_{key}]"))
    shown = " ".join(dialog.text.split())
    for key in params:
        param = params.get_param(key)
        assert param.schema["title"] in shown, key
        assert " ".join(str(param.description).split()) in shown, key
    labels = [" ".join(label.text.replace("*", "").split()) for label in dialog.find_elements(By.CSS_SELECTOR, "label")]
    assert not set(params) & set(labels), labels  # no raw key shown as a field's name
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "07-meeting-followup-form.png"))


#: Far from UTC (and from the meeting's own zone, Asia/Kolkata): 14:30 in Tokyo is 05:30 UTC, 11:00 IST.
ZONE, WALL_CLOCK = "Asia/Tokyo", "14:30"


def a_weekday_ahead(days: int = 21) -> dt.date:
    """A Tuesday at least ``days`` ahead: a working day for the example meeting, never in the past."""
    day = dt.date.today() + dt.timedelta(days=days)
    return day + dt.timedelta(days=(1 - day.weekday()) % 7)


def choose(dialog: Any, name: str, option: str) -> None:
    """Pick ``option`` in the form's searchable dropdown for the Param ``name``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    combobox = dialog.find_element(By.CSS_SELECTOR, f"#element_{name} input[role=combobox]")
    combobox.send_keys(option)
    combobox.send_keys(Keys.ENTER)
    hidden = dialog.find_element(By.CSS_SELECTOR, f"input[name=element_{name}]")
    wait_until(lambda: hidden.get_attribute("value"), what=f"a value for {name}")


def finished_run(stack: AirflowStack, run_id: str | None = None) -> dict[str, Any]:
    def state() -> dict[str, Any] | None:
        if run_id:
            run = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}")
        else:
            runs = (stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?order_by=-start_date&limit=1") or {}).get(
                "dag_runs"
            ) or [None]
            run = runs[0]
        return run if run and run["state"] in ("success", "failed") else None

    return dict(stack.wait_for(state, 180, "the triggered run to finish"))


def test_trigger_form_books_the_wall_clock_time_typed_in_the_attendees_zone(
    stack: AirflowStack, browser: Any, shot: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    dag = stack.wait_for(
        lambda: stack.api("GET", f"/api/v2/dags/{DAG_ID}"), 120, f"the DAG processor to parse {DAG_ID}"
    )
    assert "Trigger" in dag["description"]
    assert "w/ config" not in dag["description"]
    browser.get(f"{stack.base_url}/dags/{DAG_ID}")
    wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "button[aria-label='Trigger Dag']")).click()
    dialog = visible_dialog(browser)
    fields = {
        name: wait_until(lambda name=name: dialog.find_element(By.CSS_SELECTOR, f"[name=element_{name}]"))
        for name in ("meeting_slug", "name", "email", "time_zone", "slot_date", "slot_start_time", "guests")
    }
    text = dialog.text
    for title in (
        "Meeting",
        "Attendee name",
        "Attendee email",
        "Attendee time zone",
        "Date (in the attendee's time zone)",
        "Start time (in the attendee's time zone)",
        "Meeting spot",
    ):
        assert title in text
    assert "Date and Start time below are read in this zone, not in your browser's or Airflow's." in text
    assert "Leave Date and Start time empty to book the meeting's first free slot." in text
    # Optional fields are not marked required (a required field's title is followed by its "*").
    for title in ("Guests", "Language"):
        assert f"\n{title}\n*\n" not in text
        assert f"\n{title}\nOptional: " in text
    assert fields["meeting_slug"].get_attribute("value") == "meeting-with-oliver-smith"
    assert fields["time_zone"].get_attribute("value") == "Asia/Kolkata"
    assert fields["slot_date"].get_attribute("type") == "date"  # a date: no time, so no zone conversion
    for name, value in (("name", "Uma Interface"), ("email", "uma@example.com")):
        fields[name].send_keys(Keys.CONTROL, "a")
        fields[name].send_keys(value)
    choose(dialog, "time_zone", ZONE)
    choose(dialog, "preferred_meeting_spot", "Zoom")
    day = a_weekday_ahead()
    fields["slot_date"].send_keys(day.strftime("%m%d%Y"))  # Chromium's en-US date input: mm/dd/yyyy
    fields["slot_start_time"].send_keys(WALL_CLOCK)
    assert fields["time_zone"].get_attribute("value") == ZONE
    assert fields["slot_date"].get_attribute("value") == day.isoformat()
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", fields["slot_date"])
    shot("07-trigger-form")

    trigger = button(dialog, "Trigger")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", trigger)
    toast = toast_after(browser, trigger.click, "triggering")
    assert "Dag Run Triggered" in toast, toast

    started = time.monotonic()
    run = finished_run(stack)
    print(f"\ntriggered run finished in {time.monotonic() - started:.0f} s")
    assert run["state"] == "success", f"run {run['dag_run_id']} {run['state']}; logs under {stack.home / 'logs'}"
    assert run["conf"]["email"] == "uma@example.com"
    assert (run["conf"]["time_zone"], run["conf"]["slot_date"], run["conf"]["slot_start_time"]) == (
        ZONE,
        day.isoformat(),
        WALL_CLOCK,
    )

    (booking,) = stack.sandbox_bookings(client_email="uma@example.com")
    assert (booking["name"], booking["status"], booking["time_zone"]) == ("Uma Interface", "confirmed", ZONE)
    expected = pendulum.parse(f"{day.isoformat()}T{WALL_CLOCK}:00", tz=ZONE)
    assert pendulum.parse(booking["starts_at"]) == expected  # the instant: 05:30 UTC
    assert booking["starts_at_for_client"].startswith(f"{day.isoformat()}T{WALL_CLOCK}:00")  # as the attendee sees it
    assert booking["preferred_meeting_spot"] == "zoom"

    run_id = urllib.parse.quote(run["dag_run_id"], safe="")
    browser.get(f"{stack.base_url}/dags/{DAG_ID}/runs/{run_id}/tasks/create_booking/details")
    link = wait_until(
        lambda: next(iter(browser.find_elements(By.XPATH, "//a[normalize-space(.)='NeetoCal booking']")), None),
        what="the NeetoCal booking extra link",
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    shot("08-task-extra-link")
    assert link.get_attribute("href") == booking["admin_booking_url"]
    assert booking["admin_booking_url"].startswith(stack.sandbox_url)


def test_a_taken_slot_fails_with_the_reason_in_the_first_line_of_the_task_log(
    stack: AirflowStack, browser: Any, shot: Any
) -> None:
    """The same slot again (the previous test booked it): the log's error line leads with why and what to do."""
    from selenium.webdriver.common.by import By

    day = a_weekday_ahead()
    conf = {"email": "late@example.com", "time_zone": ZONE, "slot_date": day.isoformat(), "slot_start_time": WALL_CLOCK}
    created = stack.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
    assert created is not None, "the REST API refused the trigger"
    run = finished_run(stack, created["dag_run_id"])
    assert run["state"] == "failed"

    run_id = urllib.parse.quote(run["dag_run_id"], safe="")
    browser.get(f"{stack.base_url}/dags/{DAG_ID}/runs/{run_id}/tasks/create_booking")
    error = wait_until(
        lambda: browser.find_element(By.CSS_SELECTOR, "summary[data-testid='summary-NeetoCalClientError']"),
        30,
        what="the error in the task log",
    )
    shot("09-task-log-taken-slot")  # as a user first sees it: unwrapped, not scrolled
    first_line, *details = error.text.splitlines()
    assert first_line.startswith(
        f"NeetoCalClientError: Slot {day.isoformat()} {WALL_CLOCK} ({ZONE}) of Meeting with Oliver Smith refused "
        "— pick another"
    ), first_line
    assert "HTTP 422" not in first_line  # the details come on the next line, not past the viewer's edge
    assert any("NeetoCal answered HTTP 422 to POST /bookings" in line for line in details), details
    assert SANDBOX_API_KEY not in browser.find_element(By.TAG_NAME, "body").text
