"""Run Debian's pebble ACME test CA on loopback ports for end-to-end tests."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

DEFAULT_PEBBLE = Path("/usr/bin/pebble")
LOOPBACK = "127.0.0.1"

_T = TypeVar("_T")

# Validate at full speed, never reject a good nonce, and never reuse an
# authorization, so every certbot run really performs its DNS-01 challenges.
PEBBLE_ENVIRONMENT = {
    "PEBBLE_VA_NOSLEEP": "1",
    "PEBBLE_WFE_NONCEREJECT": "0",
    "PEBBLE_AUTHZREUSE": "0",
}


class PebbleError(RuntimeError):
    """Pebble could not be started or did not answer."""


class PebbleNotInstalled(PebbleError):
    """The pebble program is not on this machine."""

    def __init__(self, program: str | os.PathLike[str]) -> None:
        self.program = str(program)
        super().__init__(
            f"pebble is not installed: {self.program!r} not found; "
            "install it with 'apt-get install pebble' (or run 'make system-deps')"
        )


def find_pebble() -> Path | None:
    """Return the pebble executable, preferring Debian's, or None if missing."""
    if DEFAULT_PEBBLE.is_file() and os.access(DEFAULT_PEBBLE, os.X_OK):
        return DEFAULT_PEBBLE
    found = shutil.which("pebble")
    return Path(found) if found else None


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return `count` distinct TCP ports that were free a moment ago."""
    # Hold every socket open until all are bound, so the ports differ.
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def write_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """Write a test CA and a loopback leaf; return (ca, chain, key) paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = now - datetime.timedelta(minutes=5)
    not_after = now + datetime.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test TLS CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address(LOOPBACK)),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    ca_path = directory / "tls-ca.pem"
    chain_path = directory / "tls-cert.pem"
    key_path = directory / "tls-key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(pem))
    chain_path.write_bytes(leaf_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    key_path.write_bytes(
        leaf_key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, chain_path, key_path


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


class Pebble:
    """A pebble process serving ACME on a free loopback port.

    Pebble resolves DNS-01 validation names through `dns_server` only, so
    the test nameserver decides what the CA sees.
    """

    def __init__(
        self,
        dns_server: tuple[str, int],
        workdir: str | os.PathLike[str],
        *,
        executable: str | os.PathLike[str] | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        self.dns_server = dns_server
        self.workdir = Path(workdir)
        self.executable = Path(executable) if executable else find_pebble()
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = self.workdir / "pebble.log"
        self._ca_bundle: Path | None = None
        self._port: int | None = None
        self._management_port: int | None = None

    @property
    def directory_url(self) -> str:
        """Return the ACME directory URL that certbot's --server takes."""
        return f"https://{LOOPBACK}:{self._require_started(self._port)}/dir"

    @property
    def management_url(self) -> str:
        """Return the base URL of pebble's management interface."""
        return f"https://{LOOPBACK}:{self._require_started(self._management_port)}"

    @property
    def ca_bundle(self) -> Path:
        """Return the PEM file that clients must trust for pebble's TLS."""
        return self._require_started(self._ca_bundle)

    def start(self) -> None:
        """Write TLS files and config, start pebble, and wait for its directory."""
        if self._process is not None:
            raise PebbleError("pebble is already running; call stop() first")
        if self.executable is None or not self.executable.exists():
            raise PebbleNotInstalled(self.executable or DEFAULT_PEBBLE)

        self.workdir.mkdir(parents=True, exist_ok=True)
        ca_path, chain_path, key_path = write_tls_files(self.workdir)
        port, management_port, http_port, tls_port = free_ports(4)
        config_path = self.workdir / "pebble-config.json"
        config = {
            "pebble": {
                "listenAddress": f"{LOOPBACK}:{port}",
                "managementListenAddress": f"{LOOPBACK}:{management_port}",
                "certificate": str(chain_path),
                "privateKey": str(key_path),
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        config_path.write_text(json.dumps(config, indent=2))

        host, dns_port = self.dns_server
        command = [
            str(self.executable),
            "-config",
            str(config_path),
            "-dnsserver",
            f"{host}:{dns_port}",
        ]
        # A file rather than a pipe: pebble logs every request and would
        # block once an unread pipe filled up.
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **PEBBLE_ENVIRONMENT},
                cwd=self.workdir,
            )
        self._port = port
        self._management_port = management_port
        self._ca_bundle = ca_path
        logger.info("started pebble (pid %s) on port %s", self._process.pid, port)

        try:
            self._wait_for_directory()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop pebble if it runs; safe to call more than once."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        logger.info("stopped pebble (pid %s)", process.pid)

    def log_text(self) -> str:
        """Return everything pebble has printed so far."""
        try:
            return self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Pebble:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_for_directory(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None

        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise PebbleError(
                    f"pebble exited with status {self._process.returncode} "
                    f"before answering; its output:\n{self.log_text()}"
                )
            try:
                with urllib.request.urlopen(
                    self.directory_url, timeout=0.5, context=context
                ) as response:
                    json.load(response)
                return
            except (OSError, urllib.error.URLError, ValueError) as exc:
                last_error = exc
                time.sleep(0.1)

        raise PebbleError(
            f"pebble did not answer at {self.directory_url!r} within "
            f"{self.startup_timeout}s (last error: {last_error!r}); "
            f"its output:\n{self.log_text()}"
        )

    def _require_started(self, value: _T | None) -> _T:
        if value is None:
            raise PebbleError("pebble has not been started; call start() first")
        return value
