"""The MercadoPago connector against its simulator (tests/sim/mercadopago.py), which speaks
MercadoPago's wire format: direct payments and Checkout Pro, signed webhooks back to
pasarela, refunds, cancellation, OAuth-connected sellers with the marketplace fee, token
refresh, a webhook for someone else's account, the circuit breaker, retries that never
duplicate a payment, and credentials that never show up in logs, answers or the database."""
import http.client
import os
import sqlite3
import sys
import threading
import time
import urllib.parse
from decimal import Decimal

import pytest

from conftest import assert_error

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sim.mercadopago import MercadoPagoSim  # noqa: E402

SECRET = "mp-webhook-secret-for-tests"
CLIENT_ID = "4000000000000777"
CLIENT_SECRET = "mp-client-secret-do-not-leak"


@pytest.fixture
def sim():
    s = MercadoPagoSim(webhook_secret=SECRET).start()
    yield s
    s.stop()
    assert not s.errors, s.errors


def mp_env(sim, **extra):
    env = {"PASARELA_MERCADOPAGO_API_URL": sim.url, "PASARELA_MERCADOPAGO_AUTH_URL": sim.url,
           "PASARELA_PROVIDER_TIMEOUT_MS": "1000", "PASARELA_BREAKER_FAILURES": "3",
           "PASARELA_BREAKER_COOLDOWN_MS": "600", "PASARELA_JOB_BACKOFF_MS": "50"}
    env.update(extra)
    return env


@pytest.fixture
def srv(server_factory, sim):
    s = server_factory("mp", extra_env=mp_env(sim))
    s.start()
    return s


def wait_for(fn, timeout=15, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def tenant_with_own_account(srv, sim, token=None, **tenant_fields):
    t = srv.create_tenant(**tenant_fields)["id"]
    key = srv.create_key(t)["secret"]
    r = srv.request("PUT", "/v1/providers/mercadopago", {
        "credentials": {"access_token": token or sim.platform_token},
        "webhook_secrets": [SECRET]}, key=key)
    assert r.status == 200, r
    return t, key


def pay(srv, key, name="APRO", method="pix", amount=10050, **extra):
    body = {"amount": amount, "currency": "ARS", "provider": "mercadopago",
            "customer": {"email": "buyer@example.com", "name": name}, "description": "Order 1"}
    if method:
        body["method"] = method
    body.update(extra)
    return srv.request("POST", "/v1/payments", body, key=key)


def payment_status(srv, key, pid, status):
    return wait_for(lambda: (lambda p: p if p["status"] == status else None)(
        srv.request("GET", f"/v1/payments/{pid}", key=key).json), what=f"payment {status}")


def test_direct_payment_lifecycle_through_webhooks(srv, sim):
    _, key = tenant_with_own_account(srv, sim)
    r = pay(srv, key, name="CONT")
    assert r.status == 201, r
    p = r.json
    assert p["status"] == "pending" and p["provider"] == "mercadopago"
    mp = sim.payment(p["provider_payment_id"])
    assert mp["transaction_amount"] == Decimal("100.50") and mp["currency_id"] == "ARS"
    assert mp["external_reference"] == p["id"]
    assert mp["notification_url"].startswith(srv.url + "/webhooks/mercadopago/")
    posts = sim.requests_to("POST", "/v1/payments")
    assert posts and all(q.headers.get("x-idempotency-key") for q in posts)
    # the simulator approves the contingency and notifies; the job fetches the payment
    approved = payment_status(srv, key, p["id"], "approved")
    assert approved["provider_fee"] == 401  # 3.99% of 100.50, half up
    r = srv.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 2550}, key=key)
    assert r.status == 201, r
    assert sim.payment(p["provider_payment_id"])["transaction_amount_refunded"] == Decimal("25.50")
    assert r.json["payment"]["status"] == "partially_refunded"
    r = srv.request("POST", f"/v1/payments/{p['id']}/refunds", {}, key=key)
    assert r.status == 201 and r.json["payment"]["status"] == "refunded", r
    assert sim.payment(p["provider_payment_id"])["status"] == "refunded"
    # the refund notifications arrive late and change nothing
    time.sleep(0.5)
    final = srv.request("GET", f"/v1/payments/{p['id']}", key=key).json
    assert final["status"] == "refunded" and final["amount_refunded"] == 10050
    events = [e["type"] for e in srv.request("GET", "/v1/events?limit=100", key=key).json["data"]]
    assert {"payment.created", "payment.approved", "payment.refunded"} <= set(events)


