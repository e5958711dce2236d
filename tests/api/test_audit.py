"""The audit trail: records for every change, tamper detection by `pasarela audit verify`
(editing the SQLite file directly, as an attacker with file access would), the API views,
correlation, concurrency, and the stand-alone verification script of docs/."""
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from conftest import BIN, ROOT

FIELDS = ("chain_id", "seq", "id", "prev_hash", "created", "correlation_id", "actor",
          "tenant_id", "action", "entity_type", "entity_id", "changes")
SCRIPT = os.path.join(ROOT, "docs", "verify-audit.py")


def db(server):
    return sqlite3.connect(os.path.join(server.data_dir, "pasarela.db"))


def make_history(server):
    """A tenant with five records: created, key created, renamed, key created, key revoked."""
    t = server.create_tenant()
    k1 = server.create_key(t["id"])
    assert server.admin("PATCH", f"/v1/tenants/{t['id']}", {"name": "Renamed"}).status == 200
    server.create_key(t["id"])
    assert server.admin("DELETE", f"/v1/tenants/{t['id']}/keys/{k1['id']}").status == 200
    return t["id"]


def verify(server, *extra):
    r = server.cli("audit", "verify", *extra)
    return r.returncode, r.stdout + r.stderr


def stopped_with_history(server):
    chain = make_history(server)
    assert server.stop() == 0  # a clean stop writes a checkpoint
    code, out = verify(server)
    assert code == 0 and "intact" in out, out
    return chain


def canonical_hash(record):
    body = {k: record[k] for k in FIELDS}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def row(conn, chain, seq):
    cur = conn.execute("SELECT chain_id, seq, id, prev_hash, created, correlation_id, actor,"
                       " tenant_id, action, entity_type, entity_id, changes, hash, mac"
                       " FROM audit_records WHERE chain_id = ? AND seq = ?", (chain, seq))
    values = cur.fetchone()
    record = dict(zip(FIELDS + ("hash", "mac"), values))
    record["changes"] = json.loads(record["changes"])
    return record


def insert(conn, record):
    r = dict(record)
    r["changes"] = json.dumps(r["changes"])
    conn.execute("INSERT INTO audit_records (chain_id, seq, id, prev_hash, hash, mac, created,"
                 " correlation_id, actor, tenant_id, action, entity_type, entity_id, changes)"
                 " VALUES (:chain_id, :seq, :id, :prev_hash, :hash, :mac, :created,"
                 " :correlation_id, :actor, :tenant_id, :action, :entity_type, :entity_id,"
                 " :changes)", r)


def forged_after(conn, chain, seq, new_seq):
    """A record that links to record `seq`, with a correctly recomputed hash."""
    prev = row(conn, chain, seq)
    forged = dict(prev, seq=new_seq, id="aud_forged", prev_hash=prev["hash"], actor="admin",
                  action="tenant.updated", changes={"before": {"status": "suspended"},
                                                    "after": {"status": "active"}})
    forged["hash"] = canonical_hash(forged)
    forged["mac"] = "0" * 64
    return forged


def test_every_change_is_recorded_in_order_with_its_actor(server):
    chain = make_history(server)
    r = server.admin("GET", f"/v1/audit?chain_id={chain}")
    actions = [rec["action"] for rec in reversed(r.json["data"])]
    assert actions == ["tenant.created", "key.created", "tenant.updated", "key.created",
                       "key.revoked"]
    assert [rec["seq"] for rec in r.json["data"]] == [5, 4, 3, 2, 1]
    assert all(rec["actor"] == "admin" and rec["tenant_id"] == chain for rec in r.json["data"])
    renamed = r.json["data"][2]
    assert renamed["changes"] == {"before": {"name": "Tenant"}, "after": {"name": "Renamed"}}


def test_records_never_hold_secrets(server):
    t = server.create_tenant()
    key = server.create_key(t["id"])
    everything = json.dumps(server.admin("GET", "/v1/audit?limit=100").json)
    assert key["secret"] not in everything and server.admin_key not in everything
    with db(server) as conn:
        dump = "\n".join(conn.iterdump())
    assert key["secret"] not in dump


def test_a_change_that_changes_nothing_is_not_recorded(server):
    t = server.create_tenant(slug="same-name")
    assert server.admin("PATCH", f"/v1/tenants/{t['id']}", {"name": "Tenant"}).status == 200
    assert len(server.admin("GET", f"/v1/audit?chain_id={t['id']}").json["data"]) == 1


def test_modified_field_is_named(server):
    chain = stopped_with_history(server)
    with db(server) as conn:
        conn.execute("UPDATE audit_records SET actor = 'key:key_x' WHERE chain_id = ? AND seq = 3",
                     (chain,))
    code, out = verify(server)
    assert code == 1 and f"chain {chain}, record 3: modified" in out, out


