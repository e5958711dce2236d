"""The ledger over the real HTTP API: the platform-account story of the README (payment,
fees, balance, refund, payout), postings once per cause however often a provider reports it,
settlement delays, chargebacks that exceed the balance, connected accounts, payouts (their
states, errors, idempotency and concurrency), entries and the platform report, tenant
isolation on every ledger endpoint, and `pasarela ledger check` catching damage."""
import csv
import io
import os
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Server, assert_error, assert_no_sanitizer_reports, ledger_check
from test_payments import pay, sandbox_event, signed, wait_status


@pytest.fixture
def lserver(tmp_path):
    s = Server(tmp_path / "data", extra_env={"PASARELA_SANDBOX_DELAY_MS": "30"})
    os.makedirs(s.data_dir, exist_ok=True)
    s.start()
    yield s
    code = s.stop()
    assert_no_sanitizer_reports(s.log())
    assert code == 0, s.log()[-3000:]


def new_tenant(server, **fields):
    t = server.create_tenant(**fields)
    return {"id": t["id"], "key": server.create_key(t["id"])["secret"]}


@pytest.fixture
def tenant(lserver):
    return new_tenant(lserver, platform_fee_bps=100)


def approved(server, key, amount=10000, currency="MXN", email="ana@example.com"):
    p = pay(server, key, amount=amount, currency=currency, email=email)
    assert p.status == 201, p
    return wait_status(server, key, p.json["id"], "approved")


def balance(server, key, currency="MXN", **kw):
    rows = server.request("GET", "/v1/balance", key=key, **kw).json["data"]
    row = [r for r in rows if r["currency"] == currency]
    return row[0] if row else {"currency": currency, "pending": 0, "available": 0,
                               "payouts_in_transit": 0, "receivable": 0}


def entries(server, key, **filters):
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    r = server.request("GET", f"/v1/ledger/entries?limit=100&{query}", key=key)
    assert r.status == 200, r
    return r.json["data"]


def by_account(rows, kind):
    return {(e["owner"], e["account"]): e["amount"] for e in rows if e["kind"] == kind}


def payout(server, key, amount, currency="MXN", **kw):
    return server.request("POST", "/v1/payouts", {"amount": amount, "currency": currency},
                          key=key, **kw)


def test_platform_account_story(lserver, tenant):
    """The README's walkthrough: 100.00 MXN, 1 % platform fee, the sandbox's 2.99 %."""
    p = approved(lserver, tenant["key"])
    assert balance(lserver, tenant["key"]) == {"currency": "MXN", "pending": 0, "available": 9601,
                                               "payouts_in_transit": 0, "receivable": 0}
    rows = entries(lserver, tenant["key"], payment_id=p["id"])
    assert by_account(rows, "payment") == {
        ("platform", "provider_clearing"): -10000, ("platform", "fee_revenue"): 100,
        ("tenant", "provider_fees"): 299, ("tenant", "pending"): 9601}
    assert by_account(rows, "release") == {("tenant", "pending"): -9601,
                                           ("tenant", "available"): 9601}
    assert all(e["cause"] == {"type": "payment", "id": p["id"]} for e in rows)

    r = lserver.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 2500},
                        key=tenant["key"])
    assert r.status == 201, r
    refund = by_account(entries(lserver, tenant["key"], kind="refund"), "refund")
    assert refund == {("platform", "provider_clearing"): 2500, ("platform", "fee_revenue"): -25,
                      ("tenant", "provider_fees"): -75, ("tenant", "available"): -2400}
    assert balance(lserver, tenant["key"])["available"] == 7201

    po = payout(lserver, tenant["key"], 5000)
    assert po.status == 201, po
    assert po.json["object"] == "payout" and po.json["status"] == "requested"
    assert po.json["id"].startswith("po_")
    assert balance(lserver, tenant["key"]) == {"currency": "MXN", "pending": 0, "available": 2201,
                                               "payouts_in_transit": 5000, "receivable": 0}
    paid = lserver.admin("POST", f"/v1/payouts/{po.json['id']}/paid", {"reference": "SPEI-778"})
    assert paid.status == 200 and paid.json["status"] == "paid", paid
    assert paid.json["reference"] == "SPEI-778"
    assert balance(lserver, tenant["key"])["payouts_in_transit"] == 0

    report = lserver.admin("GET", "/v1/reports/platform").json
    assert report["object"] == "platform_report"
    assert [r for r in report["data"] if r["tenant_id"] == tenant["id"]] == [{
        "tenant_id": tenant["id"], "currency": "MXN", "payments": 1, "volume": 10000,
        "refunded": 2500, "charged_back": 0, "fee_revenue": 75, "provider_fees": 224}]
    audit = lserver.request("GET", f"/v1/audit?entity_id={po.json['id']}", key=tenant["key"])
    assert [a["action"] for a in audit.json["data"]] == ["payout.paid", "payout.requested"]


