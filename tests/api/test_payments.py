"""Payments through the built-in sandbox provider: the whole lifecycle over the real HTTP
API, asynchronous approval through the sandbox's signed webhooks, idempotency, refunds,
cancellation, limits, validation and tenant isolation."""
import base64
import hashlib
import hmac
import json
import os
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Server, assert_no_sanitizer_reports


@pytest.fixture
def pserver(tmp_path):
    s = Server(tmp_path / "data", extra_env={"PASARELA_SANDBOX_DELAY_MS": "50",
                                             "PASARELA_PROVIDER_TIMEOUT_MS": "400"})
    os.makedirs(s.data_dir, exist_ok=True)
    s.start()
    yield s
    code = s.stop()
    assert_no_sanitizer_reports(s.log())
    assert code == 0, s.log()[-3000:]


@pytest.fixture
def tenant(pserver):
    t = pserver.create_tenant()
    return {"id": t["id"], "key": pserver.create_key(t["id"])["secret"]}


def pay(server, key, email="ana@example.com", amount=10000, currency="MXN", headers=None, **extra):
    body = {"amount": amount, "currency": currency, "description": "Order",
            "customer": {"email": email, "name": "Ana", "country": "MX"}}
    body.update(extra)
    return server.request("POST", "/v1/payments", body, key=key, headers=headers)


def wait_status(server, key, pid, status, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        p = server.request("GET", f"/v1/payments/{pid}", key=key).json
        if p["status"] == status:
            return p
        time.sleep(0.02)
    raise AssertionError(f"payment {pid} is {p['status']}, not {status}, after {timeout}s")


def test_payment_goes_from_pending_to_approved_through_the_webhook(pserver, tenant):
    r = pay(pserver, tenant["key"], headers={"X-Request-Id": "order-77"})
    assert r.status == 201, r
    p = r.json
    assert p["status"] == "pending" and p["object"] == "payment" and p["provider"] == "sandbox"
    assert p["amount"] == 10000 and p["currency"] == "MXN" and p["amount_refunded"] == 0
    assert p["provider_payment_id"].startswith("sbx_") and p["checkout_url"]
    assert p["provider_fee"] == 299  # 2.99 % of 100.00, half up
    approved = wait_status(pserver, tenant["key"], p["id"], "approved")
    assert approved["id"] == p["id"]
    events = pserver.request("GET", "/v1/events", key=tenant["key"]).json["data"]
    assert [e["type"] for e in events] == ["payment.approved", "payment.created"]
    assert all(e["request_id"] == "order-77" for e in events)
    story = pserver.request("GET", "/v1/audit?correlation_id=order-77", key=tenant["key"]).json
    actions = [(a["action"], a["actor"]) for a in reversed(story["data"])]
    assert actions[0][0] == "payment.created" and actions[0][1].startswith("key:")
    assert actions[1] == ("payment.transition", "provider:sandbox")
    # the approval's ledger postings (approval, release to available) in the same story
    assert actions[2:] == [("ledger.posted", "provider:sandbox")] * 2
    transition = story["data"][-2]
    assert transition["changes"]["after"]["status"] == "approved"
    assert transition["changes"]["cause"] == "webhook"


def test_sandbox_outcomes(pserver, tenant):
    rejected = pay(pserver, tenant["key"], email="reject@example.com").json
    also_rejected = pay(pserver, tenant["key"], email="reject+card@example.com").json
    pending = pay(pserver, tenant["key"], email="pending@example.com").json
    chargeback = pay(pserver, tenant["key"], email="chargeback@example.com").json
    p = wait_status(pserver, tenant["key"], rejected["id"], "rejected")
    assert p["status_detail"] == "insufficient_funds"
    wait_status(pserver, tenant["key"], also_rejected["id"], "rejected")
    wait_status(pserver, tenant["key"], chargeback["id"], "charged_back")
    time.sleep(0.2)
    assert pserver.request("GET", f"/v1/payments/{pending['id']}", key=tenant["key"]).json[
        "status"] == "pending"
    r = pay(pserver, tenant["key"], email="error@example.com")
    assert r.status == 502 and r.json["error"]["type"] == "provider_error"
    assert r.json["error"]["code"] == "provider_error"
    r = pay(pserver, tenant["key"], email="timeout@example.com")
    assert r.status == 504 and r.json["error"]["code"] == "provider_timeout"
    listed = pserver.request("GET", "/v1/payments?limit=100", key=tenant["key"]).json["data"]
    assert len(listed) == 4  # failed creations leave no payment behind


def test_cancel_pending_only(pserver, tenant):
    pending = pay(pserver, tenant["key"], email="pending@example.com").json
    r = pserver.request("POST", f"/v1/payments/{pending['id']}/cancel", key=tenant["key"])
    assert r.status == 200 and r.json["status"] == "cancelled"
    again = pserver.request("POST", f"/v1/payments/{pending['id']}/cancel", key=tenant["key"])
    assert again.status == 409 and again.json["error"]["code"] == "payment_not_cancellable"
    approved = pay(pserver, tenant["key"]).json
    wait_status(pserver, tenant["key"], approved["id"], "approved")
    r = pserver.request("POST", f"/v1/payments/{approved['id']}/cancel", key=tenant["key"])
    assert r.status == 409 and r.json["error"]["code"] == "payment_not_cancellable"


def test_partial_and_full_refunds(pserver, tenant):
    p = pay(pserver, tenant["key"]).json
    r = pserver.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 100},
                        key=tenant["key"])
    assert r.status == 409 and r.json["error"]["code"] == "payment_not_refundable"
    wait_status(pserver, tenant["key"], p["id"], "approved")
    r = pserver.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 2500},
                        key=tenant["key"])
    assert r.status == 201, r
    assert r.json["object"] == "refund" and r.json["amount"] == 2500
    assert r.json["payment"]["status"] == "partially_refunded"
    assert r.json["payment"]["amount_refunded"] == 2500
    r = pserver.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 7501},
                        key=tenant["key"])
    assert r.status == 422 and r.json["error"]["code"] == "refund_exceeds_payment"
    assert r.json["error"]["param"] == "amount" and "7500" in r.json["error"]["message"]
    r = pserver.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 500},
                        key=tenant["key"])
    assert r.status == 201 and r.json["payment"]["status"] == "partially_refunded"
    r = pserver.request("POST", f"/v1/payments/{p['id']}/refunds", {}, key=tenant["key"])
    assert r.status == 201 and r.json["amount"] == 7000
    assert r.json["payment"]["status"] == "refunded" and r.json["payment"]["amount_refunded"] == 10000
    r = pserver.request("POST", f"/v1/payments/{p['id']}/refunds", {}, key=tenant["key"])
    assert r.status == 409
    time.sleep(0.3)  # the sandbox's refund webhooks arrive and change nothing
    final = pserver.request("GET", f"/v1/payments/{p['id']}", key=tenant["key"]).json
    assert final["status"] == "refunded" and final["amount_refunded"] == 10000
    for bad in ({"amount": 0}, {"amount": -1}, {"amount": 1.5}, {"amount": "100"},
                {"amount": 100, "reason": "x"}):
        q = pay(pserver, tenant["key"]).json
        wait_status(pserver, tenant["key"], q["id"], "approved")
        r = pserver.request("POST", f"/v1/payments/{q['id']}/refunds", bad, key=tenant["key"])
        assert r.status == 400 and r.json["error"]["param"] in ("amount", "reason"), (bad, r)


