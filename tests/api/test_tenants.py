"""Tenants and their API keys: what the operator's admin key may do, what a tenant key may do
(only its own tenant; another tenant's objects answer 404 like missing ones), acting as a
tenant with Pasarela-Tenant, suspension, and the audit trail each may read."""
import re

import pytest

from conftest import assert_error

TENANT_FIELDS = {"id", "object", "slug", "name", "status", "plan", "limits", "platform_fee_bps",
                 "settlement_delay_seconds", "created", "updated"}
KEY_FIELDS = {"id", "object", "tenant_id", "name", "last4", "created", "revoked"}
RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"
MISSING_TENANT = "ten_0000000000000000000000AB"


def list_all(server, path, key=None, headers=None, limit=100):
    """Every object of a list endpoint, following starting_after."""
    out, after = [], None
    while True:
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}limit={limit}" + (f"&starting_after={after}" if after else "")
        r = server.request("GET", url, key=key or server.admin_key, headers=headers)
        assert r.status == 200, r
        out += r.json["data"]
        if not r.json["has_more"]:
            return out
        after = r.json["data"][-1]["id"]


@pytest.fixture
def two(server):
    """Two tenants, each with one key: [(tenant, secret), (tenant, secret)]."""
    out = []
    for i in range(2):
        t = server.create_tenant(name=f"Tenant {i}")
        out.append((t, server.create_key(t["id"], name=f"key {i}")["secret"]))
    return out


# ---------------------------------------------------------------- admin: tenants

def test_create_tenant_answers_the_full_object(server):
    r = server.admin("POST", "/v1/tenants", {
        "slug": "acme", "name": "Acme S.A.", "plan": "pro_2",
        "limits": {"max_payment_amount": {"MXN": 5000000, "USD": 250000},
                   "monthly_volume": {"MXN": 900000000}},
        "platform_fee_bps": 250, "settlement_delay_seconds": 86400})
    assert r.status == 201, r
    t = r.json
    assert set(t) == TENANT_FIELDS
    assert re.fullmatch(r"ten_[0-9A-Za-z]{20,40}", t["id"])
    assert t["object"] == "tenant" and t["slug"] == "acme" and t["name"] == "Acme S.A."
    assert t["status"] == "active" and t["plan"] == "pro_2" and t["platform_fee_bps"] == 250
    assert t["settlement_delay_seconds"] == 86400
    assert t["limits"] == {"max_payment_amount": {"MXN": 5000000, "USD": 250000},
                           "monthly_volume": {"MXN": 900000000}}
    assert re.fullmatch(RFC3339, t["created"]) and t["updated"] == t["created"]
    assert server.admin("GET", f"/v1/tenants/{t['id']}").json == t


def test_create_tenant_defaults(server):
    t = server.create_tenant(slug="defaults")
    assert t["status"] == "active" and t["plan"] == "default"
    assert t["limits"] == {} and t["platform_fee_bps"] == 0
    assert t["settlement_delay_seconds"] == 0


def test_create_suspended_tenant(server):
    t = server.create_tenant(status="suspended")
    assert t["status"] == "suspended"


def test_slug_is_unique(server):
    first = server.create_tenant(slug="taken")
    r = server.admin("POST", "/v1/tenants", {"slug": "taken", "name": "Other"})
    assert_error(r, 409, "slug_taken", param="slug")
    other = server.create_tenant(slug="free")
    r = server.admin("PATCH", f"/v1/tenants/{other['id']}", {"slug": "taken"})
    assert_error(r, 409, "slug_taken", param="slug")
    assert server.admin("GET", f"/v1/tenants/{other['id']}").json["slug"] == "free"
    tenants = list_all(server, "/v1/tenants")
    assert sorted(t["slug"] for t in tenants) == ["free", "taken"]
    assert first["id"] in {t["id"] for t in tenants}


