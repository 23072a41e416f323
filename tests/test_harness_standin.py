"""The Cloudflare stand-in and its nameserver, through the real SDK and dnspython."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cloudflare
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import httpx
import pytest

from tests.conftest import PEBBLE_MISSING
from tests.harness.cloudflare_api import CloudflareAPI
from tests.harness.nameserver import Nameserver
from tests.harness.pebble import find_pebble

TOKEN = "tok-all-zones-SECRET-0123456789"
SCOPED_TOKEN = "tok-one-zone-SECRET-0123456789"
EMAIL = "admin@example.test"
GLOBAL_KEY = "0123456789abcdef0123456789abcdef01234"
CHALLENGE = "_acme-challenge.www.example.test"
ROOT = Path(__file__).resolve().parent.parent


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _no_cloudflare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK reads these; a developer's real credentials must not leak in.
    for name in list(os.environ):
        if name.startswith("CLOUDFLARE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> Iterator[CloudflareAPI]:
    standin = CloudflareAPI(clock=clock)
    standin.add_zone("example.test")
    standin.add_zone("other.test")
    standin.add_zone("foreign.test", account="acct-2")
    standin.add_token(TOKEN)
    standin.add_token(SCOPED_TOKEN, zones=["example.test"])
    standin.add_global_key(EMAIL, GLOBAL_KEY)
    with standin:
        yield standin


@pytest.fixture
def ns(api: CloudflareAPI) -> Iterator[Nameserver]:
    with Nameserver(api) as server:
        yield server


def connect(base_url: str, **options) -> cloudflare.Cloudflare:
    # Plain HTTP on loopback needs no CA bundle, and loading one costs 50 ms.
    options.setdefault("max_retries", 0)
    http_client = cloudflare.DefaultHttpxClient(verify=False)
    return cloudflare.Cloudflare(base_url=base_url, http_client=http_client, **options)


def client(api: CloudflareAPI, token: str = TOKEN, **options) -> cloudflare.Cloudflare:
    return connect(api.base_url, api_token=token, **options)


def zone_id(api: CloudflareAPI, name: str) -> str:
    return api.zone_named(name).id


def create_txt(
    api: CloudflareAPI, name: str = CHALLENGE, content: str = "v", zone="example.test"
):
    return client(api).dns.records.create(
        zone_id=zone_id(api, zone), type="TXT", name=name, content=content, ttl=120
    )


def ask(
    ns: Nameserver, name: str, rdtype: str = "TXT", *, tcp=False, edns: int | bool = 0
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, use_edns=edns)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, ns.host, port=ns.port, timeout=2)


def txt_strings(response: dns.message.Message) -> list[bytes]:
    answer = [r for r in response.answer if r.rdtype == dns.rdatatype.TXT]
    return [string for rrset in answer for rdata in rrset for string in rdata.strings]


# -- API: envelope, zones, pagination -------------------------------------------


def test_zone_list_pages_carry_result_info_and_iterate_fully(api):
    for index in range(5):
        api.add_zone(f"zone{index}.test")

    second = client(api).zones.list(per_page=5, page=2)
    every = [zone.name for zone in client(api).zones.list(per_page=5)]

    assert [zone.name for zone in second.result] == ["zone3.test", "zone4.test"]
    assert (second.result_info.page, second.result_info.per_page) == (2, 5)
    assert len(every) == 7
    assert "foreign.test" not in every


def test_zone_list_result_info_counts_every_match(api):
    body = httpx.get(
        f"{api.base_url}/zones",
        params={"per_page": 5},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).json()

    assert body["success"] is True
    assert body["errors"] == [] and body["messages"] == []
    assert body["result_info"] == {
        "page": 1,
        "per_page": 5,
        "count": 2,
        "total_count": 2,
        "total_pages": 1,
    }


def test_zone_list_rejects_more_than_50_per_page(api):
    with pytest.raises(cloudflare.BadRequestError) as caught:
        client(api).zones.list(per_page=51)

    assert caught.value.errors[0].code == 1004


@pytest.mark.parametrize("name", ["example.test", "EXAMPLE.Test", "example.test."])
def test_zone_name_filter_is_exact_and_ignores_case(api, name):
    zones = client(api).zones.list(name=name).result

    assert [zone.name for zone in zones] == ["example.test"]
    assert re.fullmatch(r"[0-9a-f]{32}", zones[0].id)
    assert zones[0].account.id == "acct-1"


def test_zone_name_filter_matching_nothing_is_an_empty_success(api):
    assert client(api).zones.list(name="ample.test").result == []


@pytest.mark.parametrize("unicode_names", [False, True])
def test_idn_zone_is_stored_as_punycode_and_found_either_way(api, unicode_names):
    api.add_zone("bücher.test", unicode_names=unicode_names)

    by_punycode = client(api).zones.list(name="xn--bcher-kva.test").result
    by_unicode = client(api).zones.list(name="bücher.test").result

    shown = "bücher.test" if unicode_names else "xn--bcher-kva.test"
    assert [z.name for z in by_punycode] == [z.name for z in by_unicode] == [shown]
    assert api.zone_named("BÜCHER.test").name == "xn--bcher-kva.test"


@pytest.mark.parametrize("name", ["other.test", "missing.test"])
def test_scoped_token_naming_an_unscoped_zone_gets_code_0(api, name):
    with pytest.raises(cloudflare.PermissionDeniedError) as caught:
        client(api, SCOPED_TOKEN).zones.list(name=name)

    error = caught.value.errors[0]
    assert error.code == 0
    assert re.fullmatch(
        r"Actor 'com\.cloudflare\.api\.token\.[0-9a-f]{32}' requires permission "
        r"'com\.cloudflare\.api\.account\.zone\.list' to list zones",
        error.message,
    )


def test_scoped_token_lists_only_its_zones(api):
    zones = client(api, SCOPED_TOKEN).zones.list().result

    assert [zone.name for zone in zones] == ["example.test"]


def test_zone_get_returns_a_zone_the_sdk_can_read(api):
    zone = client(api).zones.get(zone_id=zone_id(api, "example.test"))

    assert zone.name == "example.test"
    assert zone.status == "active"
    assert zone.name_servers == ["ada.ns.cloudflare.test", "bob.ns.cloudflare.test"]


@pytest.mark.parametrize("bad_id", ["f" * 32, "not-a-zone-id"])
def test_unknown_or_malformed_zone_id_is_7003(api, bad_id):
    with pytest.raises(cloudflare.BadRequestError) as caught:
        client(api).dns.records.list(zone_id=bad_id)

    assert caught.value.errors[0].code == 7003
    assert re.fullmatch(
        rf"Could not route to /client/v4/zones/{bad_id}/dns_records, perhaps your "
        r"object identifier is invalid\?",
        caught.value.errors[0].message,
    )


# -- API: authentication and permissions ----------------------------------------


@pytest.mark.parametrize(
    ("credentials", "status", "code", "chained"),
    [
        ({"api_token": "bad token!"}, 400, 6003, 6111),
        ({"api_token": "tok-unknown-0123456789"}, 403, 9109, None),
        ({"api_email": EMAIL, "api_key": "not-hex"}, 400, 6003, 6103),
        ({"api_email": "admin", "api_key": GLOBAL_KEY}, 400, 6003, 6102),
        ({"api_email": EMAIL, "api_key": "f" * 37}, 403, 9103, None),
    ],
    ids=["malformed-token", "unknown-token", "bad-key", "bad-email", "unknown-key"],
)
def test_bad_credentials_surface_as_api_status_errors(
    api, credentials, status, code, chained
):
    sdk = connect(api.base_url, **credentials)

    with pytest.raises(cloudflare.APIStatusError) as caught:
        sdk.zones.list()

    assert caught.value.status_code == status
    assert caught.value.errors[0].code == code
    chain = caught.value.body["errors"][0].get("error_chain", [{"code": None}])
    assert chain[0]["code"] == chained


def test_no_credentials_at_all_is_9106(api):
    response = httpx.get(f"{api.base_url}/zones")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == 9106


def test_global_key_sees_every_zone_of_its_account(api):
    sdk = connect(api.base_url, api_email=EMAIL, api_key=GLOBAL_KEY)

    names = [zone.name for zone in sdk.zones.list()]

    assert names == ["example.test", "other.test"]
    assert api.calls[-1].credential == f"key:{EMAIL}"


@pytest.mark.parametrize(
    ("permissions", "active", "action", "code"),
    [
        (("dns:read", "dns:edit"), True, "list_zones", 0),
        (("zone:read", "dns:read"), True, "create", 10000),
        (("zone:read",), True, "list_records", 10000),
        (("zone:read", "dns:read", "dns:edit"), False, "list_zones", 9109),
    ],
    ids=["no-zone-read", "no-dns-edit", "no-dns-read", "disabled"],
)
def test_missing_permission_is_refused_with_403(api, permissions, active, action, code):
    api.add_token("tok-limited-0123456789", permissions=permissions, active=active)
    sdk = client(api, "tok-limited-0123456789")
    example = zone_id(api, "example.test")
    actions = {
        "list_zones": lambda: sdk.zones.list().result,
        "list_records": lambda: sdk.dns.records.list(zone_id=example).result,
        "create": lambda: sdk.dns.records.create(
            zone_id=example, type="TXT", name=CHALLENGE, content="x", ttl=120
        ),
    }

    with pytest.raises(cloudflare.PermissionDeniedError) as caught:
        actions[action]()

    assert caught.value.errors[0].code == code


def test_zone_of_another_account_is_an_authentication_error(api):
    foreign = zone_id(api, "foreign.test")

    with pytest.raises(cloudflare.PermissionDeniedError) as caught:
        client(api).dns.records.list(zone_id=foreign)

    assert caught.value.errors[0].code == 10000


def test_verify_reports_token_status_and_rejects_unknown_tokens(api):
    api.add_token("tok-disabled-0123456789", active=False)

    assert client(api).user.tokens.verify().status == "active"
    disabled = client(api, "tok-disabled-0123456789").user.tokens.verify()
    assert disabled.status == "disabled"
    with pytest.raises(cloudflare.AuthenticationError) as caught:
        client(api, "tok-unknown-0123456789").user.tokens.verify()
    assert caught.value.errors[0].code == 1000


# -- API: records ---------------------------------------------------------------


def test_record_create_list_and_delete_round_trip(api):
    sdk = client(api)
    example = zone_id(api, "example.test")

    created = sdk.dns.records.create(
        zone_id=example,
        type="TXT",
        name="_acme-challenge.www",
        content="token-1",
        ttl=120,
        comment="certbot-dns-cloudflare-ext",
    )
    sdk.dns.records.create(
        zone_id=example, type="TXT", name=CHALLENGE, content="t2", ttl=1
    )
    records = sdk.dns.records.list
    by_name = list(records(zone_id=example, type="TXT", name={"exact": CHALLENGE}))
    by_content = list(records(zone_id=example, content={"exact": "token-1"}))
    by_comment = list(records(zone_id=example, comment={"startswith": "certbot"}))
    deleted = sdk.dns.records.delete(created.id, zone_id=example)

    assert type(created).__name__ == "TXTRecord"
    assert created.name == CHALLENGE and created.ttl == 120
    assert sorted(r.content for r in by_name) == ["t2", "token-1"]
    assert [r.id for r in by_content] == [r.id for r in by_comment] == [created.id]
    assert deleted.id == created.id
    assert [r["content"] for r in api.records(type="TXT")] == ["t2"]
    assert [c.step for c in api.calls] == [
        "create",
        "create",
        "records_list",
        "records_list",
        "records_list",
        "records_list",
        "records_list",
        "records_list",
        "delete",
    ]
    assert all(TOKEN not in c.credential for c in api.calls)


@pytest.mark.parametrize(
    ("record", "code", "message"),
    [
        (
            {"ttl": 10},
            9021,
            r"Invalid TTL\. Must be between 60 and 86400 seconds, "
            r"or 1 for Automatic\.",
        ),
        ({"content": "seeded"}, 81058, r"An identical record already exists\."),
        ({"name": "alias"}, 81053, r"A CNAME, A or AAAA record with that host .*"),
        ({"type": "CNAME", "content": "x.other.test"}, 81053, r"A CNAME, A or .*"),
        ({"content": "x" * 2049}, 9100, r"TXT content must not exceed 2048 .*"),
        ({"name": "www.elsewhere.test."}, 9005, r"Invalid record name .*"),
    ],
    ids=["ttl", "identical", "txt-on-cname", "cname-on-txt", "too-long", "off-zone"],
)
def test_invalid_record_is_refused_like_cloudflare(api, record, code, message):
    api.add_record("example.test", "TXT", CHALLENGE, "seeded")
    api.add_record("example.test", "CNAME", "alias", "target.other.test")
    body = {"type": "TXT", "name": CHALLENGE, "content": "new", "ttl": 120} | record

    with pytest.raises(cloudflare.BadRequestError) as caught:
        client(api).dns.records.create(zone_id=zone_id(api, "example.test"), **body)

    assert caught.value.errors[0].code == code
    assert re.fullmatch(message, caught.value.errors[0].message)


def test_name_without_zone_suffix_is_taken_as_relative(api):
    created = create_txt(api, name="a.other.test")

    assert created.name == "a.other.test.example.test"


def test_deleting_an_unknown_record_is_81044(api):
    with pytest.raises(cloudflare.NotFoundError) as caught:
        client(api).dns.records.delete("0" * 32, zone_id=zone_id(api, "example.test"))

    assert caught.value.errors[0].code == 81044


# -- API: faults, limits, latency -----------------------------------------------


@pytest.mark.parametrize(("kind", "code"), [("429", 971), ("10100", 10100)])
def test_rate_limit_fault_carries_retry_after(api, kind, code):
    api.inject_fault("zone_list", kind)

    with pytest.raises(cloudflare.RateLimitError) as caught:
        client(api).zones.list()

    assert caught.value.errors[0].code == code
    assert caught.value.response.headers["Retry-After"] == "1"
    assert api.rate_limited_count == 1


def test_sdk_retry_gets_past_one_injected_429(api):
    api.inject_fault("zone_list", "429")

    zones = client(api, max_retries=2).zones.list(name="example.test").result

    assert [zone.name for zone in zones] == ["example.test"]
    assert [call.status for call in api.calls] == [429, 200]


def test_drop_fault_is_a_connection_error_and_creates_nothing(api):
    api.inject_fault("create", "drop")

    with pytest.raises(cloudflare.APIConnectionError):
        create_txt(api, content="x")

    assert api.records(type="TXT") == []
    assert api.calls[-1].status == 0


def test_drop_after_fault_loses_the_answer_but_keeps_the_record(api):
    api.inject_fault("create", "drop_after")

    with pytest.raises(cloudflare.APIConnectionError):
        create_txt(api, content="x")

    assert [r["content"] for r in api.records(type="TXT")] == ["x"]


@pytest.mark.parametrize("kind", ["500", "503", "html"])
def test_server_error_faults_reach_the_sdk_as_status_errors(api, kind):
    api.inject_fault("records_list", kind, times=-1)

    with pytest.raises(cloudflare.InternalServerError) as caught:
        client(api).dns.records.list(zone_id=zone_id(api, "example.test"))

    if kind == "html":
        assert caught.value.status_code == 502
        assert "502 Bad Gateway" in caught.value.response.text
    else:
        assert caught.value.status_code == int(kind)
        assert caught.value.errors[0].code == 10001


def test_slow_fault_delays_then_answers(api):
    api.slow_seconds = 0.2
    api.inject_fault("verify", "slow")
    started = time.monotonic()

    status = client(api).user.tokens.verify().status

    assert status == "active"
    assert time.monotonic() - started >= 0.2


def test_rate_limit_window_slides_with_the_clock(api, clock):
    api.rate_limit = (3, 60.0)
    sdk = client(api)
    for _ in range(3):
        sdk.user.tokens.verify()

    with pytest.raises(cloudflare.RateLimitError) as caught:
        sdk.user.tokens.verify()
    clock.advance(60)

    assert caught.value.response.headers["Retry-After"] == "60"
    assert caught.value.errors[0].code == 971
    assert sdk.user.tokens.verify().status == "active"


def test_latency_overlaps_concurrent_requests(api):
    api.latency = 0.3
    sdk = client(api)
    started = time.monotonic()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: sdk.user.tokens.verify(), range(4)))

    assert api.peak_concurrency == 4
    assert time.monotonic() - started < 1.0


# -- Control plane and process --------------------------------------------------


def test_control_plane_seeds_configures_and_reports(api):
    control = httpx.Client(base_url=api.control_url)

    zone = control.post("/zone", json={"name": "ctl.test"}).json()["result"]
    control.post("/token", json={"token": "tok-ctl-0123456789", "zones": ["ctl.test"]})
    control.post(
        "/record", json={"zone": "ctl.test", "type": "TXT", "name": "a", "content": "x"}
    )
    control.post("/config", json={"latency": 0.01, "rate_limit": [100, 10]})
    control.post("/fault", json={"step": "zone_get", "kind": "503"})
    with pytest.raises(cloudflare.InternalServerError):
        client(api, "tok-ctl-0123456789").zones.get(zone_id=zone["id"])
    state = control.get("/state").json()["result"]

    assert state["calls"] == 1 and state["calls_by_step"] == {"zone_get": 1}
    assert state["zones"]["ctl.test"] == zone["id"]
    assert [r["name"] for r in state["records"]] == ["a.ctl.test"]
    assert (api.latency, api.rate_limit) == (0.01, (100, 10.0))
    assert control.post("/reset").status_code == 200
    assert api.calls == []


@pytest.mark.parametrize("path", ["", "/"])
def test_control_plane_root_lists_its_actions_and_the_values_they_accept(api, path):
    listing = httpx.get(api.control_url + path)

    assert listing.status_code == 200
    actions = listing.json()["actions"]
    record = "POST /__control/record {zone, type, name, content, comment, ttl, "
    record += "priority, created_on}"
    assert actions["GET /__control/state"].startswith("Return counters, zones")
    assert actions[record].startswith("Seed a record")
    assert actions["POST /__control/fault {step, kind, times}"] == (
        "Fail the next `times` requests of `step` as `kind`; -1 forever, 0 clears."
    )
    assert len(actions) == 8
    assert listing.json()["accepted"] == {
        "POST /__control/fault": {
            "step": [
                "zone_list",
                "zone_get",
                "records_list",
                "create",
                "delete",
                "verify",
            ],
            "kind": [
                "429",
                "10100",
                "500",
                "502",
                "503",
                "504",
                "html",
                "slow",
                "drop",
                "drop_after",
            ],
        },
        "POST /__control/token": {"permissions": ["zone:read", "dns:read", "dns:edit"]},
    }


def test_fault_with_times_0_clears_a_forever_fault_at_that_step_only(api):
    control = httpx.Client(base_url=api.control_url)
    control.post("/fault", json={"step": "zone_list", "kind": "503", "times": -1})
    control.post("/fault", json={"step": "zone_list", "kind": "429", "times": -1})
    control.post("/fault", json={"step": "verify", "kind": "500", "times": -1})

    cleared = control.post("/fault", json={"step": "zone_list", "times": 0})

    assert cleared.status_code == 200
    assert [zone.name for zone in client(api).zones.list(name="example.test")] == [
        "example.test"
    ]
    with pytest.raises(cloudflare.InternalServerError):
        client(api).user.tokens.verify()


def test_reset_forgets_the_calls_but_keeps_the_faults(api):
    control = httpx.Client(base_url=api.control_url)
    control.post("/fault", json={"step": "zone_list", "kind": "503", "times": -1})
    with pytest.raises(cloudflare.InternalServerError):
        client(api).zones.list()

    control.post("/reset")

    assert control.get("/state").json()["result"]["calls"] == 0
    with pytest.raises(cloudflare.InternalServerError):
        client(api).zones.list()


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (
            {"step": "create", "kind": "timeout"},
            "unknown fault kind 'timeout'; use one of 429, 10100, 500, 502, 503, "
            "504, html, slow, drop, drop_after",
        ),
        (
            {"step": "records", "kind": "503"},
            "unknown fault step 'records'; use one of zone_list, zone_get, "
            "records_list, create, delete, verify",
        ),
        (
            {"step": "create", "kind": "503", "times": -2},
            "times must be positive, -1 (forever) or 0 (clear the step's faults), "
            "not -2",
        ),
    ],
    ids=["kind", "step", "times"],
)
def test_unknown_fault_is_refused_with_400_and_injects_nothing(api, fault, error):
    reply = httpx.post(api.control_url + "/fault", json=fault)

    assert reply.status_code == 400
    assert reply.json() == {"error": error}
    assert create_txt(api).name == CHALLENGE


@pytest.mark.parametrize(
    ("permissions", "error"),
    [
        (
            ["dns:edit", "dns:write"],
            "unknown token permission 'dns:write'; use one of zone:read, dns:read, "
            "dns:edit",
        ),
        ("dns:edit", "send permissions as a JSON list, not 'dns:edit'"),
    ],
    ids=["unknown-name", "not-a-list"],
)
def test_unknown_token_permission_is_refused_with_400_and_adds_no_token(
    api, permissions, error
):
    token = "tok-typo-0123456789"

    reply = httpx.post(
        api.control_url + "/token", json={"token": token, "permissions": permissions}
    )

    assert reply.status_code == 400
    assert reply.json() == {"error": error}
    assert api.token_credential(token) is None


def test_unknown_control_action_answers_with_the_list(api):
    reply = httpx.post(api.control_url + "/zones", json={"name": "a.test"})

    assert reply.status_code == 404
    assert reply.json()["error"] == "no control action POST 'zones'"
    assert "POST /__control/zone {name, account, status, name_servers, " in "".join(
        reply.json()["actions"]
    )
    assert "a.test" not in [zone.name for zone in api.zones()]


def run_standin(state_file: Path, *args: str) -> subprocess.Popen[str]:
    """Start the stand-in process from the repository root, as the README does."""
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.harness.standin_main",
            "--state-file",
            str(state_file),
            *args,
        ],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_state(state_file: Path, process: subprocess.Popen[str]) -> dict:
    """Wait for the state file, failing early if the process died."""
    deadline = time.monotonic() + 30
    while not state_file.exists() and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    return json.loads(state_file.read_text())


def test_standin_help_explains_every_option_and_the_state_file():
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environ["COLUMNS"] = "80"
    result = subprocess.run(
        [sys.executable, "-m", "tests.harness.standin_main", "--help"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    for option, help_text in [
        ("--state-file FILE", "where to write the JSON state"),
        ("--zone NAME", "add an active zone"),
        ("--token TOKEN", "accept this API token"),
        ("--latency S", "seconds every API call takes"),
        ("--propagation-delay S", "seconds before the nameserver serves"),
        ("--pebble", "also start Debian's pebble"),
    ]:
        assert re.search(rf"^  {option}\s+{help_text}", result.stdout, re.M), option
    text = " ".join(result.stdout.split())
    for key in ["base_url", "control_url", "dns_port", "zones", "directory_url"]:
        assert f" {key} (" in text, key
    assert " ca_bundle (certbot's REQUESTS_CA_BUNDLE)" in text


def test_standin_process_writes_state_and_stops_on_sigterm(tmp_path):
    state_file = tmp_path / "state.json"
    process = run_standin(state_file, "--zone", "example.test", "--token", TOKEN)
    try:
        state = read_state(state_file, process)
        sdk = connect(state["base_url"], api_token=TOKEN)
        zones = [zone.name for zone in sdk.zones.list()]
        soa = dns.query.udp(
            dns.message.make_query("example.test", "SOA"),
            "127.0.0.1",
            port=state["dns_port"],
            timeout=2,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)

    assert zones == ["example.test"]
    assert list(state["zones"]) == ["example.test"]
    assert soa.answer[0].rdtype == dns.rdatatype.SOA
    assert "directory_url" not in state
    assert process.returncode == 0
    assert stdout == (
        f"Serving the Cloudflare API at {state['base_url']} and DNS on "
        f"127.0.0.1:{state['dns_port']}; state in {state_file}; Ctrl-C stops\n"
    )
    assert not state_file.exists()
    assert TOKEN not in stdout + stderr


def test_standin_process_with_pebble_serves_an_acme_directory(tmp_path):
    if find_pebble() is None:
        pytest.skip(PEBBLE_MISSING)
    state_file = tmp_path / "state.json"
    process = run_standin(state_file, "--zone", "example.test", "--pebble")
    try:
        state = read_state(state_file, process)
        context = ssl.create_default_context(cafile=state["ca_bundle"])
        directory = httpx.get(state["directory_url"], verify=context).json()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)

    assert "newOrder" in directory
    assert process.returncode == 0
    assert not Path(state["ca_bundle"]).exists(), "pebble's files outlive the run"


# -- Nameserver -----------------------------------------------------------------


def test_txt_is_served_only_after_the_propagation_delay(api, ns, clock):
    api.propagation_delay = 30.0
    create_txt(api)

    early = ask(ns, CHALLENGE)
    clock.advance(29.9)
    still_early = ask(ns, CHALLENGE)
    clock.advance(0.1)
    served = ask(ns, CHALLENGE)

    assert early.rcode() == still_early.rcode() == dns.rcode.NXDOMAIN
    assert early.authority[0].rdtype == dns.rdatatype.SOA
    assert served.rcode() == dns.rcode.NOERROR
    assert served.flags & dns.flags.AA
    assert txt_strings(served) == [b"v"]


def test_zone_propagation_delay_overrides_the_api_wide_one(api, ns):
    api.propagation_delay = 3600.0
    api.add_zone("instant.test", propagation_delay=0.0)
    create_txt(api, name="a", content="now", zone="instant.test")

    assert txt_strings(ask(ns, "a.instant.test")) == [b"now"]


def test_cname_is_chased_into_another_standin_zone(api, ns):
    api.add_record("example.test", "CNAME", CHALLENGE, "www.acme.other.test")
    api.add_record("other.test", "TXT", "www.acme", "delegated")

    response = ask(ns, CHALLENGE)

    assert [r.rdtype for r in response.answer] == [
        dns.rdatatype.CNAME,
        dns.rdatatype.TXT,
    ]
    assert txt_strings(response) == [b"delegated"]
    assert response.flags & dns.flags.AA


def test_wildcard_cname_answers_for_names_without_records(api, ns):
    api.add_record("example.test", "CNAME", "*.example.test", "lb.other.test")
    api.add_record("example.test", "TXT", "_acme-challenge.real", "own")

    trapped = ask(ns, CHALLENGE)
    own = ask(ns, "_acme-challenge.real.example.test")
    empty_non_terminal = ask(ns, "real.example.test")

    assert trapped.answer[0].name.to_text() == CHALLENGE + "."
    assert trapped.answer[0][0].target.to_text() == "lb.other.test."
    assert trapped.rcode() == dns.rcode.NXDOMAIN
    assert txt_strings(own) == [b"own"]
    assert empty_non_terminal.rcode() == dns.rcode.NOERROR
    assert empty_non_terminal.answer == []
    assert empty_non_terminal.authority[0].rdtype == dns.rdatatype.SOA


def test_apex_serves_soa_and_nameservers(api, ns):
    response = ask(ns, "example.test", "NS")

    names = sorted(rdata.target.to_text() for rdata in response.answer[0])
    assert names == ["ada.ns.cloudflare.test.", "bob.ns.cloudflare.test."]


def test_nameserver_follows_a_swapped_api(api, ns):
    other = CloudflareAPI()
    other.add_zone("swapped.test")
    other.add_record("swapped.test", "TXT", "a", "from-other")

    ns.api = other

    assert txt_strings(ask(ns, "a.swapped.test")) == [b"from-other"]
    assert ask(ns, CHALLENGE).rcode() == dns.rcode.REFUSED


def test_names_outside_every_zone_are_refused(api, ns):
    response = ask(ns, "www.example.invalid")

    assert response.rcode() == dns.rcode.REFUSED
    assert not response.flags & dns.flags.AA


def test_long_txt_is_split_and_truncated_over_udp_without_edns(api, ns):
    content = "a" * 600
    api.add_record("example.test", "TXT", CHALLENGE, content)

    over_udp = ask(ns, CHALLENGE, edns=False)
    over_tcp = ask(ns, CHALLENGE, tcp=True, edns=False)

    assert over_udp.flags & dns.flags.TC
    assert [len(s) for s in txt_strings(over_tcp)] == [255, 255, 90]
    assert b"".join(txt_strings(over_tcp)) == content.encode()


@pytest.mark.parametrize(
    ("kind", "rcode"),
    [("servfail", dns.rcode.SERVFAIL), ("refused", dns.rcode.REFUSED)],
)
def test_nameserver_fault_answers_the_next_txt_query(api, ns, kind, rcode):
    api.add_record("example.test", "TXT", CHALLENGE, "v")
    ns.inject_fault(kind)

    faulted, healthy = ask(ns, CHALLENGE), ask(ns, CHALLENGE)

    assert faulted.rcode() == rcode
    assert txt_strings(healthy) == [b"v"]
    assert ns.queries == 2


def test_nameserver_timeout_fault_stays_silent(api, ns):
    ns.inject_fault("timeout")

    with pytest.raises(dns.exception.Timeout):
        dns.query.udp(
            dns.message.make_query(CHALLENGE, "TXT"), ns.host, port=ns.port, timeout=0.3
        )