def test_each_cause_posts_once_however_often_reported(lserver, tenant):
    p = approved(lserver, tenant["key"])
    before = entries(lserver, tenant["key"])
    for _ in range(3):  # redeliveries (new message ids) of what the sandbox already said
        raw, h = signed(lserver, sandbox_event(p, "approved"))
        assert lserver.request("POST", "/webhooks/sandbox", raw=raw, headers=h).status == 200
    time.sleep(0.3)
    assert entries(lserver, tenant["key"]) == before
    # a refund through the API, then the provider's report of it: posted once
    r = lserver.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 1000},
                        key=tenant["key"])
    assert r.status == 201, r
    raw, h = signed(lserver, sandbox_event(p, "partially_refunded", refunded=1000))
    assert lserver.request("POST", "/webhooks/sandbox", raw=raw, headers=h).status == 200
    time.sleep(0.3)
    refunds = {e["transaction_id"] for e in entries(lserver, tenant["key"], kind="refund")}
    assert len(refunds) == 1
    assert entries(lserver, tenant["key"], kind="refund")[0]["cause"] == {
        "type": "refund", "id": f"{p['id']}/1000"}


def test_refund_reported_only_by_the_provider_and_a_full_refund_returns_every_fee(lserver,
                                                                                  tenant):
    p = approved(lserver, tenant["key"], amount=3333)
    raw, h = signed(lserver, sandbox_event(p, "partially_refunded", refunded=1111))
    assert lserver.request("POST", "/webhooks/sandbox", raw=raw, headers=h).status == 200
    wait_status(lserver, tenant["key"], p["id"], "partially_refunded")
    r = lserver.request("POST", f"/v1/payments/{p['id']}/refunds", {}, key=tenant["key"])
    assert r.status == 201 and r.json["payment"]["status"] == "refunded", r
    totals = {}
    for e in entries(lserver, tenant["key"], payment_id=p["id"]):
        totals[e["account"]] = totals.get(e["account"], 0) + e["amount"]
    assert totals == {"provider_clearing": 0, "fee_revenue": 0, "provider_fees": 0,
                      "pending": 0, "available": 0}


def test_rejected_and_pending_payments_post_nothing(lserver, tenant):
    rejected = pay(lserver, tenant["key"], email="reject@example.com").json
    pending = pay(lserver, tenant["key"], email="pending@example.com").json
    wait_status(lserver, tenant["key"], rejected["id"], "rejected")
    r = lserver.request("POST", f"/v1/payments/{pending['id']}/cancel", key=tenant["key"])
    assert r.status == 200, r
    assert entries(lserver, tenant["key"]) == []
    assert lserver.request("GET", "/v1/balance", key=tenant["key"]).json == {
        "object": "balance", "data": []}


def test_settlement_delay_keeps_funds_pending_until_released(lserver):
    t = new_tenant(lserver, platform_fee_bps=0, settlement_delay_seconds=1)
    p = approved(lserver, t["key"])
    b = balance(lserver, t["key"])
    assert (b["pending"], b["available"]) == (9701, 0)
    assert_error(payout(lserver, t["key"], 1), 422, "balance_insufficient", param="amount")
    # a refund before the release comes out of pending
    r = lserver.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 5000}, key=t["key"])
    assert r.status == 201, r
    b = balance(lserver, t["key"])
    assert b["available"] == 0 and b["pending"] == 9701 - (5000 - 150)
    deadline = time.time() + 10
    while balance(lserver, t["key"])["pending"] and time.time() < deadline:
        time.sleep(0.1)
    assert balance(lserver, t["key"]) == {"currency": "MXN", "pending": 0, "available": 4851,
                                          "payouts_in_transit": 0, "receivable": 0}
    release = entries(lserver, t["key"], kind="release")
    assert {e["account"]: e["amount"] for e in release} == {"pending": -4851, "available": 4851}


