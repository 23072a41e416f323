"""Hold the Cloudflare stand-in's zones, records and credentials, and check access."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT

ALL_PERMISSIONS = ("zone:read", "dns:read", "dns:edit")
DEFAULT_NAME_SERVERS = ("ada.ns.cloudflare.test", "bob.ns.cloudflare.test")
RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "TXT")
AUTO_TTL = 1
TXT_MAX_LENGTH = 2048

# Cloudflare's error codes, as its v4 API reports them.
RECORD_TYPE_INVALID = 9004
RECORD_NAME_INVALID = 9005
RECORD_CONTENT_INVALID = 9007
TTL_INVALID = 9021
TXT_TOO_LONG = 9100
RECORD_NOT_FOUND = 81044
CNAME_CONFLICT = 81053
RECORD_EXISTS = 81057
IDENTICAL_RECORD = 81058

#: How Cloudflare refuses a record identical to one it holds. It answered 81057
#: in reports up to 2022 and answers 81058 since 2024; dns-lexicon and certbot's
#: own plugin accept both, so a client must too. Store.duplicate_code picks one.
DUPLICATE_MESSAGES = {
    RECORD_EXISTS: "Record already exists.",
    IDENTICAL_RECORD: "An identical record already exists.",
}

_LABEL = re.compile(r"\*|[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_TTL_HINT = "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic."


class ApiError(Exception):
    """An error answer in Cloudflare's envelope, with its HTTP status."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        chain: Iterable[tuple[int, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"HTTP {status}: {message} ({code})")
        self.status = status
        self.code = code
        self.headers = dict(headers or {})
        self.error: dict[str, object] = {"code": code, "message": message}
        if chain:
            self.error["error_chain"] = [{"code": c, "message": m} for c, m in chain]


@dataclasses.dataclass(frozen=True)
class Zone:
    """A zone as Cloudflare holds it; `name` is lowercase punycode."""

    id: str
    name: str
    account: str
    status: str
    name_servers: tuple[str, ...]
    propagation_delay: float | None
    unicode_names: bool
    created_on: str

    def to_api(self) -> dict[str, object]:
        """Return the zone object the API reports."""
        name = self.name
        if self.unicode_names:
            name = dns.name.from_text(name).to_unicode(omit_final_dot=True)
        return {
            "id": self.id,
            "name": name,
            "status": self.status,
            "paused": False,
            "type": "full",
            "development_mode": 0,
            "name_servers": list(self.name_servers),
            "original_name_servers": None,
            "original_registrar": None,
            "original_dnshost": None,
            "account": {"id": self.account, "name": f"Account {self.account}"},
            "owner": {"id": None, "type": "user", "email": None},
            "plan": {"id": "0" * 32, "name": "Free Website", "price": 0},
            "meta": {"step": 2, "phishing_detected": False},
            "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
            "created_on": self.created_on,
            "modified_on": self.created_on,
            "activated_on": self.created_on,
        }


@dataclasses.dataclass(frozen=True)
class Record:
    """A DNS record; `born` is the store clock's reading when it was created."""

    id: str
    zone_id: str
    zone_name: str
    name: str
    type: str
    content: str
    ttl: int
    comment: str | None
    priority: int | None
    created_on: str
    born: float

    def to_api(self) -> dict[str, object]:
        """Return the record object the API reports."""
        data = {f: getattr(self, f) for f in _RECORD_API_FIELDS}
        data["proxiable"] = self.type in ("A", "AAAA", "CNAME")
        data |= {"proxied": False, "tags": [], "settings": {}, "meta": {}}
        data["modified_on"] = self.created_on
        if self.priority is not None:
            data["priority"] = self.priority
        return data


_RECORD_API_FIELDS = ("id", "zone_id", "zone_name", "name", "type", "content", "ttl")
_RECORD_API_FIELDS += ("comment", "created_on")


@dataclasses.dataclass(frozen=True)
class Credential:
    """An API token or global key; only a `label` that is safe to show is kept."""

    label: str
    id: str
    account: str
    zones: frozenset[str] | None
    permissions: frozenset[str]
    active: bool = True

    def covers(self, zone: Zone) -> bool:
        """Tell whether the credential's scope includes `zone`."""
        if self.zones is None:
            return zone.account == self.account
        return zone.name in self.zones

    def allows(self, *permissions: str) -> bool:
        """Tell whether the credential holds any of `permissions`."""
        return any(p in self.permissions for p in permissions)


def normalize_name(name: str) -> str:
    """Return `name` as lowercase punycode without the final dot."""
    try:
        text = dns.name.from_unicode(name.strip()).to_text(omit_final_dot=True)
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise ValueError(f"invalid DNS name {name!r}") from exc
    return text.lower()


def label_for(secret: str, kind: str) -> str:
    """Return a log-safe label naming a secret by its first four characters."""
    return f"{kind}:{secret[:4]}" if len(secret) >= 12 else f"{kind}:…"


