"""The plugin's exceptions and the one table that explains Cloudflare's codes."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence

from certbot import errors as certbot_errors

TOKENS_URL = "https://dash.cloudflare.com/profile/api-tokens"
#: Cloudflare's API root; CLOUDFLARE_BASE_URL may point both backends elsewhere.
API_URL = "https://api.cloudflare.com/client/v4"

#: The steps of a backend, as error messages name them; some hints depend on them.
LOOK_UP_ZONE = "look up the zone"
LIST_ZONES = "list the zones"
CREATE_RECORD = "create the TXT record"
DELETE_RECORD = "delete the TXT record"
VERIFY_TOKEN = "verify the API token"
#: Steps that read zones, which the zone lookup token of split tokens makes.
ZONE_STEPS = frozenset({LOOK_UP_ZONE, LIST_ZONES})

#: The token permissions a step needs; every other step needs ZONE_DNS_EDIT.
ZONE_READ = "Zone:Zone:Read"
ZONE_DNS_EDIT = "Zone:DNS:Edit"
_PERMISSIONS: Mapping[str, str] = {LOOK_UP_ZONE: ZONE_READ, LIST_ZONES: ZONE_READ}


def list_records_step(record_type: str) -> str:
    """Name the step that lists a zone's records of one type."""
    return f"list {record_type} records"


class Code(enum.IntEnum):
    """Cloudflare API error codes that change what we do or what we tell the user."""

    PERMISSION = 0
    RATE_LIMITED = 971
    INVALID_API_TOKEN = 1000
    TLD_REFUSED = 1038
    HEADER_FORMAT = 6003
    EMAIL_FORMAT = 6102
    KEY_FORMAT = 6103
    AUTHORIZATION_FORMAT = 6111
    NO_ROUTE = 7000
    INVALID_ZONE_ID = 7003
    INVALID_TTL = 9021
    BAD_EMAIL_OR_KEY = 9103
    INVALID_TOKEN = 9109
    AUTHENTICATION = 10000
    LOCKED_OUT = 10100
    RECORD_NOT_FOUND = 81044
    CNAME_CONFLICT = 81053
    RECORD_EXISTS = 81057
    IDENTICAL_RECORD_EXISTS = 81058


#: Codes that mean the record we asked for is already there.
ALREADY_EXISTS = frozenset({Code.RECORD_EXISTS, Code.IDENTICAL_RECORD_EXISTS})

#: Codes that mean "slow down"; the client retries them before we see them.
RATE_LIMIT_CODES = frozenset({Code.RATE_LIMITED, Code.LOCKED_OUT})

#: The headers a 6003 ("Invalid request headers") names in its ``error_chain``.
_HEADER_CODES = frozenset(
    {Code.EMAIL_FORMAT, Code.KEY_FORMAT, Code.AUTHORIZATION_FORMAT}
)

_INVALID_TOKEN_HINT = (
    "the API token in {source} is not valid; copy it whole, or roll a new one at "
    + TOKENS_URL
)
_MALFORMED_SECRET_HINT = (
    "the credentials are malformed: a token is probably in the API key slot, "
    "or the value has stray quotes or whitespace; copy it again into {source}"
)

_HINTS: Mapping[int, str] = {
    Code.HEADER_FORMAT: (
        "Cloudflare cannot read the credentials in {source}; copy them again from "
        "the Cloudflare dashboard"
    ),
    Code.KEY_FORMAT: _MALFORMED_SECRET_HINT,
    Code.AUTHORIZATION_FORMAT: _MALFORMED_SECRET_HINT,
    Code.EMAIL_FORMAT: (
        "the email in {source} is not one Cloudflare accepts; use the address you "
        "log in to Cloudflare with"
    ),
    Code.INVALID_TOKEN: _INVALID_TOKEN_HINT,
    Code.INVALID_API_TOKEN: _INVALID_TOKEN_HINT,
    Code.BAD_EMAIL_OR_KEY: (
        "the email or Global API Key in {source} is wrong; check both, or switch to "
        "an API token"
    ),
    Code.AUTHENTICATION: (
        "the credentials in {source} lack a permission: give the token "
        "{permission} on this zone"
    ),
    Code.INVALID_ZONE_ID: (
        "the zone id is wrong; check the zone ids in {source} against the zone's "
        "Overview page"
    ),
    Code.NO_ROUTE: (
        "no Cloudflare API endpoint has this address; check CLOUDFLARE_BASE_URL, or "
        "unset it to use " + API_URL
    ),
    Code.CNAME_CONFLICT: (
        "a CNAME, A or AAAA record already exists at this name; remove it, or if "
        "it is a CNAME let the plugin follow it (drop "
        "--dns-cloudflare-ext-no-follow-cnames)"
    ),
    Code.TLD_REFUSED: (
        "Cloudflare's API refuses DNS changes under .cf, .ga, .gq, .ml and .tk; "
        "point _acme-challenge by CNAME (made in the dashboard) into a zone under "
        "another TLD, and the plugin follows it"
    ),
    Code.RATE_LIMITED: (
        "Cloudflare rate-limited this account; wait a few minutes, or lower "
        "--dns-cloudflare-ext-workers"
    ),
    Code.LOCKED_OUT: (
        "this account made more than 1200 API requests in 5 minutes; wait 5 minutes "
        "and check for other tools using the same credentials"
    ),
    Code.INVALID_TTL: "Cloudflare rejected the TTL; use 1 (automatic) or 60-86400",
}