def test_patch_tenant_as_admin(server):
    t = server.create_tenant(slug="before")
    r = server.admin("PATCH", f"/v1/tenants/{t['id']}", {
        "slug": "after", "name": "Renamed", "status": "suspended", "plan": "enterprise",
        "limits": {"max_payment_amount": {"CLP": 1000000}}, "platform_fee_bps": 10000})
    assert r.status == 200, r
    p = r.json
    assert p["id"] == t["id"] and p["created"] == t["created"]
    assert (p["slug"], p["name"], p["status"], p["plan"], p["platform_fee_bps"]) == \
        ("after", "Renamed", "suspended", "enterprise", 10000)
    assert p["limits"] == {"max_payment_amount": {"CLP": 1000000}}
    assert server.admin("GET", f"/v1/tenants/{t['id']}").json == p
    # A partial patch leaves the other fields alone; status goes back to active.
    r = server.admin("PATCH", f"/v1/tenants/{t['id']}", {"status": "active"})
    assert r.status == 200
    assert {k: v for k, v in r.json.items() if k not in ("status", "updated")} == \
        {k: v for k, v in p.items() if k not in ("status", "updated")}
    assert r.json["status"] == "active"
    # An empty patch changes nothing.
    r = server.admin("PATCH", f"/v1/tenants/{t['id']}", {})
    assert r.status == 200 and r.json["name"] == "Renamed"


@pytest.mark.parametrize("fields,param", [
    ({"status": "deleted"}, "status"),
    ({"platform_fee_bps": -1}, "platform_fee_bps"),
    ({"platform_fee_bps": 10001}, "platform_fee_bps"),
    ({"settlement_delay_seconds": -1}, "settlement_delay_seconds"),
    ({"settlement_delay_seconds": 90 * 86400 + 1}, "settlement_delay_seconds"),
    ({"settlement_delay_seconds": "1"}, "settlement_delay_seconds"),
    ({"limits": {"max_payment_amount": {"MXN": 0}}}, "limits"),
    ({"limits": ["MXN"]}, "limits"),
    ({"slug": "Bad Slug"}, "slug"),
    ({"name": ""}, "name"),
])
def test_patch_tenant_validates_fields(server, fields, param):
    t = server.create_tenant()
    r = server.admin("PATCH", f"/v1/tenants/{t['id']}", fields)
    assert_error(r, 400, "parameter_invalid", param=param)
    assert server.admin("GET", f"/v1/tenants/{t['id']}").json == t


def test_get_or_patch_a_missing_tenant_is_404(server):
    for path in (f"/v1/tenants/{MISSING_TENANT}", "/v1/tenants/not-an-id"):
        assert_error(server.admin("GET", path), 404, "resource_missing", param="id")
        assert_error(server.admin("PATCH", path, {"name": "x"}), 404, "resource_missing",
                     param="id")
        assert_error(server.admin("GET", path + "/keys"), 404, "resource_missing", param="id")
        assert_error(server.admin("POST", path + "/keys", {"name": "k"}), 404, "resource_missing",
                     param="id")


def test_pagination_over_25_tenants(server):
    created = [server.create_tenant(slug=f"page-{i:02d}")["id"] for i in range(25)]
    r = server.admin("GET", "/v1/tenants")
    assert r.status == 200 and r.json["object"] == "list"
    assert len(r.json["data"]) == 20 and r.json["has_more"] is True   # default limit 20
    seen, after, pages = [], None, 0
    while True:
        url = "/v1/tenants?limit=10" + (f"&starting_after={after}" if after else "")
        r = server.admin("GET", url)
        assert r.status == 200, r
        pages += 1
        seen += [t["id"] for t in r.json["data"]]
        if not r.json["has_more"]:
            break
        assert len(r.json["data"]) == 10
        after = r.json["data"][-1]["id"]
    assert pages == 3 and len(seen) == 25 and len(set(seen)) == 25
    # Ids sort by creation time (to the millisecond): newest first, no gaps or repeats.
    assert seen == sorted(created, reverse=True)
    r = server.admin("GET", "/v1/tenants?limit=25")
    assert len(r.json["data"]) == 25 and r.json["has_more"] is False
    r = server.admin("GET", "/v1/tenants?limit=24")
    assert len(r.json["data"]) == 24 and r.json["has_more"] is True
    r = server.admin("GET", f"/v1/tenants?starting_after={created[0]}")
    assert r.json == {"object": "list", "data": [], "has_more": False}


