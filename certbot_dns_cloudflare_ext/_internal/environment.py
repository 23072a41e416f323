"""Read the hooks' options and credentials from environment variables, in one place.

The dehydrated hook and the certbot manual hooks take no plugin options, so every
option of the certbot plugin has a variable named after it: for example
``--dns-cloudflare-ext-ttl`` is ``DNS_CLOUDFLARE_EXT_TTL``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from . import credentials as _credentials
from .errors import CredentialsError, OptionError, VariableError
from .settings import Settings, parse_nameservers

if TYPE_CHECKING:
    from .solver import Solver

PREFIX = "DNS_CLOUDFLARE_EXT_"

#: Names a credentials ini file, like ``--dns-cloudflare-ext-credentials``.
CREDENTIALS_FILE = PREFIX + "CREDENTIALS"
#: 1 logs progress (INFO), 2 also every API call (DEBUG); secrets never appear.
VERBOSE = PREFIX + "VERBOSE"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")

#: Variable suffix -> (Settings field, parser, what to write instead of a bad value).
_OPTIONS: dict[str, tuple[str, Callable[[str], object], str]] = {
    "PROPAGATION_TIMEOUT": ("propagation_timeout", float, "use a number of seconds"),
    "PROPAGATION_INTERVAL": ("propagation_interval", float, "use a number of seconds"),
    "PROPAGATION_SECONDS": ("propagation_seconds", float, "use a number of seconds"),
    "NO_PROPAGATION_CHECK": ("check_propagation", lambda v: not _flag(v), "use 1 or 0"),
    "NAMESERVERS": ("nameservers", parse_nameservers, "use host[:port],..."),
    "NO_FOLLOW_CNAMES": ("follow_cnames", lambda v: not _flag(v), "use 1 or 0"),
    "TTL": ("ttl", int, "use a whole number of seconds"),
    "WORKERS": ("workers", int, "use a whole number"),
    "RETRIES": ("retries", int, "use a whole number"),
    "API_TIMEOUT": ("api_timeout", float, "use a number of seconds"),
    "BACKEND": ("backend", str.lower, "use sdk, lexicon or auto"),
}
_FLAGS = frozenset({"NO_PROPAGATION_CHECK", "NO_FOLLOW_CNAMES"})

#: A plugin option as error hints name it, such as ``--dns-cloudflare-ext-retries``.
_PLUGIN_OPTION = re.compile(r"--dns-cloudflare-ext-[a-z]+(?:-[a-z]+)*")


def settings_from(environ: Mapping[str, str] = os.environ) -> Settings:
    """Build the run's settings from the ``DNS_CLOUDFLARE_EXT_*`` variables."""
    values: dict[str, object] = {}
    texts: dict[str, str] = {}
    for suffix, (field, parse, fix) in _OPTIONS.items():
        text = environ.get(PREFIX + suffix, "").strip()
        if not text:
            continue
        texts[suffix] = text
        try:
            values[field] = parse(text)
        except OptionError as exc:
            raise VariableError(PREFIX + suffix, text, exc.fix) from None
        except ValueError:
            raise VariableError(PREFIX + suffix, text, fix) from None

    # Settings names its options the way the plugin spells them; name ours.
    try:
        return Settings(**values)
    except OptionError as exc:
        variable = variable_for(exc.option)
        value = texts.get(variable.removeprefix(PREFIX), exc.value)
        raise VariableError(variable, value, exc.fix) from None


def variable_for(option: str) -> str:
    """Return the variable the hooks read for a plugin option, e.g. ``..._TTL``."""
    option = option.removeprefix("--").removeprefix("dns-cloudflare-ext-")
    return PREFIX + option.upper().replace("-", "_")


def name_variables(text: str) -> str:
    """Rewrite the plugin options a message names into the variables we read."""
    return _PLUGIN_OPTION.sub(_variable_of_match, text)


def _variable_of_match(match: re.Match[str]) -> str:
    variable = variable_for(match.group(0))
    suffix = variable.removeprefix(PREFIX)
    # A flag's variable is switched on by a true value, not by being set at all.
    if suffix in _FLAGS:
        return f"{variable}=1"
    if suffix in _OPTIONS or variable == CREDENTIALS_FILE:
        return variable
    return match.group(0)


def credentials_from(
    path: str | None = None, environ: Mapping[str, str] = os.environ
) -> _credentials.Credentials:
    """Load the credentials: the given file, the file a variable names, or secrets."""
    path = path or environ.get(CREDENTIALS_FILE) or None
    if path:
        return _credentials.load_file(path, f"--credentials or {CREDENTIALS_FILE}")

    found = _credentials.load_environment(environ)
    if found is None:
        raise CredentialsError(
            "environment",
            None,
            "holds no Cloudflare credentials",
            "set CF_API_TOKEN (or CF_EMAIL with CF_KEY, or CLOUDFLARE_API_TOKEN), "
            f"or name a credentials ini in {CREDENTIALS_FILE}",
        )
    return found


def verbosity(environ: Mapping[str, str] = os.environ) -> int:
    """Return how much to log: 0 warnings, 1 progress, 2 every API call."""
    text = environ.get(VERBOSE, "").strip().lower()
    if text in _FALSE:
        return 0
    if text in _TRUE:
        return 1
    if text.isdigit():
        return int(text)
    raise VariableError(VERBOSE, text, "use 0, 1 or 2")


def build_solver(
    progress: Callable[[str], None],
    *,
    path: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Solver:
    """Build a solver from the environment, checking options before credentials."""
    from .backends import create_backend
    from .solver import Solver

    settings = settings_from(environ)
    return Solver(
        credentials_from(path, environ),
        settings,
        progress=progress,
        backend_factory=create_backend,
    )


def _flag(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(text)