def test_chargeback_beyond_the_balance_becomes_receivable_repaid_first(lserver, tenant):
    p = approved(lserver, tenant["key"])
    assert payout(lserver, tenant["key"], 9601).status == 201
    raw, h = signed(lserver, sandbox_event(p, "charged_back"))
    assert lserver.request("POST", "/webhooks/sandbox", raw=raw, headers=h).status == 200
    wait_status(lserver, tenant["key"], p["id"], "charged_back")
    assert balance(lserver, tenant["key"]) == {"currency": "MXN", "pending": 0, "available": 0,
                                               "payouts_in_transit": 9601, "receivable": 9601}
    # the next payment's net first repays what the tenant owes
    approved(lserver, tenant["key"], amount=20000)  # net 20000 - 200 - 598 = 19202
    assert balance(lserver, tenant["key"])["receivable"] == 0
    assert balance(lserver, tenant["key"])["available"] == 19202 - 9601
    # the sandbox's own chargeback path: approved, then charged back
    cb = pay(lserver, tenant["key"], email="chargeback@example.com", amount=3333).json
    wait_status(lserver, tenant["key"], cb["id"], "charged_back")
    rows = entries(lserver, tenant["key"], payment_id=cb["id"], kind="chargeback")
    assert {e["account"]: e["amount"] for e in rows} == {
        "provider_clearing": 3333, "fee_revenue": -33, "provider_fees": -100, "available": -3200}
    assert rows[0]["cause"] == {"type": "chargeback", "id": cb["id"]}


def test_connected_account_records_only_the_platform_fee_and_volume(lserver):
    t = new_tenant(lserver, platform_fee_bps=250)
    r = lserver.request("PUT", "/v1/providers/sandbox", {"mode": "manual"}, key=t["key"])
    assert r.status in (200, 201), r
    p = approved(lserver, t["key"], amount=10100)
    rows = entries(lserver, t["key"], payment_id=p["id"])
    assert by_account(rows, "payment") == {("platform", "provider_clearing"): -253,
                                           ("platform", "fee_revenue"): 253}
    assert lserver.request("GET", "/v1/balance", key=t["key"]).json["data"] == []
    r = lserver.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 5050}, key=t["key"])
    assert r.status == 201, r
    report = [r for r in lserver.admin("GET", "/v1/reports/platform").json["data"]
              if r["tenant_id"] == t["id"]]
    assert report == [{"tenant_id": t["id"], "currency": "MXN", "payments": 1, "volume": 10100,
                       "refunded": 5050, "charged_back": 0, "fee_revenue": 253 - 127,
                       "provider_fees": 0}]


def test_concurrent_payouts_exactly_those_that_fit(lserver, tenant):
    approved(lserver, tenant["key"])  # 9601 available
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: payout(lserver, tenant["key"], 1000), range(20)))
    ok = [r for r in results if r.status == 201]
    refused = [r for r in results if r.status != 201]
    assert len(ok) == 9, [r.status for r in results]
    for r in refused:
        assert_error(r, 422, "balance_insufficient", param="amount")
    assert balance(lserver, tenant["key"]) == {"currency": "MXN", "pending": 0, "available": 601,
                                               "payouts_in_transit": 9000, "receivable": 0}


