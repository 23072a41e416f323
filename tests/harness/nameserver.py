"""Answer DNS queries authoritatively from the Cloudflare stand-in's zones."""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from tests.harness.cloudflare_api import CloudflareAPI, Faults
from tests.harness.cloudflare_store import Record, Zone, to_rdata

FAULT_KINDS = ("servfail", "refused", "timeout")
AUTO_TTL_SECONDS = 300
SOA_TTL = 1800
UDP_LIMIT = 512
EDNS_PAYLOAD = 1232
MAX_CNAME_CHAIN = 8

_FAULT_RCODES = {"servfail": dns.rcode.SERVFAIL, "refused": dns.rcode.REFUSED}
_POLL_SECONDS = 0.05
_logger = logging.getLogger(__name__)


class Nameserver:
    """Serve the stand-in API's zones over UDP and TCP on one loopback port.

    `api` may be swapped while running; each query reads the current one.
    """

    def __init__(self, api: CloudflareAPI, host: str = "127.0.0.1") -> None:
        self.api = api
        self.host = host
        self.port = 0
        self._faults = Faults()
        self._queries = 0
        self._views: dict[str, tuple[tuple[object, ...], _ZoneView]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        """Return the (host, port) the nameserver answers on."""
        return self.host, self.port

    @property
    def queries(self) -> int:
        """Return how many queries arrived, answered or not."""
        with self._lock:
            return self._queries

    def clear_faults(self) -> None:
        """Forget every fault still queued."""
        self._faults.clear()

    def inject_fault(self, kind: str, times: int = 1) -> None:
        """Answer the next `times` TXT queries with `kind` instead (-1: forever)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown nameserver fault {kind!r}; use {FAULT_KINDS}")
        if times == 0 or times < -1:
            raise ValueError(f"times must be positive or -1 (forever), not {times}")
        self._faults.add("TXT", kind, times)

    def start(self) -> None:
        """Bind UDP and TCP on one free port and answer from daemon threads."""
        udp, tcp = _bind_pair(self.host)
        self.port = udp.getsockname()[1]
        self._sockets = [udp, tcp]
        self._stopping.clear()
        for target, sock in ((self._serve_udp, udp), (self._serve_tcp, tcp)):
            self._spawn(target, sock)

    def stop(self) -> None:
        """Stop answering and close every socket."""
        self._stopping.set()
        with self._lock:
            connections = list(self._connections)

        # Shutting a socket down wakes the thread blocked on it.
        for sock in self._sockets + connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=2)
        for sock in self._sockets:
            sock.close()
        self._threads.clear()

    def __enter__(self) -> Nameserver:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(
        self, target: Callable[[socket.socket], None], sock: socket.socket
    ) -> None:
        thread = threading.Thread(target=target, args=(sock,), daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _serve_udp(self, sock: socket.socket) -> None:
        sock.settimeout(_POLL_SECONDS)
        while not self._stopping.is_set():
            try:
                wire, peer = sock.recvfrom(65535)
            except OSError:
                continue
            reply = self.answer(wire, udp=True)
            if reply is not None:
                with contextlib.suppress(OSError):
                    sock.sendto(reply, peer)

    def _serve_tcp(self, sock: socket.socket) -> None:
        sock.settimeout(_POLL_SECONDS)
        while not self._stopping.is_set():
            try:
                connection, _ = sock.accept()
            except OSError:
                continue
            connection.settimeout(None)
            with self._lock:
                self._connections.add(connection)
            self._spawn(self._serve_connection, connection)

    def _serve_connection(self, connection: socket.socket) -> None:
        with connection:
            while not self._stopping.is_set():
                prefix = _read_exactly(connection, 2)
                wire = prefix and _read_exactly(
                    connection, int.from_bytes(prefix, "big")
                )
                if not wire:
                    break
                reply = self.answer(wire, udp=False)
                if reply is not None:
                    connection.sendall(len(reply).to_bytes(2, "big") + reply)
        with self._lock:
            self._connections.discard(connection)

    def answer(self, wire: bytes, *, udp: bool) -> bytes | None:
        """Return the wire answer to a wire query, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _format_error(wire)
        with self._lock:
            self._queries += 1

        response = dns.message.make_response(query, our_payload=EDNS_PAYLOAD)
        if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
            response.set_rcode(dns.rcode.NOTIMP)
            return response.to_wire()
        question = query.question[0]
        fault = (
            self._faults.take("TXT") if question.rdtype == dns.rdatatype.TXT else None
        )
        if fault == "timeout":
            return None
        if fault is not None:
            response.set_rcode(_FAULT_RCODES[fault])
        elif question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
        else:
            try:
                self._resolve(response, question.name, question.rdtype)
            except Exception:
                # A bug here must not kill the serving thread and turn into timeouts.
                _logger.exception("stand-in nameserver failed on %s", question)
                response = dns.message.make_response(query, our_payload=EDNS_PAYLOAD)
                response.set_rcode(dns.rcode.SERVFAIL)

        # Without EDNS a UDP answer over 512 bytes is cut and flagged TC.
        limit = 65535
        if udp:
            limit = UDP_LIMIT if query.edns < 0 else max(UDP_LIMIT, query.payload)
        return _to_wire(response, limit)

    def _resolve(
        self, response: dns.message.Message, qname: dns.name.Name, rdtype: int
    ) -> None:
        api = self.api
        if api.zone_for(qname.to_text()) is None:
            response.set_rcode(dns.rcode.REFUSED)
            return
        response.flags |= dns.flags.AA

        # Follow CNAMEs through every stand-in zone, as one server holding them all.
        name, seen = qname, set()
        while name not in seen and len(seen) < MAX_CNAME_CHAIN:
            seen.add(name)
            zone = api.zone_for(name.to_text())
            if zone is None:
                return
            view = self._view(zone)
            rrsets, target, rcode = view.lookup(name, rdtype)
            response.answer.extend(rrsets)
            if target is None:
                response.set_rcode(rcode)
                if not rrsets:
                    response.authority.append(view.soa())
                return
            name = target

    def _view(self, zone: Zone) -> _ZoneView:
        """Return the zone's view, rebuilt only when its served records change."""
        # Parsing every record name per query is slow enough that a burst of
        # validations (a 100-name order) would time out at the CA.
        served = self.api.served_records(zone)
        key = (self.api.serial, *(record.id for record in served))
        with self._lock:
            cached = self._views.get(zone.id)
        if cached is None or cached[0] != key:
            cached = (key, _ZoneView(zone, served, self.api.serial))
            with self._lock:
                self._views[zone.id] = cached
        return cached[1]


class _ZoneView:
    """Look names up in one zone's served records, wildcards included."""

    def __init__(self, zone: Zone, records: Iterable[Record], serial: int) -> None:
        self.zone = zone
        self.apex = dns.name.from_text(zone.name)
        self.serial = serial
        self.nodes: dict[dns.name.Name, list[Record]] = collections.defaultdict(list)
        self.existing = {self.apex}
        for record in records:
            name = dns.name.from_text(record.name)
            self.nodes[name].append(record)

            # Ancestors with no records of their own still exist (RFC 4592, 2.2.2).
            while name != self.apex and name not in self.existing:
                self.existing.add(name)
                name = name.parent()

    def lookup(
        self, name: dns.name.Name, rdtype: int
    ) -> tuple[list[dns.rrset.RRset], dns.name.Name | None, int]:
        """Return answer RRsets, a CNAME target to follow, and the rcode."""
        records = self._node(name)
        if records is None:
            return [], None, dns.rcode.NXDOMAIN
        rrsets = self._rrsets(name, records)
        cname = rrsets.get(dns.rdatatype.CNAME)
        if cname is not None and rdtype != dns.rdatatype.CNAME:
            return [cname], cname[0].target, dns.rcode.NOERROR
        if rdtype == dns.rdatatype.ANY:
            return list(rrsets.values()), None, dns.rcode.NOERROR
        found = [rrsets[rdtype]] if rdtype in rrsets else []
        return found, None, dns.rcode.NOERROR

    def soa(self) -> dns.rrset.RRset:
        """Return the apex SOA; its TTL and minimum both bound negative caching."""
        primary = self.zone.name_servers[0] if self.zone.name_servers else "ns"
        text = f"{primary}. dns.cloudflare.test. {self.serial} 10000 2400 604800 1800"
        return dns.rrset.from_text(self.apex, SOA_TTL, "IN", "SOA", text)

    def _node(self, name: dns.name.Name) -> list[Record] | None:
        if name in self.existing:
            return self.nodes.get(name, [])

        # A name that does not exist takes its closest encloser's wildcard, if any.
        encloser = name.parent()
        while encloser not in self.existing:
            encloser = encloser.parent()
        return self.nodes.get(dns.name.Name(("*", *encloser.labels)))

    def _rrsets(
        self, owner: dns.name.Name, records: list[Record]
    ) -> dict[int, dns.rrset.RRset]:
        by_type: dict[int, list[Record]] = collections.defaultdict(list)
        for record in records:
            by_type[dns.rdatatype.from_text(record.type)].append(record)
        rrsets = {}
        for rdtype, group in by_type.items():
            rdatas = [to_rdata(r.type, r.content, r.priority) for r in group]
            ttl = min(AUTO_TTL_SECONDS if r.ttl == 1 else r.ttl for r in group)
            rrsets[rdtype] = dns.rrset.from_rdata_list(owner, ttl, rdatas)
        if owner == self.apex:
            servers = [f"{ns}." for ns in self.zone.name_servers]
            rrsets[dns.rdatatype.SOA] = self.soa()
            ns = dns.rrset.from_text_list(owner, 86400, "IN", "NS", servers)
            rrsets[dns.rdatatype.NS] = ns
        return rrsets


def _bind_pair(host: str, attempts: int = 20) -> tuple[socket.socket, socket.socket]:
    """Bind UDP on a free port, then TCP on the same one, retrying if taken."""
    for _ in range(attempts):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(16)
        return udp, tcp
    raise OSError(f"no port on {host} was free for both UDP and TCP")


def _read_exactly(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = connection.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _format_error(wire: bytes) -> bytes | None:
    if len(wire) < 12:
        return None
    response = dns.message.Message(id=int.from_bytes(wire[:2], "big"))
    response.flags = dns.flags.QR
    response.set_rcode(dns.rcode.FORMERR)
    return response.to_wire()


def _to_wire(response: dns.message.Message, limit: int) -> bytes:
    """Render an answer of at most ``limit`` bytes, cut and flagged TC if longer."""
    try:
        return response.to_wire(max_size=limit, prefer_truncation=True)
    except TypeError:
        pass

    # dnspython before 2.4 (Debian bookworm has 2.3) cannot truncate by itself.
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.answer, response.authority, response.additional = [], [], []
        response.flags |= dns.flags.TC
        return response.to_wire(max_size=limit)
