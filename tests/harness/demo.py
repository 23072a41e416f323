"""Issue a wildcard certificate end to end with real certbot and the stand-ins.

Run it as ``python -m tests.harness.demo`` (or ``make demo``) from the
repository root. It serves a stand-in Cloudflare API and nameserver in this
process, starts pebble, runs certbot with the dns-cloudflare-ext plugin, and
reports what was issued. Everything lands in ``./demo-output/``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
from pathlib import Path

from tests.harness.certbot import Certbot
from tests.harness.cloudflare_api import CloudflareAPI
from tests.harness.nameserver import Nameserver
from tests.harness.pebble import Pebble, PebbleError

ZONE = "example.test"
TOKEN = "demo-token-0123456789abcdef"
OUTPUT = Path("demo-output")


def write_credentials(path: Path, token: str) -> None:
    """Write a private credentials ini holding an API token."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"dns_cloudflare_ext_api_token = {token}\n")


def run_demo(output: Path) -> int:
    """Run the demo in `output` and return the process exit status."""
    # A previous run's account and lineage belong to a pebble that is gone.
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    output = output.resolve()

    with contextlib.ExitStack() as stack:
        api = CloudflareAPI(propagation_delay=2)
        api.add_zone(ZONE)
        api.add_token(TOKEN)
        api.start()
        stack.callback(api.stop)
        print(f"stand-in Cloudflare API: {api.base_url}")

        nameserver = Nameserver(api)
        nameserver.start()
        stack.callback(nameserver.stop)
        print(f"stand-in nameserver:     127.0.0.1:{nameserver.port}")

        pebble = Pebble(
            dns_server=("127.0.0.1", nameserver.port), workdir=output / "pebble"
        )
        try:
            pebble.start()
        except PebbleError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        stack.callback(pebble.stop)
        print(f"pebble ACME directory:   {pebble.directory_url}")

        credentials = output / "cloudflare.ini"
        write_credentials(credentials, TOKEN)

        certbot = Certbot(
            root=output / "certbot",
            pebble=pebble,
            cloudflare_base_url=api.base_url,
        )
        args = _certonly_args(credentials, nameserver.port)
        print(f"\n$ {shlex.join(certbot.command('certonly', *args))}\n", flush=True)
        result = certbot.run("certonly", *args, capture_output=False)
        print()

        if result.returncode != 0:
            print(
                f"certbot failed with exit status {result.returncode}; "
                f"see {certbot.logs_dir / 'letsencrypt.log'}",
                file=sys.stderr,
            )
            return 1

        cert_path = certbot.live_path(ZONE)
        names = certbot.certificate_names(ZONE)
        print(f"certificate:        {cert_path}")
        print(f"names it covers:    {', '.join(names)}")
        print(f"TXT records left:   {len(api.records(type='TXT'))}")
        return 0


def _certonly_args(credentials: Path, nameserver_port: int) -> list[str]:
    return [
        "--authenticator",
        "dns-cloudflare-ext",
        "--dns-cloudflare-ext-credentials",
        str(credentials),
        "--dns-cloudflare-ext-nameservers",
        f"127.0.0.1:{nameserver_port}",
        "-d",
        ZONE,
        "-d",
        f"*.{ZONE}",
    ]


def main() -> int:
    """Run the demo in ./demo-output/."""
    return run_demo(OUTPUT)


if __name__ == "__main__":
    sys.exit(main())
