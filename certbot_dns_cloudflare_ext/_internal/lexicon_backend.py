"""The Cloudflare backend built on dns-lexicon's Cloudflare provider.

Records are created, listed and deleted through the provider's own operations.
Lexicon has no operation that lists zones or verifies a token, so those two go
through the provider's authenticated request helper, which lexicon 3.11 and all
later versions have. Where lexicon falls short of the SDK:

- it cannot write or read record comments, so our records carry no marker;
- its create answers only "done", so learning the new record's id costs a listing;
- it gives requests no timeout, so each call runs in a thread we stop waiting for.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import requests
from lexicon.config import ConfigResolver
from lexicon.exceptions import LexiconError

from .credentials import Account
from .errors import (
    ALREADY_EXISTS,
    API_URL,
    CREATE_RECORD,
    DELETE_RECORD,
    LIST_ZONES,
    LOOK_UP_ZONE,
    VERIFY_TOKEN,
    CloudflareError,
    Code,
    list_records_step,
    read_api_error,
)
from .names import to_ascii
from .records import ZONES_PER_PAGE, Record, Zone, is_last_page
from .retry import Failure, parse_retry_after, retriers, transient_status

try:  # dns-lexicon 3.15 and later keep the providers in a private package.
    from lexicon._private.providers.cloudflare import Provider
except ImportError:  # dns-lexicon 3.11 to 3.14; Debian bookworm ships 3.11.7.
    from lexicon.providers.cloudflare import Provider

logger = logging.getLogger(__name__)

#: Cloudflare's API root, the one lexicon's provider hard-codes.
DEFAULT_BASE_URL = API_URL


def base_url() -> str:
    """Return the API root: ``CLOUDFLARE_BASE_URL`` like the SDK, else Cloudflare's.

    This is the one place that points lexicon away from the address it hard-codes,
    so that both backends always talk to the same API (a proxy, or a test stand-in).
    """
    return (os.environ.get("CLOUDFLARE_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


class LexiconBackend:
    """Talk to Cloudflare through dns-lexicon: one provider per zone and credential."""

    label = "dns-lexicon"
    marks_records = False

    def __init__(
        self,
        account: Account,
        source: str,
        *,
        retries: int = 4,
        timeout: float = 30,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self._account = account
        self._timeout = timeout
        split = bool(account.zone_api_token)

        self._retrier, self._lookup_retrier = retriers(
            source, retries, split=split, sleep=sleep, clock=clock
        )
        self._providers: dict[tuple[str, str, int | None, bool], Provider] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LexiconBackend(source={self.source!r})"

    def list_zones(
        self, name: str | None = None, page: int = 1
    ) -> tuple[list[Zone], bool]:
        """List one page of visible zones (optionally with this exact name).

        Also say whether it was the last page.
        """
        query: dict[str, Any] = {"page": page, "per_page": ZONES_PER_PAGE}
        if name:
            query["name"] = name
        provider = self._provider(None, lookups=True)
        # Without a name this lists the account's zones; the credentials say whose.
        step = (LOOK_UP_ZONE, name) if name else (LIST_ZONES, self.source)
        payload = self._call(*step, provider._get, "/zones", query, lookups=True)

        zones = [_zone(raw) for raw in payload.get("result") or []]
        total_pages = (payload.get("result_info") or {}).get("total_pages")
        logger.debug("GET /zones name=%s page=%d: %d zones", name, page, len(zones))
        return zones, is_last_page(page, total_pages, len(zones))

    def create_txt(
        self, zone: Zone, name: str, content: str, ttl: int
    ) -> Record | None:
        """Create a TXT record; return None when an identical one already exists.

        Lexicon swallows "already exists" (81057, and 81058 in recent versions)
        itself; the record found afterwards is then the existing one.
        """
        provider = self._provider(zone, ttl=ttl)
        try:
            self._call(
                CREATE_RECORD,
                name,
                provider.create_record,
                "TXT",
                name,
                content,
            )
        except CloudflareError as exc:
            if exc.code in ALREADY_EXISTS:
                logger.debug("POST dns_records %s: already exists", name)
                return None
            raise
        logger.debug("POST /zones/%s/dns_records %s", zone.id, name)

        # Cleanup deletes by id, and lexicon's answer carries none.
        found = self.find_records(zone, "TXT", name, content)
        return found[0] if found else None

    def find_records(
        self, zone: Zone, type: str, name: str | None = None, content: str | None = None
    ) -> list[Record]:
        """List the zone's records of ``type``, filtered by exact name and content."""
        provider = self._provider(zone)
        raw = self._call(
            list_records_step(type),
            name or zone.name,
            provider.list_records,
            type,
            name,
            content,
        )
        logger.debug("GET /zones/%s/dns_records: %d records", zone.id, len(raw))
        return [
            Record(
                id=item["id"],
                zone_id=zone.id,
                name=item["name"],
                type=item["type"],
                content=item["content"],
            )
            for item in raw
        ]

    def delete_record(self, zone: Zone, record_id: str, name: str = "") -> None:
        """Delete one record by id; a record that is already gone counts as deleted.

        ``name``, the record's name, is what an error names; else the id.
        """
        provider = self._provider(zone)
        try:
            self._call(
                DELETE_RECORD, name or record_id, provider.delete_record, record_id
            )
        except CloudflareError as exc:
            # A retried delete whose first attempt got through finds nothing.
            if exc.code != Code.RECORD_NOT_FOUND:
                raise
        logger.debug("DELETE /zones/%s/dns_records/%s", zone.id, record_id)

    def verify_token(self) -> str:
        """Return the API token's status, such as ``active``."""
        provider = self._provider(None)
        payload = self._call(
            VERIFY_TOKEN, self.source, provider._get, "/user/tokens/verify"
        )
        return str((payload.get("result") or {}).get("status"))

    def _provider(
        self, zone: Zone | None, *, ttl: int | None = None, lookups: bool = False
    ) -> Provider:
        """Return the provider for ``zone``, built once and bound to its id."""
        zone_id, zone_name = (zone.id, zone.name) if zone else ("", "")
        lookups = lookups and bool(self._account.zone_api_token)
        key = (zone_id, zone_name, ttl, lookups)
        with self._lock:
            if key not in self._providers:
                provider = _build_provider(self._account, zone_name, ttl, lookups)
                # Binding the id skips lexicon's own zone lookup, which needs the
                # Zone:Read that a pinned zone id is meant to make unnecessary.
                provider.domain_id = zone_id or None
                self._providers[key] = provider
            return self._providers[key]

    def _call(
        self,
        step: str,
        name: str,
        operation: Callable[..., Any],
        *args: Any,
        lookups: bool = False,
    ) -> Any:
        """Run one provider operation through the shared retry policy."""
        retrier = self._lookup_retrier if lookups else self._retrier
        return retrier.call(
            step,
            name,
            lambda: _within(self._timeout, operation, *args),
            errors=(requests.RequestException, LexiconError),
            describe=_describe,
        )


