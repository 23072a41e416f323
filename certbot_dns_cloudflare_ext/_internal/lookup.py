"""Ask DNS servers directly with dnspython, and say plainly what they answered."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

Address = tuple[str, int]

_QUERY_TIMEOUT = 3.0


@dataclass(frozen=True)
class Answer:
    """One server's answer: its status word, the values of the asked type, its zone.

    ``zone`` is the owner of the SOA record the server sent along, that is the
    zone that holds (or would hold) the asked name, when the server named one.
    """

    status: str
    values: frozenset[str] = frozenset()
    zone: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "NOERROR"

    @property
    def replied(self) -> bool:
        """Tell whether the server sent any DNS reply, whatever its rcode."""
        return self.status != "timeout" and not self.status.startswith("network error")


def query(
    address: Address, name: str, rdtype: str, timeout: float = _QUERY_TIMEOUT
) -> Answer:
    """Ask one server for ``name``/``rdtype``, without recursion."""
    message = dns.message.make_query(name, rdtype)
    message.flags &= ~dns.flags.RD
    try:
        response, _ = dns.query.udp_with_fallback(
            message, address[0], port=address[1], timeout=timeout
        )
    except dns.exception.Timeout:
        return Answer("timeout")
    except (OSError, dns.exception.DNSException) as exc:
        return Answer(f"network error ({exc.__class__.__name__})")

    rcode = dns.rcode.to_text(response.rcode())
    wanted = dns.rdatatype.from_text(rdtype)
    values = {
        _text(rdata)
        for rrset in response.answer
        if rrset.rdtype == wanted
        for rdata in rrset
    }
    return Answer(rcode, frozenset(values), _zone_of(response))


def recursive_query(name: str, rdtype: str) -> Answer:
    """Ask the system's recursive resolver, for names outside Cloudflare."""
    try:
        answer = dns.resolver.resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN as exc:
        zones = [_zone_of(response) for response in exc.responses().values()]
        return Answer("NXDOMAIN", zone=next((z for z in zones if z), None))
    except dns.resolver.NoNameservers:
        return Answer("SERVFAIL")
    except dns.exception.Timeout:
        return Answer("timeout")
    except dns.exception.DNSException as exc:
        return Answer(f"network error ({exc.__class__.__name__})")
    values = {_text(rdata) for rdata in answer.rrset or ()}
    return Answer("NOERROR", frozenset(values), _zone_of(answer.response))


def addresses(hostnames: list[str], port: int = 53) -> list[Address]:
    """Resolve nameserver hostnames to addresses; IPv6 only where it is reachable."""
    families = ["A", "AAAA"] if _ipv6_reachable() else ["A"]
    found: list[Address] = []
    for host in hostnames:
        if _is_address(host):
            found.append((host, port))
            continue
        from_dns = [
            (ip, port)
            for family in families
            for ip in sorted(recursive_query(host, family).values)
        ]
        # A name DNS does not know may still be in /etc/hosts, as localhost is.
        found += from_dns or _from_hosts_file(host, port, ipv6="AAAA" in families)
    return found


def addresses_of(servers: Sequence[Address]) -> list[Address]:
    """Resolve ``host:port`` pairs whose host may be a name."""
    return [found for host, port in servers for found in addresses([host], port)]


def nameservers_of(zone: str) -> list[str]:
    """Look up a zone's NS records, for when the API may not show them."""
    return sorted(recursive_query(zone, "NS").values)


def _text(rdata: object) -> str:
    """Give TXT strings joined as the CA joins them; other types as bare names."""
    strings = getattr(rdata, "strings", None)
    if strings is not None:
        # The wire form has no presentation quotes; a quote here is part of the
        # value, and the CA would reject it, so it is kept for an exact compare.
        return b"".join(strings).decode("utf-8", "replace")
    return rdata.to_text().rstrip(".").lower()


def _zone_of(response: dns.message.Message) -> str | None:
    """Return the owner of the SOA in an answer or its authority section, if any."""
    for rrset in (*response.answer, *response.authority):
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset.name.to_text().rstrip(".").lower() or None
    return None


def _from_hosts_file(host: str, port: int, *, ipv6: bool) -> list[Address]:
    """Resolve ``host`` through the system's resolver, which reads /etc/hosts.

    Such a name is local, and ``localhost`` is both 127.0.0.1 and ::1 while a
    server may listen on one only, so IPv6 is asked only where IPv4 is absent.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError:
        return []
    by_family = {
        family: sorted({info[4][0] for info in infos if info[0] == family})
        for family in (socket.AF_INET, socket.AF_INET6)
    }
    ips = by_family[socket.AF_INET] or (by_family[socket.AF_INET6] if ipv6 else [])
    return [(ip, port) for ip in ips]


def _is_address(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return True
    return False


def _ipv6_reachable() -> bool:
    # Connecting a UDP socket sends nothing; it only asks for a route.
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.connect(("2606:4700:4700::1111", 53))
    except OSError:
        return False
    return True
