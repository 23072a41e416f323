"""Solve a batch of DNS-01 challenges: place, write, await and remove TXT records."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import lookup
from .credentials import Account, Credentials
from .delegation import follow_cnames
from .errors import CloudflareError, DelegationError, Error, ZoneNotFound
from .lookup import Address, Answer
from .names import longest_zone, to_ascii
from .propagation import Expectation, wait_for_propagation
from .records import Backend, Record, Zone
from .settings import Settings
from .zones import ZoneFinder

logger = logging.getLogger(__name__)

BackendFactory = Callable[[Account, str, Settings], Backend]


@dataclass(frozen=True)
class Challenge:
    """One DNS-01 challenge: the TXT value the CA will look for at a name."""

    validation_name: str
    validation: str


@dataclass(frozen=True)
class Placement:
    """Where a challenge's record goes, once CNAMEs are followed."""

    challenge: Challenge
    record_name: str
    zone: Zone
    backend: Backend = field(compare=False, repr=False)


@dataclass(frozen=True)
class Written:
    """A TXT record this run wrote, remembered so cleanup can delete it by id."""

    placement: Placement
    record: Record


class Solver:
    """Do the Cloudflare work for one run: one client per credential, one plan.

    The certbot plugin, the dehydrated hook and the manual hooks all drive this.
    ``written`` grows as each record is created, so an interrupted run can still
    remove exactly what it wrote.
    """

    def __init__(
        self,
        credentials: Credentials,
        settings: Settings,
        *,
        progress: Callable[[str], None],
        backend_factory: BackendFactory,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self.settings = settings
        self.written: list[Written] = []
        self._progress = progress
        self._backend_factory = backend_factory
        self._sleep = sleep
        self._backends: dict[int, Backend] = {}
        self._finders: dict[int, ZoneFinder] = {}
        self._servers: dict[str, list[Address]] = {}
        self._lock = threading.Lock()

    def perform(self, challenges: Sequence[Challenge]) -> None:
        """Write every challenge's record, then wait until the CA can see them all."""
        placements = self.plan(challenges)
        self.deploy(placements)
        self.wait(placements)

    def plan(self, challenges: Sequence[Challenge]) -> list[Placement]:
        """Decide the zone and final name of every record before writing any."""
        return [self._place(challenge) for challenge in challenges]

    def deploy(self, placements: Sequence[Placement]) -> list[Written]:
        """Create the records concurrently; on any failure remove them all and raise."""
        with ThreadPoolExecutor(max_workers=self.settings.workers) as pool:
            outcomes = list(pool.map(self._create_or_error, placements))
        failures = [outcome for outcome in outcomes if isinstance(outcome, Error)]
        if failures:
            self.cleanup()
            raise failures[0]
        return [outcome for outcome in outcomes if isinstance(outcome, Written)]

    def wait(self, placements: Sequence[Placement]) -> None:
        """Wait for propagation, then for any extra fixed time the user asked for."""
        if self.settings.check_propagation and placements:
            waited = wait_for_propagation(
                self._expectations(placements),
                timeout=self.settings.propagation_timeout,
                interval=self.settings.propagation_interval,
                progress=self._progress,
            )
            logger.info("All TXT records are served after %.1f s", waited)
        if self.settings.extra_wait:
            seconds = self.settings.extra_wait
            self._progress(f"Waiting {seconds:g} seconds more, as configured")
            self._sleep(self.settings.extra_wait)

    def cleanup(self, written: Iterable[Written] | None = None) -> None:
        """Delete the records this run wrote, by id; a failure is only a warning."""
        with self._lock:
            todo = list(self.written if written is None else written)
            self.written = [w for w in self.written if w not in todo]
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=self.settings.workers) as pool:
            list(pool.map(self._delete, todo))

    def backend_for(self, name: str) -> Backend:
        """Return the client for the credentials that manage ``name``."""
        account = self._account_for(name)
        key = id(account)
        if key not in self._backends:
            source = self.credentials.source
            self._backends[key] = self._backend_factory(account, source, self.settings)
            self._finders[key] = ZoneFinder(
                self._backends[key], self.credentials.zone_ids
            )
        return self._backends[key]

    def find_zone(self, name: str) -> Zone:
        """Return the zone ``name`` lies in, through its credentials' zone finder."""
        self.backend_for(name)
        return self._finders[id(self._account_for(name))].find(name)

    def nameservers(self, zone: Zone) -> list[Address]:
        """Return the addresses to ask about ``zone``: the override, or its own NS."""
        if self.settings.nameservers:
            return lookup.addresses_of(self.settings.nameservers)
        if zone.name not in self._servers:
            hosts = list(zone.name_servers) or lookup.nameservers_of(zone.name)
            self._servers[zone.name] = lookup.addresses(hosts)
        return self._servers[zone.name]

    def _account_for(self, name: str) -> Account:
        zone = longest_zone(name, self.credentials.per_zone)
        return self.credentials.for_zone(zone or name)

    def _place(self, challenge: Challenge) -> Placement:
        name = to_ascii(challenge.validation_name)
        zone = self.find_zone(name)
        if not self.settings.follow_cnames:
            return Placement(challenge, name, zone, self.backend_for(name))

        chain = follow_cnames(name, self._cname_asker(zone))
        if len(chain) > 1 and not self._explicit_cname(zone, name):
            logger.info(
                "%s is only covered by a wildcard CNAME; writing the record there",
                name,
            )
            chain = [name]
        target = chain[-1]
        if target == name:
            return Placement(challenge, name, zone, self.backend_for(name))

        try:
            target_zone = self.find_zone(target)
        except ZoneNotFound:
            if self._ask_anywhere(target, "SOA").status in ("NXDOMAIN", "REFUSED"):
                raise DelegationError(chain, "the last target does not exist") from None
            raise DelegationError(
                chain, "the last target is outside the zones these credentials can edit"
            ) from None
        logger.info("%s is delegated by CNAME to %s", name, target)
        return Placement(challenge, target, target_zone, self.backend_for(target))

    def _cname_asker(self, first_zone: Zone) -> Callable[[str], Answer]:
        def ask(name: str) -> Answer:
            try:
                zone = (
                    first_zone
                    if longest_zone(name, [first_zone.name])
                    else self.find_zone(name)
                )
            except Error:
                return self._ask_anywhere(name, "CNAME")
            return _first_answer(self.nameservers(zone), name, "CNAME")

        return ask

    def _ask_anywhere(self, name: str, rdtype: str) -> Answer:
        if self.settings.nameservers:
            return _first_answer(self.nameservers(Zone("", "")), name, rdtype)
        return lookup.recursive_query(name, rdtype)

    def _explicit_cname(self, zone: Zone, name: str) -> bool:
        """Tell a CNAME set at ``name`` from one a wildcard synthesises for it."""
        return bool(self.backend_for(name).find_records(zone, "CNAME", name))

    def _create_or_error(self, placement: Placement) -> Written | Error:
        try:
            return self._create(placement)
        except Error as exc:
            return exc

    def _create(self, placement: Placement) -> Written:
        backend = placement.backend
        name, value = placement.record_name, placement.challenge.validation
        record = backend.create_txt(placement.zone, name, value, self.settings.ttl)
        if record is None:
            # Identical content means the same ACME authorization: a leftover from
            # an interrupted run, or a retry whose first attempt did get through.
            found = backend.find_records(placement.zone, "TXT", name, value)
            if not found:
                raise CloudflareError(
                    "create the TXT record",
                    name,
                    code=None,
                    message="Cloudflare reported a duplicate it then could not list",
                    hint="run again; if it persists, remove the record by hand",
                )
            record = found[0]
        written = Written(placement, record)
        with self._lock:
            self.written.append(written)
        logger.info("Created TXT record %s in zone %s", name, placement.zone.name)
        return written

    def _delete(self, written: Written) -> None:
        zone, record = written.placement.zone, written.record
        try:
            written.placement.backend.delete_record(zone, record.id)
        except CloudflareError as exc:
            logger.warning("Could not remove TXT record %s: %s", record.name, exc)
        else:
            logger.info("Removed TXT record %s", record.name)

    def _expectations(self, placements: Sequence[Placement]) -> list[Expectation]:
        values: dict[tuple[str, str], set[str]] = {}
        for placement in placements:
            key = (placement.zone.name, placement.record_name)
            values.setdefault(key, set()).add(placement.challenge.validation)
        zones = {p.zone.name: p.zone for p in placements}
        return [
            Expectation(address, name, frozenset(expected))
            for (zone_name, name), expected in values.items()
            for address in self.nameservers(zones[zone_name])
        ]


def _first_answer(servers: Sequence[Address], name: str, rdtype: str) -> Answer:
    """Ask each server in turn until one gives an authoritative answer."""
    answer = Answer("no nameserver")
    for server in servers:
        answer = lookup.query(server, name, rdtype)
        if answer.status in ("NOERROR", "NXDOMAIN"):
            return answer
    return answer
