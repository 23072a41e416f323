"""Find, and on request remove, challenge records that crashed runs left behind."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import CloudflareError, Code, MarkersUnreadable, ZonesNotListable
from .records import COMMENT, Backend, Record, Zone
from .solver import Solver

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Findings:
    """What a sweep found: the stale records, and the zones it could not read."""

    stale: list[Stale]
    unreadable: list[str]


@dataclass(frozen=True)
class Stale:
    """A record of ours older than the limit, with what deleting it needs."""

    zone: Zone
    backend: Backend
    record: Record
    age: float


def find_stale(
    solver: Solver,
    zone_names: Sequence[str],
    *,
    older_than: float,
    now: datetime.datetime,
) -> Findings:
    """List the TXT records with our marker older than ``older_than`` seconds."""
    found = Findings([], [])
    for zone in _zones(solver, zone_names):
        backend = solver.backend_for(zone.name)
        if not backend.marks_records:
            raise MarkersUnreadable(backend.label)
        try:
            records = backend.find_records(zone, "TXT")
        except CloudflareError as exc:
            if exc.code != Code.AUTHENTICATION:
                raise
            # Other credentials may have written there; say the sweep missed it.
            logger.warning(
                "Could not sweep zone %s: these credentials may not list its "
                "records (give them Zone:DNS:Edit there, or name only other zones)",
                zone.name,
            )
            found.unreadable.append(zone.name)
            continue
        for record in records:
            age = _age(record, now)
            if record.comment == COMMENT and age is not None and age >= older_than:
                found.stale.append(Stale(zone, backend, record, age))
    return found


def remove(stale: Sequence[Stale]) -> int:
    """Delete the records; return how many could not be deleted, each warned about."""
    failed = 0
    for item in stale:
        try:
            item.backend.delete_record(item.zone, item.record.id, item.record.name)
        except CloudflareError as exc:
            logger.warning("Could not remove TXT record %s: %s", item.record.name, exc)
            failed += 1
    return failed


def render(stale: Sequence[Stale]) -> str:
    """Lay the stale records out as a table."""
    rows = [("ZONE", "RECORD", "AGE", "ID")]
    rows += [
        (s.zone.name, s.record.name, describe_age(s.age), s.record.id) for s in stale
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def _zones(solver: Solver, names: Sequence[str]) -> list[Zone]:
    """Return the named zones, or every zone the credentials can see."""
    if names:
        return [solver.find_zone(name) for name in names]
    zones: dict[str, Zone] = {}
    if solver.credentials.default is not None:
        listed = solver.all_zones()
        if listed is None:
            # Credentials that may not list zones still know the zones they pin.
            pinned = solver.credentials.zone_ids
            if not pinned:
                raise ZonesNotListable(solver.credentials.source)
            listed = [solver.find_zone(name) for name in pinned]
        zones.update((zone.name, zone) for zone in listed)
    for name in solver.credentials.per_zone:
        zones.setdefault(name, solver.find_zone(name))
    return sorted(zones.values(), key=lambda zone: zone.name)


def _age(record: Record, now: datetime.datetime) -> float | None:
    """Return the record's age in seconds, or None when Cloudflare gave no date."""
    if not record.created_on:
        return None
    try:
        created = datetime.datetime.fromisoformat(
            record.created_on.replace("Z", "+00:00")
        )
    except ValueError:
        return None
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.timezone.utc)
    return (now - created).total_seconds()


def describe_age(seconds: float) -> str:
    """Say an age the way a person would: ``3 h 5 min``, ``2 d 4 h``, ``40 s``."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"