#: For answers that may pass: 5xx, an HTML error page, a timeout, a dropped line.
_UNAVAILABLE_HINT = (
    "Cloudflare's API kept failing; try again later (status: "
    "https://www.cloudflarestatus.com), or raise --dns-cloudflare-ext-retries or "
    "--dns-cloudflare-ext-api-timeout"
)

_ZONE_LIST_HINT = (
    "the token in {source} cannot list zones: give it Zone:Zone:Read, or pin the "
    "zone id with dns_cloudflare_ext_zone_id"
)


class Error(certbot_errors.PluginError):
    """Root of every error this plugin raises."""


class CredentialsError(Error):
    """The credentials are missing, malformed or contradictory."""

    def __init__(self, source: str, key: str | None, problem: str, fix: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        self.fix = fix
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}; {fix}")


class OptionError(Error):
    """A command-line option has a value we cannot use."""

    def __init__(self, option: str, value: object, fix: str) -> None:
        self.option = option
        self.value = value
        self.fix = fix
        # Written with "=" as the user may retype it: certbot's parser takes a
        # separate "-5" for an option of its own.
        shown = f"{value:g}" if isinstance(value, (int, float)) else repr(value)
        super().__init__(f"--{option}={shown} is not usable; {fix}")


class VariableError(Error):
    """An environment variable read by the hooks has a value we cannot use."""

    def __init__(self, variable: str, value: object, fix: str) -> None:
        self.variable = variable
        self.value = value
        self.fix = fix
        super().__init__(
            f"environment variable {variable}={value!r} is not usable; {fix}"
        )


class StateError(Error):
    """The manual hooks' private state file or its directory is not safe to use."""

    def __init__(self, path: str, problem: str, fix: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}; {fix}")


class MarkersUnreadable(Error):
    """The backend cannot read record comments, so sweep cannot tell ours apart."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        super().__init__(
            f"sweep tells this plugin's records apart by their comment, which "
            f"{backend} cannot read; run it from a virtualenv with the cloudflare "
            "SDK 4 or later (see Installation in the README), or remove leftover "
            "_acme-challenge records in the Cloudflare dashboard"
        )


class ZonesNotListable(Error):
    """The credentials may not list their zones, so sweep needs names."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__(
            f"The credentials in {source} may not list zones (no Zone:Read); "
            "name the zones to sweep, e.g. certbot-dns-cloudflare-ext sweep example.com"
        )


class CloudflareError(Error):
    """Cloudflare's API refused or failed a call."""

    def __init__(
        self,
        step: str,
        name: str,
        *,
        code: int | None,
        message: str,
        hint: str | None,
        transient: bool = False,
    ) -> None:
        self.step = step
        self.name = name
        self.code = code
        self.message = message
        self.hint = hint
        #: No definite refusal (5xx, timeout, dropped line): the call may have worked.
        self.transient = transient
        what = f"error {code}: {message}" if code is not None else message
        text = f"Cloudflare API failed to {step} for {name!r} ({what})"
        super().__init__(f"{text}; {hint}" if hint else text)


class ZoneNotFound(Error):
    """No Cloudflare zone visible to the credentials contains the name."""

    def __init__(self, name: str, guesses: Sequence[str], source: str) -> None:
        self.name = name
        self.guesses = tuple(guesses)
        tried = ", ".join(self.guesses)
        super().__init__(
            f"No Cloudflare zone for {name!r} is visible to the credentials in "
            f"{source} (tried {tried}); add the domain to this Cloudflare account, "
            "or give the token access to its zone"
        )


