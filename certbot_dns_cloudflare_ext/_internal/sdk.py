"""The Cloudflare backend built on the official ``cloudflare`` SDK."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import cloudflare

from .credentials import Account
from .errors import (
    ALREADY_EXISTS,
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
from .records import COMMENT, ZONES_PER_PAGE, Record, Zone, is_last_page
from .retry import Failure, parse_retry_after, retriers, transient_status

logger = logging.getLogger(__name__)

_RECORDS_PER_PAGE = 100

_T = TypeVar("_T")


class SdkBackend:
    """Talk to Cloudflare through one SDK client per credential, built once."""

    label = "the cloudflare SDK"
    marks_records = True

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
        self._timeout = timeout
        split = bool(account.zone_api_token)

        self._retrier, self._lookup_retrier = retriers(
            source, retries, split=split, sleep=sleep, clock=clock
        )
        self._edits = _client(account, account.api_token, timeout)
        self._lookups = (
            _client(account, account.zone_api_token, timeout) if split else self._edits
        )

    def __repr__(self) -> str:
        return f"SdkBackend(source={self.source!r})"

    def list_zones(
        self, name: str | None = None, page: int = 1
    ) -> tuple[list[Zone], bool]:
        """List one page of visible zones (optionally with this exact name).

        Also say whether it was the last page.
        """
        # Without a name this lists the account's zones; the credentials say whose.
        step = (LOOK_UP_ZONE, name) if name else (LIST_ZONES, self.source)
        listed = self._call(
            *step,
            lambda: self._lookups.zones.list(
                **({"name": name} if name else {}),
                page=page,
                per_page=ZONES_PER_PAGE,
            ),
            lookups=True,
        )
        zones = [_zone(raw) for raw in listed.result or []]
        total_pages = getattr(listed.result_info, "total_pages", None)
        logger.debug("GET /zones name=%s page=%d: %d zones", name, page, len(zones))
        return zones, is_last_page(page, total_pages, len(zones))

    def create_txt(
        self, zone: Zone, name: str, content: str, ttl: int
    ) -> Record | None:
        """Create a TXT record; return None when an identical one already exists."""
        try:
            raw = self._call(
                CREATE_RECORD,
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
                list_records_step(type),
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

    def delete_record(self, zone: Zone, record_id: str, name: str = "") -> None:
        """Delete one record by id; a record that is already gone counts as deleted.

        ``name``, the record's name, is what an error names; else the id.
        """
        try:
            self._call(
                DELETE_RECORD,
                name or record_id,
                lambda: self._edits.dns.records.delete(record_id, zone_id=zone.id),
            )
        except CloudflareError as exc:
            # A retried delete whose first attempt got through finds nothing.
            if exc.code != Code.RECORD_NOT_FOUND:
                raise
        logger.debug("DELETE /zones/%s/dns_records/%s", zone.id, record_id)

    def verify_token(self) -> str:
        """Return the API token's status, such as ``active``."""
        verified = self._call(VERIFY_TOKEN, self.source, self._edits.user.tokens.verify)
        return str(verified.status)

    def _call(
        self, step: str, name: str, request: Callable[[], _T], *, lookups: bool = False
    ) -> _T:
        """Make one API call through the shared retry policy."""
        retrier = self._lookup_retrier if lookups else self._retrier
        return retrier.call(
            step,
            name,
            request,
            errors=(cloudflare.APIStatusError, cloudflare.APIConnectionError),
            describe=functools.partial(_describe, timeout=self._timeout),
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


def _describe(exc: BaseException, *, timeout: float) -> Failure:
    """Say what failed: Cloudflare's code and message, or what the network did."""
    if isinstance(exc, cloudflare.APIStatusError):
        code, message = _first_error(exc)
        return Failure(
            code,
            message,
            transient_status(exc.status_code),
            parse_retry_after(exc.response.headers.get("retry-after")),
        )
    if isinstance(exc, cloudflare.APITimeoutError):
        return Failure(None, f"no answer within {timeout:g} s", transient=True)
    cause = exc.__cause__.__class__.__name__ if exc.__cause__ else "no reply"
    # The address says whether CLOUDFLARE_BASE_URL sent us somewhere unexpected.
    request = getattr(exc, "request", None)
    host = request.url.host if request is not None else "Cloudflare"
    message = f"connection to {host} failed without an answer ({cause})"
    return Failure(None, message, True)


def _first_error(exc: cloudflare.APIStatusError) -> tuple[int | None, str]:
    """Pick Cloudflare's own code and message, never an HTML page."""
    found = read_api_error(exc.body)
    if found is not None:
        return found
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
