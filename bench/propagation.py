"""Time ``certbot certonly`` with our propagation check against a plain 3 s sleep.

Run it as ``.venv/bin/python -m bench.propagation`` from the repository root.
The stand-in Cloudflare API serves each record ``--delay`` seconds after it is
created. Both variants run alternately, each in a fresh certbot directory, so
account registration and machine load weigh on them alike. The target: the
check costs at most 1.5 s more than sleeping exactly as long as needed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.certbot import Certbot
from tests.harness.cloudflare_api import CloudflareAPI
from tests.harness.nameserver import Nameserver
from tests.harness.pebble import Pebble

ZONE = "example.test"
TOKEN = "benchToken-0123456789abcdefghijklmnopq"
TARGET_SECONDS = 1.5


def main() -> int:
    """Run both variants side by side and print times, difference and ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant")
    parser.add_argument("--delay", type=float, default=3.0, help="seconds to serve")
    options = parser.parse_args()
    delay = options.delay
    variants = {
        "check": [],
        f"sleep {delay:g} s": [
            "--dns-cloudflare-ext-no-propagation-check",
            "--dns-cloudflare-ext-propagation-seconds",
            f"{delay:g}",
        ],
    }

    times: dict[str, list[float]] = {name: [] for name in variants}
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        api, nameserver, pebble = _serve(stack, root, delay)
        credentials = _credentials(root)
        base = ["--authenticator", "dns-cloudflare-ext"]
        base += ["--dns-cloudflare-ext-credentials", str(credentials)]
        base += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{nameserver.port}"]
        base += ["-d", ZONE]

        for run in range(options.runs):
            for name, extra in variants.items():
                certbot = Certbot(
                    root=root / f"{run}-{len(times[name])}-{name.split()[0]}",
                    pebble=pebble,
                    cloudflare_base_url=api.base_url,
                )
                start = time.monotonic()
                result = certbot.run("certonly", *base, *extra)
                seconds = time.monotonic() - start
                if result.returncode != 0:
                    print(f"{name}: certbot failed:\n{result.stderr}", file=sys.stderr)
                    return 1
                times[name].append(seconds)
                print(f"run {run + 1} {name:>12}: {seconds:6.2f} s", flush=True)

    return _report(times, delay)


def _serve(
    stack: contextlib.ExitStack, root: Path, delay: float
) -> tuple[CloudflareAPI, Nameserver, Pebble]:
    api = CloudflareAPI(propagation_delay=delay)
    api.add_zone(ZONE)
    api.add_token(TOKEN)
    api.start()
    stack.callback(api.stop)
    nameserver = Nameserver(api)
    nameserver.start()
    stack.callback(nameserver.stop)
    pebble = Pebble(dns_server=nameserver.address, workdir=root / "pebble")
    pebble.start()
    stack.callback(pebble.stop)
    return api, nameserver, pebble


def _credentials(root: Path) -> Path:
    path = root / "cloudflare.ini"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"dns_cloudflare_ext_api_token = {TOKEN}\n")
    return path


def _report(times: dict[str, list[float]], delay: float) -> int:
    (check, ours), (plain_name, plain) = times.items()
    for name, values in times.items():
        listed = ", ".join(f"{v:.2f}" for v in values)
        print(
            f"{name:>12}: median {statistics.median(values):6.2f} s, "
            f"min {min(values):6.2f} s ({listed})"
        )
    difference = statistics.median(ours) - statistics.median(plain)
    ratio = statistics.median(ours) / statistics.median(plain)
    verdict = "met" if difference <= TARGET_SECONDS else "MISSED"
    print(
        f"{check} - {plain_name}: {difference:+.2f} s (median), ratio {ratio:.2f}; "
        f"target <= +{TARGET_SECONDS:g} s with a {delay:g} s delay: {verdict}"
    )
    return 0 if difference <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
