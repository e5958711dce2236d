"""Many requests at once: no errors, no 5xx, nothing lost, no tenant sees another's data. The
server fixture's teardown checks a clean exit and no sanitizer report."""
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from conftest import assert_error

WORKERS = 64


def list_all(server, path, key):
    out, after = [], None
    while True:
        url = f"{path}?limit=100" + (f"&starting_after={after}" if after else "")
        r = server.request("GET", url, key=key)
        assert r.status == 200, r
        out += r.json["data"]
        if not r.json["has_more"]:
            return out
        after = r.json["data"][-1]["id"]


def run_all(tasks):
    """Runs the callables at once (the first WORKERS are released together) and returns their
    results in order."""
    start = threading.Barrier(min(WORKERS, len(tasks)))
    released = threading.Event()

    def wrapped(task):
        if not released.is_set():
            try:
                start.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
            released.set()
        return task()

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(wrapped, tasks))


def test_parallel_mix_of_writes_and_reads(server):
    base = []
    for i in range(4):
        t = server.create_tenant(slug=f"base-{i}", name=f"Base {i}")
        base.append((t, server.create_key(t["id"])["secret"]))

    tasks = []  # (kind, args, callable)
    for i in range(40):
        slug = f"par-{i}-{uuid.uuid4().hex[:6]}"
        tasks.append(("create_tenant", slug,
                      lambda slug=slug: server.admin("POST", "/v1/tenants",
                                                     {"slug": slug, "name": slug})))
    for i in range(40):
        t, _ = base[i % 4]
        tasks.append(("create_key", t["id"],
                      lambda t=t, i=i: server.admin("POST", f"/v1/tenants/{t['id']}/keys",
                                                    {"name": f"par-{i}"})))
    for i in range(100):
        t, k = base[i % 4]
        other, _ = base[(i + 1) % 4]
        choice = i % 5
        if choice == 0:
            tasks.append(("list_own", t["id"], lambda k=k: server.request("GET", "/v1/tenants",
                                                                          key=k)))
        elif choice == 1:
            tasks.append(("get_own", t["id"],
                          lambda k=k, t=t: server.request("GET", f"/v1/tenants/{t['id']}", key=k)))
        elif choice == 2:
            tasks.append(("get_other", other["id"],
                          lambda k=k, o=other: server.request("GET", f"/v1/tenants/{o['id']}",
                                                              key=k)))
        elif choice == 3:
            tasks.append(("list_keys", t["id"],
                          lambda k=k, t=t: server.request("GET", f"/v1/tenants/{t['id']}/keys",
                                                          key=k)))
        else:
            tasks.append(("audit_own", t["id"], lambda k=k: server.request("GET", "/v1/audit",
                                                                           key=k)))
    for i in range(30):
        tasks.append(("admin_list", None, lambda: server.admin("GET", "/v1/tenants?limit=100")))
    for i in range(12):
        t, k = base[i % 4]
        tasks.append(("rename", t["id"],
                      lambda k=k, t=t, i=i: server.request("PATCH", f"/v1/tenants/{t['id']}",
                                                           {"name": f"Renamed {i}"}, key=k)))
    random.Random(7).shuffle(tasks)
    assert len(tasks) >= 200

    results = run_all([task for _, _, task in tasks])

    created_tenants, created_keys = [], []
    for (kind, arg, _), r in zip(tasks, results):
        assert r.status < 500, (kind, r)
        assert r.headers.get("request-id"), (kind, r.headers)
        if kind == "create_tenant":
            assert r.status == 201 and r.json["slug"] == arg, r
            created_tenants.append(r.json)
        elif kind == "create_key":
            assert r.status == 201 and r.json["tenant_id"] == arg, r
            created_keys.append(r.json)
        elif kind == "list_own":
            assert r.status == 200 and [t["id"] for t in r.json["data"]] == [arg], r
        elif kind == "get_own":
            assert r.status == 200 and r.json["id"] == arg, r
        elif kind == "get_other":
            assert_error(r, 404, "resource_missing", param="id")
        elif kind == "list_keys":
            assert r.status == 200, r
            assert all(k["tenant_id"] == arg and "secret" not in k for k in r.json["data"]), r
        elif kind == "audit_own":
            assert r.status == 200, r
            assert all(a["chain_id"] == arg for a in r.json["data"]), r
        elif kind == "admin_list":
            assert r.status == 200 and len(r.json["data"]) >= 4, r
        elif kind == "rename":
            assert r.status == 200 and r.json["id"] == arg, r

    # Every created object is listed afterwards, once.
    tenants = list_all(server, "/v1/tenants", server.admin_key)
    ids = [t["id"] for t in tenants]
    assert len(ids) == len(set(ids)) == 44
    assert {t["id"] for t in created_tenants} | {t["id"] for t, _ in base} == set(ids)
    for t, k in base:
        keys = list_all(server, f"/v1/tenants/{t['id']}/keys", server.admin_key)
        expected = {x["id"] for x in created_keys if x["tenant_id"] == t["id"]}
        assert len(expected) == 10
        assert expected < {x["id"] for x in keys} and len(keys) == 11
    # Every new key works, and sees only its own tenant.
    secrets_by_tenant = {}
    for k in created_keys:
        secrets_by_tenant.setdefault(k["tenant_id"], []).append(k["secret"])
    checks = [(tid, s) for tid, ss in secrets_by_tenant.items() for s in ss]
    results = run_all([lambda s=s: server.request("GET", "/v1/tenants", key=s)
                       for _, s in checks])
    for (tid, _), r in zip(checks, results):
        assert r.status == 200 and [t["id"] for t in r.json["data"]] == [tid], r
    # The audit chains stayed intact under contention.
    r = server.admin("GET", "/v1/audit/verify")
    assert r.status == 200 and r.json.get("intact") is True, r


def test_parallel_creates_with_one_slug_make_one_tenant(server):
    results = run_all([lambda: server.admin("POST", "/v1/tenants",
                                            {"slug": "contended", "name": "x"})
                       for _ in range(40)])
    statuses = sorted(r.status for r in results)
    assert statuses.count(201) == 1, statuses
    for r in results:
        if r.status != 201:
            assert_error(r, 409, "slug_taken", param="slug")
    r = server.admin("GET", "/v1/tenants")
    assert [t["slug"] for t in r.json["data"]] == ["contended"]


def test_parallel_revocations_of_one_key(server):
    t = server.create_tenant()
    k = server.create_key(t["id"])
    results = run_all([lambda: server.admin("DELETE", f"/v1/tenants/{t['id']}/keys/{k['id']}")
                       for _ in range(30)])
    assert all(r.status == 200 for r in results), [r for r in results if r.status != 200][:3]
    assert len({r.json["revoked"] for r in results}) == 1
    assert_error(server.request("GET", "/v1/tenants", key=k["secret"]), 401, "api_key_invalid")
    revocations = [a for a in server.admin("GET", f"/v1/audit?chain_id={t['id']}").json["data"]
                   if a["action"] == "key.revoked"]
    assert len(revocations) == 1