def to_rdata(record_type: str, content: str, priority: int | None) -> dns.rdata.Rdata:
    """Parse API content into the rdata the nameserver serves."""
    rdtype = dns.rdatatype.from_text(record_type)
    if rdtype == dns.rdatatype.TXT:
        return _txt_rdata(content)
    text = f"{priority or 0} {content}" if rdtype == dns.rdatatype.MX else content
    return dns.rdata.from_text(
        dns.rdataclass.IN, rdtype, text, dns.name.root, relativize=False
    )


def _txt_rdata(content: str) -> dns.rdata.Rdata:
    """Serve quoted content as zone-file strings, bare content split at 255."""
    if len(content) >= 2 and content.startswith('"') and content.endswith('"'):
        with contextlib.suppress(dns.exception.DNSException):
            return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, content)
    raw = content.encode()
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)


def _timestamp() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Store:
    """Keep zones, records and credentials of Cloudflare accounts behind one lock."""

    def __init__(
        self,
        propagation_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.propagation_delay = propagation_delay
        self.serial = 1
        #: The code a duplicate create gets: IDENTICAL_RECORD, or the older 81057.
        self.duplicate_code = IDENTICAL_RECORD
        self._store_lock = threading.RLock()
        self._zones: dict[str, Zone] = {}
        self._records: dict[str, Record] = {}
        self._tokens: dict[str, Credential] = {}
        self._keys: dict[tuple[str, str], Credential] = {}

    def add_zone(
        self,
        name: str,
        account: str = "acct-1",
        status: str = "active",
        *,
        name_servers: Iterable[str] = DEFAULT_NAME_SERVERS,
        propagation_delay: float | None = None,
        unicode_names: bool = False,
    ) -> Zone:
        """Create a zone; a None propagation_delay follows the store-wide one."""
        zone = Zone(
            id=uuid.uuid4().hex,
            name=normalize_name(name),
            account=account,
            status=status,
            name_servers=tuple(name_servers),
            propagation_delay=propagation_delay,
            unicode_names=unicode_names,
            created_on=_timestamp(),
        )
        with self._store_lock:
            if self.zone_named(zone.name) is not None:
                raise ValueError(f"zone {zone.name!r} already exists")
            self._zones[zone.id] = zone
        return zone

    def add_token(
        self,
        token: str,
        zones: Iterable[str] | None = None,
        permissions: Iterable[str] = ALL_PERMISSIONS,
        account: str = "acct-1",
        active: bool = True,
    ) -> Credential:
        """Register an API token for the named zones, or all of its account's."""
        credential = Credential(
            label=label_for(token, "token"),
            id=uuid.uuid4().hex,
            account=account,
            zones=None if zones is None else frozenset(map(normalize_name, zones)),
            permissions=frozenset(permissions),
            active=active,
        )
        with self._store_lock:
            self._tokens[token] = credential
        return credential

    def add_global_key(
        self, email: str, key: str, account: str = "acct-1"
    ) -> Credential:
        """Register a global API key with every permission on its account."""
        permissions = frozenset(ALL_PERMISSIONS)
        credential = Credential(
            f"key:{email}", uuid.uuid4().hex, account, None, permissions
        )
        with self._store_lock:
            self._keys[(email.lower(), key)] = credential
        return credential

    def add_record(
        self,
        zone: str,
        type: str,
        name: str,
        content: str,
        comment: str | None = None,
        *,
        ttl: int = AUTO_TTL,
        priority: int | None = None,
        created_on: str | None = None,
    ) -> dict[str, object]:
        """Seed a record, validated like the API but served on DNS at once.

        `created_on` backdates the record, e.g. "2024-01-01T00:00:00.000000Z".
        """
        found = self.zone_named(zone)
        if found is None:
            raise ValueError(f"no zone {zone!r}; add it with add_zone() first")
        body = {"type": type, "name": name, "content": content, "ttl": ttl}
        body |= {"comment": comment, "priority": priority}
        record = self.create_record(found, body, seeded=True)
        if created_on is not None:
            record = dataclasses.replace(record, created_on=created_on)
            with self._store_lock:
                self._records[record.id] = record
        return record.to_api()

    def records(
        self, type: str | None = None, zone: str | None = None
    ) -> list[dict[str, object]]:
        """Return current records in the API's shape, optionally filtered."""
        zone_name = None if zone is None else normalize_name(zone)
        return [
            r.to_api()
            for r in self.records_in()
            if (type is None or r.type == type.upper())
            and (zone_name is None or r.zone_name == zone_name)
        ]

    def records_in(self, zone_id: str | None = None) -> list[Record]:
        """Return the records of one zone, or of all, in creation order."""
        with self._store_lock:
            records = list(self._records.values())
        return [r for r in records if zone_id is None or r.zone_id == zone_id]

    def zones(self) -> list[Zone]:
        """Return all zones sorted by name."""
        with self._store_lock:
            return sorted(self._zones.values(), key=lambda z: z.name)

    def zone(self, zone_id: str) -> Zone | None:
        """Return the zone with `zone_id`, if any."""
        with self._store_lock:
            return self._zones.get(zone_id)

    def zone_named(self, name: str) -> Zone | None:
        """Return the zone called `name` (any case, Unicode or punycode)."""
        wanted = normalize_name(name)
        return next((z for z in self.zones() if z.name == wanted), None)

    def zone_for(self, fqdn: str) -> Zone | None:
        """Return the zone whose name is the longest suffix of `fqdn`."""
        name = fqdn.lower().rstrip(".")
        found = [
            z for z in self.zones() if name == z.name or name.endswith("." + z.name)
        ]
        return max(found, key=lambda z: len(z.name), default=None)

    def served_records(self, zone: Zone) -> list[Record]:
        """Return the records of `zone` that have propagated to its nameservers."""
        delay = zone.propagation_delay
        if delay is None:
            delay = self.propagation_delay
        now = self.clock()
        return [r for r in self.records_in(zone.id) if r.born + delay <= now]

    def token_credential(self, token: str) -> Credential | None:
        """Return the credential registered for an API token, if any."""
        with self._store_lock:
            return self._tokens.get(token)

    def key_credential(self, email: str, key: str) -> Credential | None:
        """Return the credential registered for a global API key, if any."""
        with self._store_lock:
            return self._keys.get((email.lower(), key))

    def create_record(
        self, zone: Zone, body: Mapping[str, object], *, seeded: bool
    ) -> Record:
        """Validate and store a record as POST /dns_records does."""
        record_type = str(body.get("type") or "").upper()
        if record_type not in RECORD_TYPES:
            message = f"Invalid record type {record_type!r}."
            raise ApiError(400, RECORD_TYPE_INVALID, message)
        ttl = body.get("ttl", AUTO_TTL)
        if type(ttl) is not int or not (ttl == AUTO_TTL or 30 <= ttl <= 86400):
            raise ApiError(400, TTL_INVALID, _TTL_HINT)
        comment, priority = body.get("comment"), body.get("priority")
        record = Record(
            id=uuid.uuid4().hex,
            zone_id=zone.id,
            zone_name=zone.name,
            name=_record_name(zone, body.get("name")),
            type=record_type,
            content=_record_content(record_type, body.get("content")),
            ttl=ttl,
            comment=None if comment is None else str(comment),
            priority=priority if isinstance(priority, int) else None,
            created_on=_timestamp(),
            born=-math.inf if seeded else self.clock(),
        )

        with self._store_lock:
            self._check_conflicts(record)
            self._records[record.id] = record
            self.serial += 1
        return record

    def _check_conflicts(self, new: Record) -> None:
        same_name = [r for r in self.records_in(new.zone_id) if r.name == new.name]
        if any(r.type == new.type and r.content == new.content for r in same_name):
            code = self.duplicate_code
            raise ApiError(400, code, DUPLICATE_MESSAGES[code])
        if any(r.type == "CNAME" or new.type == "CNAME" for r in same_name):
            message = "A CNAME, A or AAAA record with that host already exists."
            raise ApiError(400, CNAME_CONFLICT, message)

    def delete_record(self, zone: Zone, record_id: str) -> Record:
        """Remove a record of `zone`, or raise Cloudflare's 81044."""
        with self._store_lock:
            record = self._records.get(record_id)
            if record is None or record.zone_id != zone.id:
                raise ApiError(404, RECORD_NOT_FOUND, "Record does not exist.")
            del self._records[record_id]
            self.serial += 1
        return record


def _record_name(zone: Zone, raw: object) -> str:
    """Resolve '@', an FQDN, or a name relative to the zone, as Cloudflare does."""
    text = str(raw or "").strip()
    invalid = ApiError(400, RECORD_NAME_INVALID, f"Invalid record name {text!r}.")
    if text == "@":
        return zone.name
    try:
        name = normalize_name(text) if text else ""
    except ValueError:
        raise invalid from None
    inside = name == zone.name or name.endswith("." + zone.name)

    # Without a final dot a name outside the zone is taken as relative to it.
    if not name or (text.endswith(".") and not inside):
        raise invalid
    if not inside:
        name = f"{name}.{zone.name}"
    labels = name.split(".")
    if len(name) > 253 or "*" in labels[1:]:
        raise invalid
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise invalid
    return name


def _record_content(record_type: str, content: object) -> str:
    invalid = ApiError(
        400, RECORD_CONTENT_INVALID, f"Content for {record_type} record is invalid."
    )
    if not isinstance(content, str) or not (content or record_type == "TXT"):
        raise invalid
    if record_type == "TXT" and len(content) > TXT_MAX_LENGTH:
        message = f"TXT content must not exceed {TXT_MAX_LENGTH} characters."
        raise ApiError(400, TXT_TOO_LONG, message)
    if record_type == "CNAME":
        content = content.strip().rstrip(".").lower()
    try:
        to_rdata(record_type, content, None)
    except (dns.exception.DNSException, ValueError):
        raise invalid from None
    return content