def test_concurrent_refunds_never_exceed_the_payment(pserver, tenant):
    p = pay(pserver, tenant["key"], amount=1000).json
    wait_status(pserver, tenant["key"], p["id"], "approved")

    def refund(_):
        return pserver.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 300},
                               key=tenant["key"]).status

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(refund, range(16)))
    assert statuses.count(201) == 3 and statuses.count(422) == 13, statuses
    final = pserver.request("GET", f"/v1/payments/{p['id']}", key=tenant["key"]).json
    assert final["amount_refunded"] == 900 and final["status"] == "partially_refunded"


def test_idempotency_replays_and_refuses_other_bodies(pserver, tenant):
    h = {"Idempotency-Key": "order-1"}
    first = pay(pserver, tenant["key"], headers=h)
    again = pay(pserver, tenant["key"], headers=h)
    assert first.status == again.status == 201
    assert again.json == first.json and again.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    other = pay(pserver, tenant["key"], amount=999, headers=h)
    assert other.status == 409 and other.json["error"]["code"] == "idempotency_key_reused"
    # keys are per tenant: another tenant may use the same key
    t2 = pserver.create_tenant()
    k2 = pserver.create_key(t2["id"])["secret"]
    theirs = pay(pserver, k2, headers=h)
    assert theirs.status == 201 and theirs.json["id"] != first.json["id"]
    # an error answer is not stored: the key stays free for the corrected request
    failed = pay(pserver, tenant["key"], email="error@x.com", headers={"Idempotency-Key": "e1"})
    assert failed.status == 502
    ok = pay(pserver, tenant["key"], headers={"Idempotency-Key": "e1"})
    assert ok.status == 201 and "idempotent-replayed" not in ok.headers
    assert pay(pserver, tenant["key"], headers={"Idempotency-Key": "x" * 256}).status == 400


