"""The options that shape a run, checked before any API call is made."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from .errors import OptionError

Address = tuple[str, int]

DEFAULT_TTL = 120
DEFAULT_WORKERS = 8
DEFAULT_TIMEOUT = 120
DEFAULT_INTERVAL = 2.0
DEFAULT_RETRIES = 4
#: Seconds one API request may take before it is abandoned and retried.
DEFAULT_API_TIMEOUT = 30.0
#: Values of --dns-cloudflare-ext-backend: the library that talks to Cloudflare.
BACKENDS = ("auto", "sdk", "lexicon")
#: The plain sleep when the propagation check is turned off and no wait is given.
DEFAULT_BLIND_WAIT = 10


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides credentials."""

    ttl: int = DEFAULT_TTL
    workers: int = DEFAULT_WORKERS
    propagation_timeout: float = DEFAULT_TIMEOUT
    propagation_interval: float = DEFAULT_INTERVAL
    propagation_seconds: float | None = None
    check_propagation: bool = True
    nameservers: tuple[Address, ...] = ()
    follow_cnames: bool = True
    retries: int = DEFAULT_RETRIES
    api_timeout: float = DEFAULT_API_TIMEOUT
    backend: str = "auto"

    def __post_init__(self) -> None:
        _require(
            self.ttl == 1 or 60 <= self.ttl <= 86400,
            "ttl",
            self.ttl,
            "use 1 (automatic) or 60 to 86400 seconds, as Cloudflare requires",
        )
        _require(1 <= self.workers <= 32, "workers", self.workers, "use 1 to 32")
        _require(
            self.propagation_timeout > 0,
            "propagation-timeout",
            self.propagation_timeout,
            "use a positive number of seconds",
        )
        _require(
            self.propagation_interval > 0,
            "propagation-interval",
            self.propagation_interval,
            "use a positive number of seconds",
        )
        _require(
            self.propagation_seconds is None or self.propagation_seconds >= 0,
            "propagation-seconds",
            self.propagation_seconds,
            "use 0 or more",
        )
        _require(0 <= self.retries <= 10, "retries", self.retries, "use 0 to 10")
        _require(
            0 < self.api_timeout <= 300,
            "api-timeout",
            self.api_timeout,
            "use a number of seconds above 0 and at most 300",
        )
        _require(
            self.backend in BACKENDS,
            "backend",
            self.backend,
            "use " + ", ".join(BACKENDS),
        )

    @property
    def extra_wait(self) -> float:
        """Seconds to sleep after the check, or instead of it when it is off."""
        if self.propagation_seconds is not None:
            return self.propagation_seconds
        return 0 if self.check_propagation else DEFAULT_BLIND_WAIT


def parse_nameservers(text: str | None) -> tuple[Address, ...]:
    """Parse a comma list of ``host[:port]``; IPv6 addresses go in brackets."""
    if not text:
        return ()
    servers = []
    for item in text.split(","):
        item = item.strip()
        host, port = item, "53"
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else "53" if not rest else "x"
        elif item.count(":") == 1:
            host, port = item.split(":")
        if (
            not host
            or not port.isdigit()
            or not 0 < int(port) < 65536
            or not (_is_ip(host) or _HOSTNAME.fullmatch(host))
        ):
            raise OptionError(
                "dns-cloudflare-ext-nameservers",
                text,
                "write host[:port] items separated by commas, e.g. 192.0.2.1:53",
            )
        servers.append((host, int(port)))
    return tuple(servers)


#: A host name as DNS and /etc/hosts allow it: letters, digits, hyphens, dots.
_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _require(ok: bool, option: str, value: object, fix: str) -> None:
    if not ok:
        raise OptionError(f"dns-cloudflare-ext-{option}", value, fix)
