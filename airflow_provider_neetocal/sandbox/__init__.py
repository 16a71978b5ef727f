"""A local, NeetoCal-compatible API server for offline demos and real-HTTP tests (a ``moto`` for NeetoCal).

It imports nothing from the rest of the provider: it is written from the API documentation on its
own, so that it catches the client's mistakes rather than sharing them. See ``README.md`` here.
"""

from __future__ import annotations

from airflow_provider_neetocal.sandbox.app import API_KEY_ENV, DEFAULT_HOST, DEFAULT_PORT, NeetoCalSandbox
from airflow_provider_neetocal.sandbox.faults import FAULT_KINDS, Fault, Faults
from airflow_provider_neetocal.sandbox.recording import RecordedRequest
from airflow_provider_neetocal.sandbox.tls import make_self_signed_cert

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "FAULT_KINDS",
    "Fault",
    "Faults",
    "NeetoCalSandbox",
    "RecordedRequest",
    "make_self_signed_cert",
]
