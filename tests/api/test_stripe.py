"""The Stripe connector against its simulator (tests/sim/stripe.py): PaymentIntents
(form-encoded, Idempotency-Key), confirmation by the customer, signed events, refunds with
the charge's fee, cancellation, Connect by OAuth with the platform's application fee and
Stripe-Account, an event of another connected account refused, and disconnection."""
import copy
import os
import sqlite3
import sys
import urllib.parse

import pytest

from conftest import assert_error
from test_mercadopago import follow, wait_for

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sim.stripe import StripeSim  # noqa: E402

WHSEC = "whsec_stripe_tests_secret"


@pytest.fixture
def sim():
    s = StripeSim(webhook_secret=WHSEC).start()
    yield s
    s.stop()
    assert not s.errors, s.errors


@pytest.fixture
def srv(server_factory, sim):
    s = server_factory("stripe", extra_env={
        "PASARELA_STRIPE_API_URL": sim.url, "PASARELA_STRIPE_CONNECT_URL": sim.url,
        "PASARELA_PROVIDER_TIMEOUT_MS": "2000", "PASARELA_JOB_BACKOFF_MS": "50"})
    s.start()
    return s


def create(srv, key, amount=5000, method="pm_card_visa", **extra):
    body = {"amount": amount, "currency": "USD", "provider": "stripe",
            "customer": {"email": "buyer@example.com"}, "description": "Plan"}
    if method:
        body["method"] = method
    body.update(extra)
    return srv.request("POST", "/v1/payments", body, key=key)


def status_becomes(srv, key, pid, status):
    return wait_for(lambda: (lambda p: p if p["status"] == status else None)(
        srv.request("GET", f"/v1/payments/{pid}", key=key).json), what=f"payment {status}")


def test_payment_intent_lifecycle_with_own_keys(srv, sim):
    t = srv.create_tenant()["id"]
    key = srv.create_key(t)["secret"]
    r = srv.request("PUT", "/v1/providers/stripe", {
        "credentials": {"secret_key": sim.secret_key}, "webhook_secrets": [WHSEC]}, key=key)
    assert r.status == 200, r
    sim.webhook_url = f"{srv.url}/webhooks/stripe/{t}"
    # confirmed at creation with a test card: approved at once, with Stripe's fee
    r = create(srv, key)
    assert r.status == 201 and r.json["status"] == "approved", r
    p = r.json
    assert p["provider_fee"] == 175  # 2.9% of 50.00 + 0.30
    form = urllib.parse.parse_qs(sim.requests_to("POST", "/v1/payment_intents")[0].body.decode())
    assert form["amount"] == ["5000"] and form["currency"] == ["usd"]
    assert form["metadata[pasarela_payment_id]"] == [p["id"]]
    assert sim.requests_to("POST", "/v1/payment_intents")[0].headers.get("idempotency-key")
    r = srv.request("POST", f"/v1/payments/{p['id']}/refunds", {"amount": 1000}, key=key)
    assert r.status == 201 and r.json["payment"]["status"] == "partially_refunded", r
    r = srv.request("POST", f"/v1/payments/{p['id']}/refunds", {}, key=key)
    assert r.status == 201 and r.json["payment"]["status"] == "refunded", r
    charge = sim.get(sim.payment_intent(p["provider_payment_id"])["latest_charge"])
    assert charge["amount_refunded"] == 5000
    # confirmed later by the customer: the event brings it to approved
    r = create(srv, key, method=None)
    assert r.status == 201 and r.json["status"] == "pending", r
    sim.pay(r.json["provider_payment_id"], "succeeded")
    status_becomes(srv, key, r.json["id"], "approved")
    # declined and cancelled
    declined = create(srv, key, method="pm_card_chargeDeclined")
    assert declined.status == 201 and declined.json["status"] == "pending", declined
    assert declined.json["status_detail"] == "generic_decline"
    pending = create(srv, key, method=None).json
    r = srv.request("POST", f"/v1/payments/{pending['id']}/cancel", {}, key=key)
    assert r.status == 200 and r.json["status"] == "cancelled", r
    assert sim.payment_intent(pending["provider_payment_id"])["status"] == "canceled"


def test_a_bad_key_is_a_provider_error_without_the_key(srv, sim):
    t = srv.create_tenant()["id"]
    key = srv.create_key(t)["secret"]
    srv.request("PUT", "/v1/providers/stripe", {"credentials": {"secret_key": "sk_test_wrong_key"}},
                key=key)
    r = create(srv, key)
    assert_error(r, 502, "provider_error")
    assert "sk_test_wrong_key" not in r.raw and "sk_test_wrong_key" not in srv.log()


def connect(srv, sim, key):
    r = srv.request("POST", "/v1/providers/stripe/connect", {}, key=key)
    assert r.status == 201, r
    status, back = follow(r.json["url"])
    assert status == 302 and back.startswith(srv.url + "/oauth/stripe/callback?"), back
    status, _ = follow(back)
    assert status == 200
    return srv.request("GET", "/v1/providers/stripe", key=key).json["account_ref"]


def test_connect_fee_foreign_event_and_disconnect(srv, sim):
    r = srv.admin("PUT", "/v1/providers/stripe", {
        "credentials": {"secret_key": sim.secret_key, "client_id": sim.client_id},
        "webhook_secrets": [WHSEC]})
    assert r.status == 200, r
    sim.webhook_url = f"{srv.url}/webhooks/stripe"
    a = srv.create_tenant(platform_fee_bps=100)["id"]
    akey = srv.create_key(a)["secret"]
    b = srv.create_tenant(platform_fee_bps=100)["id"]
    bkey = srv.create_key(b)["secret"]
    acct_a, acct_b = connect(srv, sim, akey), connect(srv, sim, bkey)
    assert acct_a.startswith("acct_") and acct_a != acct_b
    # B's payment is made on B's account with the operator's 1% fee
    r = create(srv, bkey, amount=20000, method=None)
    assert r.status == 201, r
    pi = r.json["provider_payment_id"]
    posted = sim.requests_to("POST", "/v1/payment_intents")[-1]
    assert posted.headers.get("stripe-account") == acct_b
    assert sim.payment_intent(pi)["application_fee_amount"] == 200
    sim.pay(pi, "succeeded")
    status_becomes(srv, bkey, r.json["id"], "approved")
    # an event of A's account about B's payment is refused and recorded
    theirs = sim.events_of("payment_intent.succeeded", account=acct_b)[-1]
    forged = copy.deepcopy(theirs)
    forged["id"] = theirs["id"] + "x"
    forged["account"] = acct_a
    assert sim.send_webhook(theirs["id"], body=forged) == 200
    wait_for(lambda: any(e["kind"] == "webhook_account_mismatch"
                         for e in srv.admin("GET", "/v1/security_events").json["data"]),
             what="security event")
    db = sqlite3.connect(os.path.join(srv.data_dir, "pasarela.db"))
    assert db.execute("SELECT state FROM webhook_inbox WHERE event_id = ?",
                      (forged["id"],)).fetchall() == [("refused",)]
    # disconnecting tells Stripe; the tenant then uses the operator's account
    assert srv.request("DELETE", "/v1/providers/stripe", key=akey).status == 200
    assert not sim.accounts[acct_a]["connected"]
    r = create(srv, akey)
    assert r.status == 201, r
    assert "stripe-account" not in sim.requests_to("POST", "/v1/payment_intents")[-1].headers
