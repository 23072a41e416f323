"""The values a backend hands back: zones and DNS records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

#: Marks records this plugin wrote, so cleanup and sweep never touch others.
COMMENT = "ACME challenge by certbot-dns-cloudflare-ext"

#: The most zones ``GET /zones`` returns in one page.
ZONES_PER_PAGE = 50


@dataclass(frozen=True)
class Zone:
    """A Cloudflare zone, as far as we need it."""

    id: str
    name: str
    status: str = "active"
    name_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    """A DNS record stored at Cloudflare."""

    id: str
    zone_id: str
    name: str
    type: str
    content: str
    comment: str | None = None
    created_on: str | None = field(default=None, compare=False)


class Backend(Protocol):
    """What the core needs from a Cloudflare client library."""

    source: str
    #: The library's name, for messages.
    label: str
    #: Whether records carry our comment marker; dns-lexicon cannot write comments.
    marks_records: bool

    def list_zones(
        self, name: str | None = None, page: int = 1
    ) -> tuple[list[Zone], bool]:
        """List one page of visible zones (optionally with this exact name).

        Also say whether it was the last page.
        """

    def create_txt(
        self, zone: Zone, name: str, content: str, ttl: int
    ) -> Record | None:
        """Create a TXT record; return None when an identical one already exists."""

    def find_records(
        self, zone: Zone, type: str, name: str | None = None, content: str | None = None
    ) -> list[Record]:
        """List the zone's records of ``type``, filtered by exact name and content."""

    def delete_record(self, zone: Zone, record_id: str, name: str = "") -> None:
        """Delete one record by id; errors name ``name`` when it is given."""

    def verify_token(self) -> str:
        """Return the API token's status, such as ``active``."""


def is_last_page(page: int, total_pages: int | None, count: int) -> bool:
    """Say whether a page of zones was the last, by ``result_info`` or its size."""
    if total_pages:
        return page >= total_pages
    return count < ZONES_PER_PAGE