def test_payout_states_and_errors(lserver, tenant):
    approved(lserver, tenant["key"])
    key = tenant["key"]
    a = payout(lserver, key, 3000).json
    b = payout(lserver, key, 2000).json
    assert_error(lserver.request("POST", f"/v1/payouts/{a['id']}/paid", {"reference": "x"},
                                 key=key), 403, "permission_denied")
    assert_error(lserver.admin("POST", f"/v1/payouts/{a['id']}/paid", {}), 400,
                 "parameter_missing", param="reference")
    assert_error(lserver.admin("POST", f"/v1/payouts/{a['id']}/failed", {"reason": ""}), 400,
                 "parameter_missing", param="reason")
    assert_error(lserver.admin("POST", f"/v1/payouts/{a['id']}/paid", {"reference": 7}), 400,
                 "parameter_invalid", param="reference")
    assert_error(lserver.admin("POST", f"/v1/payouts/{a['id']}/paid", {"reference": "x", "y": 1}),
                 400, "parameter_unknown")
    failed = lserver.admin("POST", f"/v1/payouts/{a['id']}/failed",
                           {"reason": "account closed"},
                           headers={"Pasarela-Tenant": tenant["id"]})
    assert failed.status == 200 and failed.json["status"] == "failed", failed
    assert failed.json["failure_reason"] == "account closed"
    assert_error(lserver.admin("POST", f"/v1/payouts/{a['id']}/paid", {"reference": "late"}),
                 409, "payout_not_requested")
    assert lserver.admin("POST", f"/v1/payouts/{b['id']}/paid", {"reference": "r"}).status == 200
    assert balance(lserver, key) == {"currency": "MXN", "pending": 0, "available": 7601,
                                     "payouts_in_transit": 0, "receivable": 0}
    listed = lserver.request("GET", "/v1/payouts", key=key).json["data"]
    assert [p["id"] for p in listed] == [b["id"], a["id"]]
    assert [p["id"] for p in lserver.request("GET", "/v1/payouts?status=failed",
                                             key=key).json["data"]] == [a["id"]]
    assert lserver.request("GET", f"/v1/payouts/{b['id']}", key=key).json["status"] == "paid"
    # the operator without a tenant sees every tenant's payouts
    assert b["id"] in [p["id"] for p in lserver.admin("GET", "/v1/payouts?limit=100").json["data"]]
    for body, code, param in [({"amount": 0, "currency": "MXN"}, "parameter_invalid", "amount"),
                              ({"amount": 10.5, "currency": "MXN"}, "parameter_invalid", "amount"),
                              ({"amount": "10", "currency": "MXN"}, "parameter_invalid", "amount"),
                              ({"currency": "MXN"}, "parameter_missing", "amount"),
                              ({"amount": 10, "currency": "XXX"}, "parameter_invalid", "currency"),
                              ({"amount": 10}, "parameter_missing", "currency")]:
        assert_error(lserver.request("POST", "/v1/payouts", body, key=key), 400, code, param=param)
    assert_error(payout(lserver, key, 10, currency="CLP"), 422, "balance_insufficient",
                 param="amount")
    assert_error(lserver.request("GET", "/v1/payouts?status=lost", key=key), 400,
                 "parameter_invalid", param="status")
    assert_error(lserver.admin("POST", "/v1/payouts", {"amount": 1, "currency": "MXN"}), 400,
                 "tenant_required")


def test_payout_idempotency(lserver, tenant):
    approved(lserver, tenant["key"])
    h = {"Idempotency-Key": "payout-" + uuid.uuid4().hex}
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: payout(lserver, tenant["key"], 1500, headers=h),
                                range(8)))
    assert {r.status for r in results} == {201}
    assert len({r.json["id"] for r in results}) == 1
    assert balance(lserver, tenant["key"])["payouts_in_transit"] == 1500
    assert_error(payout(lserver, tenant["key"], 1600, headers=h), 409, "idempotency_key_reused")
    po = results[0].json["id"]
    ph = {"Idempotency-Key": "paid-" + uuid.uuid4().hex}
    first = lserver.admin("POST", f"/v1/payouts/{po}/paid", {"reference": "r1"}, headers=ph)
    again = lserver.admin("POST", f"/v1/payouts/{po}/paid", {"reference": "r1"}, headers=ph)
    assert first.status == again.status == 200 and first.json == again.json
    assert again.headers.get("idempotent-replayed") == "true"


