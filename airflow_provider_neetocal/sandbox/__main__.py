"""Command line: ``python -m airflow_provider_neetocal.sandbox [--port 8765] [--api-key KEY] ...``.

Prints exactly one line to stdout once it listens (scripts wait for it)::

    NeetoCal sandbox listening on http://127.0.0.1:8765 (API key: sandbox-...)

(``https://`` with ``--tls-cert`` and ``--tls-key``.)

and stops cleanly, with exit code 0, on Ctrl-C or SIGTERM. Access logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from airflow_provider_neetocal.sandbox.app import API_KEY_ENV, DEFAULT_HOST, DEFAULT_PORT, NeetoCalSandbox
from airflow_provider_neetocal.sandbox.faults import DEFAULT_RETRY_AFTER, Faults
from airflow_provider_neetocal.sandbox.scheduling import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType


def _retry_after(value: str) -> float | None:
    if value.strip().lower() == "none":
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'none', got {value!r}") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return seconds


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {value!r}") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_neetocal.sandbox",
        description="Run a local, NeetoCal-compatible API server (API under /api/external/v1).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to bind, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument("--api-key", help=f"the API key clients must send (default: ${API_KEY_ENV}, else a random one)")
    parser.add_argument("--state", help="SQLite file keeping bookings across restarts (default: in memory)")
    parser.add_argument("--config", help="meetings configuration, JSON or YAML: {meetings: [...]}")
    parser.add_argument("--log-level", default="INFO", help="access-log level on stderr (default: %(default)s)")
    parser.add_argument("--tls-cert", help="PEM certificate (chain): serve HTTPS (needs --tls-key)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument(
        "--v2-booking-answers",
        choices=("bare", "wrapped"),
        default="bare",
        help='how API v2 answers a single booking: bare, or wrapped as {"booking": {...}} (default: %(default)s)',
    )
    faults = parser.add_argument_group("fault switch")
    faults.add_argument("--latency", type=_seconds, default=0.0, help="seconds added to every API answer")
    faults.add_argument("--rate-limit-every", type=_positive_int, help="every Nth API request answers 429")
    faults.add_argument(
        "--retry-after",
        type=_retry_after,
        default=DEFAULT_RETRY_AFTER,
        help="Retry-After seconds on 429, or 'none' to omit the header (default: %(default)s)",
    )
    faults.add_argument("--server-error-every", type=_positive_int, help="every Nth API request answers 5xx")
    faults.add_argument("--server-error-status", type=int, default=500, help="status for --server-error-every")
    faults.add_argument(
        "--commit-then-drop-every",
        type=_positive_int,
        help="every Nth POST /bookings is stored, then the connection closes without an answer",
    )
    faults.add_argument(
        "--commit-then-502-every",
        type=_positive_int,
        help="every Nth POST /bookings is stored, then answered 502 with an HTML page",
    )
    return parser


class _StopRequestedError(Exception):
    """Raised from the SIGTERM handler to leave the main loop."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _StopRequestedError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        faults = Faults(
            latency=args.latency,
            rate_limit_every=args.rate_limit_every,
            retry_after=args.retry_after,
            server_error_every=args.server_error_every,
            server_error_status=args.server_error_status,
            commit_then_drop_every=args.commit_then_drop_every,
            commit_then_502_every=args.commit_then_502_every,
        )
        sandbox = NeetoCalSandbox(
            host=args.host,
            port=args.port,
            api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
            state=args.state,
            meetings=args.config,
            faults=faults,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            v2_booking_answers=args.v2_booking_answers,
        )
    except (ConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("airflow_provider_neetocal.sandbox").warning(
            "Binding %s: the sandbox is reachable beyond this machine", args.host
        )
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        sandbox.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    try:
        print(f"NeetoCal sandbox listening on {sandbox.url} (API key: {sandbox.api_key})", flush=True)
        threading.Event().wait()
    except (KeyboardInterrupt, _StopRequestedError):
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
