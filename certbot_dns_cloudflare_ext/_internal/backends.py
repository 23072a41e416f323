"""Choose the library that talks to Cloudflare, importing it only when used."""

from __future__ import annotations

from .credentials import Account
from .records import Backend
from .settings import Settings


def create_backend(account: Account, source: str, settings: Settings) -> Backend:
    """Build the backend for one set of credentials."""
    from .sdk import SdkBackend

    return SdkBackend(account, source, retries=settings.retries)
