"""Provider webhooks for accounts without a connector yet: each provider's own signature
scheme (Stripe, MercadoPago, Polar, NOWPayments) verified on the raw request, rotation with two
secrets, replay windows, refusals recorded as security events, duplicates answered once, and
verified events kept durable in the inbox."""
import base64
import hashlib
import hmac
import json
import os
import sqlite3
import time

import pytest

STRIPE = "whsec_test_secret"
MP = "mp_webhook_secret_0123"


def account(server, tenant, provider, secrets):
    r = server.admin("PUT", f"/v1/providers/{provider}", {"webhook_secrets": secrets},
                     headers={"Pasarela-Tenant": tenant})
    assert r.status == 200, r


def stripe_headers(secret, body, t=None):
    t = int(time.time()) if t is None else t
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"}


def inbox(server, provider):
    db = sqlite3.connect(os.path.join(server.data_dir, "pasarela.db"))
    return db.execute("SELECT event_id, account, state FROM webhook_inbox WHERE provider = ?"
                      " ORDER BY event_id", (provider,)).fetchall()


@pytest.fixture
def tenant(server):
    return server.create_tenant()["id"]


def test_stripe_signatures_rotation_and_duplicates(server, tenant):
    account(server, tenant, "stripe", ["whsec_old_secret_12", STRIPE])
    body = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"}).encode()
    path = f"/webhooks/stripe/{tenant}"
    first = server.request("POST", path, raw=body, headers=stripe_headers(STRIPE, body))
    again = server.request("POST", path, raw=body, headers=stripe_headers(STRIPE, body))
    assert first.status == again.status == 200
    assert first.json["duplicate"] is False and again.json["duplicate"] is True
    old = json.dumps({"id": "evt_2"}).encode()
    assert server.request("POST", path, raw=old,
                          headers=stripe_headers("whsec_old_secret_12", old)).status == 200
    assert inbox(server, "stripe") == [("evt_1", tenant, "received"), ("evt_2", tenant, "received")]
    for bad in (stripe_headers("whsec_wrong", body), stripe_headers(STRIPE, body, t=int(time.time()) - 301),
                {"Stripe-Signature": "garbage"}, {}):
        r = server.request("POST", path, raw=body, headers=bad)
        assert r.status == 401 and r.json["error"]["code"] == "webhook_signature_invalid"
        assert "message" in r.json["error"] and "secret" not in r.raw.lower()
    tampered = server.request("POST", path, raw=body + b" ", headers=stripe_headers(STRIPE, body))
    assert tampered.status == 401
    events = server.admin("GET", "/v1/security_events").json["data"]
    assert len(events) == 5 and all(e["provider"] == "stripe" and e["tenant_id"] == tenant
                                    for e in events)


def test_mercadopago_x_signature(server, tenant):
    account(server, tenant, "mercadopago", [MP])
    body = json.dumps({"id": 12345, "action": "payment.updated", "data": {"id": "999"}}).encode()
    ts = str(int(time.time()))
    manifest = f"id:999;request-id:req-abc;ts:{ts};"
    v1 = hmac.new(MP.encode(), manifest.encode(), hashlib.sha256).hexdigest()
    headers = {"x-signature": f"ts={ts},v1={v1}", "x-request-id": "req-abc"}
    path = f"/webhooks/mercadopago/{tenant}?data.id=999&type=payment"
    r = server.request("POST", path, raw=body, headers=headers)
    assert r.status == 200, r
    assert inbox(server, "mercadopago") == [("12345", tenant, "received")]
    other = f"/webhooks/mercadopago/{tenant}?data.id=1000&type=payment"
    assert server.request("POST", other, raw=body, headers=headers).status == 401


def test_polar_standard_webhooks(server, tenant):
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    account(server, tenant, "polar", [secret])
    body = json.dumps({"type": "order.paid", "data": {"id": "o1"}}).encode()
    ts = str(int(time.time()))
    mac = hmac.new(b"k" * 32, f"msg_1.{ts}.".encode() + body, hashlib.sha256).digest()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": ts,
               "webhook-signature": "v1,bad v1," + base64.b64encode(mac).decode()}
    assert server.request("POST", f"/webhooks/polar/{tenant}", raw=body, headers=headers).status == 200
    assert inbox(server, "polar") == [("msg_1", tenant, "received")]


def test_nowpayments_sorted_json_hmac_sha512(server, tenant):
    secret = "np_ipn_secret_value"
    account(server, tenant, "nowpayments", [secret])
    payload = {"payment_status": "finished", "payment_id": 5077125051, "price_amount": 10,
               "order_id": "pay_x", "pay_currency": "btc"}
    body = json.dumps(payload).encode()
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    sig = hmac.new(secret.encode(), canonical, hashlib.sha512).hexdigest()
    path = f"/webhooks/nowpayments/{tenant}"
    assert server.request("POST", path, raw=body, headers={"x-nowpayments-sig": sig}).status == 200
    again = server.request("POST", path, raw=body, headers={"x-nowpayments-sig": sig})
    assert again.json["duplicate"] is True  # same payment, same status
    assert inbox(server, "nowpayments") == [("5077125051:finished", tenant, "received")]
    assert server.request("POST", path, raw=body, headers={"x-nowpayments-sig": "0" * 128}).status == 401


def test_platform_account_and_body_limit(server):
    assert server.admin("PUT", "/v1/providers/stripe", {"webhook_secrets": [STRIPE]}).status == 200
    body = json.dumps({"id": "evt_platform"}).encode()
    r = server.request("POST", "/webhooks/stripe", raw=body, headers=stripe_headers(STRIPE, body))
    assert r.status == 200
    assert inbox(server, "stripe") == [("evt_platform", "platform", "received")]
    big = b'{"id": "evt_big", "pad": "' + b"x" * (256 * 1024) + b'"}'
    r = server.request("POST", "/webhooks/stripe", raw=big, headers=stripe_headers(STRIPE, big))
    assert r.status == 413


def test_flow_and_paypal_wait_for_their_connectors(server, tenant):
    for provider in ("flow", "paypal"):
        account(server, tenant, provider, ["some_secret_value"])
        r = server.request("POST", f"/webhooks/{provider}/{tenant}", raw=b"{}")
        assert r.status == 404
