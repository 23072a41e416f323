"""What the console scripts share: logging, and errors as one line and an exit code."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

PROGRAM = "certbot-dns-cloudflare-ext"

#: Exit code of a run that failed with one of our errors.
FAILED = 1
#: Exit code of a run the user interrupted, as shells report SIGINT.
INTERRUPTED = 130
#: How often a hook checks that the ACME client that started it still runs.
_ORPHAN_CHECK_SECONDS = 1.0


def configure_logging(verbosity: int, program: str = PROGRAM) -> None:
    """Log our own messages to stderr: warnings, or progress and API calls if asked.

    Only this package's loggers are raised; the SDK and HTTP libraries stay at
    WARNING so that no request header can reach the output.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(_Formatter(f"{program}: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    level = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity else None
    if level is not None:
        logging.getLogger("certbot_dns_cloudflare_ext").setLevel(level)


class _StderrHandler(logging.StreamHandler):
    """Our console handler, told apart so a second setup replaces it."""


class _Formatter(logging.Formatter):
    """Name the variables these commands read where a message names plugin options."""

    def format(self, record: logging.LogRecord) -> str:
        from .environment import name_variables

        return name_variables(super().format(record))


def run(
    command: Callable[[], int], program: str = PROGRAM, *, hook: bool = False
) -> int:
    """Run ``command``; turn our errors into one line on stderr and exit code 1.

    A ``hook`` also stops, cleaning up, when the ACME client that started it dies.
    """
    from .environment import name_variables
    from .errors import Error

    # systemd, timeout(1) and cron stop a job with SIGTERM: clean up as for Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    if hook:
        _stop_when_orphaned()
    try:
        return command()
    except Error as exc:
        # Hints name plugin options; these commands read variables instead.
        print(f"{program}: error: {name_variables(str(exc))}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return INTERRUPTED


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop_when_orphaned() -> None:
    """Stop as for SIGTERM once the ACME client that started us is gone.

    A signal sent to certbot or dehydrated alone does not reach its hook, which
    would go on waiting, holding records that no cleanup hook will remove.
    """
    from .manual_state import client_process, is_running

    client = client_process()
    if client is None:
        return

    def watch() -> None:
        while is_running(client):
            time.sleep(_ORPHAN_CHECK_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()
