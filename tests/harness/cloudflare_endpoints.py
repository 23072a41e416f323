"""Answer the stand-in's v4 endpoints from a store, as Cloudflare's API would."""

from __future__ import annotations

import contextlib
import json
import math
import re
import string
from collections.abc import Mapping

from tests.harness import cloudflare_store as cf
from tests.harness.cloudflare_store import ApiError, Credential, Record, Store

API_PREFIX = "/client/v4"
STEPS = ("zone_list", "zone_get", "records_list", "create", "delete", "verify")

# Cloudflare's error codes, as its v4 API reports them.
ZONE_LIST_DENIED = 0
INVALID_API_TOKEN = 1000
INVALID_PAGING = 1004
TLD_REFUSED = 1038
INVALID_REQUEST_HEADERS = 6003
INVALID_EMAIL_FORMAT = 6102
INVALID_KEY_FORMAT = 6103
INVALID_AUTHORIZATION_FORMAT = 6111
NO_ROUTE = 7000
ROUTE_INVALID = 7003
UNKNOWN_GLOBAL_KEY = 9103
MISSING_AUTH_HEADERS = 9106
INVALID_TOKEN = 9109
INVALID_BODY = 9207
AUTHENTICATION_ERROR = 10000

_UNAUTHORIZED = "Unauthorized to access requested resource"
#: The free TLDs whose zones Cloudflare's API may read but not change (since 2020).
REFUSED_TLDS = frozenset({"cf", "ga", "gq", "ml", "tk"})
_TLD_REFUSED = (
    "You cannot use this API for domains with a .cf, .ga, .gq, .ml, or .tk TLD "
    "(top-level domain). To configure the DNS settings for this domain, use the "
    "Cloudflare Dashboard."
)
_ID = re.compile(r"[0-9a-f]{32}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_ZONE = r"/zones/(?P<zone>[^/]+)"
_ROUTES = {
    ("GET", "/zones"): "zone_list",
    ("GET", _ZONE): "zone_get",
    ("GET", _ZONE + "/dns_records"): "records_list",
    ("POST", _ZONE + "/dns_records"): "create",
    ("DELETE", _ZONE + "/dns_records/(?P<rid>[^/]+)"): "delete",
    ("GET", "/user/tokens/verify"): "verify",
}

Answer = tuple[object, "dict[str, int] | None"]


def route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """Return the step a request path names, "unknown" if none, and its ids."""
    for (route_method, pattern), step in _ROUTES.items():
        match = re.fullmatch(pattern, path)
        if match and method == route_method:
            return step, match.groupdict()
    return "unknown", {}


def authenticate(store: Store, step: str, headers: Mapping[str, str]) -> Credential:
    """Return the credential the request headers present, or raise ApiError."""
    authorization = headers.get("Authorization")
    if authorization is None and step == "verify":
        raise _header_error(INVALID_AUTHORIZATION_FORMAT, "Authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not _TOKEN.fullmatch(token):
            raise _header_error(INVALID_AUTHORIZATION_FORMAT, "Authorization")
        credential = store.token_credential(token)

        # Verifying reports a disabled token; other calls refuse it.
        if step == "verify" and credential is None:
            raise ApiError(401, INVALID_API_TOKEN, "Invalid API Token")
        if credential is None or not (credential.active or step == "verify"):
            raise ApiError(403, INVALID_TOKEN, "Invalid access token")
        return credential

    email, key = headers.get("X-Auth-Email"), headers.get("X-Auth-Key")
    if email is None or key is None:
        message = "Missing X-Auth-Key, X-Auth-Email or Authorization headers"
        raise ApiError(400, MISSING_AUTH_HEADERS, message)
    if "@" not in email:
        raise _header_error(INVALID_EMAIL_FORMAT, "X-Auth-Email")
    if not key or any(c not in string.hexdigits for c in key):
        raise _header_error(INVALID_KEY_FORMAT, "X-Auth-Key")
    credential = store.key_credential(email, key)
    if credential is None:
        raise ApiError(403, UNKNOWN_GLOBAL_KEY, "Unknown X-Auth-Key or X-Auth-Email")
    return credential


def _header_error(code: int, header: str) -> ApiError:
    chain = [(code, f"Invalid format for {header} header")]
    return ApiError(
        400, INVALID_REQUEST_HEADERS, "Invalid request headers", chain=chain
    )


def answer(
    store: Store,
    step: str,
    params: dict[str, str],
    path: str,
    query: dict[str, str],
    credential: Credential,
    body: bytes,
) -> Answer:
    """Perform an authenticated request; return its result and result_info."""
    if step == "unknown":
        raise ApiError(400, NO_ROUTE, "No route for that URI")
    if step == "verify":
        status = "active" if credential.active else "disabled"
        return {"id": credential.id, "status": status}, None
    if step == "zone_list":
        return _list_zones(store, credential, query)

    zone = store.zone(params["zone"]) if _ID.fullmatch(params["zone"]) else None
    if zone is None:
        message = f"Could not route to {API_PREFIX}{path}, perhaps your object "
        raise ApiError(400, ROUTE_INVALID, message + "identifier is invalid?")
    if step == "zone_get":
        if not (credential.covers(zone) and credential.allows("zone:read")):
            raise ApiError(403, INVALID_TOKEN, _UNAUTHORIZED)
        return zone.to_api(), None

    # Cloudflare does not tell whether a zone it hides from the caller exists.
    needed = ("dns:read", "dns:edit") if step == "records_list" else ("dns:edit",)
    if not (credential.covers(zone) and credential.allows(*needed)):
        raise ApiError(403, AUTHENTICATION_ERROR, "Authentication error")
    if step == "records_list":
        found = [r.to_api() for r in store.records_in(zone.id) if _matches(r, query)]
        return _page(found, query, default=100, maximum=5000)
    if zone.name.rpartition(".")[2] in REFUSED_TLDS:
        raise ApiError(400, TLD_REFUSED, _TLD_REFUSED)
    if step == "delete":
        store.delete_record(zone, params["rid"])
        return {"id": params["rid"]}, None
    return store.create_record(zone, _json_object(body), seeded=False).to_api(), None


def _list_zones(store: Store, credential: Credential, query: dict[str, str]) -> Answer:
    denied = ApiError(
        403,
        ZONE_LIST_DENIED,
        f"Actor 'com.cloudflare.api.token.{credential.id}' requires "
        "permission 'com.cloudflare.api.account.zone.list' to list zones",
    )
    # Without Zone:Read, and for names outside a token's zones, Cloudflare
    # answers with code 0 rather than an empty list.
    if not credential.allows("zone:read"):
        raise denied
    zones = [z for z in store.zones() if credential.covers(z)]

    if "name" in query:
        name = _as_name(query["name"])
        if credential.zones is not None and name not in credential.zones:
            raise denied
        zones = [z for z in zones if z.name == name]
    if "status" in query:
        zones = [z for z in zones if z.status == query["status"]]
    if "account.id" in query:
        zones = [z for z in zones if z.account == query["account.id"]]
    return _page([z.to_api() for z in zones], query, default=20, maximum=50)


def _as_name(text: str) -> str:
    try:
        return cf.normalize_name(text)
    except ValueError:
        return text.lower()


def _page(items: list, query: dict[str, str], *, default: int, maximum: int) -> Answer:
    """Cut one page out of `items` as `page` and `per_page` ask, within limits."""
    try:
        page = int(float(query.get("page", 1)))
        per_page = int(float(query.get("per_page", default)))
    except ValueError:
        message = "page and per_page must be numbers"
        raise ApiError(400, INVALID_PAGING, message) from None
    # Cloudflare serves per_page=1, which the official certbot plugin relies on.
    if page < 1 or not 1 <= per_page <= maximum:
        message = f"Invalid paging: page must be >= 1, per_page from 1 to {maximum}"
        raise ApiError(400, INVALID_PAGING, message)

    chunk = items[(page - 1) * per_page : page * per_page]
    total_pages = math.ceil(len(items) / per_page)
    info = {"page": page, "per_page": per_page, "count": len(chunk)}
    return chunk, info | {"total_count": len(items), "total_pages": total_pages}


def _matches(record: Record, query: dict[str, str]) -> bool:
    """Apply dns_records filters: `type` always, the others as `match` says."""
    if "type" in query and record.type != query["type"].upper():
        return False
    checks = []
    for key, wanted in query.items():
        field, _, operator = key.partition(".")
        if field in ("name", "content", "comment"):
            value = getattr(record, field)
            checks.append(_compare(field, value, operator or "exact", wanted))
    if query.get("match") == "any":
        return any(checks) or not checks
    return all(checks)


def _compare(field: str, value: str | None, operator: str, wanted: str) -> bool:
    if operator in ("present", "absent"):
        return bool(value) == (operator == "present")
    if value is None:
        return False
    if field == "name":
        wanted = _as_name(wanted) if operator == "exact" else wanted.lower()
    tests = {
        "exact": value == wanted,
        "contains": wanted in value,
        "startswith": value.startswith(wanted),
        "endswith": value.endswith(wanted),
    }
    return tests.get(operator, True)


def _json_object(body: bytes) -> dict:
    with contextlib.suppress(ValueError):
        data = json.loads(body)
        if isinstance(data, dict):
            return data
    raise ApiError(400, INVALID_BODY, "Request body is invalid.")