def test_64_concurrent_requests_with_one_key_make_one_payment(pserver, tenant):
    h = {"Idempotency-Key": f"burst-{uuid.uuid4()}"}
    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(lambda _: pay(pserver, tenant["key"], email="pending@x.com",
                                              headers=h), range(64)))
    assert {r.status for r in results} == {201}, {r.status for r in results}
    assert len({r.json["id"] for r in results}) == 1
    listed = pserver.request("GET", "/v1/payments?limit=100", key=tenant["key"]).json["data"]
    assert len(listed) == 1
    db = sqlite3.connect(os.path.join(pserver.data_dir, "pasarela.db"))
    assert db.execute("SELECT count(*) FROM sandbox_payments").fetchone()[0] == 1  # one provider call


def test_limits(pserver):
    t = pserver.create_tenant(limits={"max_payment_amount": {"MXN": 5000},
                                      "monthly_volume": {"MXN": 12000, "USD": 100}})
    key = pserver.create_key(t["id"])["secret"]
    r = pay(pserver, key, amount=5001)
    assert r.status == 422 and r.json["error"]["code"] == "limit_max_payment_amount"
    assert "5000" in r.json["error"]["message"] and r.json["error"]["param"] == "amount"
    assert pay(pserver, key, amount=5000, email="pending@x.com").status == 201
    assert pay(pserver, key, amount=5000, email="pending@x.com").status == 201
    r = pay(pserver, key, amount=2001)
    assert r.status == 422 and r.json["error"]["code"] == "limit_monthly_volume"
    assert "12000" in r.json["error"]["message"] and "2000 remain" in r.json["error"]["message"]
    assert pay(pserver, key, amount=101, currency="USD").status == 422
    assert pay(pserver, key, amount=5000, currency="CLP").status == 201  # no CLP limit
    # a rejected payment gives its volume back
    rej = pay(pserver, key, amount=2000, email="reject@x.com").json
    wait_status(pserver, key, rej["id"], "rejected")
    assert pay(pserver, key, amount=2000, email="pending@x.com").status == 201


@pytest.mark.parametrize("body,param", [
    ({"amount": 100.0, "currency": "MXN"}, "amount"),
    ({"amount": "100", "currency": "MXN"}, "amount"),
    ({"amount": True, "currency": "MXN"}, "amount"),
    ({"amount": 0, "currency": "MXN"}, "amount"),
    ({"amount": -5, "currency": "MXN"}, "amount"),
    ({"amount": 10 ** 12, "currency": "MXN"}, "amount"),
    ({"currency": "MXN"}, "amount"),
    ({"amount": 100, "currency": "mxn"}, "currency"),
    ({"amount": 100, "currency": "XXX"}, "currency"),
    ({"amount": 100}, "currency"),
    ({"amount": 100, "currency": "MXN", "colour": "red"}, "colour"),
    ({"amount": 100, "currency": "MXN", "customer": {"email": "no-at"}}, "customer.email"),
    ({"amount": 100, "currency": "MXN", "customer": {"country": "mex"}}, "customer.country"),
    ({"amount": 100, "currency": "MXN", "customer": {"age": 3}}, "customer"),
    ({"amount": 100, "currency": "MXN", "customer": "ana"}, "customer"),
    ({"amount": 100, "currency": "MXN", "metadata": {"k": 1}}, "metadata"),
    ({"amount": 100, "currency": "MXN", "metadata": {f"k{i}": "v" for i in range(21)}}, "metadata"),
    ({"amount": 100, "currency": "MXN", "description": "x" * 1001}, "description"),
    ({"amount": 100, "currency": "MXN", "provider": "nope"}, "provider"),
])
def test_bad_payment_input_names_the_field(pserver, tenant, body, param):
    r = pserver.request("POST", "/v1/payments", body, key=tenant["key"])
    assert r.status == 400, r
    assert r.json["error"]["param"] == param and r.json["error"]["message"]


def test_provider_not_enabled_and_admin_needs_a_tenant(pserver, tenant):
    r = pay(pserver, tenant["key"], provider="stripe")
    assert r.status in (400, 422)
    r = pserver.admin("POST", "/v1/payments", {"amount": 100, "currency": "MXN"})
    assert r.status == 400 and r.json["error"]["code"] == "tenant_required"
    r = pserver.admin("POST", "/v1/payments", {"amount": 100, "currency": "MXN"},
                      headers={"Pasarela-Tenant": tenant["id"]})
    assert r.status == 201
    mine = pserver.request("GET", f"/v1/payments/{r.json['id']}", key=tenant["key"])
    assert mine.status == 200


