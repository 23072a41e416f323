"""Run the real certbot program against pebble inside one test directory."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

if TYPE_CHECKING:
    from tests.harness.pebble import Pebble

logger = logging.getLogger(__name__)

# Subcommands that talk to an ACME server and so take --server.
ACME_SUBCOMMANDS = frozenset(
    {
        "certonly",
        "run",
        "renew",
        "reconfigure",
        "register",
        "update_account",
        "unregister",
        "show_account",
        "revoke",
    }
)
# Subcommands that may create an account and so need its terms and contact.
ACCOUNT_SUBCOMMANDS = frozenset({"certonly", "run", "register"})

ACCOUNT_EMAIL = "test@example.test"


def default_executable() -> Path:
    """Return the certbot installed beside the running Python."""
    return Path(sys.executable).with_name("certbot")


class Certbot:
    """One certbot installation rooted in a directory of its own.

    Each instance keeps certbot's config, work and logs directories under
    `root`, so runs never touch /etc/letsencrypt and tests never share state.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        pebble: Pebble,
        cloudflare_base_url: str,
        executable: str | os.PathLike[str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.pebble = pebble
        self.cloudflare_base_url = cloudflare_base_url
        self.executable = Path(executable) if executable else default_executable()
        self.config_dir = self.root / "config"
        self.work_dir = self.root / "work"
        self.logs_dir = self.root / "logs"

    def command(self, subcommand: str, *args: str) -> list[str]:
        """Return the full argv that run() would execute."""
        command = [
            str(self.executable),
            subcommand,
            "--non-interactive",
            "--config-dir",
            str(self.config_dir),
            "--work-dir",
            str(self.work_dir),
            "--logs-dir",
            str(self.logs_dir),
        ]
        if subcommand in ACME_SUBCOMMANDS:
            command += ["--server", self.pebble.directory_url]
        if subcommand in ACCOUNT_SUBCOMMANDS:
            command += ["--agree-tos", "-m", ACCOUNT_EMAIL, "--no-eff-email"]
        # Without a terminal, certbot renew sleeps up to eight minutes first.
        if subcommand == "renew":
            command.append("--no-random-sleep-on-renew")
        return command + list(args)

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Return the environment run() gives certbot."""
        env = dict(os.environ)
        env["REQUESTS_CA_BUNDLE"] = str(self.pebble.ca_bundle)
        env["CLOUDFLARE_BASE_URL"] = self.cloudflare_base_url
        env.update(extra or {})
        return env

    def run(
        self,
        subcommand: str,
        *args: str,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
        capture_output: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run certbot with `subcommand` and `args` and return its result.

        A non-zero exit is returned rather than raised: tests assert on it.
        With `capture_output=False` certbot writes straight to this process's
        terminal, and the result's stdout and stderr are None.
        """
        for directory in (self.config_dir, self.work_dir, self.logs_dir):
            directory.mkdir(parents=True, exist_ok=True)

        command = self.command(subcommand, *args)
        logger.info("running %s", " ".join(command))
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=capture_output,
            text=True,
            env=self.environment(env),
            cwd=self.root,
            timeout=timeout,
            check=False,
        )
        logger.info("certbot %s exited with %s", subcommand, result.returncode)
        return result

    def log_text(self) -> str:
        """Return certbot's letsencrypt.log, or '' if it wrote none."""
        try:
            return (self.logs_dir / "letsencrypt.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def live_path(self, name: str, filename: str = "cert.pem") -> Path:
        """Return the path of a file in the live directory of lineage `name`."""
        return self.config_dir / "live" / name / filename

    def certificate(self, name: str) -> x509.Certificate:
        """Return the current leaf certificate of lineage `name`."""
        return x509.load_pem_x509_certificate(self.live_path(name).read_bytes())

    def certificate_names(self, name: str) -> list[str]:
        """Return the sorted DNS names in the SAN of lineage `name`."""
        return certificate_dns_names(self.certificate(name))

    def renewal_conf(self, name: str) -> str:
        """Return the text of renewal/<name>.conf."""
        return (self.config_dir / "renewal" / f"{name}.conf").read_text()


def certificate_dns_names(certificate: x509.Certificate) -> list[str]:
    """Return the sorted DNS names in a certificate's SAN extension."""
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return sorted(san.value.get_values_for_type(x509.DNSName))
