"""Normalise DNS names the way Cloudflare's API and nameservers compare them."""

from __future__ import annotations

from collections.abc import Iterable


def to_ascii(name: str) -> str:
    """Return ``name`` lower-cased, without a trailing dot, in punycode."""
    name = name.strip().rstrip(".").lower()
    if name.isascii():
        return name
    import idna

    return idna.encode(name, uts46=True).decode("ascii")


def guesses(name: str) -> list[str]:
    """List the names that could be the zone of ``name``, longest first."""
    labels = to_ascii(name).split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def longest_zone(name: str, zones: Iterable[str]) -> str | None:
    """Return the longest of ``zones`` that ``name`` lies in, or None."""
    known = {to_ascii(zone) for zone in zones}
    for guess in guesses(name):
        if guess in known:
            return guess
    return None