def test_tenant_isolation_on_every_ledger_endpoint(lserver, tenant):
    other = new_tenant(lserver)
    approved(lserver, tenant["key"])
    po = payout(lserver, tenant["key"], 100).json["id"]
    ko, hb = other["key"], {"Pasarela-Tenant": other["id"]}
    assert_error(lserver.request("GET", f"/v1/payouts/{po}", key=ko), 404, "resource_missing")
    assert_error(lserver.admin("GET", f"/v1/payouts/{po}", headers=hb), 404, "resource_missing")
    for action, body in (("paid", {"reference": "x"}), ("failed", {"reason": "x"})):
        assert_error(lserver.admin("POST", f"/v1/payouts/{po}/{action}", body, headers=hb), 404,
                     "resource_missing")
    assert lserver.request("GET", "/v1/payouts", key=ko).json["data"] == []
    assert lserver.admin("GET", "/v1/payouts", headers=hb).json["data"] == []
    assert lserver.request("GET", "/v1/balance", key=ko).json["data"] == []
    assert lserver.admin("GET", "/v1/balance", headers=hb).json["data"] == []
    assert entries(lserver, ko) == []
    assert entries(lserver, ko, payment_id=entries(lserver, tenant["key"])[0]["payment_id"]) == []
    assert_error(lserver.request("GET", "/v1/reports/platform", key=ko), 403, "permission_denied")
    assert_error(lserver.request("GET", "/v1/balance", key=ko,
                                 headers={"Pasarela-Tenant": tenant["id"]}), 403,
                 "permission_denied")
    assert_error(lserver.admin("GET", "/v1/balance"), 400, "tenant_required")
    assert_error(lserver.admin("GET", "/v1/ledger/entries"), 400, "tenant_required")
    # the operator acting on the tenant sees what the tenant sees
    assert balance(lserver, None, headers={"Authorization": f"Bearer {lserver.admin_key}",
                                           "Pasarela-Tenant": tenant["id"]})["available"] == 9501


def test_entries_filters_and_pagination(lserver, tenant):
    p = approved(lserver, tenant["key"])
    approved(lserver, tenant["key"], amount=500)
    everything = entries(lserver, tenant["key"])
    assert len(everything) == 12 and all(e["object"] == "ledger_entry" for e in everything)
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    page, after = [], None
    while True:
        q = "/v1/ledger/entries?limit=5" + (f"&starting_after={after}" if after else "")
        r = lserver.request("GET", q, key=tenant["key"]).json
        page += r["data"]
        if not r["has_more"]:
            break
        after = r["data"][-1]["id"]
    assert page == everything
    avail = entries(lserver, tenant["key"], account="available")
    assert [e["amount"] for e in avail] == [500 - 5 - 15, 9601]
    assert len(entries(lserver, tenant["key"], payment_id=p["id"], currency="MXN")) == 6
    assert entries(lserver, tenant["key"], currency="CLP") == []
    assert entries(lserver, tenant["key"], created_gte="2999-01-01T00:00:00Z") == []
    txn = everything[0]["transaction_id"]
    assert {e["transaction_id"] for e in entries(lserver, tenant["key"], transaction_id=txn)} == \
        {txn}
    for q, param in (("account=cash", "account"), ("currency=mxn", "currency"),
                     ("created_lt=yesterday", "created_lt"), ("limit=0", "limit")):
        assert_error(lserver.request("GET", f"/v1/ledger/entries?{q}", key=tenant["key"]), 400,
                     "parameter_invalid", param=param)


def test_platform_report_period_and_csv(lserver, tenant):
    approved(lserver, tenant["key"])
    other = new_tenant(lserver, platform_fee_bps=250)
    approved(lserver, other["key"], amount=1000, currency="CLP")
    data = lserver.admin("GET", "/v1/reports/platform?format=json").json["data"]
    mine = {(r["tenant_id"], r["currency"]): r for r in data}
    assert mine[(tenant["id"], "MXN")]["fee_revenue"] == 100
    assert mine[(other["id"], "CLP")] == {"tenant_id": other["id"], "currency": "CLP",
                                          "payments": 1, "volume": 1000, "refunded": 0,
                                          "charged_back": 0, "fee_revenue": 25,
                                          "provider_fees": 30}
    r = lserver.admin("GET", "/v1/reports/platform?format=csv")
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.raw)))
    assert {(row["tenant_id"], row["currency"]): int(row["fee_revenue"]) for row in rows} == \
        {k: v["fee_revenue"] for k, v in mine.items()}
    assert lserver.admin("GET", "/v1/reports/platform?to=2000-01-01T00:00:00Z").json["data"] == []
    assert lserver.admin("GET", "/v1/reports/platform?from=2999-01-01T00:00:00Z").json[
        "data"] == []
    for q, param in (("format=xml", "format"), ("from=soon", "from"), ("to=1", "to")):
        assert_error(lserver.admin("GET", f"/v1/reports/platform?{q}"), 400, "parameter_invalid",
                     param=param)


