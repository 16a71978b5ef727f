"""The only code that speaks HTTP to NeetoCal."""

from __future__ import annotations

import datetime as dt
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from airflow_provider_neetocal import __version__
from airflow_provider_neetocal._compat import BaseHook, mask_secret_of_any_length
from airflow_provider_neetocal.connection import api_root_url
from airflow_provider_neetocal.exceptions import (
    FieldProblem,
    NeetoCalApiError,
    NeetoCalAuthError,
    NeetoCalClientError,
    NeetoCalConfigError,
    NeetoCalConnectionError,
    NeetoCalNotFoundError,
    NeetoCalOutcomeUnknownError,
    NeetoCalRateLimitError,
    NeetoCalServerError,
    NeetoCalValidationError,
    error_messages_from_body,
)
from airflow_provider_neetocal.recovery import find_matching_booking
from airflow_provider_neetocal.retries import RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from collections.abc import Iterator

#: ``(connect, read)`` seconds. A booking POST does real work server-side (calendar checks,
#: invitations), hence the generous read timeout.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 30.0)
#: Largest page NeetoCal serves; fewer round trips when iterating over every booking.
MAX_PAGE_SIZE = 100
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_NO_RETRIES = RetryPolicy(max_retries=0, max_rate_limit_waits=0)


class NeetoCalHook(BaseHook):
    """Talk to the NeetoCal external API v1 with the credentials of a ``neetocal`` connection.

    One ``requests.Session`` per hook carries the ``X-Api-Key`` header, JSON content negotiation
    and a ``User-Agent`` naming this provider; every request has explicit connect/read timeouts.
    The hook retries by itself only where repeating cannot duplicate a booking (see
    :mod:`airflow_provider_neetocal.retries`) and turns every failure into a typed
    :mod:`~airflow_provider_neetocal.exceptions` error that quotes NeetoCal's own message.

    :param neetocal_conn_id: the ``neetocal`` connection holding the workspace and API key.
    :param timeout: ``(connect, read)`` seconds, or one number for both. The connection extra
        ``timeout`` overrides the default but not an explicit argument.
    :param retry_policy: bounds of the hook's own retries.
    """

    conn_name_attr = "neetocal_conn_id"
    default_conn_name = "neetocal_default"
    conn_type = "neetocal"
    hook_name = "NeetoCal"

    def __init__(
        self,
        neetocal_conn_id: str = default_conn_name,
        *,
        timeout: float | tuple[float, float] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.neetocal_conn_id = neetocal_conn_id
        self._timeout_arg = timeout
        self.retry_policy = retry_policy or RetryPolicy()
        self._sleep = time.sleep
        self._meetings: dict[str, dict[str, Any] | None] = {}

    # -- Airflow connection form (Airflow 2.x and 3.0/3.1; 3.2+ reads provider info) ----------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Show only Workspace and API key, relabelled, with placeholders."""
        from airflow_provider_neetocal.provider_info import hook_field_behaviour

        return hook_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields stored in the connection's ``extra`` (advanced base URL, timeout)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField
        from wtforms.validators import Optional

        from airflow_provider_neetocal.provider_info import CONN_FIELDS

        return {
            name: StringField(
                lazy_gettext(spec["label"]),
                widget=BS3TextFieldWidget(),
                validators=[Optional()],
                description=spec.get("description", ""),
            )
            for name, spec in CONN_FIELDS.items()
        }

    # -- connection --------------------------------------------------------------------------

    @cached_property
    def _connection_settings(self) -> tuple[str, str, tuple[float, float]]:
        conn = self.get_connection(self.neetocal_conn_id)
        extra = conn.extra_dejson or {}
        api_key = (conn.password or "").strip()
        if not api_key:
            raise NeetoCalConfigError(
                "password",
                f"connection {self.neetocal_conn_id!r} has no API key: put it in the API key (password) "
                "field; generate one in NeetoCal under Admin panel → API Keys",
            )
        mask_secret_of_any_length(api_key)
        base_url = api_root_url(conn.host, conn.port, extra.get("base_url"))
        return base_url, api_key, _timeout(self._timeout_arg, extra.get("timeout"))

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://acme.neetocal.com/api/external/v1``."""
        return self._connection_settings[0]

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeout in seconds used for every request."""
        return self._connection_settings[2]

    @cached_property
    def session(self) -> requests.Session:
        """The hook's HTTP session (created on first use)."""
        _, api_key, _ = self._connection_settings
        session = requests.Session()
        session.headers.update(
            {
                "X-Api-Key": api_key,
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": f"airflow-provider-neetocal/{__version__} {requests.utils.default_user_agent()}",
            }
        )
        # Retries are decided per request by RetryPolicy; urllib3 must never repeat on its own.
        adapter = HTTPAdapter(max_retries=0, pool_maxsize=16)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def get_conn(self) -> requests.Session:
        """Return the configured ``requests.Session`` (Airflow's conventional hook accessor)."""
        return self.session

    def close(self) -> None:
        """Close pooled connections; the hook reopens them if used again."""
        if "session" in self.__dict__:
            self.__dict__.pop("session").close()

    # -- bookings ----------------------------------------------------------------------------

    def create_booking(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``POST /bookings``: create a booking and return it as NeetoCal answered.

        Never re-sent after the request may have reached NeetoCal: a read timeout, dropped
        connection or 5xx raises :class:`NeetoCalOutcomeUnknownError` so the caller can look the
        booking up instead of creating a duplicate.
        """
        return self._request_object("POST", "/bookings", json=payload)

    def create_booking_once(
        self,
        payload: dict[str, Any],
        *,
        created_since: dt.datetime | None = None,
        max_unknown_outcomes: int = 2,
        settle_seconds: float = 3.0,
    ) -> tuple[dict[str, Any], bool]:
        """Create a booking at most once, even when NeetoCal's answer is lost.

        After an unknown outcome (read timeout, dropped connection, 5xx, garbled answer) the booking
        is looked up (:meth:`find_booking`) before anything is sent again: if it exists it is
        adopted; if not, the lookup is repeated once after ``settle_seconds`` (a request still in
        flight may land meanwhile), and only then is the POST repeated, at most
        ``max_unknown_outcomes`` times. A 422 right after an unknown outcome (typically "slot not
        available", taken by our own first attempt) also triggers the lookup.

        :param created_since: for a payload without a slot, only bookings created since then count
            as ours (the DAG run's start, less a clock-skew allowance); defaults to now.
        :return: ``(booking, created)``: ``created`` is ``False`` when an earlier attempt's booking
            was recovered instead.
        """
        since = created_since or dt.datetime.now(dt.timezone.utc)
        unknown: NeetoCalOutcomeUnknownError | None = None
        for _ in range(max_unknown_outcomes + 1):
            try:
                return self.create_booking(payload), True
            except NeetoCalOutcomeUnknownError as error:
                unknown = error
                self.log.warning("%s; looking the booking up before sending anything again", error)
            except NeetoCalClientError as error:
                if unknown is None or error.status != 422:
                    raise
                self.log.warning("%s, after an attempt with an unknown outcome; looking the booking up", error)
                found = self._find_settled(payload, since, settle_seconds, unknown)
                if found is None:
                    raise
                return found, False
            found = self._find_settled(payload, since, settle_seconds, unknown)
            if found is not None:
                return found, False
            self.log.warning("No booking was made by that attempt; sending it again")
        assert unknown is not None
        raise unknown

    def find_booking(
        self, payload: dict[str, Any], *, created_since: dt.datetime | None = None
    ) -> dict[str, Any] | None:
        """The live booking a create with ``payload`` made (or would duplicate), if NeetoCal has one.

        Looks through ``GET /bookings?client_email=…`` for the same meeting and start (see
        :mod:`airflow_provider_neetocal.recovery`).
        """
        meeting = self.find_meeting(str(payload["meeting_slug"]))
        if meeting is None:
            return None
        bookings = self.list_bookings(client_email=str(payload["email"]))
        return find_matching_booking(bookings, payload, meeting, created_since=created_since)

    def find_meeting(self, meeting_slug: str) -> dict[str, Any] | None:
        """The meeting (scheduling link) with this slug, from ``GET /meetings``; cached per hook."""
        if meeting_slug not in self._meetings:
            self._meetings[meeting_slug] = next(
                (m for m in self.list_meetings() if m.get("slug") == meeting_slug), None
            )
        return self._meetings[meeting_slug]

    def _find_settled(
        self,
        payload: dict[str, Any],
        since: dt.datetime,
        settle_seconds: float,
        unknown: NeetoCalOutcomeUnknownError,
    ) -> dict[str, Any] | None:
        """Look up (twice, ``settle_seconds`` apart) what an attempt with an unknown outcome left."""
        if self.find_meeting(str(payload["meeting_slug"])) is None:
            # Without the meeting no look-up can prove the booking absent: never re-send blind.
            self.log.warning(
                "Meeting %r is not listed by GET /meetings, so the booking cannot be looked up",
                payload["meeting_slug"],
            )
            raise unknown
        found = self.find_booking(payload, created_since=since)
        if found is None and settle_seconds > 0:
            self._sleep(settle_seconds)
            found = self.find_booking(payload, created_since=since)
        return found

    def get_booking(self, booking_sid: str) -> dict[str, Any]:
        """``GET /bookings/{sid}``: one booking (with ``form_responses_as_hash``)."""
        return self._request_object("GET", f"/bookings/{_path_id(booking_sid, 'booking_sid')}")

    def list_bookings(
        self,
        *,
        type: str | None = None,
        client_email: str | None = None,
        host_email: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """``GET /bookings``: iterate over every matching booking, fetching pages lazily.

        :param type: ``upcoming``, ``past``, ``cancelled`` or ``incomplete``; all when ``None``.
        :param client_email: only the bookings of this attendee.
        :param host_email: only the bookings hosted by this team member.
        :param page_size: bookings per request (NeetoCal serves at most 100).
        """
        params = {"type": type, "client_email": client_email, "host_email": host_email}
        yield from self._paginate("/bookings", "bookings", params, page_size)

    def cancel_booking(self, booking_sid: str, *, cancel_reason: str | None = None) -> dict[str, Any]:
        """``POST /bookings/{sid}/cancel``; returns NeetoCal's ``{"message": ...}``.

        The reason travels in the query string, where NeetoCal's API reference puts it.
        """
        params = {"cancel_reason": cancel_reason} if cancel_reason else None
        path = f"/bookings/{_path_id(booking_sid, 'booking_sid')}/cancel"
        return self._request_object("POST", path, params=params)

    def reschedule_booking(self, booking_sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /bookings/{sid}``: move a booking (name, email, slot_date, slot_start_time, time_zone)."""
        path = f"/bookings/{_path_id(booking_sid, 'booking_sid')}"
        return self._request_object("PATCH", path, json=payload)

    def get_slots(
        self, meeting_slug: str, *, time_zone: str, year: int, month: int, day: int | None = None
    ) -> list[dict[str, Any]]:
        """``GET /slots/{meeting_slug}``: the meeting's days with their free slots in ``time_zone``."""
        params: dict[str, Any] = {"time_zone": time_zone, "year": year, "month": month, "day": day}
        data = self._request_object("GET", f"/slots/{_path_id(meeting_slug, 'meeting_slug')}", params=params)
        slots = data.get("slots", [])
        return slots if isinstance(slots, list) else []

    def list_meetings(
        self, *, host_email: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """``GET /meetings``: iterate over every scheduling link of the workspace."""
        yield from self._paginate("/meetings", "meetings", {"host_email": host_email}, page_size)

    def test_connection(self) -> tuple[bool, str]:
        """Check the workspace answers and accepts the key, with one cheap authenticated GET.

        Used by the connection form's Test button; never raises.
        """
        try:
            # One try, no retries: the Test button should answer in seconds, not after back-offs.
            self.request("GET", "/bookings", params={"page_size": 1, "page_number": 1}, retry_policy=_NO_RETRIES)
        except Exception as error:
            return False, str(error)
        return True, f"Connected to {self.base_url}: the API key was accepted"

    # -- HTTP --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Any:
        """Send one API request with the hook's retry policy and return the decoded JSON body.

        :param endpoint: path below the API root, e.g. ``/bookings``.
        :param retry_policy: overrides the hook's policy for this request.
        :raises NeetoCalClientError: 4xx other than 408/429 (fails the task without retries).
        :raises NeetoCalRetryableError: network errors, 5xx and 429 left after the hook's retries.
        :raises NeetoCalOutcomeUnknownError: a write that may have been applied.
        """
        method = method.upper()
        idempotent = method in _IDEMPOTENT_METHODS
        query = {k: v for k, v in (params or {}).items() if v is not None}
        policy = retry_policy or self.retry_policy
        retrying = policy.retrying(idempotent=idempotent, sleep=self._sleep, logger=self.log)
        try:
            return retrying(self._send_once, method, endpoint, query, json)
        except (NeetoCalServerError, NeetoCalConnectionError) as error:
            if idempotent or (isinstance(error, NeetoCalConnectionError) and not error.request_sent):
                raise
            raise NeetoCalOutcomeUnknownError(cause=error) from error

    def _send_once(self, method: str, endpoint: str, params: dict[str, Any], body: Any) -> Any:
        url = f"{self.base_url}{endpoint}"
        started = time.monotonic()
        try:
            # Never follow redirects: requests would re-send the X-Api-Key header to the new host.
            response = self.session.request(
                method, url, params=params or None, json=body, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as error:
            raise NeetoCalConnectionError(
                method=method,
                endpoint=endpoint,
                status=None,
                message=self._redact(_describe_network_error(error)),
                request_sent=_was_sent(error),
            ) from None
        self.log.debug(
            "NeetoCal %s %s -> HTTP %s in %.0f ms",
            method,
            endpoint,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code >= 300:
            raise self._error_for(response, method, endpoint)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise NeetoCalServerError(
                method=method,
                endpoint=endpoint,
                status=response.status_code,
                message=self._redact(
                    "; ".join(
                        error_messages_from_body(self._redact(response.text), response.headers.get("Content-Type", ""))
                    )
                    or "empty body"
                ),
            ) from None

    def _error_for(self, response: requests.Response, method: str, endpoint: str) -> NeetoCalApiError:
        status = response.status_code
        content_type = response.headers.get("Content-Type", "")
        # Redacted before the messages are cut to length, or a cut could keep half of an echoed key.
        errors = error_messages_from_body(self._redact(response.text), content_type)
        fields: dict[str, Any] = {
            "method": method,
            "endpoint": endpoint,
            "status": status,
            "message": "; ".join(errors) or response.reason or "no details given",
            "errors": errors,
        }
        if status == 429:
            return NeetoCalRateLimitError(retry_after=parse_retry_after(response.headers.get("Retry-After")), **fields)
        if 300 <= status < 400:
            location = self._redact(response.headers.get("Location", "?"))
            fields["message"] = (
                f"redirect to {location!r} not followed, so the API key stays with the configured server: "
                "check the connection's Workspace / base URL"
            )
            return NeetoCalClientError(**fields)
        if status in (401, 403):
            return NeetoCalAuthError(**fields)
        if status == 404:
            return NeetoCalNotFoundError(**fields)
        if status == 408 or status >= 500:
            return NeetoCalServerError(**fields)
        return NeetoCalClientError(**fields)

    def _paginate(self, endpoint: str, key: str, params: dict[str, Any], page_size: int) -> Iterator[dict[str, Any]]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise NeetoCalValidationError(
                [FieldProblem("page_size", page_size, f"expected a whole number from 1 to {MAX_PAGE_SIZE}")]
            )
        page = 1
        while True:
            data = self._request_object("GET", endpoint, params={**params, "page_number": page, "page_size": page_size})
            items = data.get(key) or []
            yield from items
            pagination = data.get("pagination") or {}
            total_pages = pagination.get("total_pages")
            if not items or not isinstance(total_pages, int) or page >= total_pages:
                return
            page += 1

    def _redact(self, text: str) -> str:
        """Remove the API key from text that came from elsewhere (a server echoing headers)."""
        settings = self.__dict__.get("_connection_settings")
        if settings and settings[1] and settings[1] in text:
            return text.replace(settings[1], "***")
        return text

    def _request_object(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        """:meth:`request` for endpoints documented to answer a JSON object."""
        data = self.request(method, endpoint, **kwargs)
        if isinstance(data, dict):
            return data
        error = NeetoCalServerError(
            method=method.upper(),
            endpoint=endpoint,
            status=None,
            message=f"expected a JSON object in the answer, got {type(data).__name__}",
        )
        if method.upper() in _IDEMPOTENT_METHODS:
            raise error
        raise NeetoCalOutcomeUnknownError(cause=error)


def _timeout(argument: float | tuple[float, float] | None, extra: Any) -> tuple[float, float]:
    value: Any = argument if argument is not None else extra
    if value is None or value == "":
        return DEFAULT_TIMEOUT
    try:
        if isinstance(value, (list, tuple)):
            connect, read = (float(v) for v in value)
        else:
            connect = read = float(value)
    except (TypeError, ValueError):
        raise NeetoCalConfigError(
            "timeout", f"{value!r} is not a number of seconds or a (connect, read) pair"
        ) from None
    if connect <= 0 or read <= 0:
        raise NeetoCalConfigError("timeout", f"{value!r}: expected positive seconds")
    return connect, read


def _path_id(value: Any, field: str) -> str:
    """Refuse identifiers that would change the request path (``/``, ``..``, spaces, empty)."""
    if isinstance(value, str) and value and all(ch.isalnum() or ch in "-_" for ch in value):
        return value
    raise NeetoCalValidationError(
        [FieldProblem(field, value, "expected an identifier of letters, digits, '-' and '_'")]
    )


def _was_sent(error: requests.RequestException) -> bool:
    """Whether a failed request may have reached the server (so a write may have been applied)."""
    if isinstance(error, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return False
    if isinstance(error, requests.exceptions.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        if isinstance(reason, NewConnectionError | ConnectTimeoutError):
            return False
    return True


def _describe_network_error(error: requests.RequestException) -> str:
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "timed out while connecting"
    if isinstance(error, requests.exceptions.ReadTimeout):
        return "timed out waiting for NeetoCal's answer"
    if isinstance(error, requests.exceptions.SSLError):
        return f"TLS error: {error}"
    if isinstance(error, requests.exceptions.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        if isinstance(reason, NewConnectionError):
            return f"could not connect: {reason}"
        return f"connection error: {error}"
    return f"{type(error).__name__}: {error}"


__all__ = ["DEFAULT_TIMEOUT", "NeetoCalHook"]