def test_checkout_pro_preference_paid_by_the_buyer(srv, sim):
    _, key = tenant_with_own_account(srv, sim)
    r = pay(srv, key, method=None, amount=250000)
    assert r.status == 201, r
    p = r.json
    assert p["checkout_url"].startswith(sim.url + "/checkout/v1/redirect?pref_id=")
    pref_id = p["provider_payment_id"]
    assert sim.preferences[pref_id]["external_reference"] == p["id"]
    paid = sim.pay_preference(pref_id, "approved")
    done = payment_status(srv, key, p["id"], "approved")
    assert done["provider_payment_id"] == str(paid["id"])
    assert done["amount"] == 250000
    # a checkout nobody paid is cancelled by expiring its preference
    unpaid = pay(srv, key, method=None).json
    r = srv.request("POST", f"/v1/payments/{unpaid['id']}/cancel", {}, key=key)
    assert r.status == 200 and r.json["status"] == "cancelled", r
    assert sim.preference_expired(unpaid["provider_payment_id"])
    with pytest.raises(ValueError):
        sim.pay_preference(unpaid["provider_payment_id"])


def test_rejected_and_cancelled(srv, sim):
    _, key = tenant_with_own_account(srv, sim)
    r = pay(srv, key, name="OTHE")
    assert r.status == 201 and r.json["status"] == "rejected", r
    assert r.json["status_detail"] == "cc_rejected_other_reason"
    pending = pay(srv, key, name="Someone").json
    assert pending["status"] == "pending"
    r = srv.request("POST", f"/v1/payments/{pending['id']}/cancel", {}, key=key)
    assert r.status == 200 and r.json["status"] == "cancelled", r
    assert sim.payment(pending["provider_payment_id"])["status"] == "cancelled"


def test_provider_errors_are_clear_and_keep_the_providers_words_in_the_log(srv, sim):
    _, key = tenant_with_own_account(srv, sim, token="APP_USR-unknown-token")
    r = pay(srv, key)
    assert_error(r, 502, "provider_error")
    assert "unknown-token" not in r.raw
    assert "provider refused a call" in srv.log()


def test_breaker_opens_fails_fast_and_recovers(srv, sim):
    t, key = tenant_with_own_account(srv, sim)
    sim.fail_next(20, status=500)
    r = pay(srv, key)
    assert r.status in (502, 503), r
    calls = sim.count("POST", "/v1/payments")
    r = pay(srv, key)
    assert_error(r, 503, "provider_unavailable")
    assert sim.count("POST", "/v1/payments") == calls  # failed fast, nothing sent
    health = srv.request("GET", "/health").json
    assert {"provider": "mercadopago", "account": t, "state": "open",
            "consecutive_failures": 3} in health["providers"], health
    sim.reset_faults()
    time.sleep(0.7)
    assert srv.request("GET", "/health").json["providers"][0]["state"] == "half_open"
    r = pay(srv, key)
    assert r.status == 201, r
    assert srv.request("GET", "/health").json["providers"] == []


def test_a_timed_out_create_is_retried_without_a_second_payment(srv, sim):
    _, key = tenant_with_own_account(srv, sim)
    sim.work_delay_ms = 1150  # the first answer comes after pasarela's 1 s timeout
    threading.Timer(2.0, lambda: setattr(sim, "work_delay_ms", 0)).start()
    r = pay(srv, key)
    assert r.status == 201, r
    assert len(sim.payments_of(external_reference=r.json["id"])) == 1
    assert sim.count("POST", "/v1/payments") >= 2


