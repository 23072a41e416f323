"""The Cloudflare backend built on the official ``cloudflare`` SDK."""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import cloudflare

from .credentials import Account
from .errors import ALREADY_EXISTS, CloudflareError, Code, cloudflare_error
from .records import COMMENT, Record, Zone

logger = logging.getLogger(__name__)

_ZONES_PER_PAGE = 50
_RECORDS_PER_PAGE = 100

#: Statuses worth another attempt besides 5xx: request timeout, lock, rate limit.
_RETRY_STATUSES = frozenset({408, 409, 429})
#: The first pause between attempts; it doubles up to _MAX_BACKOFF, with jitter.
_FIRST_BACKOFF = 0.5
_MAX_BACKOFF = 8.0
#: No call starts another attempt later than this many seconds after its first.
RETRY_WINDOW = 120.0

_T = TypeVar("_T")


class SdkBackend:
    """Talk to Cloudflare through one SDK client per credential, built once."""

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
        self._retries = retries
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self._edits = _client(account, account.api_token, timeout)
        self._lookups = (
            _client(account, account.zone_api_token, timeout)
            if account.zone_api_token
            else self._edits
        )

    def __repr__(self) -> str:
        return f"SdkBackend(source={self.source!r})"

    def list_zones(self, name: str | None = None) -> tuple[list[Zone], bool]:
        """List visible zones (optionally with this exact name); say if complete."""
        page = self._call(
            "look up the zone",
            name or "all zones",
            lambda: self._lookups.zones.list(
                **({"name": name} if name else {}), per_page=_ZONES_PER_PAGE
            ),
        )
        zones = [_zone(raw) for raw in page.result or []]
        total_pages = getattr(page.result_info, "total_pages", None)
        complete = total_pages == 1 if total_pages else len(zones) < _ZONES_PER_PAGE
        logger.debug("GET /zones name=%s: %d zones", name, len(zones))
        return zones, complete

    def create_txt(
        self, zone: Zone, name: str, content: str, ttl: int
    ) -> Record | None:
        """Create a TXT record; return None when an identical one already exists."""
        try:
            raw = self._call(
                "create the TXT record",
                name,
                lambda: self._edits.dns.records.create(
                    zone_id=zone.id,
                    type="TXT",
                    name=name,
                    content=content,
                    ttl=ttl,
                    comment=COMMENT,
                ),
            )
        except CloudflareError as exc:
            if exc.code in ALREADY_EXISTS:
                logger.debug("POST dns_records %s: already exists", name)
                return None
            raise
        logger.debug("POST /zones/%s/dns_records %s: created %s", zone.id, name, raw.id)
        return _record(raw, zone)

    def find_records(
        self, zone: Zone, type: str, name: str | None = None, content: str | None = None
    ) -> list[Record]:
        """List the zone's records of ``type``, filtered by exact name and content."""
        filters: dict[str, Any] = {"type": type, "per_page": _RECORDS_PER_PAGE}
        if name:
            filters["name"] = {"exact": name}
        if content:
            filters["content"] = {"exact": content}
        found: list[Record] = []
        page_number = 1
        while True:
            page = self._call(
                f"list {type} records",
                name or zone.name,
                functools.partial(
                    self._edits.dns.records.list,
                    zone_id=zone.id,
                    page=page_number,
                    **filters,
                ),
            )
            found += [_record(raw, zone) for raw in page.result or []]
            total_pages = getattr(page.result_info, "total_pages", None) or 1
            logger.debug("GET /zones/%s/dns_records page %d", zone.id, page_number)
            if page_number >= total_pages:
                return found
            page_number += 1

    def delete_record(self, zone: Zone, record_id: str) -> None:
        """Delete one record by id; a record that is already gone counts as deleted."""
        try:
            self._call(
                "delete the TXT record",
                record_id,
                lambda: self._edits.dns.records.delete(record_id, zone_id=zone.id),
            )
        except CloudflareError as exc:
            # A retried delete whose first attempt got through finds nothing.
            if exc.code != Code.RECORD_NOT_FOUND:
                raise
        logger.debug("DELETE /zones/%s/dns_records/%s", zone.id, record_id)

    def verify_token(self) -> str:
        """Return the API token's status, such as ``active``."""
        verified = self._call(
            "verify the API token", self.source, self._edits.user.tokens.verify
        )
        return str(verified.status)

    def _call(self, step: str, name: str, request: Callable[[], _T]) -> _T:
        """Make one API call, retry what may pass, and translate what does not.

        Retries honour Retry-After and otherwise back off exponentially, with
        jitter; there are at most ``retries`` of them, none after RETRY_WINDOW.
        """
        started = self._clock()
        attempt = 1
        while True:
            try:
                return request()
            except (cloudflare.APIStatusError, cloudflare.APIConnectionError) as exc:
                pause = self._pause_before_retry(exc, attempt, started)
                if pause is None:
                    raise self._translate(exc, step, name, attempt) from exc
                code, message = _describe(exc, self._timeout)
                logger.info(
                    "Cloudflare API failed to %s for %r (%s); retry %d of %d in %.1f s",
                    step,
                    name,
                    message if code is None else f"error {code}: {message}",
                    attempt,
                    self._retries,
                    pause,
                )
            self._sleep(pause)
            attempt += 1

    def _pause_before_retry(
        self, exc: cloudflare.APIError, attempt: int, started: float
    ) -> float | None:
        """Return how long to wait before the next attempt, or None to give up."""
        if attempt > self._retries or not _is_transient(exc):
            return None
        retry_after = (
            _retry_after(exc.response)
            if isinstance(exc, cloudflare.APIStatusError)
            else None
        )
        if retry_after is not None:
            pause = retry_after * random.uniform(1.0, 1.25)
        else:
            backoff = min(_FIRST_BACKOFF * 2 ** (attempt - 1), _MAX_BACKOFF)
            pause = backoff * random.uniform(0.75, 1.0)
        if self._clock() + pause - started > RETRY_WINDOW:
            return None
        return pause

    def _translate(
        self, exc: cloudflare.APIError, step: str, name: str, attempts: int
    ) -> CloudflareError:
        """Turn an SDK or network error into ours, saying how often we tried."""
        code, message = _describe(exc, self._timeout)
        if attempts > 1:
            message += f"; gave up after {attempts} attempts"
        return cloudflare_error(
            step,
            name,
            code=code,
            message=message,
            source=self.source,
            transient=_is_transient(exc),
        )