def test_list_filters_by_status(server):
    active = server.create_tenant()
    suspended = server.create_tenant(status="suspended")
    r = server.admin("GET", "/v1/tenants?status=suspended")
    assert [t["id"] for t in r.json["data"]] == [suspended["id"]]
    r = server.admin("GET", "/v1/tenants?status=active")
    assert [t["id"] for t in r.json["data"]] == [active["id"]]


# ---------------------------------------------------------------- admin: keys

def test_key_secret_is_shown_once(server):
    t = server.create_tenant()
    r = server.admin("POST", f"/v1/tenants/{t['id']}/keys", {"name": "checkout"})
    assert r.status == 201, r
    k = r.json
    assert set(k) == KEY_FIELDS | {"secret"}
    assert re.fullmatch(r"key_[0-9A-Za-z]{20,40}", k["id"])
    assert re.fullmatch(r"sk_[0-9A-Za-z]{43}", k["secret"])
    assert k["object"] == "api_key" and k["tenant_id"] == t["id"] and k["name"] == "checkout"
    assert k["last4"] == k["secret"][-4:] and k["revoked"] is None
    r = server.admin("GET", f"/v1/tenants/{t['id']}/keys")
    assert r.status == 200
    assert [x["id"] for x in r.json["data"]] == [k["id"]]
    listed = r.json["data"][0]
    assert "secret" not in listed and k["secret"] not in r.raw
    assert listed == {f: k[f] for f in KEY_FIELDS}
    # The tenant sees its keys the same way: without secrets.
    r = server.request("GET", f"/v1/tenants/{t['id']}/keys", key=k["secret"])
    assert r.status == 200 and k["secret"] not in r.raw
    assert [x["id"] for x in r.json["data"]] == [k["id"]]


def test_keys_are_distinct_and_each_works(server):
    t = server.create_tenant()
    keys = [server.create_key(t["id"], name=f"k{i}") for i in range(3)]
    assert len({k["secret"] for k in keys}) == 3 and len({k["id"] for k in keys}) == 3
    for k in keys:
        r = server.request("GET", f"/v1/tenants/{t['id']}", key=k["secret"])
        assert r.status == 200 and r.json["id"] == t["id"]
    listed = list_all(server, f"/v1/tenants/{t['id']}/keys", limit=2)
    assert sorted(x["id"] for x in listed) == sorted(k["id"] for k in keys)


def test_key_without_a_name(server):
    t = server.create_tenant()
    r = server.admin("POST", f"/v1/tenants/{t['id']}/keys")
    assert r.status == 201 and r.json["name"] == ""


def test_revoke_key(server):
    t = server.create_tenant()
    keep = server.create_key(t["id"], name="keep")
    gone = server.create_key(t["id"], name="gone")
    assert server.request("GET", "/v1/tenants", key=gone["secret"]).status == 200
    r = server.admin("DELETE", f"/v1/tenants/{t['id']}/keys/{gone['id']}")
    assert r.status == 200, r
    assert r.json["id"] == gone["id"] and re.fullmatch(RFC3339, r.json["revoked"])
    assert "secret" not in r.json
    assert_error(server.request("GET", "/v1/tenants", key=gone["secret"]), 401,
                 "api_key_invalid")
    assert server.request("GET", "/v1/tenants", key=keep["secret"]).status == 200
    # Revoking again is idempotent: 200, same revocation time.
    again = server.admin("DELETE", f"/v1/tenants/{t['id']}/keys/{gone['id']}")
    assert again.status == 200 and again.json == r.json
    assert_error(server.request("GET", "/v1/tenants", key=gone["secret"]), 401,
                 "api_key_invalid")
    listed = {x["id"]: x for x in server.admin("GET", f"/v1/tenants/{t['id']}/keys").json["data"]}
    assert listed[gone["id"]]["revoked"] == r.json["revoked"]
    assert listed[keep["id"]].get("revoked") is None