class DelegationError(Error):
    """The CNAME chain at a challenge name cannot be followed to a usable zone."""

    def __init__(self, chain: Sequence[str], problem: str, change: str) -> None:
        self.chain = tuple(chain)
        self.problem = problem
        path = " -> ".join(self.chain)
        # Turning following off cannot help: no TXT record may sit beside a CNAME.
        super().__init__(
            f"Cannot follow the CNAME chain {path}: {problem}; {change}, or delete "
            f"the CNAME at {self.chain[0]} to have the record written there"
        )


class ZoneIdMismatch(Error):
    """A zone id wrote a name into another zone: a pin names the wrong zone's id."""

    def __init__(self, name: str, written: str, zone: str, zone_id: str) -> None:
        self.name = name
        self.written = written
        self.zone = zone
        self.zone_id = zone_id
        super().__init__(
            f"Cloudflare wrote the TXT record for {name!r} as {written!r}, so zone id "
            f"{zone_id} is not the id of {zone!r}; correct dns_cloudflare_ext_zone_id "
            "with the id on the zone's Overview page"
        )


class PropagationTimeout(Error):
    """The authoritative nameservers did not serve every TXT record in time."""

    def __init__(
        self, timeout: float, answers: Mapping[str, str], silent: Sequence[str] = ()
    ) -> None:
        self.timeout = timeout
        self.answers = dict(answers)
        self.silent = tuple(silent)
        seen = "; ".join(f"{server}: {answer}" for server, answer in answers.items())
        # More time cannot help a server that never answers.
        fix = "raise --dns-cloudflare-ext-propagation-timeout"
        if self.silent:
            them = "them" if len(self.silent) > 1 else "it"
            fix = (
                f"{', '.join(self.silent)} never answered: let DNS through to {them}, "
                "or name the nameservers to ask with --dns-cloudflare-ext-nameservers"
            )
        super().__init__(
            f"Cloudflare's nameservers did not serve the TXT records within "
            f"{timeout:g} s ({seen}); {fix}"
        )


class NameserversUnknown(Error):
    """No address of a zone's nameservers was found, so nothing can be checked."""

    def __init__(self, zone: str, hosts: Sequence[str], *, given: bool) -> None:
        self.zone = zone
        self.hosts = tuple(hosts)
        self.given = given
        if given:
            message = (
                f"Found no address of the nameservers given ({', '.join(hosts)}); "
                "give --dns-cloudflare-ext-nameservers as IP addresses or names "
                "that resolve here"
            )
        else:
            listed = ", ".join(self.hosts) or "its NS records named none"
            message = (
                f"Found no address of the nameservers of zone {zone!r} ({listed}); "
                "name reachable ones with --dns-cloudflare-ext-nameservers, or "
                "turn the check off with --dns-cloudflare-ext-no-propagation-check"
            )
        super().__init__(message)


def cloudflare_error(
    step: str,
    name: str,
    *,
    code: int | None,
    message: str,
    source: str,
    transient: bool = False,
) -> CloudflareError:
    """Build the error for one failed API call, with the hint for its code and step."""
    hint = _HINTS.get(code) if code is not None else None
    if code == Code.PERMISSION and step in ZONE_STEPS:
        hint = _ZONE_LIST_HINT
    if hint is None and transient:
        hint = _UNAVAILABLE_HINT
    permission = _PERMISSIONS.get(step, ZONE_DNS_EDIT)
    return CloudflareError(
        step,
        name,
        code=code,
        message=message,
        hint=hint.format(source=source, permission=permission) if hint else None,
        transient=transient,
    )


def read_api_error(body: object) -> tuple[int | None, str] | None:
    """Return the code and message of Cloudflare's first error, or None for none.

    A 6003 says only that some header is malformed, and its ``error_chain`` names
    the header; the chain's code and message then stand for it, so that the hint
    fits the header. Both backends read errors here, so they tell the same story.
    """
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], Mapping):
        return None
    first = errors[0]

    chain = first.get("error_chain")
    if first.get("code") == Code.HEADER_FORMAT and isinstance(chain, list) and chain:
        named = chain[0]
        if isinstance(named, Mapping) and named.get("code") in _HEADER_CODES:
            first = named
    return first.get("code"), str(first.get("message") or "no message").strip()


def token_source(source: str, *, split: bool, lookups: bool) -> str:
    """Name the token of split tokens that a call uses, where hints show the source.

    Without split tokens one credential makes every call, and the source says all.
    """
    if not split:
        return source
    return f"{source} ({'zone lookup token' if lookups else 'edit token'})"