def test_modified_changes_document_is_named(server):
    chain = stopped_with_history(server)
    with db(server) as conn:
        conn.execute("UPDATE audit_records SET changes = replace(changes, 'Renamed', 'Other')"
                     " WHERE chain_id = ? AND seq = 3", (chain,))
    code, out = verify(server)
    assert code == 1 and "record 3: modified" in out, out


def test_deleted_middle_record_is_missing(server):
    chain = stopped_with_history(server)
    with db(server) as conn:
        conn.execute("DELETE FROM audit_records WHERE chain_id = ? AND seq = 2", (chain,))
    code, out = verify(server)
    assert code == 1 and f"chain {chain}, record 2: missing" in out, out


def test_deleted_newest_records_are_truncation(server):
    chain = stopped_with_history(server)
    with db(server) as conn:
        conn.execute("DELETE FROM audit_records WHERE chain_id = ? AND seq >= 4", (chain,))
        conn.execute("UPDATE audit_chains SET seq = 3 WHERE chain_id = ?", (chain,))
    code, out = verify(server)
    assert code == 1 and f"chain {chain}, record 4: truncated" in out, out


def test_forged_record_appended_with_recomputed_hash_is_inserted(server):
    chain = stopped_with_history(server)
    with db(server) as conn:
        insert(conn, forged_after(conn, chain, 5, 6))
    code, out = verify(server)
    assert code == 1 and f"chain {chain}, record 6: inserted" in out, out


def test_forged_record_inserted_in_the_middle_is_inserted(server):
    chain = stopped_with_history(server)
    with db(server) as conn:
        # make room at seq 3 (negative first: the key is unique at every step)
        conn.execute("UPDATE audit_records SET seq = -seq - 1 WHERE chain_id = ? AND seq >= 3",
                     (chain,))
        conn.execute("UPDATE audit_records SET seq = -seq WHERE chain_id = ? AND seq < 0", (chain,))
        insert(conn, forged_after(conn, chain, 2, 3))
    code, out = verify(server)
    assert code == 1 and f"chain {chain}, record 3: inserted" in out, out


def test_swapped_records_are_reordered(server):
    chain = stopped_with_history(server)
    with db(server) as conn:
        conn.execute("UPDATE audit_records SET seq = -1 WHERE chain_id = ? AND seq = 2", (chain,))
        conn.execute("UPDATE audit_records SET seq = 2 WHERE chain_id = ? AND seq = 4", (chain,))
        conn.execute("UPDATE audit_records SET seq = 4 WHERE chain_id = ? AND seq = -1", (chain,))
    code, out = verify(server)
    assert code == 1 and f"chain {chain}, record 2: reordered" in out, out


def test_forged_checkpoint_is_named(server):
    chain = stopped_with_history(server)
    with db(server) as conn:
        conn.execute("UPDATE audit_checkpoints SET created = '2020-01-01T00:00:00.000000Z'"
                     " WHERE chain_id = ?", (chain,))
    code, out = verify(server)
    assert code == 1 and "checkpoint_forged" in out, out


def test_verify_for_one_tenant_ignores_other_chains(server):
    broken = stopped_with_history(server)
    server.start()
    intact = server.create_tenant()["id"]
    assert server.stop() == 0
    with db(server) as conn:
        conn.execute("UPDATE audit_records SET actor = 'x' WHERE chain_id = ? AND seq = 1",
                     (broken,))
    assert verify(server, "--tenant", intact)[0] == 0
    assert verify(server, "--tenant", broken)[0] == 1


