"""Choose the library that talks to Cloudflare, importing it only when used."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import re

from .credentials import Account
from .errors import OptionError
from .records import Backend
from .settings import Settings

logger = logging.getLogger(__name__)

_OPTION = "dns-cloudflare-ext-backend"
_SDK_FIX = "install the cloudflare SDK 4 or later (pip install 'cloudflare>=4')"
_LEXICON_FIX = (
    "install dns-lexicon 3.11 or later (apt install python3-lexicon, or "
    "pip install 'certbot-dns-cloudflare-ext[lexicon]')"
)


def create_backend(account: Account, source: str, settings: Settings) -> Backend:
    """Build the backend for one set of credentials."""
    if choose(settings.backend) == "sdk":
        from .sdk import SdkBackend

        return SdkBackend(
            account, source, retries=settings.retries, timeout=settings.api_timeout
        )

    from .lexicon_backend import LexiconBackend

    return LexiconBackend(
        account, source, retries=settings.retries, timeout=settings.api_timeout
    )


@functools.cache
def choose(choice: str) -> str:
    """Return ``sdk`` or ``lexicon`` for the option's value, logging the choice once.

    ``auto`` prefers the official SDK and falls back to lexicon where only an SDK
    older than 4 is around, as on Debian bookworm (python3-cloudflare 2.11).
    """
    sdk = _sdk_problem() if choice in ("auto", "sdk") else None
    if choice == "sdk" and sdk:
        # Where certbot is the distribution's, lexicon is the fix that fits.
        fix = f"choose lexicon or auto, or {_SDK_FIX} where certbot runs"
        raise OptionError(_OPTION, choice, f"{sdk}; {fix}")
    if choice in ("auto", "sdk") and not sdk:
        logger.info("Talking to Cloudflare through the cloudflare SDK (%s)", choice)
        return "sdk"

    lexicon = _lexicon_problem()
    if lexicon and choice == "lexicon":
        raise OptionError(_OPTION, choice, f"{lexicon}; {_LEXICON_FIX}, or choose sdk")
    if lexicon:
        raise OptionError(
            _OPTION, choice, f"{sdk}, and {lexicon}; {_SDK_FIX}, or {_LEXICON_FIX}"
        )
    why = f"{choice}: {sdk}" if sdk else choice
    logger.info("Talking to Cloudflare through dns-lexicon (%s)", why)
    return "lexicon"


def _sdk_problem() -> str | None:
    """Say why the SDK backend cannot run here, or None when it can."""
    problem = _version_problem("cloudflare", "the cloudflare SDK", (4,))
    if problem is None:
        problem = _import_problem("cloudflare", "the cloudflare SDK")
    return problem


def _lexicon_problem() -> str | None:
    """Say why the lexicon backend cannot run here, or None when it can."""
    problem = _version_problem("dns-lexicon", "dns-lexicon", (3, 11))
    if problem is None:
        problem = _import_problem("lexicon.config", "dns-lexicon")
    return problem


def _version_problem(
    distribution: str, label: str, minimum: tuple[int, ...]
) -> str | None:
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return f"{label} is not installed"
    release = tuple(int(part) for part in re.findall(r"\d+", version)[: len(minimum)])
    if release < minimum:
        return f"{label} {version} is too old"
    return None


def _import_problem(module: str, label: str) -> str | None:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return f"{label} cannot be imported ({exc})"
    return None