def test_ledger_check_finds_damage(tmp_path):
    s = Server(tmp_path / "data", extra_env={"PASARELA_SANDBOX_DELAY_MS": "30"})
    os.makedirs(s.data_dir)
    s.start()
    t = new_tenant(s, platform_fee_bps=100)
    approved(s, t["key"])
    assert s.stop() == 0
    ok = ledger_check(s.data_dir)
    assert ok.returncode == 0 and ok.stdout.startswith("ledger: consistent: 2 transactions"), ok
    db = sqlite3.connect(os.path.join(s.data_dir, "pasarela.db"))
    damage = [
        ("UPDATE ledger_accounts SET balance = balance + 1 WHERE kind = 'available'",
         "UPDATE ledger_accounts SET balance = balance - 1 WHERE kind = 'available'",
         "cached balance 9602, entries sum to 9601"),
        ("UPDATE ledger_entries SET amount = amount + 7 WHERE account = 'fee_revenue'",
         "UPDATE ledger_entries SET amount = amount - 7 WHERE account = 'fee_revenue'",
         "summing to 7"),
        ("UPDATE payments SET amount_refunded = 100, status = 'partially_refunded'",
         "UPDATE payments SET amount_refunded = 0, status = 'approved'",
         "reversals posted for 0, 100 expected"),
        ("UPDATE payments SET status = 'pending'", "UPDATE payments SET status = 'approved'",
         "pending, with its approval posted 1 times"),
        ("DELETE FROM ledger_transactions WHERE kind = 'release'", None, "has 2 entries"),
    ]
    for spoil, repair, words in damage:
        db.execute(spoil)
        db.commit()
        bad = ledger_check(s.data_dir)
        assert bad.returncode == 1 and "ledger: INCONSISTENT" in bad.stdout, bad
        assert words in bad.stdout or "no transaction" in bad.stdout, bad.stdout
        if repair:
            db.execute(repair)
            db.commit()
            assert ledger_check(s.data_dir).returncode == 0
    db.close()
    os.remove(os.path.join(s.data_dir, "pasarela.db"))  # spoiled on purpose: not checked again


def test_upgrade_leaves_earlier_payments_out_of_the_ledger(tmp_path):
    """A store from before the ledger (schema 6): payments that had moved on become 'legacy';
    a pending one is posted when it is approved after the upgrade."""
    s = Server(tmp_path / "data", extra_env={"PASARELA_SANDBOX_DELAY_MS": "30"})
    os.makedirs(s.data_dir)
    s.start()
    t = new_tenant(s, platform_fee_bps=100)
    old = approved(s, t["key"])
    waiting = pay(s, t["key"], email="pending@example.com").json
    assert s.stop() == 0
    db = sqlite3.connect(os.path.join(s.data_dir, "pasarela.db"))
    for table in ("ledger_accounts", "ledger_transactions", "ledger_entries", "payouts"):
        db.execute(f"DROP TABLE {table}")
    db.execute("ALTER TABLE payments DROP COLUMN account_mode")
    db.execute("ALTER TABLE tenants DROP COLUMN settlement_delay_seconds")
    db.execute("DELETE FROM schema_version WHERE version = 7")
    db.commit()
    db.close()
    assert "(1 migration applied)" in s.cli("migrate").stdout
    assert ledger_check(s.data_dir).returncode == 0
    s.start()
    raw, h = signed(s, sandbox_event(waiting, "approved"))
    assert s.request("POST", "/webhooks/sandbox", raw=raw, headers=h).status == 200
    wait_status(s, t["key"], waiting["id"], "approved")
    r = s.request("POST", f"/v1/payments/{old['id']}/refunds", {"amount": 100}, key=t["key"])
    assert r.status == 201, r
    assert {e["payment_id"] for e in entries(s, t["key"])} == {waiting["id"]}
    assert balance(s, t["key"])["available"] == 9601
    assert s.stop() == 0
    assert ledger_check(s.data_dir).returncode == 0
