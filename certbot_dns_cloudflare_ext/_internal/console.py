"""What the console scripts share: logging, and errors as one line and an exit code."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable

PROGRAM = "certbot-dns-cloudflare-ext"

#: Exit code of a run that failed with one of our errors.
FAILED = 1
#: Exit code of a run the user interrupted, as shells report SIGINT.
INTERRUPTED = 130


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


def run(command: Callable[[], int], program: str = PROGRAM) -> int:
    """Run ``command``; turn our errors into one line on stderr and exit code 1."""
    from .environment import name_variables
    from .errors import Error

    # systemd, timeout(1) and cron stop a job with SIGTERM: clean up as for Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
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