def test_verify_without_master_key_refuses(server):
    stopped_with_history(server)
    env = {k: v for k, v in os.environ.items() if k != "PASARELA_MASTER_KEY"}
    r = subprocess.run([BIN, "audit", "verify", "--data", server.data_dir], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 2 and "master key" in r.stderr


def test_api_verify_reports_tampering_and_scopes_tenants(server):
    a = make_history(server)
    b = server.create_tenant()
    key_b = server.create_key(b["id"])["secret"]
    ok = server.admin("GET", "/v1/audit/verify").json
    assert ok["intact"] is True and ok["chains"] == 2 and ok["records"] == 7
    with db(server) as conn:
        conn.execute("UPDATE audit_records SET action = 'x' WHERE chain_id = ? AND seq = 2", (a,))
    bad = server.admin("GET", "/v1/audit/verify").json
    assert bad["intact"] is False
    assert bad["problem"]["chain_id"] == a and bad["problem"]["seq"] == 2
    assert bad["problem"]["kind"] == "modified"
    own = server.request("GET", "/v1/audit/verify", key=key_b).json
    assert own["intact"] is True and own["chains"] == 1 and own["records"] == 2


def test_tenant_sees_only_its_own_chain(server):
    a = server.create_tenant()
    b = server.create_tenant()
    key_a = server.create_key(a["id"])["secret"]
    server.create_key(b["id"])
    records = server.request("GET", "/v1/audit?limit=100", key=key_a).json["data"]
    assert records and all(r["chain_id"] == a["id"] for r in records)
    other = server.request("GET", f"/v1/audit?chain_id={b['id']}", key=key_a).json["data"]
    assert all(r["chain_id"] == a["id"] for r in other)


def test_correlation_id_tells_the_story_of_one_request(server):
    t = server.create_tenant()
    r = server.admin("POST", f"/v1/tenants/{t['id']}/keys", {"name": "k"},
                     headers={"X-Request-Id": "story-42"})
    assert r.headers["request-id"] == "story-42"
    found = server.admin("GET", "/v1/audit?correlation_id=story-42").json["data"]
    assert [x["action"] for x in found] == ["key.created"]
    assert found[0]["entity_id"] == r.json["id"]


def test_list_filters_and_pagination(server):
    chain = make_history(server)
    keys = server.admin("GET", f"/v1/audit?chain_id={chain}&entity_type=api_key").json["data"]
    assert [x["action"] for x in keys] == ["key.revoked", "key.created", "key.created"]
    seen, after = [], ""
    for _ in range(10):
        page = server.admin("GET", f"/v1/audit?chain_id={chain}&limit=2{after}").json
        seen += [x["seq"] for x in page["data"]]
        if not page["has_more"]:
            break
        after = "&starting_after=" + page["data"][-1]["id"]
    assert seen == [5, 4, 3, 2, 1]
    assert server.admin("GET", "/v1/audit?created_gte=yesterday").status == 400
    assert server.admin("GET", "/v1/audit?created_lt=2000-01-01T00:00:00Z").json["data"] == []


def test_random_actions_keep_every_chain_verifiable(server):
    rng = random.Random(7)
    expected = {}
    keys = {}
    for _ in range(120):
        action = rng.choice(["tenant", "patch", "key", "revoke", "noop"])
        if action == "tenant" or not expected:
            t = server.create_tenant()
            expected[t["id"]] = 1
            keys[t["id"]] = []
            continue
        tid = rng.choice(sorted(expected))
        if action == "patch":
            r = server.admin("PATCH", f"/v1/tenants/{tid}", {"name": f"n{rng.random()}"})
            assert r.status == 200
            expected[tid] += 1
        elif action == "key":
            keys[tid].append(server.create_key(tid)["id"])
            expected[tid] += 1
        elif action == "revoke" and keys[tid]:
            k = keys[tid].pop()
            assert server.admin("DELETE", f"/v1/tenants/{tid}/keys/{k}").status == 200
            expected[tid] += 1
        elif action == "noop":
            assert server.admin("GET", f"/v1/tenants/{tid}").status == 200
    v = server.admin("GET", "/v1/audit/verify").json
    assert v["intact"] is True and v["records"] == sum(expected.values())
    with db(server) as conn:
        lengths = dict(conn.execute("SELECT chain_id, max(seq) FROM audit_records GROUP BY 1"))
    assert lengths == expected
    assert server.stop() == 0
    assert verify(server)[0] == 0


def test_concurrent_tenants_keep_chains_gap_free(server):
    tenants = [server.create_tenant()["id"] for _ in range(8)]

    def work(i):
        tid = tenants[i % len(tenants)]
        if i % 2:
            return server.admin("POST", f"/v1/tenants/{tid}/keys", {"name": f"k{i}"}).status
        return server.admin("PATCH", f"/v1/tenants/{tid}", {"name": f"name {i}"}).status

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(work, range(400)))
    assert statuses.count(200) + statuses.count(201) == 400
    with db(server) as conn:
        for tid in tenants:
            seqs = [s for (s,) in conn.execute(
                "SELECT seq FROM audit_records WHERE chain_id = ? ORDER BY seq", (tid,))]
            assert seqs == list(range(1, len(seqs) + 1))
            assert len(seqs) == 1 + 50
    assert server.admin("GET", "/v1/audit/verify").json["intact"] is True


def run_script(*args, env=None):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_docs_script_reproduces_the_worked_example(tmp_path):
    example = os.path.join(ROOT, "docs", "audit-example.json")
    r = run_script(example)
    assert r.returncode == 0 and "intact: 2 records" in r.stdout, r.stdout + r.stderr
    records = json.load(open(example, encoding="utf-8"))
    records[1]["changes"]["after"]["name"] = "web shop"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(records), encoding="utf-8")
    r = run_script(str(tampered))
    assert r.returncode == 1 and "record 2 does not match its hash" in r.stdout


def test_docs_script_verifies_a_live_chain(server):
    t = server.create_tenant(name="Ñandú \"quoted\"\n\ttabs \u0001 ✓")
    key = server.create_key(t["id"], name="clé")
    for i in range(3):
        server.admin("PATCH", f"/v1/tenants/{t['id']}", {"name": f"name {i} ü"})
    env = dict(os.environ, PASARELA_KEY=key["secret"])
    r = run_script(f"{server.url}/v1/audit", env=env)
    assert r.returncode == 0 and "intact: 5 records" in r.stdout, r.stdout + r.stderr
