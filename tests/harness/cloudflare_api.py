"""Serve a stand-in for Cloudflare's v4 API on the loopback interface."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import http.server
import inspect
import json
import math
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

from tests.harness import cloudflare_store as cf
from tests.harness.cloudflare_endpoints import (
    API_PREFIX,
    STEPS,
    answer,
    authenticate,
    route,
)
from tests.harness.cloudflare_store import ApiError, Credential, Store, Zone

CONTROL_PREFIX = "/__control/"
FAULT_KINDS = ("429", "10100", "500", "502", "503", "504", "html", "slow")
FAULT_KINDS += ("drop", "drop_after")

RATE_LIMITED = 971
SERVICE_UNAVAILABLE = 10001
QUOTA_EXCEEDED = 10100

_THROTTLE_HINT = "Please wait and consider throttling your request speed"
_RETRY_SOON = {"Retry-After": "1"}
_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_SETTINGS = ("latency", "propagation_delay", "slow_seconds", "rate_limit")
_CONTROL_ACTIONS = {
    "config": "configure",
    "reset": "reset_calls",
    "fault": "inject_fault",
    "zone": "add_zone",
    "token": "add_token",
    "global_key": "add_global_key",
    "record": "add_record",
}
#: (action, argument) -> what one value is called, and the values accepted. The
#: listing states them; any other value is refused before it changes anything.
_VOCABULARIES = {
    ("fault", "step"): ("fault step", STEPS),
    ("fault", "kind"): ("fault kind", FAULT_KINDS),
    ("token", "permissions"): ("token permission", cf.ALL_PERMISSIONS),
}
#: Arguments that take a list of values from their vocabulary.
_LIST_ARGUMENTS = frozenset({("token", "permissions")})


class Call(NamedTuple):
    """One API request as the stand-in answered it; `status` 0 means dropped."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    credential: str
    step: str


@dataclasses.dataclass
class Reply:
    """An HTTP answer, or a connection to close without one."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    drop: bool = False


class Faults:
    """Queue injected faults by key; each matching request consumes one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, list[list]] = collections.defaultdict(list)

    def add(self, key: str, kind: str, times: int = 1) -> None:
        """Queue `kind` for the next `times` requests at `key` (-1: forever)."""
        with self._lock:
            self._queues[key].append([kind, times])

    def take(self, key: str) -> str | None:
        """Consume and return the next fault queued at `key`, if any."""
        with self._lock:
            queue = self._queues[key]
            if not queue:
                return None
            kind, times = queue[0]
            if times == 1:
                queue.pop(0)
            else:
                queue[0][1] = times - 1
            return kind

    def clear(self, key: str | None = None) -> None:
        """Forget the faults queued at `key`, or every queued fault."""
        with self._lock:
            if key is None:
                self._queues.clear()
            else:
                self._queues.pop(key, None)


