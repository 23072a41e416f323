"""Run the stand-in Cloudflare API and nameserver (and pebble) until signalled."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from tests.harness.cloudflare_api import CloudflareAPI
from tests.harness.nameserver import Nameserver
from tests.harness.pebble import Pebble, PebbleError

_DESCRIPTION = (
    "Serve a stand-in for Cloudflare's v4 API and an authoritative nameserver that "
    "serves its records, both on 127.0.0.1, until SIGINT (Ctrl-C) or SIGTERM. "
    "Once both answer, the state file is written as JSON: base_url (give it to the "
    "plugin as CLOUDFLARE_BASE_URL), control_url (the control plane: GET it for "
    "its actions), dns_port (the nameserver's UDP and TCP port), zones (each zone "
    "name and its id) and, with --pebble, directory_url (certbot's --server), "
    "ca_bundle (certbot's REQUESTS_CA_BUNDLE) and pebble_log. The state file is "
    "removed on exit. The control plane adds zones (also in other accounts), "
    "scoped tokens, Global API Keys, records and faults while it runs."
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness.standin_main", description=_DESCRIPTION
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        required=True,
        metavar="FILE",
        help="where to write the JSON state once the servers answer (required)",
    )
    parser.add_argument(
        "--zone",
        action="append",
        default=[],
        dest="zones",
        metavar="NAME",
        help="add an active zone, e.g. example.test (repeatable)",
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        dest="tokens",
        metavar="TOKEN",
        help="accept this API token with every permission on every zone (repeatable)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds every API call takes (default 0)",
    )
    parser.add_argument(
        "--propagation-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds before the nameserver serves a record written through the "
        "API (default 0)",
    )
    parser.add_argument(
        "--pebble",
        action="store_true",
        help="also start Debian's pebble ACME CA (apt-get install pebble), which "
        "resolves through the stand-in nameserver",
    )
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

    with contextlib.ExitStack() as stack:
        api = CloudflareAPI(
            latency=args.latency, propagation_delay=args.propagation_delay
        )
        zones = {name: api.add_zone(name) for name in args.zones}
        for token in args.tokens:
            api.add_token(token)
        api.start()
        stack.callback(api.stop)
        nameserver = Nameserver(api)
        nameserver.start()
        stack.callback(nameserver.stop)
        state: dict[str, object] = {
            "base_url": api.base_url,
            "control_url": api.control_url,
            "dns_port": nameserver.port,
            "zones": {zone.name: zone.id for zone in zones.values()},
        }

        if args.pebble:
            workdir = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="standin-pebble-")
            )
            pebble = Pebble(("127.0.0.1", nameserver.port), workdir)
            try:
                pebble.start()
            except PebbleError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            stack.callback(pebble.stop)
            state["directory_url"] = pebble.directory_url
            state["ca_bundle"] = str(pebble.ca_bundle)
            state["pebble_log"] = str(Path(workdir) / "pebble.log")

        # The state file appears only once every server answers, and goes with
        # them, so that no reader ever finds the ports of servers that are gone.
        stack.callback(_remove, args.state_file)
        write_state(args.state_file, state)
        print(
            f"Serving the Cloudflare API at {api.base_url} and DNS on 127.0.0.1:"
            f"{nameserver.port}; state in {args.state_file}; Ctrl-C stops",
            flush=True,
        )
        while not stopping.wait(timeout=1):
            pass
    return 0


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


if __name__ == "__main__":
    raise SystemExit(main())
