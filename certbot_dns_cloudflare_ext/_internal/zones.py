"""Find the Cloudflare zone that holds each name, with as few API calls as we can."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import CloudflareError, Code, ZoneNotFound
from .names import guesses, longest_zone
from .records import Backend, Zone

#: Codes Cloudflare uses when a token may not see a zone; for a guess, "not this one".
NOT_VISIBLE = frozenset({Code.PERMISSION, Code.AUTHENTICATION})


#: Pages of zones worth listing to answer every name of a batch at once (50 zones
#: a page); a larger account is asked about each name's candidate zones instead.
_LISTING_PAGES = 5


class ZoneFinder:
    """Map names to zones: pinned ids first, then one listing, then per-name guesses.

    Listing every visible zone costs one call for a typical account and answers
    every name in the batch. Accounts with more zones than a few pages, and tokens
    that may not list zones, fall back to asking for each candidate name.
    """

    def __init__(self, backend: Backend, pins: Mapping[str, str] | None = None) -> None:
        self._backend = backend
        self._pins = dict(pins or {})
        self._listing: list[Zone] | None = None
        self._listed = False
        self._by_name: dict[str, Zone | None] = {}

    def find(self, name: str) -> Zone:
        """Return the longest zone that ``name`` lies in."""
        pinned = longest_zone(name, self._pins)
        if pinned:
            return Zone(id=self._pins[pinned], name=pinned)

        try:
            listing = self._complete_listing()
            if listing is None:
                return self._find_by_guesses(name)
        except CloudflareError as exc:
            # The user asked about this name, not about a listing or a zone guess.
            raise _looking_up(name, exc) from exc
        match = longest_zone(name, [zone.name for zone in listing])
        if match is None:
            raise ZoneNotFound(name, _candidates(name), self._backend.source)
        return next(zone for zone in listing if zone.name == match)

    def all_zones(self, max_pages: int | None = None) -> list[Zone] | None:
        """Return every visible zone, page by page; None if they may not be listed.

        With ``max_pages``, an account with more pages than that also gives None.
        """
        zones: list[Zone] = []
        page, last = 1, False
        while not last:
            if max_pages is not None and page > max_pages:
                return None
            try:
                listed, last = self._backend.list_zones(page=page)
            except CloudflareError as exc:
                if exc.code not in NOT_VISIBLE:
                    raise
                return None
            zones += listed
            # A page that comes back empty ends the listing, whatever it claims.
            last = last or not listed
            page += 1
        return zones

    def _complete_listing(self) -> list[Zone] | None:
        """Return every visible zone if a few pages hold them all, else None."""
        if not self._listed:
            self._listed = True
            self._listing = self.all_zones(max_pages=_LISTING_PAGES)
        return self._listing

    def _find_by_guesses(self, name: str) -> Zone:
        denied: CloudflareError | None = None
        for guess in _candidates(name):
            if guess not in self._by_name:
                try:
                    zones, _ = self._backend.list_zones(guess)
                except CloudflareError as exc:
                    if exc.code not in NOT_VISIBLE:
                        raise
                    # A zone-scoped token is refused for every zone outside its scope;
                    # the first refusal names the most specific guess.
                    denied = denied or exc
                    continue
                self._by_name[guess] = zones[0] if zones else None
            zone = self._by_name[guess]
            if zone is not None:
                return zone

        if denied is not None and not any(self._by_name.values()):
            raise denied
        raise ZoneNotFound(name, _candidates(name), self._backend.source)


def _looking_up(name: str, exc: CloudflareError) -> CloudflareError:
    """Restate a failed listing or guess as the failed lookup of ``name``."""
    return CloudflareError(
        "look up the zone",
        name,
        code=exc.code,
        message=exc.message,
        hint=exc.hint,
        transient=exc.transient,
    )


def _candidates(name: str) -> list[str]:
    """Zone names worth asking for; zone names never start with an underscore."""
    return [guess for guess in guesses(name) if not guess.startswith("_")]