def test_revoke_a_missing_key_or_through_another_tenant_is_404(server, two):
    (a, _), (b, _) = two
    kb = server.admin("GET", f"/v1/tenants/{b['id']}/keys").json["data"][0]
    assert_error(server.admin("DELETE", f"/v1/tenants/{a['id']}/keys/key_nothing"), 404,
                 "resource_missing", param="key_id")
    # b's key named under a's path is not a's key.
    assert_error(server.admin("DELETE", f"/v1/tenants/{a['id']}/keys/{kb['id']}"), 404,
                 "resource_missing", param="key_id")
    assert_error(server.admin("DELETE", f"/v1/tenants/{MISSING_TENANT}/keys/{kb['id']}"), 404,
                 "resource_missing")
    listed = server.admin("GET", f"/v1/tenants/{b['id']}/keys").json["data"]
    assert listed[0].get("revoked") is None


# ---------------------------------------------------------------- authentication

def test_missing_key_is_401_api_key_missing(server):
    for headers in ({}, {"Authorization": ""}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer    "}, {"Authorization": "Basic YWRtaW46YWRtaW4="},
                    {"Authorization": server.admin_key}):
        r = server.request("GET", "/v1/tenants", headers=headers)
        assert_error(r, 401, "api_key_missing", param="Authorization")
        assert "data" not in r.json


def test_wrong_key_is_401_api_key_invalid(server, two):
    (a, ka), _ = two
    wrong = ["sk_" + "A" * 43, ka[:-1], ka + "x", ka[:-1] + ("a" if ka[-1] != "a" else "b"),
             ka.upper() if ka.upper() != ka else ka.lower(), server.admin_key + "x",
             server.admin_key[:-1], "garbage", "sk_", "sk_" + "a" * 300, "x" * 5000,
             "Bearer " + ka, "null"]
    for key in wrong:
        r = server.request("GET", "/v1/tenants", key=key)
        assert_error(r, 401, "api_key_invalid")
        r = server.request("GET", f"/v1/tenants/{a['id']}", key=key)
        assert_error(r, 401, "api_key_invalid")


def test_bearer_scheme_is_case_insensitive(server, two):
    (a, ka), _ = two
    r = server.request("GET", "/v1/tenants", headers={"Authorization": f"bearer {ka}"})
    assert r.status == 200 and [t["id"] for t in r.json["data"]] == [a["id"]]


def test_health_needs_no_key(server):
    assert server.request("GET", "/health").status == 200
    assert server.request("GET", "/health", key="garbage").status == 200


# ---------------------------------------------------------------- tenant keys

def test_tenant_key_lists_only_its_own_tenant(server, two):
    (a, ka), (b, kb) = two
    server.create_tenant()
    for (t, k) in two:
        r = server.request("GET", "/v1/tenants", key=k)
        assert r.status == 200
        assert [x["id"] for x in r.json["data"]] == [t["id"]] and r.json["has_more"] is False
    r = server.request("GET", f"/v1/tenants?starting_after={a['id']}", key=kb)
    assert r.status == 200 and all(x["id"] == b["id"] for x in r.json["data"])
    assert len(list_all(server, "/v1/tenants")) == 3


def test_tenant_key_reads_its_own_tenant(server, two):
    (a, ka), _ = two
    r = server.request("GET", f"/v1/tenants/{a['id']}", key=ka)
    assert r.status == 200 and r.json == a


