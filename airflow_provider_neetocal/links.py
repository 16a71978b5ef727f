"""Operator extra links: a button in the Airflow UI that opens what the task created in NeetoCal."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from airflow_provider_neetocal._compat import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow_provider_neetocal._compat import BaseOperator, TaskInstanceKey

#: XCom key under which the operators push the admin URL of the booking they handled.
BOOKING_URL_XCOM_KEY = "booking_url"
#: XCom key under which the operators push the booking's short id.
BOOKING_SID_XCOM_KEY = "booking_sid"


class NeetoCalBookingLink(BaseOperatorLink):
    """ "NeetoCal booking": opens the booking's admin page.

    The URL is read from the ``booking_url`` XCom that the operator pushes as soon as NeetoCal
    answers, so the link works for a task that failed after creating its booking too, and points
    at whatever server the connection used (the local sandbox included).
    """

    name: ClassVar[str] = "NeetoCal booking"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the booking's admin URL, or an empty string (button disabled) before it exists."""
        url = XCom.get_value(ti_key=ti_key, key=BOOKING_URL_XCOM_KEY)
        return url if isinstance(url, str) else ""