class _NoAnswer(requests.Timeout):
    """A lexicon call outlived the API timeout; lexicon itself sets none."""


def _within(timeout: float, operation: Callable[..., Any], *args: Any) -> Any:
    """Run ``operation`` but stop waiting for it after ``timeout`` seconds.

    A daemon thread is left behind on a hung connection rather than holding up
    certbot until the operating system gives up on it.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = operation(*args)
        except BaseException as exc:  # handed over to the waiting thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="lexicon-call", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise _NoAnswer(f"no answer within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _build_provider(
    account: Account, zone_name: str, ttl: int | None, lookups: bool
) -> Provider:
    if lookups:
        options = {"auth_token": account.zone_api_token}
    elif account.api_token:
        options = {"auth_token": account.api_token}
    else:
        options = {"auth_username": account.email, "auth_token": account.api_key}

    # Only this dict configures the provider: lexicon's environment variables
    # and config files must not slip other credentials in.
    config = ConfigResolver().with_dict(
        {
            "provider_name": "cloudflare",
            "domain": zone_name,
            "ttl": ttl,
            "cloudflare": options,
        }
    )
    provider = Provider(config)
    provider.api_endpoint = base_url()
    return provider


def _http_error(exc: BaseException | None) -> requests.HTTPError | None:
    """Find the HTTP error behind ``exc``; lexicon may fail reading its body."""
    while exc is not None:
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            return exc
        exc = exc.__context__
    return None


def _describe(exc: BaseException) -> Failure:
    """Pick Cloudflare's own code and message, never an HTML page."""
    http = _http_error(exc)
    if http is not None:
        code, message = _first_error(http.response)
        return Failure(
            code,
            message,
            transient_status(http.response.status_code),
            parse_retry_after(http.response.headers.get("Retry-After")),
        )
    if isinstance(exc, requests.Timeout):
        message = str(exc) if isinstance(exc, _NoAnswer) else "no answer"
        return Failure(None, message, transient=True)
    if isinstance(exc, requests.ConnectionError):
        # requests wraps urllib3's error, whose reason names what went wrong.
        cause = exc.args[0] if exc.args else None
        cause = getattr(cause, "reason", cause)
        name = cause.__class__.__name__ if isinstance(cause, Exception) else "no reply"
        url = exc.request.url if exc.request is not None else None
        host = urllib.parse.urlsplit(url).hostname if url else None
        message = f"connection to {host or 'Cloudflare'} failed without an answer"
        return Failure(None, f"{message} ({name})", True)
    return Failure(None, f"dns-lexicon failed: {exc.__class__.__name__}", False)


def _first_error(response: requests.Response) -> tuple[int | None, str]:
    try:
        found = read_api_error(response.json())
    except ValueError:
        found = None
    if found is not None:
        return found
    reason = response.reason or "error"
    return None, f"HTTP {response.status_code} {reason}, not a Cloudflare API response"


def _zone(raw: dict[str, Any]) -> Zone:
    return Zone(
        id=raw["id"],
        name=to_ascii(raw["name"]),
        status=str(raw.get("status") or "active"),
        name_servers=tuple(raw.get("name_servers") or ()),
    )
