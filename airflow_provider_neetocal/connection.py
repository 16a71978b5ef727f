"""Where a ``neetocal`` connection points: pure rules from connection fields to the API root URL.

The connection's host holds either the workspace subdomain (``acme`` → ``https://acme.neetocal.com``)
or the origin of a NeetoCal-compatible server (the local sandbox, a proxy). Kept apart from the
hook so that the rules, and each refusal's wording, are tested without Airflow or HTTP.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow_provider_neetocal.exceptions import NeetoCalConfigError

#: The connection id every hook, operator and sensor uses unless told otherwise.
DEFAULT_CONN_ID = "neetocal_default"
#: The API root's path for the default version (v1); :func:`api_root_url` takes the version.
API_PATH = "/api/external/v1"
NEETOCAL_DOMAIN = "neetocal.com"

# Patterns, compiled (and cached by ``re``) on first use: operator modules import this module on every
# DAG parse for DEFAULT_CONN_ID, and only a task resolves a connection.
_API_PATH = r"(?i)/api/external/v\d+\Z"
_DNS_LABEL = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_HOSTNAME = r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"


#: The connection form's label of each field a refusal can name.
FORM_LABELS = {"host": "Workspace", "base_url": "Base URL"}


def _config_error(field: str, problem: str, *, lead: str | None = None) -> NeetoCalConfigError:
    """The error for an unusable connection field; its module is imported only when one is refused.

    Every operator module imports this one (for :data:`DEFAULT_CONN_ID`) on each DAG parse.
    """
    from airflow_provider_neetocal.exceptions import NeetoCalConfigError

    return NeetoCalConfigError(field, problem, lead=lead)


def is_loopback(hostname: str) -> bool:
    """Whether traffic to ``hostname`` stays on this machine: ``localhost``, 127.0.0.0/8 or ``::1``.

    Only ``localhost`` itself and loopback IP literals count. ``*.localhost`` names are resolved
    through DNS (and a resolver may answer with any address), so they are not trusted; neither
    is an address with a zone (``::1%eth0``).
    """
    name = hostname.strip("[]").lower()
    if name == "localhost":
        return True
    if "%" in name:
        return False
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def api_root_url(host: str | None, port: int | None = None, base_url: Any = None, api_path: str = API_PATH) -> str:
    """Return the API root (``.../api/external/v1``, no trailing slash) for a connection.

    :param host: the connection's host: a workspace subdomain (``acme``), ``acme.neetocal.com``,
        an origin (``http://127.0.0.1:8765``) or a loopback address without scheme.
    :param port: the connection's port, used with an address given without scheme.
    :param base_url: the ``base_url`` extra; when set it wins over ``host``. A path ending in an API
        root (``/api/external/v1`` or ``/v2``) is cut there, so the version is ``api_path``'s alone.
    :param api_path: the version's API root path (see :func:`airflow_provider_neetocal.api_contract.api_path`).
    :raises NeetoCalConfigError: when the value cannot be a NeetoCal workspace or server, or would
        send the API key in clear text to another machine.
    """
    if base_url is not None and not isinstance(base_url, str):
        raise _config_error(
            "base_url", f"{base_url!r} is not text: expected an origin such as 'https://proxy.example.com'"
        )
    if base_url and base_url.strip():
        return _from_url(base_url.strip(), "base_url", api_path)
    if port is not None and not (isinstance(port, int) and 0 <= port <= 65535):
        raise _config_error(
            "port", f"{port!r} is not a TCP port: expected 0 (none, the scheme's default) or 1 to 65535"
        )
    value = (host or "").strip()
    if not value:
        raise _config_error(
            "host",
            "empty: set Workspace to your NeetoCal subdomain (e.g. 'acme' for https://acme.neetocal.com) "
            "or to the origin of a NeetoCal-compatible server (e.g. 'http://127.0.0.1:8765')",
        )
    if "://" in value:
        return _from_url(value, "host", api_path)
    lowered = value.lower().rstrip(".")
    if lowered.endswith("." + NEETOCAL_DOMAIN):
        # A workspace name, however it reads ("localhost", "127.0.0.1"): always https://<name>.neetocal.com.
        return _workspace_url(lowered[: -len(NEETOCAL_DOMAIN) - 1], value, port, api_path)
    if is_loopback(lowered):
        address = lowered.strip("[]")
        netloc = f"[{address}]" if ":" in address else address
        return f"http://{netloc}{f':{port}' if port else ''}{api_path}"
    return _workspace_url(lowered, value, port, api_path)


def _workspace_url(name: str, value: str, port: int | None, api_path: str) -> str:
    """``https://<name>.neetocal.com``: a workspace name never means a local server.

    Only a loopback address written as such (``127.0.0.1``, ``localhost``, or a URL) reaches plain
    http; ``localhost.neetocal.com`` names a (would-be) workspace on NeetoCal's domain, and rewriting
    it to ``http://localhost`` would hand the API key in clear text to whatever listens there.
    """
    if not re.match(_DNS_LABEL, name):
        raise _config_error(
            "host",
            f"{value!r} is not a workspace subdomain: expected a DNS label of letters, digits and "
            "hyphens (e.g. 'acme' for https://acme.neetocal.com), or a full URL starting with https://",
        )
    return f"https://{name}.{NEETOCAL_DOMAIN}{f':{port}' if port else ''}{api_path}"


def _from_url(value: str, field: str, api_path: str) -> str:
    try:
        parts = urlsplit(value)
        hostname = parts.hostname or ""
        explicit_port = parts.port
    except ValueError as error:
        raise _config_error(field, f"{value!r} is not a valid URL ({error})") from None
    expected = "an origin such as 'https://acme.neetocal.com' or 'http://127.0.0.1:8765'"
    if parts.scheme not in ("http", "https"):
        raise _config_error(field, f"scheme {parts.scheme!r} is not supported: expected {expected}")
    if not hostname:
        raise _config_error(field, f"{value!r} has no host name: expected {expected}")
    if parts.username is not None or parts.password is not None:
        raise _config_error(
            field, "credentials in the URL are not supported: put the API key in the connection's password"
        )
    if parts.query or parts.fragment:
        raise _config_error(field, f"{value!r} has a query or fragment: expected {expected}")
    if not is_loopback(hostname):
        try:
            ipaddress.ip_address(hostname)
        except ValueError:
            if not re.match(_HOSTNAME, hostname.lower()):
                raise _config_error(field, f"{hostname!r} is not a valid host name") from None
        if parts.scheme == "http":
            raise _config_error(
                field,
                f"plain http:// to {hostname!r} would send the API key in clear text: use https://, "
                "or a loopback address (127.0.0.1, localhost) for a local server",
                lead=f"Plain http:// in the connection's {FORM_LABELS.get(field, field)} would send the API key "
                "in clear text — use https://; nothing sent",
            )
    netloc = f"[{hostname}]" if ":" in hostname else hostname
    origin = f"{parts.scheme}://{netloc}{f':{explicit_port}' if explicit_port else ''}"
    path = parts.path.rstrip("/")
    path = re.sub(_API_PATH, "", path)
    return f"{origin}{path}{api_path}"