def follow(url):
    """GETs url without following redirects; returns (status, Location)."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    c.request("GET", u.path + ("?" + u.query if u.query else ""))
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, r.getheader("Location")


def operator_app(srv, sim):
    r = srv.admin("PUT", "/v1/providers/mercadopago", {
        "credentials": {"access_token": sim.platform_token, "client_id": CLIENT_ID,
                        "client_secret": CLIENT_SECRET},
        "webhook_secrets": [SECRET]})
    assert r.status == 200, r
    sim.oauth_app(CLIENT_ID, CLIENT_SECRET, srv.url + "/oauth/mercadopago/callback")


def connect(srv, sim, key, user_id):
    sim.oauth_next_user(user_id)
    r = srv.request("POST", "/v1/providers/mercadopago/connect",
                    {"return_url": "https://tenant.example/settings"}, key=key)
    assert r.status == 201, r
    status, back = follow(r.json["url"])
    assert status == 302 and back.startswith(srv.url + "/oauth/mercadopago/callback?"), back
    status, final = follow(back)
    assert status == 302, (status, final)
    assert final == "https://tenant.example/settings?provider=mercadopago&status=connected"
    return back


def test_oauth_connect_fee_refresh_replay_and_disconnect(srv, sim):
    operator_app(srv, sim)
    t = srv.create_tenant(platform_fee_bps=250)["id"]
    key = srv.create_key(t)["secret"]
    sim.token_ttl = 4  # refreshed halfway, after 2 s
    callback = connect(srv, sim, key, 2501)
    account = srv.request("GET", "/v1/providers/mercadopago", key=key).json
    assert account["mode"] == "connected" and account["account_ref"] == "2501"
    assert set(account["credentials"]) == {"access_token", "refresh_token"}
    assert all(v.startswith("****") for v in account["credentials"].values())
    # the callback URL cannot be used twice, nor forged
    status, _ = follow(callback)
    assert status == 400
    forged = callback[:-4] + ("0000" if not callback.endswith("0000") else "1111")
    assert follow(forged)[0] == 400
    kinds = [e["kind"] for e in srv.admin("GET", "/v1/security_events").json["data"]]
    assert kinds.count("oauth_state_refused") == 2
    # a payment through the connected seller carries the operator's marketplace fee
    r = pay(srv, key, amount=10000)
    assert r.status == 201, r
    mp = sim.payment(r.json["provider_payment_id"])
    assert mp["collector_id"] == 2501
    assert {"type": "application_fee", "fee_payer": "collector", "amount": Decimal("2.50")} in [
        {k: f[k] for k in ("type", "fee_payer", "amount")} for f in mp["fee_details"]], mp
    # the refresh job replaces the tokens before they expire; the old ones stop working
    first = account["token_expires_at"]
    wait_for(lambda: srv.request("GET", "/v1/providers/mercadopago", key=key)
             .json["token_expires_at"] != first, what="token refresh")
    time.sleep(2.5)
    r = pay(srv, key)
    assert r.status == 201, r
    audit = [a["action"] for a in srv.request("GET", "/v1/audit?limit=100", key=key).json["data"]]
    assert "provider.connected" in audit and "provider.token_refreshed" in audit
    # disconnecting falls back to the operator's platform account
    assert srv.request("DELETE", "/v1/providers/mercadopago", key=key).status == 200
    r = pay(srv, key)
    assert r.status == 201 and sim.payment(r.json["provider_payment_id"])["collector_id"] == 1000


def test_connected_webhook_for_someone_elses_payment_is_refused(srv, sim):
    operator_app(srv, sim)
    a = srv.create_tenant()["id"]
    akey = srv.create_key(a)["secret"]
    b = srv.create_tenant()["id"]
    bkey = srv.create_key(b)["secret"]
    connect(srv, sim, akey, 3001)
    connect(srv, sim, bkey, 3002)
    theirs = pay(srv, bkey, name="Pending Buyer").json
    mp_id = theirs["provider_payment_id"]
    # a correctly signed notification about B's payment arrives at A's endpoint
    status = sim.send_webhook(mp_id, url=f"{srv.url}/webhooks/mercadopago/{a}?source_news=webhooks")
    assert status == 200
    wait_for(lambda: any(e["kind"] == "webhook_account_mismatch" and e["tenant_id"] == a
                         for e in srv.admin("GET", "/v1/security_events").json["data"]),
             what="security event")
    db = sqlite3.connect(os.path.join(srv.data_dir, "pasarela.db"))
    assert db.execute("SELECT state FROM webhook_inbox WHERE account = ?", (a,)).fetchall() == [
        ("refused",)]
    # B's own notifications still work
    sim.pay(mp_id, "approved")
    payment_status(srv, bkey, theirs["id"], "approved")


def test_credentials_never_leave_in_clear(srv, sim):
    operator_app(srv, sim)
    t = srv.create_tenant()["id"]
    key = srv.create_key(t)["secret"]
    connect(srv, sim, key, 4001)
    assert pay(srv, key).status == 201
    token = next(tok for tok, v in sim.tokens.items() if v["user_id"] == 4001 and not v["revoked"])
    secrets_ = [CLIENT_SECRET, sim.platform_token, SECRET, token]
    srv.stop()
    files = [srv.log_path] + [os.path.join(srv.data_dir, f) for f in os.listdir(srv.data_dir)]
    for path in files:
        if os.path.isfile(path):
            data = open(path, "rb").read()
            for s in secrets_:
                assert s.encode() not in data, (s, path)
    srv.start()
    for path in ("/v1/providers/mercadopago", "/v1/providers", "/v1/audit?limit=100"):
        body = srv.request("GET", path, key=key).raw + srv.admin("GET", path).raw
        for s in secrets_:
            assert s not in body, (s, path)