class CloudflareAPI(Store):
    """Answer Cloudflare v4 API calls from the store, with latency, limits and faults.

    The data methods (add_zone, add_token, records, ...) come from Store, which
    the nameserver reads too; this class adds the HTTP face and its accounting.
    """

    def __init__(
        self,
        latency: float = 0.0,
        propagation_delay: float = 0.0,
        *,
        rate_limit: tuple[int, float] | None = (1200, 300.0),
        slow_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(propagation_delay, clock)
        self.latency = latency
        self.rate_limit = rate_limit
        self.slow_seconds = slow_seconds
        self.peak_concurrency = 0
        self.rate_limited_count = 0
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._in_flight = 0
        self._windows: dict[str, collections.deque[float]] = {}
        self._faults = Faults()
        self._server: _Server | None = None

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1 and serve from a daemon thread."""
        self._server = _Server(self)
        threading.Thread(
            target=self._server.serve_forever, args=(0.01,), daemon=True
        ).start()

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        if self._server is not None:
            self._server.shutdown()
            self._server.close()
            self._server = None

    def __enter__(self) -> CloudflareAPI:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Return the TCP port the API listens on."""
        if self._server is None:
            raise RuntimeError("the stand-in API is not running; call start() first")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """Return the URL to give the SDK as base_url."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def control_url(self) -> str:
        """Return the control plane's URL, for users in another process."""
        return f"http://127.0.0.1:{self.port}{CONTROL_PREFIX.rstrip('/')}"

    @property
    def calls(self) -> list[Call]:
        """Return the API calls answered so far, in order."""
        with self._lock:
            return list(self._calls)

    def reset_calls(self) -> None:
        """Forget calls, counters and rate-limit windows; faults stay (times 0)."""
        with self._lock:
            self._calls.clear()
            self._windows.clear()
            self.peak_concurrency = self._in_flight
            self.rate_limited_count = 0

    def inject_fault(self, step: str, kind: str | None = None, times: int = 1) -> None:
        """Fail the next `times` requests of `step` as `kind`; -1 forever, 0 clears."""
        _require_known("fault", "step", step)
        if kind is not None or times != 0:
            _require_known("fault", "kind", kind)
        if times < -1:
            raise ValueError(
                f"times must be positive, -1 (forever) or 0 (clear the step's "
                f"faults), not {times!r}"
            )

        # Clearing takes every kind queued at the step, a forever fault too.
        if times == 0:
            self._faults.clear(step)
        else:
            self._faults.add(step, kind, times)

    def clear_faults(self) -> None:
        """Forget every injected fault not yet consumed."""
        self._faults.clear()

    def configure(self, **settings: float | list[float] | None) -> dict[str, object]:
        """Set latency, propagation_delay, slow_seconds or rate_limit; return them."""
        for key, value in settings.items():
            if key not in _SETTINGS:
                raise ValueError(f"unknown setting {key!r}; use one of {_SETTINGS}")
            if key == "rate_limit":
                value = (int(value[0]), float(value[1])) if value else None
            setattr(self, key, value)
        return {key: getattr(self, key) for key in _SETTINGS}

    def state(self) -> dict[str, object]:
        """Return counters, zones and records, as the control plane reports them."""
        calls = self.calls
        return {
            "calls": len(calls),
            "calls_by_step": dict(collections.Counter(c.step for c in calls)),
            "peak_concurrency": self.peak_concurrency,
            "rate_limited_count": self.rate_limited_count,
            "zones": {z.name: z.id for z in self.zones()},
            "records": self.records(),
        }

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """Answer one HTTP request, counting it while in flight."""
        url = urlsplit(target)
        if f"{url.path}/".startswith(CONTROL_PREFIX):
            action = url.path.removeprefix(CONTROL_PREFIX.rstrip("/")).strip("/")
            return self._control(method, action, body)

        with self._lock:
            self._in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self._in_flight)
        try:
            return self._serve(method, url.path, url.query, headers, body)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _serve(
        self,
        method: str,
        path: str,
        query_text: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        # Sleeping while in flight makes concurrent requests overlap as on a network.
        time.sleep(self.latency)
        path = path.removeprefix(API_PREFIX).rstrip("/") or "/"
        query = dict(parse_qsl(query_text, keep_blank_values=True))
        step, params = route(method, path)

        # Faults strike at the edge, before authentication, like Cloudflare's proxies.
        fault = self._faults.take(step)
        reply = self._fault_reply(fault) if fault else None
        if reply is None:
            try:
                credential = authenticate(self, step, headers)
                self._throttle(credential)
                result = answer(self, step, params, path, query, credential, body)
                reply = _success(*result)
            except ApiError as exc:
                reply = _failure(exc)
            reply.drop = fault == "drop_after"

        status = 0 if reply.drop else reply.status
        with self._lock:
            self._calls.append(Call(method, path, query, status, _label(headers), step))
            self.rate_limited_count += status == 429
        return reply

    def _fault_reply(self, kind: str) -> Reply | None:
        if kind == "slow":
            time.sleep(self.slow_seconds)
        if kind in ("slow", "drop_after"):
            return None
        if kind == "drop":
            return Reply(0, drop=True)
        if kind == "html":
            return Reply(502, _HTML_502.encode(), "text/html")
        if kind == "429":
            error = ApiError(429, RATE_LIMITED, _THROTTLE_HINT, headers=_RETRY_SOON)
            return _failure(error)
        if kind == "10100":
            message = (
                f"More than 1200 requests per 300 seconds reached. {_THROTTLE_HINT}"
            )
            return _failure(ApiError(429, QUOTA_EXCEEDED, message, headers=_RETRY_SOON))
        return _failure(ApiError(int(kind), SERVICE_UNAVAILABLE, "Service unavailable"))

    def _throttle(self, credential: Credential) -> None:
        if self.rate_limit is None:
            return
        limit, window = self.rate_limit
        now = self.clock()
        with self._lock:
            sent = self._windows.setdefault(credential.id, collections.deque())
            while sent and sent[0] <= now - window:
                sent.popleft()
            if len(sent) >= limit:
                retry_after = {
                    "Retry-After": str(max(1, math.ceil(sent[0] + window - now)))
                }
                raise ApiError(429, RATE_LIMITED, _THROTTLE_HINT, headers=retry_after)
            sent.append(now)

    def control_actions(self) -> dict[str, str]:
        """List the control plane's actions, their JSON arguments and what they do."""
        actions = {f"GET {CONTROL_PREFIX}state": _summary(self.state)}
        for action, name in _CONTROL_ACTIONS.items():
            method = getattr(self, name)
            arguments = ", ".join(inspect.signature(method).parameters)
            actions[f"POST {CONTROL_PREFIX}{action} {{{arguments}}}"] = _summary(method)
        return actions

    def control_listing(self) -> dict[str, object]:
        """Return the actions, and the values each argument with a vocabulary takes."""
        accepted: dict[str, dict[str, list[str]]] = {}
        for (action, argument), (_, values) in _VOCABULARIES.items():
            arguments = accepted.setdefault(f"POST {CONTROL_PREFIX}{action}", {})
            arguments[argument] = list(values)
        return {"actions": self.control_actions(), "accepted": accepted}

    def _control(self, method: str, action: str, body: bytes) -> Reply:
        try:
            if method == "GET" and action == "state":
                return _json_reply(200, {"result": self.state()})
            if method == "GET" and not action:
                return _json_reply(200, self.control_listing())
            if method != "POST" or action not in _CONTROL_ACTIONS:
                error = f"no control action {method} {action!r}"
                return _json_reply(404, {"error": error} | self.control_listing())
            arguments = json.loads(body) if body else {}
            _check_vocabularies(action, arguments)
            result = getattr(self, _CONTROL_ACTIONS[action])(**arguments)
        except (ApiError, TypeError, ValueError) as exc:
            return _json_reply(400, {"error": str(exc)})
        if isinstance(result, Credential):
            result = {"id": result.id}
        elif isinstance(result, Zone):
            result = result.to_api()
        return _json_reply(200, {"result": result})


def _require_known(action: str, argument: str, value: object) -> None:
    noun, accepted = _VOCABULARIES[action, argument]
    if value not in accepted:
        raise ValueError(f"unknown {noun} {value!r}; use one of {', '.join(accepted)}")


def _check_vocabularies(action: str, arguments: object) -> None:
    """Refuse a control request whose arguments name values outside the listing."""
    if not isinstance(arguments, dict):
        raise TypeError(f"send the arguments as a JSON object, not {arguments!r}")
    for key in _VOCABULARIES:
        value = arguments.get(key[1]) if key[0] == action else None
        if value is None:
            continue
        if key not in _LIST_ARGUMENTS:
            _require_known(*key, value)
            continue

        # A lone string would be read as a set of letters: ask for the list.
        if not isinstance(value, list):
            raise TypeError(f"send {key[1]} as a JSON list, not {value!r}")
        for item in value:
            _require_known(*key, item)


def _summary(method: Callable[..., object]) -> str:
    return (method.__doc__ or "").strip().splitlines()[0]


def _label(headers: Mapping[str, str]) -> str:
    authorization = headers.get("Authorization")
    if authorization is not None:
        return cf.label_for(authorization.partition(" ")[2], "token")
    email = headers.get("X-Auth-Email")
    return f"key:{email}" if email else "anonymous"


def _json_reply(status: int, data: object, headers: dict | None = None) -> Reply:
    return Reply(status, json.dumps(data).encode(), headers=headers or {})


def _success(result: object, info: dict[str, int] | None) -> Reply:
    envelope = {"success": True, "errors": [], "messages": [], "result": result}
    return _json_reply(200, envelope | ({"result_info": info} if info else {}))


def _failure(error: ApiError) -> Reply:
    envelope = {"success": False, "errors": [error.error], "messages": []}
    return _json_reply(error.status, envelope | {"result": None}, error.headers)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        """Answer a request of any method through the stand-in."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.api.handle(self.command, self.path, self.headers, body)

        # Dropping means closing the socket without even a status line.
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing: request lines and headers may carry secrets."""


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: CloudflareAPI) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        """Ignore clients that hang up; report anything else as a harness bug."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def get_request(self) -> tuple[socket.socket, object]:
        connection, address = super().get_request()
        with self._open_lock:
            self._open.add(connection)
        return connection, address

    def shutdown_request(self, request: object) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close(self) -> None:
        """Close the listener and every kept-alive connection."""
        self.server_close()
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
