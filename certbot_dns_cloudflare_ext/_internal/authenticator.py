"""The certbot plugin: options, credentials, and handing each batch to the solver."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from acme import challenges
from certbot import achallenges
from certbot.display import util as display_util
from certbot.plugins import dns_common

from .settings import (
    BACKENDS,
    DEFAULT_API_TIMEOUT,
    DEFAULT_INTERVAL,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_TTL,
    DEFAULT_WORKERS,
    Settings,
    parse_nameservers,
)

if TYPE_CHECKING:
    from .credentials import Credentials
    from .solver import Solver

logger = logging.getLogger(__name__)


class Authenticator(dns_common.DNSAuthenticator):
    """Prove control of names hosted at Cloudflare with DNS-01 TXT records."""

    description = (
        "Obtain certificates using DNS TXT records at Cloudflare: waits exactly "
        "until Cloudflare serves them, follows CNAME delegation, batches many names."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._credentials: Credentials | None = None
        self._solver: Solver | None = None

    @classmethod
    def add_parser_arguments(
        cls, add: Callable[..., None], default_propagation_seconds: int = 0
    ) -> None:
        add(
            "credentials",
            help="Cloudflare credentials INI file (mode 600). Without it, the "
            "CLOUDFLARE_API_TOKEN (or CLOUDFLARE_EMAIL and CLOUDFLARE_API_KEY) "
            "environment variables are read, and certbot renew needs them too.",
        )
        add(
            "propagation-seconds",
            default=None,
            type=int,
            help="Extra seconds to wait after Cloudflare serves the records: 0 "
            "when unset. With the check off it is the whole wait: 10 when unset.",
        )
        add(
            "propagation-timeout",
            default=DEFAULT_TIMEOUT,
            type=int,
            help="Give up when Cloudflare's nameservers do not serve the records "
            "within this many seconds.",
        )
        add(
            "propagation-interval",
            default=DEFAULT_INTERVAL,
            type=float,
            help="Seconds between checks of Cloudflare's nameservers.",
        )
        add(
            "no-propagation-check",
            action="store_true",
            default=False,
            help="Do not ask Cloudflare's nameservers; just sleep "
            "--dns-cloudflare-ext-propagation-seconds.",
        )
        add(
            "nameservers",
            default=None,
            help="Comma list of host[:port] to check instead of the zone's own "
            "authoritative nameservers (split-horizon or firewalled networks).",
        )
        add(
            "no-follow-cnames",
            action="store_true",
            default=False,
            help="Do not follow a CNAME at _acme-challenge into another zone; the "
            "record is written at the name itself, which Cloudflare refuses while "
            "a CNAME is there.",
        )
        add("ttl", default=DEFAULT_TTL, type=int, help="TTL of the TXT records.")
        add(
            "workers",
            default=DEFAULT_WORKERS,
            type=int,
            help="How many API calls to make at once.",
        )
        add(
            "retries",
            default=DEFAULT_RETRIES,
            type=int,
            help="Retries of an API call that hit a rate limit or a server error.",
        )
        add(
            "api-timeout",
            default=DEFAULT_API_TIMEOUT,
            type=float,
            help="Seconds one Cloudflare API request may take before it is retried.",
        )
        add(
            "backend",
            default="auto",
            choices=BACKENDS,
            help="Library that talks to Cloudflare: the cloudflare SDK (4 or later), "
            "dns-lexicon, or auto (the SDK when usable, else lexicon).",
        )

    def more_info(self) -> str:
        return (
            "This plugin writes DNS-01 TXT records through the Cloudflare API, "
            "waits until Cloudflare's authoritative nameservers serve them, and "
            "removes exactly the records it wrote."
        )

    def auth_hint(self, failed_achalls: list[achallenges.AnnotatedChallenge]) -> str:
        if self.conf("no-propagation-check"):
            # Without the check, a sleep that was too short is the likely cause.
            return (
                "The Certificate Authority could not see the TXT records this "
                "plugin wrote, and the propagation check was off: turn it back on "
                "(drop --dns-cloudflare-ext-no-propagation-check), or raise "
                "--dns-cloudflare-ext-propagation-seconds."
            )
        return (
            "The Certificate Authority could not see the TXT records this plugin "
            "wrote. Check that the domains use Cloudflare's nameservers (the zone "
            "must be active), and that no other DNS provider serves them."
        )

    def perform(
        self, achalls: list[achallenges.AnnotatedChallenge]
    ) -> list[challenges.ChallengeResponse]:
        from .solver import Challenge

        solver = self._prepare_solver()
        batch = [
            Challenge(
                achall.validation_domain_name(_identifier_value(achall)),
                achall.validation(achall.account_key),
            )
            for achall in achalls
        ]
        solver.perform(batch)
        return [achall.response(achall.account_key) for achall in achalls]

    def cleanup(self, achalls: list[achallenges.AnnotatedChallenge]) -> None:
        if self._solver is not None:
            self._solver.cleanup()

    def _setup_credentials(self) -> None:
        # Imported here: certbot imports every plugin on every command.
        from .credentials import load_environment, load_file
        from .errors import CredentialsError

        if not self.conf("credentials"):
            self._credentials = load_environment()
            if self._credentials is not None:
                # The renewal conf cannot hold the environment: say so now, not
                # at 3 AM when a timer renews without these variables.
                display_util.notify(
                    f"Using Cloudflare credentials from the {self._credentials.source}"
                    "; certbot renew will need the same environment (or use "
                    "--dns-cloudflare-ext-credentials FILE)"
                )
                return
            if self.config.noninteractive_mode:
                raise CredentialsError(
                    "certbot",
                    None,
                    "no Cloudflare credentials were given",
                    "pass --dns-cloudflare-ext-credentials FILE, or set "
                    "CLOUDFLARE_API_TOKEN in the environment of every certbot run",
                )

        # certbot asks for a missing path; load_file checks each answer.
        label = "Cloudflare credentials INI file"
        self._configure_file("credentials", label, load_file)
        # The renewal conf keeps this path, and timers renew from another directory.
        path = os.path.abspath(os.path.expanduser(self.conf("credentials")))
        setattr(self.config, self.dest("credentials"), path)
        self._credentials = load_file(path)

    def _settings(self) -> Settings:
        return Settings(
            ttl=self.conf("ttl"),
            workers=self.conf("workers"),
            propagation_timeout=self.conf("propagation-timeout"),
            propagation_interval=self.conf("propagation-interval"),
            propagation_seconds=self.conf("propagation-seconds"),
            check_propagation=not self.conf("no-propagation-check"),
            nameservers=parse_nameservers(self.conf("nameservers")),
            follow_cnames=not self.conf("no-follow-cnames"),
            retries=self.conf("retries"),
            api_timeout=self.conf("api-timeout"),
            backend=self.conf("backend"),
        )

    def _prepare_solver(self) -> Solver:
        from .backends import create_backend
        from .solver import Solver

        # Options are checked before credentials so that no API call is made
        # for a run that would fail on a typo anyway.
        settings = self._settings()
        self._setup_credentials()
        assert self._credentials is not None
        self._solver = Solver(
            self._credentials,
            settings,
            progress=display_util.notify,
            backend_factory=create_backend,
        )
        return self._solver

    def _perform(self, domain: str, validation_name: str, validation: str) -> None:
        raise NotImplementedError("perform() handles the whole batch")

    def _cleanup(self, domain: str, validation_name: str, validation: str) -> None:
        raise NotImplementedError("cleanup() handles the whole batch")


def _identifier_value(achall: achallenges.AnnotatedChallenge) -> str:
    """Return the name a challenge validates; older certbot (2.1) calls it domain."""
    identifier = getattr(achall, "identifier", None)
    return identifier.value if identifier is not None else achall.domain
