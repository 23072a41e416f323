"""The Cloudflare backend built on the official ``cloudflare`` SDK."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import cloudflare

from .credentials import Account
from .errors import ALREADY_EXISTS, CloudflareError, cloudflare_error
from .records import COMMENT, Record, Zone

logger = logging.getLogger(__name__)

_ZONES_PER_PAGE = 50
_RECORDS_PER_PAGE = 100


class SdkBackend:
    """Talk to Cloudflare through one SDK client per credential, built once."""

    def __init__(
        self, account: Account, source: str, *, retries: int = 4, timeout: float = 30
    ) -> None:
        self.source = source
        self._edits = _client(account, account.api_token, retries, timeout)
        self._lookups = (
            _client(account, account.zone_api_token, retries, timeout)
            if account.zone_api_token
            else self._edits
        )

    def __repr__(self) -> str:
        return f"SdkBackend(source={self.source!r})"

    def list_zones(self, name: str | None = None) -> tuple[list[Zone], bool]:
        """List visible zones (optionally with this exact name); say if complete."""
        with self._translated("look up the zone", name or "all zones"):
            page = self._lookups.zones.list(
                **({"name": name} if name else {}), per_page=_ZONES_PER_PAGE
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
            with self._translated("create the TXT record", name):
                raw = self._edits.dns.records.create(
                    zone_id=zone.id,
                    type="TXT",
                    name=name,
                    content=content,
                    ttl=ttl,
                    comment=COMMENT,
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
            with self._translated(f"list {type} records", name or zone.name):
                page = self._edits.dns.records.list(
                    zone_id=zone.id, page=page_number, **filters
                )
            found += [_record(raw, zone) for raw in page.result or []]
            total_pages = getattr(page.result_info, "total_pages", None) or 1
            logger.debug("GET /zones/%s/dns_records page %d", zone.id, page_number)
            if page_number >= total_pages:
                return found
            page_number += 1

    def delete_record(self, zone: Zone, record_id: str) -> None:
        """Delete one record by id."""
        with self._translated("delete the TXT record", record_id):
            self._edits.dns.records.delete(record_id, zone_id=zone.id)
        logger.debug("DELETE /zones/%s/dns_records/%s", zone.id, record_id)

    def verify_token(self) -> str:
        """Return the API token's status, such as ``active``."""
        with self._translated("verify the API token", self.source):
            return str(self._edits.user.tokens.verify().status)

    @contextlib.contextmanager
    def _translated(self, step: str, name: str) -> Iterator[None]:
        """Turn every SDK and network error into one of our errors."""
        try:
            yield
        except cloudflare.APIStatusError as exc:
            code, message = _first_error(exc)
            raise cloudflare_error(
                step, name, code=code, message=message, source=self.source
            ) from exc
        except cloudflare.APIConnectionError as exc:
            cause = exc.__cause__.__class__.__name__ if exc.__cause__ else "no reply"
            message = f"{exc.message.rstrip('.')} ({cause})"
            raise cloudflare_error(
                step, name, code=None, message=message, source=self.source
            ) from exc


def _client(
    account: Account, token: str | None, retries: int, timeout: float
) -> cloudflare.Cloudflare:
    if token:
        client = cloudflare.Cloudflare(
            api_token=token, max_retries=retries, timeout=timeout
        )
        # The SDK also reads CLOUDFLARE_EMAIL/KEY, which would override a token.
        client.api_email = client.api_key = None
    else:
        client = cloudflare.Cloudflare(
            api_email=account.email,
            api_key=account.api_key,
            max_retries=retries,
            timeout=timeout,
        )
        client.api_token = None
    return client


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
