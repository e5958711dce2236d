"""Provider webhooks at the endpoint: each provider's own signature scheme (Stripe,
MercadoPago, Polar, NOWPayments, PayPal with its downloaded certificate, Flow's unsigned
token) verified on the raw request, rotation with two
secrets, replay windows, refusals recorded as security events, duplicates answered once, and
verified events kept durable in the inbox."""
import base64
import http.server
import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import threading
import time
import zlib

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


def test_flow_confirmations_are_kept_once_per_token(server, tenant):
    account(server, tenant, "flow", ["flow_secret_key_1"])
    path = f"/webhooks/flow/{tenant}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    first = server.request("POST", path, raw=b"token=AbC123", headers=form)
    again = server.request("POST", path, raw=b"token=AbC123", headers=form)
    assert first.status == again.status == 200 and again.json["duplicate"] is True
    for bad in (b"", b"token=", b"token=a;b", b"tok=abc", b"token=" + b"a" * 200):
        assert server.request("POST", path, raw=bad, headers=form).status == 401
    assert inbox(server, "flow") == [("AbC123", tenant, "received")]
    other = server.create_tenant()["id"]  # no Flow account: no endpoint
    assert server.request("POST", f"/webhooks/flow/{other}", raw=b"token=x1", headers=form).status == 404


class PayPalCerts:
    """A CA and a leaf certificate for messageverificationcerts.sandbox.paypal.com made with the
    openssl command, served over loopback as PayPal serves its webhook certificates."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
                 "ca.pem", "-days", "2", "-subj", "/CN=Test Root")
        self.run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
                 "-subj", "/CN=messageverificationcerts.sandbox.paypal.com")
        with open(tmp_path / "ext.cnf", "w") as f:
            f.write("subjectAltName=DNS:messageverificationcerts.sandbox.paypal.com\n")
        self.run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "ext.cnf")
        self.requests = 0
        pem = open(tmp_path / "leaf.pem", "rb").read()
        certs = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                certs.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(pem)))
                self.end_headers()
                self.wfile.write(pem)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def run(self, *args):
        subprocess.run(["openssl", *args], cwd=self.dir, check=True, capture_output=True)

    def sign(self, message):
        with open(self.dir / "msg", "wb") as f:
            f.write(message.encode())
        self.run("dgst", "-sha256", "-sign", "leaf.key", "-out", "sig", "msg")
        return base64.b64encode(open(self.dir / "sig", "rb").read()).decode()


def test_paypal_certificate_signatures(server_factory, tmp_path):
    certs = PayPalCerts(tmp_path)
    s = server_factory("paypal", extra_env={"PASARELA_PAYPAL_CERT_URL_BASE": certs.base,
                                            "PASARELA_PAYPAL_CA_FILE": str(tmp_path / "ca.pem")})
    s.start()
    t = s.create_tenant()["id"]
    r = s.admin("PUT", "/v1/providers/paypal", {"webhook_id": "8PT597110X687430LKGECATA"},
                headers={"Pasarela-Tenant": t})
    assert r.status == 200 and r.json["webhook_id"] == "8PT597110X687430LKGECATA", r
    cert_url = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"

    def headers(body, tid="b2384410-f8d2-11e9-8e79-1d8b2c3e1a4f", when=None, url=cert_url):
        when = when or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        crc = zlib.crc32(body) & 0xFFFFFFFF
        sig = certs.sign(f"{tid}|{when}|8PT597110X687430LKGECATA|{crc}")
        return {"PAYPAL-TRANSMISSION-ID": tid, "PAYPAL-TRANSMISSION-TIME": when,
                "PAYPAL-TRANSMISSION-SIG": sig, "PAYPAL-CERT-URL": url,
                "PAYPAL-AUTH-ALGO": "SHA256withRSA", "Content-Type": "application/json"}

    path = f"/webhooks/paypal/{t}"
    body = json.dumps({"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED"}).encode()
    r = s.request("POST", path, raw=body, headers=headers(body))
    assert r.status == 200 and r.json["duplicate"] is False, r
    second = json.dumps({"id": "WH-2", "event_type": "PAYMENT.CAPTURE.COMPLETED"}).encode()
    assert s.request("POST", path, raw=second, headers=headers(second)).status == 200
    assert certs.requests == 1  # the certificate is cached
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 400))
    refused = [
        (body + b" ", headers(body)),                                   # body changed
        (body, headers(body, when=stale)),                              # outside the window
        (body, headers(body, url="https://evil.example/v1/notifications/certs/CERT-1")),
        (body, dict(headers(body), **{"PAYPAL-TRANSMISSION-ID": "other-id"})),
    ]
    for raw, h in refused:
        assert s.request("POST", path, raw=raw, headers=h).status == 401
    assert inbox(s, "paypal") == [("WH-1", t, "received"), ("WH-2", t, "received")]
    reasons = [e["reason"] for e in s.admin("GET", "/v1/security_events").json["data"]]
    assert "the certificate URL is not PayPal's" in reasons
    certs.httpd.shutdown()


def test_paypal_certificate_must_chain_to_a_trusted_root(server_factory, tmp_path):
    certs = PayPalCerts(tmp_path)
    s = server_factory("paypal", extra_env={"PASARELA_PAYPAL_CERT_URL_BASE": certs.base})
    s.start()
    t = s.create_tenant()["id"]
    s.admin("PUT", "/v1/providers/paypal", {"webhook_id": "WH-ID-1"},
            headers={"Pasarela-Tenant": t})
    body = b'{"id": "WH-9"}'
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sig = certs.sign(f"tid-1|{when}|WH-ID-1|{zlib.crc32(body)}")
    r = s.request("POST", f"/webhooks/paypal/{t}", raw=body, headers={
        "PAYPAL-TRANSMISSION-ID": "tid-1", "PAYPAL-TRANSMISSION-TIME": when,
        "PAYPAL-TRANSMISSION-SIG": sig, "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1"})
    assert r.status == 401
    reasons = [e["reason"] for e in s.admin("GET", "/v1/security_events").json["data"]]
    assert reasons == ["the certificate does not chain to a trusted root"]
    certs.httpd.shutdown()
