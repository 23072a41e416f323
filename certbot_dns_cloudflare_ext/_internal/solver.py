"""Solve a batch of DNS-01 challenges: place, write, await and remove TXT records."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from . import lookup
from .credentials import Account, Credentials
from .delegation import follow_cnames, unreachable_target
from .errors import (
    CloudflareError,
    Error,
    NameserversUnknown,
    ZoneIdMismatch,
    ZoneNotFound,
)
from .lookup import Address, Answer
from .names import longest_zone, to_ascii
from .propagation import Expectation, wait_for_propagation
from .records import COMMENT, Backend, Record, Zone
from .settings import Settings
from .zones import NOT_VISIBLE, ZoneFinder

logger = logging.getLogger(__name__)

BackendFactory = Callable[[Account, str, Settings], Backend]
_T = TypeVar("_T")
_R = TypeVar("_R")


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
        self._cnames: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()
        # Guards the caches that planning fills from worker threads: each zone,
        # client and nameserver list is then looked up once, not once per thread.
        self._plan_lock = threading.RLock()
        self._outages: dict[int, CloudflareError] = {}

    def perform(self, challenges: Sequence[Challenge]) -> None:
        """Write every challenge's record, then wait until the CA can see them all."""
        placements = self.plan(challenges)
        self.deploy(placements)
        self.wait(placements)

    def plan(self, challenges: Sequence[Challenge]) -> list[Placement]:
        """Decide the zone and final name of every record before writing any."""
        # Following CNAMEs costs DNS round trips per name, so names go side by side.
        return self._side_by_side(self._place, challenges)

    def deploy(self, placements: Sequence[Placement]) -> list[Written]:
        """Create the records concurrently; on any failure remove them all and raise."""
        outcomes = self._side_by_side(self._create_or_error, placements)
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
        seconds = self.settings.extra_wait
        if not seconds:
            return
        span = f"{seconds:g} second{'s' * (seconds != 1)}"
        if self.settings.check_propagation:
            self._progress(
                f"Waiting {span} more (--dns-cloudflare-ext-propagation-seconds)"
            )
        else:
            self._progress(
                f"Waiting {span} for the TXT records to propagate, unchecked "
                "(--dns-cloudflare-ext-no-propagation-check)"
            )
        self._sleep(seconds)

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
        with self._plan_lock:
            if key not in self._backends:
                source = self.credentials.source
                section = longest_zone(name, self.credentials.per_zone)
                if section:
                    # Errors then name the [zone] section whose credentials failed.
                    source = f"{source} [{section}]"
                backend = self._backend_factory(account, source, self.settings)
                self._finders[key] = ZoneFinder(backend, self.credentials.zone_ids)
                self._backends[key] = backend
            return self._backends[key]

    def find_zone(self, name: str) -> Zone:
        """Return the zone ``name`` lies in, through its credentials' zone finder."""
        key = id(self._account_for(name))
        with self._plan_lock:
            # A lookup that spent its retries means Cloudflare fails every name
            # of these credentials; other accounts may still be fine.
            if key in self._outages:
                raise self._outages[key]
            self.backend_for(name)
            try:
                return self._finders[key].find(name)
            except CloudflareError as exc:
                if exc.transient:
                    self._outages[key] = exc
                raise

    def nameservers(self, zone: Zone) -> list[Address]:
        """Return the addresses to ask about ``zone``: the override, or its own NS."""
        if self.settings.nameservers:
            found = lookup.addresses_of(self.settings.nameservers)
            hosts = [host for host, _ in self.settings.nameservers]
        else:
            with self._plan_lock:
                if zone.name not in self._servers:
                    hosts = list(zone.name_servers) or lookup.nameservers_of(zone.name)
                    self._servers[zone.name] = lookup.addresses(hosts)
                found = self._servers[zone.name]
                hosts = list(zone.name_servers)

        # With no address to ask, the check would pass without asking anyone.
        if not found:
            given = bool(self.settings.nameservers)
            raise NameserversUnknown(zone.name, hosts, given=given)
        return found

    def find_written(self, placements: Sequence[Placement]) -> list[Written]:
        """Find the records an earlier process wrote for ``placements``.

        A record counts as ours only with the exact name, the exact value and our
        comment marker (see ``_is_ours``), so a hook that runs apart from the
        create never deletes a record someone else made.
        """
        found = []
        for placement in placements:
            name, value = placement.record_name, placement.challenge.validation
            backend = placement.backend
            records = backend.find_records(placement.zone, "TXT", name, value)
            found += [
                Written(placement, record)
                for record in records
                if _is_ours(backend, record)
            ]
        return found

    def all_zones(self) -> list[Zone] | None:
        """List every zone the default credentials see, or None if they may not."""
        with self._plan_lock:
            self.backend_for("")
            return self._finders[id(self._account_for(""))].all_zones()

    def _side_by_side(self, work: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
        """Run ``work`` on every item with the configured number of workers."""
        pool = ThreadPoolExecutor(max_workers=self.settings.workers)
        try:
            return list(pool.map(work, items))
        finally:
            # On Ctrl-C or SIGTERM, work not yet started is dropped, so the run
            # ends in one API call's time; work in flight still finishes, so that
            # cleanup sees every record it wrote.
            pool.shutdown(cancel_futures=True)

    def _account_for(self, name: str) -> Account:
        zone = longest_zone(name, self.credentials.per_zone)
        return self.credentials.for_zone(zone or name)

    def _place(self, challenge: Challenge) -> Placement:
        name = to_ascii(challenge.validation_name)
        if not self.settings.follow_cnames:
            zone = self.find_zone(name)
            return Placement(challenge, name, zone, self.backend_for(name))

        # Delegation exists so that the credentials need to see the target's zone
        # only; the challenge name's own zone may be invisible to them, even to
        # the point of a refused lookup when only the target's zone id is pinned.
        try:
            first: Zone | Error = self.find_zone(name)
        except ZoneNotFound as exc:
            first = exc
        except CloudflareError as exc:
            if exc.code not in NOT_VISIBLE:
                raise
            first = exc
        seen = first if isinstance(first, Zone) else None
        explicit = functools.partial(self._explicit_cname, seen) if seen else None
        chain = follow_cnames(name, self._ask_cname, explicit)
        target = chain[-1]
        if target == name:
            if isinstance(first, Error):
                raise first
            return Placement(challenge, name, first, self.backend_for(name))

        try:
            zone = self.find_zone(target)
        except ZoneNotFound:
            raise unreachable_target(chain, self._ask_anywhere(target, "SOA")) from None
        logger.info("%s is delegated by CNAME to %s", name, target)
        return Placement(challenge, target, zone, self.backend_for(target))

    def _ask_cname(self, name: str) -> Answer:
        """Ask for the CNAME at ``name``, at its zone's nameservers if we know them."""
        try:
            servers = self.nameservers(self.find_zone(name))
        except Error:
            return self._ask_anywhere(name, "CNAME")
        return _first_answer(servers, name, "CNAME")

    def _ask_anywhere(self, name: str, rdtype: str) -> Answer:
        if self.settings.nameservers:
            return _first_answer(self.nameservers(Zone("", "")), name, rdtype)
        return lookup.recursive_query(name, rdtype)

    def _explicit_cname(self, zone: Zone, name: str) -> bool:
        """Tell a CNAME set at ``name`` from one a wildcard synthesises for it."""
        # One listing per zone answers for every delegated name in it, so a batch
        # of delegated names costs one call, not one call per name.
        with self._plan_lock:
            if zone.id not in self._cnames:
                found = self.backend_for(name).find_records(zone, "CNAME")
                self._cnames[zone.id] = frozenset(to_ascii(r.name) for r in found)
            return name in self._cnames[zone.id]

    def _create_or_error(self, placement: Placement) -> Written | Error | None:
        try:
            return self._create(placement)
        except CloudflareError as exc:
            if exc.transient:
                self._adopt_unconfirmed(placement, in_flight=exc.code is None)
            return exc
        except Error as exc:
            return exc

    def _adopt_unconfirmed(self, placement: Placement, *, in_flight: bool) -> None:
        """Remember a record a failed create may have written, so cleanup finds it."""
        # Without an answer from the API itself (a timeout, a dropped line, a
        # proxy's error page) the create may still land; give it one more timeout.
        if in_flight:
            self._sleep(self.settings.api_timeout)
        try:
            found = self.find_written([placement])
        except CloudflareError as exc:
            logger.warning(
                "Could not check whether TXT record %s was created; look for it in "
                "the Cloudflare dashboard: %s",
                placement.record_name,
                exc,
            )
            return
        with self._lock:
            self.written += found

    def _create(self, placement: Placement) -> Written | None:
        """Write one record; return None when one we did not write already serves."""
        backend = placement.backend
        name, value = placement.record_name, placement.challenge.validation
        record = backend.create_txt(placement.zone, name, value, self.settings.ttl)
        if record is None:
            # Identical content means the same ACME authorization: a leftover from
            # an interrupted run, or a retry whose first attempt did get through.
            # One without our marker was made by someone else: use it, keep it.
            found = backend.find_records(placement.zone, "TXT", name, value)
            if not found:
                raise CloudflareError(
                    "create the TXT record",
                    name,
                    code=None,
                    message="Cloudflare reported a duplicate it then could not list",
                    hint="run again; if it persists, remove the record by hand",
                )
            ours = [record for record in found if _is_ours(backend, record)]
            if not ours:
                logger.info(
                    "TXT record %s already holds this value and is not ours; it is "
                    "used as it is and left in place",
                    name,
                )
                return None
            record = ours[0]
        written = Written(placement, record)
        with self._lock:
            self.written.append(written)

        # Cloudflare takes a name outside the zone as relative to it: only a
        # pinned id of another zone gets here, and the CA would never see it.
        if to_ascii(record.name) != name:
            raise ZoneIdMismatch(
                name, record.name, placement.zone.name, placement.zone.id
            )
        logger.info("Created TXT record %s in zone %s", name, placement.zone.name)
        return written

    def _delete(self, written: Written) -> None:
        zone, record = written.placement.zone, written.record
        try:
            written.placement.backend.delete_record(zone, record.id, record.name)
        except CloudflareError as exc:
            logger.warning(
                "Could not remove TXT record %s in zone %s; delete it in the "
                "Cloudflare dashboard: %s",
                record.name,
                zone.name,
                exc,
            )
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


def _is_ours(backend: Backend, record: Record) -> bool:
    """Tell whether this plugin wrote ``record``, by its comment marker.

    A backend that cannot write the marker is left with the exact name and value,
    which are unique to one ACME authorization.
    """
    return record.comment == COMMENT or not backend.marks_records


def _first_answer(servers: Sequence[Address], name: str, rdtype: str) -> Answer:
    """Ask each server in turn until one gives an authoritative answer."""
    answer = Answer("no nameserver")
    for server in servers:
        answer = lookup.query(server, name, rdtype)
        if answer.status in ("NOERROR", "NXDOMAIN"):
            return answer
    return answer