def test_currency_exponents_reach_the_provider_fee(pserver, tenant):
    clp = pay(pserver, tenant["key"], amount=1000, currency="CLP").json
    kwd = pay(pserver, tenant["key"], amount=1001, currency="KWD").json
    assert clp["provider_fee"] == 30  # 29.9 rounds half up
    assert kwd["provider_fee"] == 30  # 29.9299


def test_tenant_isolation_on_every_payment_endpoint(pserver):
    a, b = pserver.create_tenant(), pserver.create_tenant()
    ka, kb = pserver.create_key(a["id"])["secret"], pserver.create_key(b["id"])["secret"]
    theirs = pay(pserver, kb, email="pending@x.com").json
    missing = pserver.request("GET", "/v1/payments/pay_0000000000000000000000000", key=ka)
    for method, path in [("GET", f"/v1/payments/{theirs['id']}"),
                         ("POST", f"/v1/payments/{theirs['id']}/refunds"),
                         ("POST", f"/v1/payments/{theirs['id']}/cancel")]:
        r = pserver.request(method, path, {} if method == "POST" else None, key=ka)
        assert r.status == 404 and r.json["error"]["code"] == missing.json["error"]["code"]
    assert pserver.request("GET", "/v1/payments", key=ka).json["data"] == []
    assert pserver.request("GET", "/v1/events", key=ka).json["data"] == []
    still = pserver.request("GET", f"/v1/payments/{theirs['id']}", key=kb).json
    assert still["status"] == "pending"


def test_list_filters_and_pagination(pserver, tenant):
    ids = [pay(pserver, tenant["key"], email="pending@x.com").json["id"] for _ in range(5)]
    rejected = pay(pserver, tenant["key"], email="reject@x.com").json["id"]
    wait_status(pserver, tenant["key"], rejected, "rejected")
    page = pserver.request("GET", "/v1/payments?status=pending&limit=2", key=tenant["key"]).json
    seen = [p["id"] for p in page["data"]]
    while page["has_more"]:
        page = pserver.request("GET", f"/v1/payments?status=pending&limit=2&starting_after={seen[-1]}",
                               key=tenant["key"]).json
        seen += [p["id"] for p in page["data"]]
    assert seen == list(reversed(ids))
    r = pserver.request("GET", "/v1/payments?status=rejected", key=tenant["key"]).json["data"]
    assert [p["id"] for p in r] == [rejected]
    assert pserver.request("GET", "/v1/payments?status=weird", key=tenant["key"]).status == 400
    assert pserver.request("GET", "/v1/payments?created_gte=2999-01-01T00:00:00Z",
                           key=tenant["key"]).json["data"] == []


def sandbox_key(master_key_b64):
    return hmac.new(base64.b64decode(master_key_b64), b"pasarela sandbox webhooks v1",
                    hashlib.sha256).digest()


def signed(server, body, msg_id=None, ts=None, key=None):
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    ts = int(time.time()) if ts is None else ts
    raw = json.dumps(body).encode()
    mac = hmac.new(key or sandbox_key(server.master_key), f"{msg_id}.{ts}.".encode() + raw,
                   hashlib.sha256).digest()
    return raw, {"webhook-id": msg_id, "webhook-timestamp": str(ts),
                 "webhook-signature": "v1," + base64.b64encode(mac).decode(),
                 "Content-Type": "application/json"}


def sandbox_event(payment, status, refunded=0):
    return {"id": "x", "type": "payment.updated", "created": int(time.time()),
            "data": {"id": payment["provider_payment_id"], "status": status, "status_detail": "",
                     "amount": payment["amount"], "currency": payment["currency"],
                     "amount_refunded": refunded, "fee": 299,
                     "external_reference": payment["id"]}}


def test_forged_and_stale_webhooks_are_refused_and_recorded(pserver, tenant):
    p = pay(pserver, tenant["key"], email="pending@x.com").json
    event = sandbox_event(p, "approved")
    raw, h = signed(pserver, event, key=b"not the key")
    r = pserver.request("POST", "/webhooks/sandbox", raw=raw, headers=h)
    assert r.status == 401 and r.json["error"]["code"] == "webhook_signature_invalid"
    raw, h = signed(pserver, event, ts=int(time.time()) - 301)
    assert pserver.request("POST", "/webhooks/sandbox", raw=raw, headers=h).status == 401
    raw, h = signed(pserver, event)
    assert pserver.request("POST", "/webhooks/sandbox", raw=raw + b" ", headers=h).status == 401
    sec = pserver.admin("GET", "/v1/security_events").json["data"]
    assert len(sec) == 3 and all(e["provider"] == "sandbox" and e["source"] == "127.0.0.1"
                                 for e in sec)
    assert {e["reason"] for e in sec} == {"no signature matches",
                                          "timestamp outside the replay window"}
    assert pserver.request("GET", f"/v1/payments/{p['id']}", key=tenant["key"]).json[
        "status"] == "pending"


