"""Read and check Cloudflare credentials from an ini file or the environment."""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import TOKENS_URL, CredentialsError

logger = logging.getLogger(__name__)

PREFIX = "dns_cloudflare_ext_"
OFFICIAL_PREFIX = "dns_cloudflare_"

#: Our field name -> environment variables that may hold it, in precedence order.
ENVIRONMENT = {
    "api_token": ("CLOUDFLARE_API_TOKEN", "CF_API_TOKEN"),
    "email": ("CLOUDFLARE_EMAIL", "CF_EMAIL"),
    "api_key": ("CLOUDFLARE_API_KEY", "CF_KEY"),
    "zone_api_token": ("CLOUDFLARE_ZONE_API_TOKEN", "CF_ZONE_API_TOKEN"),
    "zone_id": ("CLOUDFLARE_ZONE_ID",),
}
#: How a credentials file names each field; the environment names variables.
FILE_KEYS = {name: PREFIX + name for name in ENVIRONMENT}
_SECRET_FIELDS = ("api_token", "api_key", "zone_api_token")
_OFFICIAL_FIELDS = ("api_token", "email", "api_key")

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN_LENGTH = 40
_GLOBAL_KEY = re.compile(r"[0-9a-fA-F]+")
#: What a Global API Key looks like; no API token has this shape.
_GLOBAL_KEY_SHAPE = re.compile(r"[0-9a-f]{37}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_ZONE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Account:
    """One set of Cloudflare credentials: a token, or an email with a Global API Key."""

    api_token: str | None = field(default=None, repr=False)
    email: str | None = None
    api_key: str | None = field(default=None, repr=False)
    zone_api_token: str | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """Name the kind of credential, for messages that must not show its value."""
        return "API token" if self.api_token else "Global API Key"


@dataclass(frozen=True)
class Credentials:
    """Every account a run may use, and where they came from."""

    source: str
    default: Account | None
    per_zone: Mapping[str, Account] = field(default_factory=dict)
    zone_ids: Mapping[str, str] = field(default_factory=dict)

    def for_zone(self, zone: str) -> Account:
        """Return the account that manages ``zone``."""
        account = self.per_zone.get(zone, self.default)
        if account is None:
            raise CredentialsError(
                self.source,
                None,
                f"no [section] covers {zone!r} and the file has no default credentials",
                f"add default {PREFIX}api_token or a [zone] section for its zone",
            )
        return account


#: Where the plugin's credentials path is set, for the fix of a wrong one.
PLUGIN_SETTING = (
    "--dns-cloudflare-ext-credentials (for certbot renew, the "
    "dns_cloudflare_ext_credentials line of the renewal conf)"
)


def load_file(path: str, setting: str = PLUGIN_SETTING) -> Credentials:
    """Parse the credentials ini at ``path``; no message ever quotes a line of it.

    ``setting`` names where the path was given, for the fix when it is wrong.
    """
    import configobj
    from certbot.plugins.dns_common import validate_file_permissions

    if not os.path.exists(path):
        fix = f"create it, or correct {setting}"
        raise CredentialsError(path, None, "does not exist", fix)
    if os.path.isdir(path):
        fix = "give the path of the ini file, not of its directory"
        raise CredentialsError(path, None, "is a directory", fix)
    # certbot's own warning when others may read the file.
    validate_file_permissions(path)

    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
    except OSError as exc:
        fix = "make it readable by the user that runs certbot"
        problem = f"cannot be read ({exc.strerror})"
        raise CredentialsError(path, None, problem, fix) from None
    except UnicodeDecodeError:
        raise CredentialsError(
            path, None, "is not UTF-8 text", "save it as UTF-8"
        ) from None

    # Parsed here rather than by certbot's CredentialsConfiguration, which quotes
    # a line it cannot read in its error and its debug log: it may be a secret.
    try:
        confobj = configobj.ConfigObj(text.splitlines())
    except configobj.ConfigObjError as exc:
        problem, fix = _parse_problem(exc)
        raise CredentialsError(
            path, None, f"cannot be parsed ({problem})", fix
        ) from None
    return parse(confobj, source=path)


def _parse_problem(exc: Exception) -> tuple[str, str]:
    """Describe configobj's first complaint without the line it quotes; give a fix."""
    from configobj import DuplicateError, ParseError

    first = (getattr(exc, "errors", None) or [exc])[0]
    number = getattr(first, "line_number", "?")
    # configobj's exception classes say what is wrong; their text quotes the line.
    if isinstance(first, DuplicateError):
        return f"line {number} repeats a key or section", "keep only one of them"
    if isinstance(first, ParseError) and str(first).startswith("Parse error in value"):
        problem = f"line {number} has a value whose quotes do not match"
    else:
        problem = f"line {number} is neither key = value nor a [section]"
    return (
        problem,
        "write one key = value per line, quoting a value with matching quotes",
    )


def load_environment(environ: Mapping[str, str] = os.environ) -> Credentials | None:
    """Read credentials from the environment, or return None when it holds none."""
    values: dict[str, str] = {}
    used: dict[str, str] = {}
    for name, variables in ENVIRONMENT.items():
        # A token wins over an email and Global API Key set for other tools.
        if name in ("email", "api_key") and PREFIX + "api_token" in values:
            continue
        for variable in variables:
            found = _read_variable(environ, variable)
            if found is not None:
                values[PREFIX + name], used[name] = found
                break
    if not values:
        return None
    source = "environment (" + ", ".join(used.values()) + ")"
    logger.info("Using Cloudflare credentials from the %s", source)
    return parse(values, source=source, keys=_variable_keys(used))


def _variable_keys(used: Mapping[str, str]) -> dict[str, str]:
    """Name each field by the variable read for it, or else the one to set."""
    # CF_EMAIL goes with CF_KEY, CLOUDFLARE_EMAIL with CLOUDFLARE_API_KEY.
    short = bool(used) and all(v.startswith("CF_") for v in used.values())
    family = "CF_" if short else "CLOUDFLARE_"
    return {
        name: used.get(name)
        or next((v for v in variables if v.startswith(family)), variables[0])
        for name, variables in ENVIRONMENT.items()
    }


def parse(
    conf: Mapping[str, object],
    *,
    source: str,
    keys: Mapping[str, str] = FILE_KEYS,
) -> Credentials:
    """Check every key of parsed credentials and build them; ``keys`` names fields."""
    from .names import longest_zone

    sections = {k: v for k, v in conf.items() if isinstance(v, Mapping)}
    top = {k: v for k, v in conf.items() if not isinstance(v, Mapping)}

    zone_ids = _parse_zone_ids(_field(top, "zone_id", source, keys), source, keys)
    default = _account(top, source, _as_written(top, keys), required=not sections)
    per_zone: dict[str, Account] = {}
    for section, values in sections.items():
        where, zone = f"{source} [{section}]", _zone_name(section)
        section_keys = _as_written(values, keys)
        per_zone[zone] = _account(values, where, section_keys, required=True)
        pins = _parse_zone_ids(_field(values, "zone_id", where, keys), where, keys)
        # A section's pins are for the names its credentials manage.
        for pinned in pins:
            if not longest_zone(pinned, [zone]):
                raise CredentialsError(
                    where,
                    keys["zone_id"],
                    f"pins {pinned!r}, which is not under {zone!r}",
                    f"move the pin to a [{pinned}] section or above the first section",
                )
        zone_ids |= pins
    return Credentials(source, default, per_zone, zone_ids)


def _as_written(
    values: Mapping[str, object], keys: Mapping[str, str]
) -> Mapping[str, str]:
    """Name fields by the official plugin's keys in a file written with those only."""
    ours = any(key.startswith(PREFIX) for key in values)
    theirs = any(OFFICIAL_PREFIX + name in values for name in _OFFICIAL_FIELDS)
    if keys is FILE_KEYS and theirs and not ours:
        return {**keys, **{name: OFFICIAL_PREFIX + name for name in _OFFICIAL_FIELDS}}
    return keys


def _account(
    values: Mapping[str, object],
    source: str,
    keys: Mapping[str, str],
    *,
    required: bool,
) -> Account | None:
    _reject_unknown(values, source)
    token = _field(values, "api_token", source, keys)
    email = _field(values, "email", source, keys)
    key = _field(values, "api_key", source, keys)
    zone_token = _field(values, "zone_api_token", source, keys)

    # Sent as a token, a Global API Key only earns "invalid token"; say why here.
    if token and _GLOBAL_KEY_SHAPE.fullmatch(token):
        raise CredentialsError(
            source,
            keys["api_token"],
            "looks like a Global API Key (37 hex digits), not an API token",
            f"move it to {keys['api_key']} with {keys['email']}, or create an API "
            f"token at {TOKENS_URL}",
        )
    if token and (email or key):
        raise CredentialsError(
            source,
            keys["api_token"],
            "is given together with an email or Global API Key",
            f"keep only the token, or only {keys['email']} and {keys['api_key']}",
        )
    if key and not email:
        _check_key_is_not_token(key, source, keys, email)
        raise CredentialsError(
            source,
            keys["email"],
            "is missing but a Global API Key is given",
            "add the email address of the Cloudflare account",
        )
    if email and not key:
        raise CredentialsError(
            source,
            keys["api_key"],
            "is missing but an email is given",
            "add the Global API Key, or use an API token instead",
        )
    if not (token or key):
        if not required:
            return None
        raise CredentialsError(
            source,
            None,
            "holds no Cloudflare credentials",
            f"set {keys['api_token']} (or {keys['email']} with {keys['api_key']})",
        )

    if token:
        _check_token(token, source, keys["api_token"])
    if zone_token:
        _check_token(zone_token, source, keys["zone_api_token"])
    if key:
        _check_key_is_not_token(key, source, keys, email)
        if not _GLOBAL_KEY.fullmatch(key):
            raise _malformed(
                source, keys["api_key"], key, "a hexadecimal Global API Key"
            )
        if not _EMAIL.fullmatch(email or ""):
            raise CredentialsError(
                source,
                keys["email"],
                "is not an email address",
                "use the email address you log in to Cloudflare with",
            )
    return Account(token, email, key, zone_token)


def _field(
    values: Mapping[str, object], name: str, source: str, keys: Mapping[str, str]
) -> str | None:
    """Return our key's value, falling back to the official plugin's key."""
    ours = values.get(PREFIX + name)
    theirs = values.get(OFFICIAL_PREFIX + name) if name in _OFFICIAL_FIELDS else None
    if ours is not None and theirs is not None and ours != theirs:
        logger.warning(
            "%s: %s%s and %s%s disagree; using %s%s",
            source,
            PREFIX,
            name,
            OFFICIAL_PREFIX,
            name,
            PREFIX,
            name,
        )
    value = ours if ours is not None else theirs
    if value == "" and name in _SECRET_FIELDS + ("email",):
        key = keys[name] if ours is not None else OFFICIAL_PREFIX + name
        raise CredentialsError(
            source, key, "is empty", "give its value after the =, or remove the line"
        )
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CredentialsError(
            source, keys[name], "is given more than once", "keep a single value"
        )
    return value


def _check_token(token: str, source: str, key: str) -> None:
    if not _TOKEN.fullmatch(token):
        raise _malformed(source, key, token, "an API token")


def _check_key_is_not_token(
    key: str, source: str, keys: Mapping[str, str], email: str | None
) -> None:
    # API tokens are 40 characters; a Global API Key with a typo is not one.
    if len(key) == _TOKEN_LENGTH and _TOKEN.fullmatch(key):
        fix = f"move it to {keys['api_token']}"
        raise CredentialsError(
            source,
            keys["api_key"],
            "holds an API token, not a Global API Key",
            f"{fix} and remove {keys['email']}" if email else fix,
        )


def _malformed(source: str, key: str, value: str, expected: str) -> CredentialsError:
    """Describe what is wrong with a secret without ever showing it."""
    if value != value.strip():
        problem = "has leading or trailing whitespace"
        fix = "remove the spaces or line break around the value"
    elif len(value) > 1 and value[0] == value[-1] and value[0] in "\"'":
        problem = "is wrapped in quotes"
        fix = "remove the quotes around the value"
    elif "'" in value or '"' in value:
        problem = "contains a quote"
        fix = "remove the stray quote; copy the value again if unsure"
    elif any(ord(c) < 32 or ord(c) == 127 for c in value):
        problem = "contains a control character"
        fix = "copy the value again from the Cloudflare dashboard"
    else:
        problem = f"does not look like {expected}"
        fix = "copy the value again from the Cloudflare dashboard"
    return CredentialsError(source, key, problem, fix)


def _reject_unknown(keys: Mapping[str, object], source: str) -> None:
    known = [PREFIX + name for name in ENVIRONMENT]
    known += [OFFICIAL_PREFIX + name for name in _OFFICIAL_FIELDS]
    for key in keys:
        if key in known or not key.startswith(OFFICIAL_PREFIX):
            continue
        close = difflib.get_close_matches(key, known, n=1)
        fix = f"did you mean {close[0]}?" if close else "remove it"
        raise CredentialsError(source, key, "is not a known key", fix)


def _parse_zone_ids(
    value: str | None, source: str, keys: Mapping[str, str]
) -> dict[str, str]:
    """Parse ``zone:id`` pairs, separated by commas."""
    if not value:
        return {}
    pins: dict[str, str] = {}
    for pair in value.split(","):
        zone, _, zone_id = pair.strip().rpartition(":")
        if not zone or not _ZONE_ID.fullmatch(zone_id.strip().lower()):
            raise CredentialsError(
                source,
                keys["zone_id"],
                f"has {pair.strip()!r}, which is not zone:id with a 32-hex-digit id",
                "write it as example.com:<zone id from the zone's Overview page>",
            )
        pins[_zone_name(zone)] = zone_id.strip().lower()
    return pins


def _zone_name(name: str) -> str:
    from .names import to_ascii

    return to_ascii(name)


def _read_variable(environ: Mapping[str, str], variable: str) -> tuple[str, str] | None:
    """Read ``variable``, or the file named by ``variable_FILE``, as Docker does."""
    if environ.get(variable):
        return environ[variable], variable
    path = environ.get(variable + "_FILE")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as secret:
            return secret.read().rstrip("\r\n"), variable + "_FILE"
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(
            f"environment variable {variable}_FILE",
            None,
            f"names {path!r}, which cannot be read ({exc.__class__.__name__})",
            "point it at a readable UTF-8 file holding only the secret",
        ) from None
