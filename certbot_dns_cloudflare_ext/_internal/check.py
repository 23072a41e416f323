"""Tell, without issuing anything, whether the credentials will work for each domain."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .credentials import Account
from .errors import RATE_LIMIT_CODES, CloudflareError, Code, Error, ZoneNotFound
from .names import longest_zone, to_ascii
from .records import Backend, Zone
from .solver import Challenge, Solver

#: Zone states in which the CA does not see Cloudflare's records, and why.
_INACTIVE = {
    "pending": (
        "the registrar does not list Cloudflare's nameservers yet, so the CA will "
        "not see the records; set the zone's Cloudflare nameservers at the registrar"
    ),
    "moved": (
        "the registrar no longer lists Cloudflare's nameservers, so the CA will not "
        "see the records; set them back at the registrar"
    ),
}

#: Codes that blame the zone id itself, which only a pin can have wrong.
_WRONG_ZONE_ID = frozenset({Code.INVALID_ZONE_ID, Code.NO_ROUTE})

#: The cell that shows a step's failure, and what it then says.
_FAILED = {
    "credentials": ("credentials", "none"),
    "token": ("token", "invalid"),
    "zone_read": ("zone_read", "no"),
    "lands_at": ("lands_at", "unknown"),
    "nameservers": ("lands_at", "nameservers unknown"),
    "dns_edit": ("dns_edit", "no"),
    "served": ("served", "not served"),
}


@dataclass
class Report:
    """What check found out about one domain, cell by cell."""

    domain: str
    credentials: str = "-"
    token: str = "-"
    zone: str = "-"
    zone_read: str = "-"
    dns_edit: str = "-"
    lands_at: str = "-"
    served: str = "-"
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        """Sum the findings up: FAIL, warning or ok."""
        return "FAIL" if self.problems else "warning" if self.warnings else "ok"


def check(
    solver: Solver,
    domains: Sequence[str],
    *,
    live: bool,
    clock: Callable[[], float] = time.monotonic,
) -> list[Report]:
    """Check every domain in turn; one domain's failure does not stop the others."""
    tokens: dict[int, str] = {}
    return [_check(solver, domain, live, tokens, clock) for domain in domains]


def render(reports: Sequence[Report], *, live: bool) -> str:
    """Lay the reports out as a table, then one line per problem or warning."""
    columns = [
        ("DOMAIN", "domain"),
        ("CREDENTIALS", "credentials"),
        ("TOKEN", "token"),
        ("ZONE", "zone"),
        ("ZONE:READ", "zone_read"),
        ("DNS:EDIT", "dns_edit"),
        ("CHALLENGE RECORD", "lands_at"),
    ]
    if live:
        columns.append(("SERVED AFTER", "served"))
    columns.append(("RESULT", "result"))
    rows = [[title for title, _ in columns]]
    rows += [[str(getattr(report, key)) for _, key in columns] for report in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]

    notes = []
    for report in reports:
        notes += [f"{report.domain}: FAIL: {problem}" for problem in report.problems]
        notes += [f"{report.domain}: warning: {text}" for text in report.warnings]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def _check(
    solver: Solver,
    domain: str,
    live: bool,
    tokens: dict[int, str],
    clock: Callable[[], float],
) -> Report:
    report = Report(domain)
    name = "_acme-challenge." + to_ascii(domain.removeprefix("*."))
    # Each step names the cell that shows its failure; the first failure ends the row.
    step = "credentials"
    try:
        account = _account(solver, name)
        report.credentials = f"{account.kind} from {solver.credentials.source}"

        step = "token"
        backend = solver.backend_for(name)
        report.token = _verify(backend, account, tokens)
        if report.token not in ("active", "n/a (Global API Key)"):
            report.problems.append(
                f"the API token is {report.token}; enable it, or roll a new one"
            )
            return report

        step = "zone_read"
        zone = solver.find_zone(name)
        report.zone_read, zone = _zone_read(solver, backend, zone, name)
        report.zone = f"{zone.name} ({zone.status})"
        _warn_inactive(report, zone)

        step = "lands_at"
        [placement] = solver.plan([Challenge(name, secrets.token_urlsafe(32))])
        report.lands_at = placement.record_name
        if placement.zone.name != zone.name:
            report.lands_at += f" (zone {placement.zone.name})"
            _warn_inactive(report, placement.zone)

        # The wait after writing asks these servers; a run stops if none is found.
        step = "nameservers"
        if solver.settings.check_propagation:
            solver.nameservers(placement.zone)

        # Cloudflare shows no token its own permissions, but it checks them before
        # it looks for a record: deleting an id that cannot exist is refused
        # without DNS:Edit, and is "not found" (which changes nothing) with it.
        step = "dns_edit"
        probe = f"a made-up record id, to test DNS:Edit in zone {placement.zone.name}"
        placement.backend.delete_record(placement.zone, secrets.token_hex(16), probe)
        report.dns_edit = "yes"
        if live:
            # Timed from the write request: that is when a certbot run would start.
            start = clock()
            written = solver.deploy([placement])
            step = "served"
            try:
                solver.wait([placement])
            finally:
                solver.cleanup(written)
            report.served = f"{clock() - start:.1f} s"
    except Error as exc:
        cell, word = _FAILED[step]
        if isinstance(exc, ZoneNotFound):
            cell, word = "zone", "not found"
        elif isinstance(exc, CloudflareError) and exc.code in _WRONG_ZONE_ID:
            # A pinned id that is wrong says nothing about the permissions.
            cell, word = "zone", "wrong zone id"
        elif isinstance(exc, CloudflareError) and exc.transient:
            # Cloudflare failing says nothing about the token or its permissions.
            word = "rate-limited" if exc.code in RATE_LIMIT_CODES else "unreachable"
        setattr(report, cell, word)
        report.problems.append(str(exc))
    return report


def _account(solver: Solver, name: str) -> Account:
    credentials = solver.credentials
    return credentials.for_zone(longest_zone(name, credentials.per_zone) or name)


def _verify(backend: Backend, account: Account, tokens: dict[int, str]) -> str:
    """Ask /user/tokens/verify once per backend; a Global API Key has no token."""
    if not account.api_token:
        return "n/a (Global API Key)"
    if id(backend) not in tokens:
        tokens[id(backend)] = backend.verify_token()
    return tokens[id(backend)]


def _zone_read(
    solver: Solver, backend: Backend, zone: Zone, name: str
) -> tuple[str, Zone]:
    """Tell whether the credentials may read zones; a pinned zone needs no lookup."""
    if not longest_zone(name, solver.credentials.zone_ids):
        return "yes", zone
    try:
        listed, _ = backend.list_zones(zone.name)
    except CloudflareError:
        unknown = Zone(zone.id, zone.name, "status unknown", zone.name_servers)
        return "no (zone id pinned)", unknown
    return "yes", next((z for z in listed if z.id == zone.id), zone)


def _warn_inactive(report: Report, zone: Zone) -> None:
    if zone.status in ("active", "status unknown"):
        return
    why = _INACTIVE.get(
        zone.status, "the CA will not see the records until the zone is active"
    )
    report.warnings.append(f"zone {zone.name} is {zone.status}: {why}")