def test_other_tenant_is_404_exactly_like_a_missing_one(server, two):
    (a, ka), (b, kb) = two
    for method, suffix, body in (("GET", "", None), ("PATCH", "", {"name": "Hijacked"}),
                                 ("GET", "/keys", None)):
        other = server.request(method, f"/v1/tenants/{b['id']}{suffix}", body=body, key=ka)
        missing = server.request(method, f"/v1/tenants/{MISSING_TENANT}{suffix}", body=body,
                                 key=ka)
        e1 = assert_error(other, 404, "resource_missing", param="id")
        e2 = assert_error(missing, 404, "resource_missing", param="id")
        assert (other.status, e1["type"], e1["code"], e1.get("param")) == \
            (missing.status, e2["type"], e2["code"], e2.get("param"))
        assert e1["message"].replace(b["id"], "ID") == e2["message"].replace(MISSING_TENANT, "ID")
        assert "Tenant 1" not in other.raw and kb not in other.raw
    assert server.admin("GET", f"/v1/tenants/{b['id']}").json["name"] == "Tenant 1"


def test_tenant_key_may_rename_its_tenant(server, two):
    (a, ka), _ = two
    r = server.request("PATCH", f"/v1/tenants/{a['id']}", {"name": "New name"}, key=ka)
    assert r.status == 200 and r.json["name"] == "New name"
    assert server.admin("GET", f"/v1/tenants/{a['id']}").json["name"] == "New name"


@pytest.mark.parametrize("field,value", [
    ("plan", "enterprise"), ("status", "suspended"), ("status", "active"),
    ("limits", {"max_payment_amount": {"MXN": 1}}), ("platform_fee_bps", 0),
    ("platform_fee_bps", 5000), ("settlement_delay_seconds", 0), ("slug", "new-slug"),
])
def test_tenant_key_may_not_change_operator_fields(server, two, field, value):
    (a, ka), _ = two
    r = server.request("PATCH", f"/v1/tenants/{a['id']}", {field: value, "name": "Sneaky"},
                       key=ka)
    e = assert_error(r, 403, "permission_denied", param=field)
    assert e["type"] == "permission_error"
    assert server.admin("GET", f"/v1/tenants/{a['id']}").json == a


def test_tenant_key_may_not_use_operator_endpoints(server, two):
    (a, ka), (b, kb) = two
    own_key = server.admin("GET", f"/v1/tenants/{a['id']}/keys").json["data"][0]
    b_key = server.admin("GET", f"/v1/tenants/{b['id']}/keys").json["data"][0]
    cases = [("POST", "/v1/tenants", {"slug": "by-tenant", "name": "x"}),
             ("POST", f"/v1/tenants/{a['id']}/keys", {"name": "more"}),
             ("POST", f"/v1/tenants/{b['id']}/keys", {"name": "theirs"}),
             ("DELETE", f"/v1/tenants/{a['id']}/keys/{own_key['id']}", None),
             ("DELETE", f"/v1/tenants/{b['id']}/keys/{b_key['id']}", None)]
    for method, path, body in cases:
        assert_error(server.request(method, path, body=body, key=ka), 403, "permission_denied")
    assert len(list_all(server, "/v1/tenants")) == 2
    assert len(server.admin("GET", f"/v1/tenants/{a['id']}/keys").json["data"]) == 1
    assert server.request("GET", "/v1/tenants", key=kb).status == 200
    assert server.request("GET", "/v1/tenants", key=ka).status == 200


def test_tenant_key_with_pasarela_tenant(server, two):
    (a, ka), (b, kb) = two
    r = server.request("GET", "/v1/tenants", key=ka, headers={"Pasarela-Tenant": a["id"]})
    assert r.status == 200 and [x["id"] for x in r.json["data"]] == [a["id"]]
    other = server.request("GET", f"/v1/tenants/{b['id']}", key=ka,
                           headers={"Pasarela-Tenant": b["id"]})
    assert_error(other, 403, "permission_denied", param="Pasarela-Tenant")
    assert "Tenant 1" not in other.raw
    # A tenant that does not exist answers the same: no existence leak.
    missing = server.request("GET", f"/v1/tenants/{b['id']}", key=ka,
                             headers={"Pasarela-Tenant": MISSING_TENANT})
    assert_error(missing, 403, "permission_denied", param="Pasarela-Tenant")


# ---------------------------------------------------------------- admin acting as a tenant