def _client(
    account: Account, token: str | None, timeout: float
) -> cloudflare.Cloudflare:
    # Retries are ours (see SdkBackend._call), so the SDK makes one attempt.
    if token:
        client = cloudflare.Cloudflare(api_token=token, max_retries=0, timeout=timeout)
        # The SDK also reads CLOUDFLARE_EMAIL/KEY, which would override a token.
        client.api_email = client.api_key = None
    else:
        client = cloudflare.Cloudflare(
            api_email=account.email,
            api_key=account.api_key,
            max_retries=0,
            timeout=timeout,
        )
        client.api_token = None
    return client


def _is_transient(exc: cloudflare.APIError) -> bool:
    """Tell failures that may pass (no answer, 5xx, 429) from definite refusals."""
    if isinstance(exc, cloudflare.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in _RETRY_STATUSES
    return isinstance(exc, cloudflare.APIConnectionError)


def _retry_after(response: Any) -> float | None:
    """Read Retry-After as seconds, from either of its two forms."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe(exc: cloudflare.APIError, timeout: float) -> tuple[int | None, str]:
    """Say what failed: Cloudflare's code and message, or what the network did."""
    if isinstance(exc, cloudflare.APIStatusError):
        return _first_error(exc)
    if isinstance(exc, cloudflare.APITimeoutError):
        return None, f"no answer within {timeout:g} s"
    cause = exc.__cause__.__class__.__name__ if exc.__cause__ else "no reply"
    return None, f"connection failed without an answer ({cause})"


def _first_error(exc: cloudflare.APIStatusError) -> tuple[int | None, str]:
    """Pick Cloudflare's own code and message, never an HTML page."""
    if exc.errors:
        first = exc.errors[0]
        return first.code, (first.message or "no message").strip()
    reason = exc.response.reason_phrase or "error"
    return None, f"HTTP {exc.status_code} {reason}, not a Cloudflare API response"


def _zone(raw: Any) -> Zone:
    from .names import to_ascii

    return Zone(
        id=raw.id,
        name=to_ascii(raw.name),
        status=str(raw.status or "active"),
        name_servers=tuple(raw.name_servers or ()),
    )


def _record(raw: Any, zone: Zone) -> Record:
    created = getattr(raw, "created_on", None)
    return Record(
        id=raw.id,
        zone_id=zone.id,
        name=raw.name,
        type=raw.type,
        content=raw.content,
        comment=getattr(raw, "comment", None),
        created_on=created.isoformat() if hasattr(created, "isoformat") else created,
    )