def test_duplicate_and_out_of_order_webhooks(pserver, tenant):
    p = pay(pserver, tenant["key"], email="pending@x.com").json
    raw, h = signed(pserver, sandbox_event(p, "refunded", refunded=p["amount"]))
    first = pserver.request("POST", "/webhooks/sandbox", raw=raw, headers=h)
    second = pserver.request("POST", "/webhooks/sandbox", raw=raw, headers=h)
    assert first.status == second.status == 200
    assert first.json["duplicate"] is False and second.json["duplicate"] is True
    final = wait_status(pserver, tenant["key"], p["id"], "refunded")
    assert final["amount_refunded"] == p["amount"]
    # a late "approved" never moves it back
    raw, h = signed(pserver, sandbox_event(p, "approved"))
    assert pserver.request("POST", "/webhooks/sandbox", raw=raw, headers=h).status == 200
    time.sleep(0.3)
    assert pserver.request("GET", f"/v1/payments/{p['id']}", key=tenant["key"]).json[
        "status"] == "refunded"
    types = [e["type"] for e in pserver.request("GET", "/v1/events", key=tenant["key"]).json["data"]]
    assert types == ["payment.refunded", "payment.approved", "payment.created"]


def test_everything_stays_audited_and_verifiable(pserver, tenant):
    p = pay(pserver, tenant["key"]).json
    wait_status(pserver, tenant["key"], p["id"], "approved")
    pserver.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 10}, key=tenant["key"])
    v = pserver.admin("GET", "/v1/audit/verify").json
    assert v["intact"] is True
    actions = [a["action"] for a in pserver.request("GET", "/v1/audit?limit=100",
                                                    key=tenant["key"]).json["data"]]
    for a in ("payment.created", "payment.transition", "refund.created", "refund.succeeded"):
        assert a in actions


def test_failing_job_reaches_dead_letter_and_replays(tmp_path):
    s = Server(tmp_path / "data", extra_env={"PASARELA_SANDBOX_DELAY_MS": "10",
                                             "PASARELA_JOB_BACKOFF_MS": "2"})
    os.makedirs(s.data_dir, exist_ok=True)
    s.start()
    try:
        t = s.create_tenant()
        key = s.create_key(t["id"])["secret"]
        # pasarela refuses the sandbox's deliveries: they fail until they are dead
        assert s.admin("PUT", "/v1/providers/sandbox", {"ip_allowlist": ["192.0.2.1"]}).status == 200
        p = pay(s, key).json
        deadline = time.time() + 30
        dead = []
        while time.time() < deadline and not dead:
            dead = s.admin("GET", "/v1/jobs?state=dead").json["data"]
            time.sleep(0.05)
        assert len(dead) == 1, dead
        job = dead[0]
        assert job["kind"] == "sandbox.deliver" and job["attempts"] == job["max_attempts"] == 10
        assert "403" in job["last_error"]
        assert s.request("GET", f"/v1/payments/{p['id']}", key=key).json["status"] == "pending"
        assert s.request("POST", f"/v1/jobs/{job['id']}/replay", key=key).status == 403
        assert s.admin("PUT", "/v1/providers/sandbox", {"ip_allowlist": []}).status == 200
        r = s.admin("POST", f"/v1/jobs/{job['id']}/replay")
        assert r.status == 200 and r.json["replayed"] == 1
        wait_status(s, key, p["id"], "approved")
        assert s.admin("GET", "/v1/jobs?state=dead").json["data"] == []
        again = s.admin("POST", f"/v1/jobs/{job['id']}/replay")
        assert again.status == 404
        replays = s.admin("GET", "/v1/audit?chain_id=platform&action=job.replayed").json["data"]
        assert len(replays) == 1 and replays[0]["entity_id"] == job["id"]
    finally:
        code = s.stop()
        assert_no_sanitizer_reports(s.log())
        assert code == 0


def test_created_answer_is_the_stored_payment(pserver, tenant):
    r = pay(pserver, tenant["key"], email="pending@x.com", external_reference="order-9",
            metadata={"b": "2", "a": "1"}, customer={"name": "Zoë", "email": "pending@x.com",
                                                     "country": "CL"})
    got = pserver.request("GET", f"/v1/payments/{r.json['id']}", key=tenant["key"]).json
    assert r.json == got