def test_admin_with_pasarela_tenant_acts_as_that_tenant(server, two):
    (a, _), (b, _) = two
    h = {"Pasarela-Tenant": a["id"]}
    r = server.admin("GET", "/v1/tenants", headers=h)
    assert r.status == 200 and [x["id"] for x in r.json["data"]] == [a["id"]]
    assert server.admin("GET", f"/v1/tenants/{a['id']}", headers=h).status == 200
    assert_error(server.admin("GET", f"/v1/tenants/{b['id']}", headers=h), 404,
                 "resource_missing", param="id")
    assert_error(server.admin("GET", f"/v1/tenants/{b['id']}/keys", headers=h), 404,
                 "resource_missing", param="id")
    r = server.admin("PATCH", f"/v1/tenants/{b['id']}", {"name": "x"}, headers=h)
    assert_error(r, 404, "resource_missing", param="id")
    # The operator keeps its powers over the tenant it acts on.
    r = server.admin("PATCH", f"/v1/tenants/{a['id']}", {"plan": "gold"}, headers=h)
    assert r.status == 200 and r.json["plan"] == "gold"
    audit = server.admin("GET", "/v1/audit", headers=h).json["data"]
    assert audit and {x["chain_id"] for x in audit} == {a["id"]}


@pytest.mark.parametrize("value", [MISSING_TENANT, "nope", "ten_", "", " "])
def test_admin_with_unknown_pasarela_tenant_is_404(server, two, value):
    r = server.admin("GET", "/v1/tenants", headers={"Pasarela-Tenant": value})
    assert_error(r, 404, "resource_missing", param="Pasarela-Tenant")


# ---------------------------------------------------------------- suspension

def test_suspended_tenant_keys_answer_403_until_reactivated(server, two):
    (a, ka), (b, kb) = two
    r = server.admin("PATCH", f"/v1/tenants/{a['id']}", {"status": "suspended"})
    assert r.status == 200 and r.json["status"] == "suspended"
    for method, path, body in (("GET", "/v1/tenants", None),
                               ("GET", f"/v1/tenants/{a['id']}", None),
                               ("PATCH", f"/v1/tenants/{a['id']}", {"name": "x"}),
                               ("GET", "/v1/audit", None)):
        r = server.request(method, path, body=body, key=ka)
        e = assert_error(r, 403, "tenant_suspended")
        assert e["type"] == "permission_error"
    assert server.request("GET", "/v1/tenants", key=kb).status == 200   # others unaffected
    # The operator still sees it, and acting on it still works.
    assert server.admin("GET", f"/v1/tenants/{a['id']}").json["status"] == "suspended"
    assert server.admin("GET", "/v1/tenants", headers={"Pasarela-Tenant": a["id"]}).status == 200
    # A key issued while suspended is suspended as well.
    new = server.create_key(a["id"])["secret"]
    assert_error(server.request("GET", "/v1/tenants", key=new), 403, "tenant_suspended")
    r = server.admin("PATCH", f"/v1/tenants/{a['id']}", {"status": "active"})
    assert r.status == 200
    for k in (ka, new):
        r = server.request("GET", "/v1/tenants", key=k)
        assert r.status == 200 and [x["id"] for x in r.json["data"]] == [a["id"]]
    assert server.admin("GET", f"/v1/tenants/{a['id']}").json["name"] == "Tenant 0"


def test_a_tenant_created_suspended_has_suspended_keys(server):
    t = server.create_tenant(status="suspended")
    k = server.create_key(t["id"])["secret"]
    assert_error(server.request("GET", f"/v1/tenants/{t['id']}", key=k), 403, "tenant_suspended")


# ---------------------------------------------------------------- audit

