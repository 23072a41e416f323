"""Run the stand-in Cloudflare API and nameserver as a process until signalled."""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from tests.harness.cloudflare_api import CloudflareAPI
from tests.harness.nameserver import Nameserver


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness.standin_main", description=__doc__
    )
    parser.add_argument("--state-file", type=Path, required=True)
    parser.add_argument("--zone", action="append", default=[], dest="zones")
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        dest="tokens",
        help="API token with every permission on every zone (repeatable)",
    )
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--propagation-delay", type=float, default=0.0)
    return parser.parse_args(argv)


def write_state(path: Path, state: dict[str, object]) -> None:
    """Write the state file atomically, so a reader never sees half of it."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle, indent=2)
    os.replace(temporary, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; return the exit code."""
    args = parse_args(argv)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    api = CloudflareAPI(latency=args.latency, propagation_delay=args.propagation_delay)
    zones = {name: api.add_zone(name) for name in args.zones}
    for token in args.tokens:
        api.add_token(token)
    api.start()
    nameserver = Nameserver(api)
    nameserver.start()

    # The state file appears only once both servers answer.
    try:
        write_state(
            args.state_file,
            {
                "base_url": api.base_url,
                "control_url": api.control_url,
                "dns_port": nameserver.port,
                "zones": {zone.name: zone.id for zone in zones.values()},
            },
        )
        while not stopping.wait(timeout=1):
            pass
    finally:
        nameserver.stop()
        api.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