def test_audit_records_changes_on_the_tenant_chain(server, two):
    (a, ka), _ = two
    server.request("PATCH", f"/v1/tenants/{a['id']}", {"name": "Renamed"}, key=ka)
    key = server.admin("GET", f"/v1/tenants/{a['id']}/keys").json["data"][0]
    server.admin("DELETE", f"/v1/tenants/{a['id']}/keys/{key['id']}")
    records = list_all(server, f"/v1/audit?chain_id={a['id']}")
    actions = [x["action"] for x in sorted(records, key=lambda x: x["seq"])]
    assert actions == ["tenant.created", "key.created", "tenant.updated", "key.revoked"]
    by_action = {x["action"]: x for x in records}
    assert by_action["tenant.updated"]["actor"] == f"key:{key['id']}"
    assert by_action["tenant.updated"]["changes"] == {"before": {"name": "Tenant 0"},
                                                     "after": {"name": "Renamed"}}
    assert by_action["key.revoked"]["actor"] == "admin"
    assert all(x["tenant_id"] == a["id"] and x["chain_id"] == a["id"] for x in records)
    assert [x["seq"] for x in sorted(records, key=lambda x: x["seq"])] == [1, 2, 3, 4]
    assert all(ka not in str(x) for x in records)


def test_tenant_reads_only_its_own_audit_chain(server, two):
    (a, ka), (b, kb) = two
    server.admin("PATCH", f"/v1/tenants/{b['id']}", {"name": "B again"})
    everything = list_all(server, "/v1/audit")
    assert {x["chain_id"] for x in everything} >= {a["id"], b["id"]}
    b_ids = {x["id"] for x in everything if x["chain_id"] == b["id"]}
    for query in ("", f"?chain_id={b['id']}", f"?entity_id={b['id']}"):
        r = server.request("GET", f"/v1/audit{query}", key=ka)
        assert r.status == 200, r
        assert all(x["chain_id"] == a["id"] and x["tenant_id"] == a["id"]
                   for x in r.json["data"]), r.json
        assert not b_ids & {x["id"] for x in r.json["data"]}
    mine = list_all(server, "/v1/audit", key=ka)
    assert len(mine) == 2 and {x["chain_id"] for x in mine} == {a["id"]}
    # Another chain's record is no cursor for a tenant.
    r = server.request("GET", f"/v1/audit?starting_after={sorted(b_ids)[0]}", key=ka)
    assert_error(r, 400, "parameter_invalid", param="starting_after")
    r = server.request("GET", "/v1/audit/verify", key=ka)
    assert r.status == 200, r


# ---------------------------------------------------------------- secrets stay out of logs

def test_secrets_never_reach_the_log(server):
    t = server.create_tenant()
    keys = [server.create_key(t["id"], name=f"k{i}") for i in range(3)]
    secrets_ = [k["secret"] for k in keys]
    for s in secrets_:
        assert server.request("GET", "/v1/tenants", key=s).status == 200
        assert server.request("PATCH", f"/v1/tenants/{t['id']}", {"name": "x"}, key=s).status == 200
        assert server.request("POST", "/v1/tenants", {"slug": "nope", "name": "x"},
                              key=s).status == 403
    # Keys sent where they fail: wrong, revoked, in odd places of the request.
    server.admin("DELETE", f"/v1/tenants/{t['id']}/keys/{keys[0]['id']}")
    assert server.request("GET", "/v1/tenants", key=secrets_[0]).status == 401
    assert server.request("GET", "/v1/tenants", key=server.admin_key + "x").status == 401
    assert server.request("GET", "/v1/tenants", key=secrets_[1][:-1]).status == 401
    server.request("GET", "/v1/tenants", headers={"Authorization": f"Basic {secrets_[1]}"})
    server.admin("GET", "/v1/tenants", headers={"Pasarela-Tenant": secrets_[2]})
    server.request("GET", "/v1/tenants", key=secrets_[2], headers={"Pasarela-Tenant": "x"})
    log = server.log()
    assert '"status":201' in log, "the log is not the request log this test expects"
    for s in secrets_:
        assert s not in log, "a key secret is in the log"
        assert s[3:] not in log
    assert server.admin_key not in log, "the admin key is in the log"
    assert server.master_key not in log, "the master key is in the log"
    # Nor do they reach the audit trail.
    audit = server.admin("GET", "/v1/audit?limit=100").raw
    assert not any(s in audit for s in secrets_) and server.admin_key not in audit
