"""Self-tests of the provider simulators: python3 -m pytest tests/sim"""
import hashlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from decimal import Decimal

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from sim.common import WebhookReceiver, json_dumps, json_loads  # noqa: E402
from sim.mercadopago import (MercadoPagoSim, mp_manifest, mp_signature, mp_signature_header,  # noqa: E402
                             mp_verify)
from sim.stripe import (StripeSim, encode_form, parse_form, stripe_signature,  # noqa: E402
                        stripe_signature_header, stripe_verify)

MP_TOKEN = "APP_USR-platform-token"
SK = "sk_test_sim"


class Resp:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json_loads(raw) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<Resp {self.status} {self.raw[:400]!r}>"


def call(url, method, path, body=None, headers=None, form=None, raw=None, timeout=10):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    h = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    if form is not None:
        data = encode_form(form).encode()
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.stop()


@pytest.fixture
def mp():
    s = MercadoPagoSim()
    s.pending_delay = 0.1
    s.webhook_retry_interval = 0.05
    s.start()
    yield s
    s.stop()
    assert not s.errors, s.errors


@pytest.fixture
def st():
    s = StripeSim()
    s.webhook_retry_interval = 0.05
    s.start()
    yield s
    s.stop()
    assert not s.errors, s.errors


def mp_call(sim, method, path, body=None, token=MP_TOKEN, key="auto", headers=None, raw=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if key == "auto":
        key = os.urandom(8).hex() if method in ("POST", "PUT") else None
    if key:
        h["X-Idempotency-Key"] = key
    return call(sim.url, method, path, body=body, headers=h, raw=raw)


def mp_pay(sim, name="APRO", amount=100, token=MP_TOKEN, **extra):
    body = {"transaction_amount": amount, "payment_method_id": "visa", "token": "tok",
            "payer": {"email": f"{name.lower()}@example.com", "first_name": name}}
    body.update(extra)
    r = mp_call(sim, "POST", "/v1/payments", body, token=token)
    assert r.status == 201, r
    return r.json


def concurrently(sim, request):
    """Sends request() twice: the second while the first holds its idempotency key
    (sim.work_delay_ms keeps it that long)."""
    out = []
    first = threading.Thread(target=lambda: out.append(request()))
    first.start()
    assert sim.wait_for(lambda: sim.idempotent_running() == 1, timeout=5)
    out.append(request())
    first.join()
    return out


def assert_mp_error(r, status, code=None):
    assert r.status == status, r
    assert set(r.json) == {"message", "error", "status", "cause"}, r.json
    assert r.json["status"] == status and isinstance(r.json["message"], str)
    if code is not None:
        assert [c["code"] for c in r.json["cause"]] == [code], r.json
        assert ";" in r.json["cause"][0]["data"]
    assert r.headers.get("x-request-id")


def st_call(sim, method, path, form=None, key=SK, headers=None):
    h = dict(headers or {})
    if key:
        h["Authorization"] = f"Bearer {key}"
    return call(sim.url, method, path, form=form, headers=h)


def assert_st_error(r, status, type_="invalid_request_error", code=None, param=None):
    assert r.status == status, r
    e = r.json["error"]
    assert e["type"] == type_, e
    assert isinstance(e["message"], str) and e["message"]
    if code is not None:
        assert e.get("code") == code, e
    if param is not None:
        assert e.get("param") == param, e
    assert r.headers.get("request-id", "").startswith("req_")
    return e


# ------------------------------------------------------------------------------------------
# Known-answer vectors (PROVIDERS.md 9.3, 9.4) and encodings


def test_mercadopago_signature_vectors():
    secret, rid, ts = "your_secret_key_here", "2066ca19-c6f1-498a-be75-1923005edd06", "1742505638683"
    upper = "ORD01JQ4S4KY8HWQ6NA5PXB65B3D3"
    assert mp_manifest(upper, rid, ts) == f"id:ord01jq4s4ky8hwq6na5pxb65b3d3;request-id:{rid};ts:{ts};"
    assert mp_signature(secret, upper, rid, ts) == "633f91233312dd391ec75fa0bea539cfc2d6c4918873305b84a96cc1c58db71c"
    assert mp_signature(secret, upper, rid, ts, lowercase=False) == \
        "fb15ae6472eb449173c556793205d77787d58f384d183bb5bc3b724c27bd103c"
    assert mp_manifest(None, rid, ts) == f"request-id:{rid};ts:{ts};"
    assert mp_signature(secret, None, rid, ts) == "8a7b0cc777a8217c3bab41a50c95dc92debbc6f8448f1c967dfe10ac1cb8b894"
    assert mp_signature(secret, upper, "", ts) == "a20c44820ab71562e89a7c9f64d5636efc8beba587b16c2f9bbbc3504892741a"
    assert mp_manifest(" ", None, ts) == f"ts:{ts};"
    assert mp_signature(secret, None, None, ts) == "3f075add3ddb923bebf0bc0648457b8244cf4420b98d5b445167d379bec0ca54"
    assert mp_signature(secret, "123456789", rid, "1704908010") == \
        "2950837c0ba1681e168f193fb68dad2d33a2372e6cf86379ca8eeaa965009294"
    header = mp_signature_header(secret, "123456789", rid, 1704908010)
    assert header == "ts=1704908010,v1=2950837c0ba1681e168f193fb68dad2d33a2372e6cf86379ca8eeaa965009294"
    assert mp_verify(header, rid, "123456789", [secret])
    assert mp_verify(" TS = 1704908010 , V1 = 2950837c0ba1681e168f193fb68dad2d33a2372e6cf86379ca8eeaa965009294",
                     rid, "123456789", ["other", secret])
    assert not mp_verify(header, rid, "123456780", [secret])
    assert not mp_verify(header, rid, "123456789", [secret], now=1704908010 + 301, tolerance=300)
    assert mp_verify(f"ts={ts},v1=633f91233312dd391ec75fa0bea539cfc2d6c4918873305b84a96cc1c58db71c", rid, upper,
                     [secret], now=1742505638, tolerance=300)


def test_stripe_signature_vectors():
    payload = ('{\n  "id": "evt_test_webhook",\n  "object": "event",\n'
               '  "data": { "object": { "id": "rdr_123", "object": "terminal.reader" } }\n}').encode()
    assert hashlib.sha256(payload).hexdigest() == "3b538d7c82820105fcdc02c25620eba837c401a7d6256f877fc0c4875a73bc93"
    good = "3bfab77baf5f7b6991a46c9b53b6547d7afc56148b10468fcad9f35c1992ffbd"
    assert stripe_signature("whsec_test_secret", 1700000000, payload) == good
    assert stripe_signature_header("whsec_test_secret", 1700000000, payload) == f"t=1700000000,v1={good}"
    payload2 = b'{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}'
    assert stripe_signature_header(["whsec_test_secret"], 1700000000, payload2) == \
        "t=1700000000,v1=67da5088c63e080c71bd2bb0cb5c03d85a8fc6a21ce3aaf484df809654745b92"
    rotation = f"t=1700000000,v1={'0' * 64},v1={good}"
    assert stripe_verify(rotation, payload, "whsec_test_secret", tolerance=None)
    assert stripe_verify(rotation, payload, "whsec_test_secret", tolerance=300, now=1700000100)
    assert not stripe_verify(rotation, payload, "whsec_test_secret", tolerance=300, now=1700000301)
    assert not stripe_verify(rotation, payload + b" ", "whsec_test_secret", tolerance=None)
    assert not stripe_verify(f"t=1700000000,v0={good}", payload, "whsec_test_secret", tolerance=None)


def test_exact_decimal_json_and_forms():
    assert json_dumps({"a": Decimal("100.50"), "b": Decimal("1E+2"), "c": Decimal("0.00"), "d": 3}) == \
        '{"a":100.5,"b":100,"c":0,"d":3}'
    v = json_loads(b'{"x": 0.1, "y": 2}')
    assert v["x"] == Decimal("0.1") and isinstance(v["x"], Decimal) and v["y"] == 2
    with pytest.raises(ValueError):
        json_loads("[NaN]")
    assert json_dumps({"a": [1, {"b": None}]}, 2) == '{\n  "a": [\n    1,\n    {\n      "b": null\n    }\n  ]\n}'
    p = parse_form("amount=100&metadata[order_id]=42&expand[]=a&expand[]=b&types[0]=card&types[1]=oxxo"
                   "&transfer_data[destination]=acct_1&created[gte]=5")
    assert p == {"amount": "100", "metadata": {"order_id": "42"}, "expand": ["a", "b"], "types": ["card", "oxxo"],
                 "transfer_data": {"destination": "acct_1"}, "created": {"gte": "5"}}
    form = {"amount": 5, "confirm": True, "metadata": {"k": "v w"}, "expand": ["latest_charge"]}
    assert parse_form(encode_form(form)) == {"amount": "5", "confirm": "true", "metadata": {"k": "v w"},
                                             "expand": ["latest_charge"]}


# ------------------------------------------------------------------------------------------
# MercadoPago


def test_mp_auth_errors_and_idempotency(mp):
    r = mp_call(mp, "GET", "/v1/payments/1", token=None)
    assert_mp_error(r, 401)
    assert mp_call(mp, "GET", "/v1/payments/1", token="APP_USR-nope").status == 401
    body = {"transaction_amount": 10, "payer": {"email": "apro@x.com"}}
    assert_mp_error(mp_call(mp, "POST", "/v1/payments", body, key=None), 400, 4292)
    assert_mp_error(mp_call(mp, "POST", "/v1/payments", body, key="k" * 65), 400, 4292)
    assert_mp_error(mp_call(mp, "POST", "/v1/payments", raw=b"{bad", key="k"), 400)
    a = mp_call(mp, "POST", "/v1/payments", body, key="same")
    b = mp_call(mp, "POST", "/v1/payments", body, key="same")
    assert a.status == b.status == 201 and a.raw == b.raw
    assert mp.count("POST", "/v1/payments") == 5 and len(mp.payments) == 1
    # a validation error does not use up the key
    assert mp_call(mp, "POST", "/v1/payments", {"payer": {"email": "a@b"}}, key="k2").status == 400
    assert mp_call(mp, "POST", "/v1/payments", body, key="k2").status == 201
    # keys are per account
    seller = mp.add_account(5001)
    c = mp_call(mp, "POST", "/v1/payments", body, key="same", token=seller)
    assert c.status == 201 and c.json["id"] != a.json["id"] and c.json["collector_id"] == 5001
    r = mp_call(mp, "GET", "/v1/nothing")
    assert_mp_error(r, 404)


def test_mp_concurrent_same_key_conflicts(mp):
    mp.work_delay_ms = 500
    body = {"transaction_amount": 10, "payer": {"email": "apro@x.com"}}
    out = concurrently(mp, lambda: mp_call(mp, "POST", "/v1/payments", body, key="dup"))
    assert sorted(r.status for r in out) == [201, 409]
    assert len(mp.payments) == 1


def test_mp_outcomes_fees_and_pay(mp):
    p = mp_pay(mp, "APRO", amount=100.5)
    assert (p["status"], p["status_detail"], p["collector_id"]) == ("approved", "accredited", 1000)
    assert p["transaction_amount"] == Decimal("100.5") and p["currency_id"] == "ARS" and p["captured"] is True
    assert p["fee_details"] == [{"type": "mercadopago_fee", "amount": Decimal("4.01"), "fee_payer": "collector"}]
    assert p["transaction_details"]["net_received_amount"] == Decimal("96.49")
    assert p["date_approved"] and p["date_created"].endswith("-04:00") and len(p["date_created"]) == 29
    for name, detail in (("OTHE", "cc_rejected_other_reason"), ("FUND", "cc_rejected_insufficient_amount"),
                         ("SECU", "cc_rejected_bad_filled_security_code")):
        r = mp_pay(mp, name)
        assert (r["status"], r["status_detail"], r["fee_details"]) == ("rejected", detail, [])
    # the e-mail's local part (before any +tag) when first_name is not a test name
    r = mp_call(mp, "POST", "/v1/payments", {"transaction_amount": 5, "payer": {"email": "fund+77@example.com"}})
    assert r.json["status_detail"] == "cc_rejected_insufficient_amount"
    pend = mp_pay(mp, "JOHN")
    assert (pend["status"], pend["status_detail"]) == ("pending", "pending_waiting_payment")
    assert pend["transaction_details"]["net_received_amount"] == 0
    done = mp.pay(pend["id"], "approved")
    assert done["status"] == "approved" and done["fee_details"][0]["amount"] == Decimal("3.99")
    got = mp_call(mp, "GET", f"/v1/payments/{pend['id']}")
    assert got.status == 200 and got.json["status"] == "approved"
    with pytest.raises(ValueError):
        mp.pay(pend["id"], "rejected")
    pend2 = mp_pay(mp, "JOHN")
    assert mp.pay(pend2["id"], "rejected")["status"] == "rejected"
    assert p["id"] < pend["id"] < pend2["id"]
    # capture=false: authorized, then captured with PUT
    auth = mp_pay(mp, "APRO", amount=50, capture=False)
    assert (auth["status"], auth["status_detail"], auth["captured"]) == ("authorized", "pending_capture", False)
    cap = mp_call(mp, "PUT", f"/v1/payments/{auth['id']}", {"capture": True, "transaction_amount": 40})
    assert cap.status == 200 and cap.json["status"] == "approved" and cap.json["transaction_amount"] == 40


def test_mp_money_rules(mp):
    r = mp_call(mp, "POST", "/v1/payments", raw=b'{"transaction_amount": 0.3, "payer": {"email": "apro@x"}}',
                headers={"Content-Type": "application/json"})
    assert r.status == 201 and b'"transaction_amount":0.3,' in r.raw
    assert_mp_error(mp_pay_raw(mp, 10.555, "ARS"), 400, 4037)
    assert_mp_error(mp_pay_raw(mp, 1000.5, "CLP"), 400, 4037)
    assert_mp_error(mp_pay_raw(mp, 0, "ARS"), 400, 4037)
    assert_mp_error(mp_pay_raw(mp, "10", "ARS"), 400, 4037)
    assert_mp_error(mp_pay_raw(mp, 10, "USD"), 400, 4037)
    ok = mp_pay_raw(mp, 1000, "CLP")
    assert ok.status == 201 and ok.json["fee_details"][0]["amount"] == 40  # 39.9 rounded half up to 0 decimals
    assert_mp_error(mp_call(mp, "POST", "/v1/payments", {"transaction_amount": 5, "payer": {"email": "x"}}), 400, 4050)
    assert_mp_error(mp_call(mp, "POST", "/v1/payments", {"transaction_amount": 5, "payer": {"email": "a@b"},
                                                         "notification_url": "not a url"}), 400, 4020)
    assert_mp_error(mp_call(mp, "POST", "/v1/payments", {"transaction_amount": 5, "payer": {"email": "a@b"},
                                                         "application_fee": 6}), 400, 4038)
    assert_mp_error(mp_call(mp, "POST", "/v1/payments", {"transaction_amount": 5, "payer": {"email": "a@b"},
                                                         "application_fee": -1}), 400, 4039)
    p = mp_pay(mp, "APRO", amount=200, application_fee=10)
    assert p["fee_details"] == [{"type": "mercadopago_fee", "amount": Decimal("7.98"), "fee_payer": "collector"},
                                {"type": "application_fee", "amount": 10, "fee_payer": "collector"}]
    assert p["transaction_details"]["net_received_amount"] == Decimal("182.02")


def mp_pay_raw(mp, amount, currency):
    return mp_call(mp, "POST", "/v1/payments", {"transaction_amount": amount, "currency_id": currency,
                                                "payer": {"email": "apro@x.com"}})


def test_mp_webhooks_signed_with_query_and_retried(mp, receiver):
    receiver.statuses = [500, 202, 200]   # MercadoPago wants 200 or 201: 202 is retried too
    url = receiver.url + "/webhooks/mercadopago?tenant=t1"
    p = mp_pay(mp, "APRO", notification_url=url)
    got = receiver.wait(3)
    assert mp.wait_webhooks()
    assert len(got) == 3 and [r.headers["x-retry"] for r in got] == ["0", "1", "2"]
    assert mp.webhook_deliveries == [(mp.notification_target(url, str(p["id"])), s) for s in (500, 202, 200)]
    for r in got:
        assert r.path == "/webhooks/mercadopago"
        assert r.query == {"tenant": "t1", "data.id": str(p["id"]), "type": "payment"}
        assert r.headers["content-type"] == "application/json"
        assert mp_verify(r.headers["x-signature"], r.headers["x-request-id"], r.query["data.id"],
                         ["mp-webhook-secret"], now=time.time(), tolerance=60)
        body = json_loads(r.body)
        assert list(body) == ["id", "live_mode", "type", "date_created", "user_id", "api_version", "action", "data"]
        assert body["type"] == "payment" and body["action"] == "payment.created" and body["live_mode"] is False
        assert body["data"] == {"id": str(p["id"])} and body["user_id"] == 1000 and body["api_version"] == "v1"
    assert len({r.headers["x-request-id"] for r in got}) == 1


def test_mp_contingency_then_approved(mp, receiver):
    p = mp_pay(mp, "CONT", notification_url=receiver.url + "/wh")
    assert (p["status"], p["status_detail"]) == ("in_process", "pending_contingency")
    got = receiver.wait(2)
    assert [json_loads(r.body)["action"] for r in got] == ["payment.created", "payment.updated"]
    assert mp.payment(p["id"])["status"] == "approved"
    assert [n["status"] for n in mp.notifications] == ["in_process", "approved"]


def test_mp_scoping_refunds_and_cancel(mp, receiver):
    seller = mp.add_account(7001, currency_id="BRL")
    p = mp_pay(mp, "APRO", amount=100, notification_url=receiver.url + "/wh")
    assert_mp_error(mp_call(mp, "GET", f"/v1/payments/{p['id']}", token=seller), 404, 2000)
    assert_mp_error(mp_call(mp, "GET", "/v1/payments/999"), 404, 2000)
    assert_mp_error(mp_call(mp, "POST", f"/v1/payments/{p['id']}/refunds", {}, token=seller), 404, 2000)
    assert_mp_error(mp_call(mp, "POST", f"/v1/payments/{p['id']}/refunds", {}, key=None), 400, 4292)
    r1 = mp_call(mp, "POST", f"/v1/payments/{p['id']}/refunds", {"amount": 30.25})
    assert r1.status == 201 and r1.json["amount"] == Decimal("30.25") and r1.json["payment_id"] == p["id"]
    assert r1.json["status"] == "approved" and r1.json["source"]["type"] == "collector"
    g = mp.payment(p["id"])
    assert (g["status"], g["status_detail"], g["transaction_amount_refunded"]) == \
        ("approved", "partially_refunded", Decimal("30.25"))
    assert_mp_error(mp_call(mp, "POST", f"/v1/payments/{p['id']}/refunds", {"amount": 70}), 400, 4040)
    r2 = mp_call(mp, "POST", f"/v1/payments/{p['id']}/refunds", raw=b"")
    assert r2.status == 201 and r2.json["amount"] == Decimal("69.75")
    g = mp_call(mp, "GET", f"/v1/payments/{p['id']}").json
    assert (g["status"], g["status_detail"], g["transaction_amount_refunded"]) == ("refunded", "refunded", 100)
    assert [x["id"] for x in g["refunds"]] == [r1.json["id"], r2.json["id"]]
    assert len(mp_call(mp, "GET", f"/v1/payments/{p['id']}/refunds").json) == 2
    assert mp_call(mp, "GET", f"/v1/payments/{p['id']}/refunds/{r2.json['id']}").json["amount"] == Decimal("69.75")
    assert_mp_error(mp_call(mp, "POST", f"/v1/payments/{p['id']}/refunds", {}), 400, 2063)
    receiver.wait(3)
    assert [json_loads(r.body)["action"] for r in receiver.received] == \
        ["payment.created", "payment.updated", "payment.updated"]
    # cancel
    pend = mp_pay(mp, "JOHN")
    assert_mp_error(mp_call(mp, "POST", f"/v1/payments/{pend['id']}/refunds", {}), 400, 2063)
    c = mp_call(mp, "PUT", f"/v1/payments/{pend['id']}", {"status": "cancelled"})
    assert c.status == 200 and (c.json["status"], c.json["status_detail"]) == ("cancelled", "by_collector")
    assert_mp_error(mp_call(mp, "PUT", f"/v1/payments/{p['id']}", {"status": "cancelled"}), 400, 2063)


def test_mp_search(mp):
    mp.now = lambda: 1795000000.0   # 2026-11-18T11:06:40Z
    a = mp_pay(mp, "APRO", external_reference="order-1")
    mp.now = lambda: 1795003600.0
    b = mp_pay(mp, "JOHN", external_reference="order-2")
    mp.now = lambda: 1795007200.0
    c = mp_pay(mp, "APRO", external_reference="order-1")
    mp_pay(mp, "APRO", token=mp.add_account(8001))   # another account's

    def search(**q):
        return mp_call(mp, "GET", "/v1/payments/search?" + urllib.parse.urlencode(q))

    r = search()
    assert r.status == 200 and r.json["paging"] == {"total": 3, "limit": 30, "offset": 0}
    assert [x["id"] for x in r.json["results"]] == [a["id"], b["id"], c["id"]]
    r = search(range="date_created", begin_date="2026-11-18T11:00:00.000Z", end_date="2026-11-18T08:06:40.000-04:00")
    assert [x["id"] for x in r.json["results"]] == [a["id"], b["id"]]
    r = search(external_reference="order-1", sort="date_created", criteria="desc")
    assert [x["id"] for x in r.json["results"]] == [c["id"], a["id"]]
    r = search(limit=1, offset=1)
    assert r.json["paging"] == {"total": 3, "limit": 1, "offset": 1} and r.json["results"][0]["id"] == b["id"]
    r = search(range="date_approved", begin_date="2026-11-18T00:00:00.000Z", end_date="2026-11-19T00:00:00.000Z")
    assert [x["id"] for x in r.json["results"]] == [a["id"], c["id"]]
    assert_mp_error(search(begin_date="2026-11-18", end_date="2026-11-19T00:00:00.000Z"), 400, 1001)
    assert_mp_error(search(begin_date="2026-11-18T00:00:00Z", end_date="2026-11-19T00:00:00.000Z"), 400, 1001)
    assert_mp_error(search(limit=101), 400, 1000)
    assert_mp_error(search(sort="amount"), 400, 1003)
    assert_mp_error(search(criteria="up"), 400, 1004)
    assert search(begin_date="NOW-1DAYS", end_date="NOW").json["paging"]["total"] == 3


def test_mp_preferences_and_checkout(mp, receiver):
    body = {"items": [{"title": "Shoes", "quantity": 2, "unit_price": 10.5, "currency_id": "ARS"},
                      {"title": "Socks", "quantity": 1, "unit_price": 3}],
            "external_reference": "order-9", "notification_url": receiver.url + "/wh?x=1",
            "marketplace_fee": 2.5, "metadata": {"tenant": "t1"},
            "back_urls": {"success": "http://shop.test/ok", "failure": "http://shop.test/ko"}, "auto_return": "approved"}
    assert_mp_error(mp_call(mp, "POST", "/checkout/preferences/", body, key=None), 400, 4292)
    r = mp_call(mp, "POST", "/checkout/preferences/", body)
    assert r.status == 201, r
    pref = r.json
    assert pref["id"].startswith("1000-") and len(pref["id"]) == 5 + 36 and pref["collector_id"] == 1000
    assert pref["init_point"] == f"{mp.url}/checkout/v1/redirect?pref_id={pref['id']}"
    assert pref["sandbox_init_point"] and pref["site_id"] == "MLA" and pref["marketplace_fee"] == Decimal("2.5")
    assert mp_call(mp, "POST", "/checkout/preferences", body).status == 201
    bad = mp_call(mp, "POST", "/checkout/preferences", {"items": []})
    assert bad.status == 400 and bad.json["error"] == "invalid_items"
    assert mp_call(mp, "GET", f"/checkout/preferences/{pref['id']}").json["id"] == pref["id"]
    assert mp_call(mp, "GET", f"/checkout/preferences/{pref['id']}", token=mp.add_account(9001)).status == 404
    page = call(mp.url, "GET", f"/checkout/v1/redirect?pref_id={pref['id']}")
    assert page.status == 200 and b"Shoes" in page.raw and b"24" in page.raw
    p = mp.pay_preference(pref["id"], "approved")
    assert p["transaction_amount"] == 24 and p["external_reference"] == "order-9" and p["metadata"] == {"tenant": "t1"}
    assert {"type": "application_fee", "amount": Decimal("2.5"), "fee_payer": "collector"} in p["fee_details"]
    assert p["transaction_details"]["net_received_amount"] == Decimal("24") - Decimal("0.96") - Decimal("2.5")
    got = receiver.wait(1)
    assert got[0].query == {"x": "1", "data.id": str(p["id"]), "type": "payment"}
    # the hosted page's pay button redirects to back_urls
    r = call(mp.url, "POST", "/checkout/v1/pay", raw=f"pref_id={pref['id']}&outcome=rejected".encode(),
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 302 and r.headers["location"].startswith("http://shop.test/ko?collection_id=")
    assert "status=rejected" in r.headers["location"] and "external_reference=order-9" in r.headers["location"]


def test_mp_oauth(mp):
    redirect = "http://127.0.0.1:9/oauth/mercadopago/callback"
    mp.oauth_app("123456", "app-secret", redirect)
    mp.oauth_next_user(5555)
    q = urllib.parse.urlencode({"client_id": "123456", "response_type": "code", "platform_id": "mp",
                                "state": "st8", "redirect_uri": redirect})
    r = call(mp.url, "GET", f"/authorization?{q}")
    assert r.status == 302
    loc = urllib.parse.urlsplit(r.headers["location"])
    params = dict(urllib.parse.parse_qsl(loc.query))
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == redirect and params["state"] == "st8"
    code = params["code"]
    assert code.startswith("TG-")
    bad_uri = call(mp.url, "GET", "/authorization?" + q.replace("callback", "other"))
    assert bad_uri.status == 400
    tok = {"client_id": "123456", "client_secret": "app-secret", "grant_type": "authorization_code",
           "code": code, "redirect_uri": redirect}
    e = call(mp.url, "POST", "/oauth/token", {**tok, "redirect_uri": redirect + "x"})
    assert e.status == 400 and e.json == {"message": e.json["message"], "error": "invalid_grant", "status": 400,
                                          "cause": []}
    assert call(mp.url, "POST", "/oauth/token", {**tok, "client_secret": "no"}).json["error"] == "invalid_client"
    r = call(mp.url, "POST", "/oauth/token", tok)
    assert r.status == 200, r
    t = r.json
    assert set(t) == {"access_token", "token_type", "expires_in", "scope", "user_id", "refresh_token", "public_key",
                      "live_mode"}
    assert t["access_token"].startswith("APP_USR-123456-") and t["access_token"].endswith("-5555")
    assert (t["token_type"], t["expires_in"], t["user_id"], t["live_mode"]) == ("bearer", 15552000, 5555, False)
    assert t["scope"] == "offline_access payments read write" and t["refresh_token"].startswith("TG-")
    assert call(mp.url, "POST", "/oauth/token", tok).json["error"] == "invalid_grant"   # single use
    p = mp_pay(mp, "APRO", token=t["access_token"])
    assert p["collector_id"] == 5555
    assert mp_call(mp, "GET", "/users/me", token=t["access_token"]).json["id"] == 5555
    # refresh: new pair, the old access token and refresh token stop working
    ref = {"client_id": "123456", "client_secret": "app-secret", "grant_type": "refresh_token",
           "refresh_token": t["refresh_token"]}
    r2 = call(mp.url, "POST", "/oauth/token", ref)
    assert r2.status == 200 and r2.json["access_token"] != t["access_token"]
    assert r2.json["refresh_token"] != t["refresh_token"]
    assert mp_call(mp, "GET", f"/v1/payments/{p['id']}", token=t["access_token"]).status == 401
    assert mp_call(mp, "GET", f"/v1/payments/{p['id']}", token=r2.json["access_token"]).status == 200
    assert call(mp.url, "POST", "/oauth/token", ref).json["error"] == "invalid_grant"
    # expiry
    mp.token_ttl = 5
    r3 = call(mp.url, "POST", "/oauth/token", {**ref, "refresh_token": r2.json["refresh_token"]})
    assert r3.json["expires_in"] == 5
    assert mp_call(mp, "GET", f"/v1/payments/{p['id']}", token=r3.json["access_token"]).status == 200
    mp.advance(6)
    assert_mp_error(mp_call(mp, "GET", f"/v1/payments/{p['id']}", token=r3.json["access_token"]), 401)
    # no seller chosen: a new one; a denial
    r = call(mp.url, "GET", f"/authorization?{q}")
    assert r.status == 302 and "code=TG-" in r.headers["location"]
    mp.oauth_next_error()
    r = call(mp.url, "GET", f"/authorization?{q}")
    assert "error=access_denied" in r.headers["location"] and "state=st8" in r.headers["location"]


def test_mp_faults(mp):
    mp.fail_next(2, status=503)
    assert_mp_error(mp_call(mp, "GET", "/v1/payments/search"), 503)
    assert_mp_error(mp_call(mp, "POST", "/v1/payments", {}), 503)
    assert mp_call(mp, "GET", "/v1/payments/search").status == 200
    mp.fail_next(1, status=429, body={"custom": True})
    r = mp_call(mp, "GET", "/v1/payments/search")
    assert r.status == 429 and r.json == {"custom": True} and r.headers["retry-after"] == "1"
    mp.delay_ms = 200
    t0 = time.monotonic()
    assert mp_call(mp, "GET", "/v1/payments/search").status == 200
    assert time.monotonic() - t0 >= 0.2
    mp.down = True
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        mp_call(mp, "GET", "/v1/payments/search")
    assert call(mp.url, "GET", "/__sim").status == 200     # control endpoints stay up
    mp.reset_faults()
    assert mp_call(mp, "GET", "/v1/payments/search").status == 200
    assert mp.count("GET", "/v1/payments/search") == 6


def test_mp_send_webhook_negative_cases(mp, receiver):
    p = mp_pay(mp, "APRO")   # no notification_url: nothing is sent
    assert mp.wait_webhooks() and mp.webhook_deliveries == [] and len(mp.notifications) == 1
    url = receiver.url + "/wh"
    mp.webhook_url = url                     # the panel's URL: used when notification_url is absent
    assert mp.send_webhook(p["id"]) == 200
    assert mp.send_webhook(p["id"], url=url, secret="wrong") == 200
    assert mp.send_webhook(p["id"], url=url, ts=int(time.time()) - 3600) == 200
    mp.webhook_ts_ms = True
    assert mp.send_webhook(p["id"], url=url) == 200
    got = receiver.wait(4)
    checks = [mp_verify(r.headers["x-signature"], r.headers["x-request-id"], r.query["data.id"],
                        ["mp-webhook-secret"], now=time.time(), tolerance=300) for r in got]
    assert checks == [True, False, False, True]
    assert len(got[3].headers["x-signature"].split(",")[0]) == len("ts=") + 13
    receiver.statuses = [500]
    assert mp.send_webhook(p["id"], url=url, wait=False) is None
    assert mp.wait_webhooks()
    assert [s for _, s in mp.webhook_deliveries[-4:]] == [500] * 4      # webhook_max_attempts
    mp.stop()
    assert mp.send_webhook(p["id"], url="http://127.0.0.1:9/") is None  # no answer: status None


# ------------------------------------------------------------------------------------------
# Stripe


def test_stripe_auth_and_errors(st):
    e = assert_st_error(st_call(st, "GET", "/v1/payment_intents", key=None), 401)
    assert set(e) == {"message", "type", "request_log_url"}
    e = assert_st_error(st_call(st, "GET", "/v1/payment_intents", key="sk_test_wrongwrongwrong"), 401)
    assert e["message"].startswith("Invalid API Key provided: sk_test_") and "wrongwrongwrong" not in e["message"]
    import base64
    basic = base64.b64encode(b"sk_test_sim:").decode()
    assert call(st.url, "GET", "/v1/payment_intents", headers={"Authorization": f"Basic {basic}"}).status == 200
    assert_st_error(st_call(st, "GET", "/v1/nothing"), 404)
    assert_st_error(st_call(st, "GET", "/v1/payment_intents/pi_x"), 404, code="resource_missing", param="intent")
    assert_st_error(st_call(st, "POST", "/v1/payment_intents", {"currency": "usd"}), 400,
                    code="parameter_missing", param="amount")
    assert_st_error(st_call(st, "POST", "/v1/payment_intents", {"amount": "1.5", "currency": "usd"}), 400,
                    code="parameter_invalid_integer", param="amount")
    assert_st_error(st_call(st, "POST", "/v1/payment_intents", {"amount": 100, "currency": "usd", "foo": 1}), 400,
                    code="parameter_unknown", param="foo")
    assert_st_error(st_call(st, "POST", "/v1/payment_intents", {"amount": 10, "currency": "usd"}), 400,
                    code="amount_too_small", param="amount")
    assert_st_error(st_call(st, "POST", "/v1/payment_intents", {"amount": 100, "currency": "usd",
                                                               "application_fee_amount": 10}), 400,
                    param="application_fee_amount")
    r = st_call(st, "POST", "/v1/payment_intents", {"amount": 100, "currency": "USD"})
    assert r.status == 200 and r.json["currency"] == "usd"
    assert r.raw.startswith(b'{\n  "id": "pi_') and r.headers["stripe-version"] == st.api_version


def test_stripe_payment_intent_lifecycle_and_webhooks(st, receiver):
    st.webhook_url = receiver.url + "/webhooks/stripe"
    r = st_call(st, "POST", "/v1/payment_intents", {"amount": 2000, "currency": "usd", "description": "Order 1",
                                                    "metadata": {"order_id": "o1"}, "receipt_email": "a@b.c",
                                                    "automatic_payment_methods": {"enabled": True}})
    pi = r.json
    assert pi["id"].startswith("pi_") and pi["client_secret"].startswith(pi["id"] + "_secret_")
    assert (pi["status"], pi["amount_received"], pi["latest_charge"], pi["livemode"]) == \
        ("requires_payment_method", 0, None, False)
    assert pi["metadata"] == {"order_id": "o1"} and isinstance(pi["created"], int)
    done = st.pay(pi["id"], "succeeded")
    assert done["status"] == "succeeded" and done["amount_received"] == 2000 and done["latest_charge"].startswith("ch_")
    g = st_call(st, "GET", f"/v1/payment_intents/{pi['id']}?expand[]=latest_charge.balance_transaction").json
    bt = g["latest_charge"]["balance_transaction"]
    assert bt["object"] == "balance_transaction" and bt["fee"] == 58 + 30 and bt["net"] == 2000 - 88
    assert bt["fee_details"][0]["type"] == "stripe_fee"
    ch = st_call(st, "GET", f"/v1/charges/{done['latest_charge']}").json
    assert ch["balance_transaction"].startswith("txn_") and ch["paid"] and ch["payment_intent"] == pi["id"]
    assert st_call(st, "GET", f"/v1/balance_transactions/{ch['balance_transaction']}").json["fee"] == 88
    got = receiver.wait(3)
    assert st.wait_webhooks()
    types = [json.loads(x.body)["type"] for x in got]
    assert types == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    for x in got:
        assert stripe_verify(x.headers["stripe-signature"], x.body, "whsec_sim_secret", tolerance=300, now=time.time())
        assert x.headers["content-type"].startswith("application/json")
        evt = json.loads(x.body)
        assert evt["object"] == "event" and evt["id"].startswith("evt_") and evt["livemode"] is False
        assert "account" not in evt and evt["api_version"] == st.api_version
        assert set(evt["request"]) == {"id", "idempotency_key"}
    last = json.loads(got[2].body)
    assert last["data"]["object"]["status"] == "succeeded" and last["request"]["id"] is None
    assert json.loads(got[0].body)["request"]["id"] == r.headers["request-id"]
    assert st_call(st, "GET", f"/v1/events/{last['id']}").json["type"] == "payment_intent.succeeded"
    # processing then failed
    p2 = st_call(st, "POST", "/v1/payment_intents", {"amount": 500, "currency": "eur"}).json
    assert st.pay(p2["id"], "processing")["status"] == "processing"
    failed = st.pay(p2["id"], "failed", decline_code="insufficient_funds")
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["decline_code"] == "insufficient_funds"


def test_stripe_confirm_outcomes(st):
    ok = st_call(st, "POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd", "confirm": True,
                                                     "payment_method": "pm_card_visa"})
    assert ok.status == 200 and ok.json["status"] == "succeeded" and ok.json["payment_method"].startswith("pm_")
    dec = st_call(st, "POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd", "confirm": True,
                                                      "payment_method": "pm_card_chargeDeclined"})
    e = assert_st_error(dec, 402, type_="card_error", code="card_declined")
    assert e["decline_code"] == "generic_decline" and e["charge"].startswith("ch_")
    assert e["payment_intent"]["status"] == "requires_payment_method"
    assert e["payment_intent"]["last_payment_error"]["code"] == "card_declined"
    assert [x["type"] for x in st.events_of()][-2:] == ["charge.failed", "payment_intent.payment_failed"]
    assert st.get(e["charge"])["status"] == "failed"
    # create, then confirm
    pi = st_call(st, "POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd"}).json
    c = st_call(st, "POST", f"/v1/payment_intents/{pi['id']}/confirm",
                {"payment_method": "pm_card_chargeDeclinedInsufficientFunds"})
    assert_st_error(c, 402, type_="card_error", code="card_declined")
    c = st_call(st, "POST", f"/v1/payment_intents/{pi['id']}/confirm", {"payment_method": "pm_card_mastercard"})
    assert c.status == 200 and c.json["status"] == "succeeded"
    assert_st_error(st_call(st, "POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd", "confirm": True,
                                                               "payment_method": "pm_bogus"}), 400,
                    code="resource_missing", param="payment_method")
    # manual capture
    m = st_call(st, "POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd", "confirm": True,
                                                    "payment_method": "pm_card_visa", "capture_method": "manual"}).json
    assert m["status"] == "requires_capture" and m["amount_capturable"] == 1000
    cap = st_call(st, "POST", f"/v1/payment_intents/{m['id']}/capture", {"amount_to_capture": 800}).json
    assert cap["status"] == "succeeded" and cap["amount_received"] == 800


def test_stripe_idempotency(st):
    form = {"amount": 1000, "currency": "usd", "metadata": {"o": "1"}}
    a = st_call(st, "POST", "/v1/payment_intents", form, headers={"Idempotency-Key": "k1"})
    b = st_call(st, "POST", "/v1/payment_intents", form, headers={"Idempotency-Key": "k1"})
    assert a.status == b.status == 200 and a.raw == b.raw
    assert "idempotent-replayed" not in a.headers and b.headers["idempotent-replayed"] == "true"
    assert a.headers["original-request"] == b.headers["original-request"] == a.headers["request-id"]
    assert b.headers["request-id"] != a.headers["request-id"]
    e = assert_st_error(st_call(st, "POST", "/v1/payment_intents", {**form, "amount": 1001},
                                headers={"Idempotency-Key": "k1"}), 400, type_="idempotency_error")
    assert "k1" in e["message"]
    # a declined confirmation (402) is stored and replayed too
    dec = {"amount": 1000, "currency": "usd", "confirm": True, "payment_method": "pm_card_chargeDeclined"}
    d1 = st_call(st, "POST", "/v1/payment_intents", dec, headers={"Idempotency-Key": "k2"})
    d2 = st_call(st, "POST", "/v1/payment_intents", dec, headers={"Idempotency-Key": "k2"})
    assert d1.status == d2.status == 402 and d1.raw == d2.raw
    # validation errors are not stored
    assert st_call(st, "POST", "/v1/payment_intents", {"amount": 1}, headers={"Idempotency-Key": "k3"}).status == 400
    assert st_call(st, "POST", "/v1/payment_intents", form, headers={"Idempotency-Key": "k3"}).status == 200
    st.work_delay_ms = 500
    out = concurrently(st, lambda: st_call(st, "POST", "/v1/payment_intents", form,
                                           headers={"Idempotency-Key": "k4"}))
    assert sorted(r.status for r in out) == [200, 409]
    assert len([o for o in st.objects.values() if o["object"] == "payment_intent"]) == 4


def test_stripe_list_pagination(st):
    ids = []
    for i in range(5):
        st.now = lambda i=i: 1700000000.0 + 100 * i
        ids.append(st_call(st, "POST", "/v1/payment_intents", {"amount": 100 + i, "currency": "usd"}).json["id"])
    r = st_call(st, "GET", "/v1/payment_intents?limit=2")
    assert r.json["object"] == "list" and r.json["url"] == "/v1/payment_intents" and r.json["has_more"] is True
    assert [x["id"] for x in r.json["data"]] == [ids[4], ids[3]]
    r = st_call(st, "GET", f"/v1/payment_intents?limit=2&starting_after={ids[3]}")
    assert [x["id"] for x in r.json["data"]] == [ids[2], ids[1]] and r.json["has_more"] is True
    r = st_call(st, "GET", f"/v1/payment_intents?limit=2&starting_after={ids[1]}")
    assert [x["id"] for x in r.json["data"]] == [ids[0]] and r.json["has_more"] is False
    r = st_call(st, "GET", "/v1/payment_intents?created[gte]=1700000100&created[lt]=1700000400")
    assert [x["id"] for x in r.json["data"]] == [ids[3], ids[2], ids[1]]
    r = st_call(st, "GET", f"/v1/payment_intents?limit=2&ending_before={ids[1]}")
    assert [x["id"] for x in r.json["data"]] == [ids[3], ids[2]]
    assert_st_error(st_call(st, "GET", "/v1/payment_intents?limit=101"), 400, param="limit")


def test_stripe_refunds_and_cancel(st):
    pi = st_call(st, "POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd", "confirm": True,
                                                     "payment_method": "pm_card_visa"}).json
    r1 = st_call(st, "POST", "/v1/refunds", {"payment_intent": pi["id"], "amount": 300, "reason": "requested_by_customer"})
    assert r1.status == 200 and r1.json["object"] == "refund" and r1.json["id"].startswith("re_")
    assert (r1.json["amount"], r1.json["status"], r1.json["charge"]) == (300, "succeeded", pi["latest_charge"])
    assert_st_error(st_call(st, "POST", "/v1/refunds", {"payment_intent": pi["id"], "amount": 701}), 400,
                    code="amount_too_large", param="amount")
    r2 = st_call(st, "POST", "/v1/refunds", {"payment_intent": pi["id"]})
    assert r2.json["amount"] == 700
    assert st_call(st, "GET", f"/v1/refunds/{r2.json['id']}").json["amount"] == 700
    ch = st.get(pi["latest_charge"])
    assert ch["amount_refunded"] == 1000 and ch["refunded"] is True
    assert_st_error(st_call(st, "POST", "/v1/refunds", {"payment_intent": pi["id"]}), 400,
                    code="charge_already_refunded")
    evs = [e["type"] for e in st.events_of()]
    assert evs[-4:] == ["refund.created", "charge.refunded", "refund.created", "charge.refunded"]
    refunded = st.events_of("charge.refunded")[-1]
    assert refunded["data"]["previous_attributes"] == {"amount_refunded": 300, "refunded": False}
    lst = st_call(st, "GET", f"/v1/refunds?payment_intent={pi['id']}").json
    assert [x["id"] for x in lst["data"]] == [r2.json["id"], r1.json["id"]]
    pending = st_call(st, "POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd"}).json
    assert_st_error(st_call(st, "POST", "/v1/refunds", {"payment_intent": pending["id"]}), 400)
    c = st_call(st, "POST", f"/v1/payment_intents/{pending['id']}/cancel", {"cancellation_reason": "abandoned"})
    assert c.status == 200 and c.json["status"] == "canceled" and c.json["cancellation_reason"] == "abandoned"
    assert st.events_of()[-1]["type"] == "payment_intent.canceled"
    assert_st_error(st_call(st, "POST", f"/v1/payment_intents/{pi['id']}/cancel"), 400,
                    code="payment_intent_unexpected_state")


def test_stripe_connect_oauth_and_stripe_account(st, receiver):
    st.webhook_url = receiver.url + "/platform"
    st.connect_webhook_url = receiver.url + "/connect"
    st.connect_webhook_secrets = ["whsec_connect"]
    st.redirect_uris = ["http://127.0.0.1:9/cb"]
    st.oauth_next_user("acct_1Seller000000001")
    q = urllib.parse.urlencode({"response_type": "code", "client_id": st.client_id, "scope": "read_write",
                                "state": "s1", "redirect_uri": "http://127.0.0.1:9/cb"})
    r = call(st.url, "GET", f"/oauth/authorize?{q}")
    assert r.status == 302
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["location"]).query))
    assert params["state"] == "s1" and params["code"].startswith("ac_") and params["scope"] == "read_write"
    assert call(st.url, "GET", "/oauth/authorize?" + q.replace("cb", "evil")).status == 400
    # before the token exchange the account is not connected
    assert_st_error(st_call(st, "GET", "/v1/payment_intents", headers={"Stripe-Account": "acct_1Seller000000001"}),
                    403, code="account_invalid")
    assert call(st.url, "POST", "/oauth/token", form={"grant_type": "authorization_code",
                                                      "code": params["code"]}).status == 401
    tok = st_call(st, "POST", "/oauth/token", {"grant_type": "authorization_code", "code": params["code"]})
    assert tok.status == 200, tok
    t = tok.json
    assert set(t) == {"access_token", "refresh_token", "token_type", "stripe_publishable_key", "stripe_user_id",
                      "scope", "livemode"}
    assert t["stripe_user_id"] == "acct_1Seller000000001" and t["access_token"].startswith("sk_test_")
    assert t["refresh_token"].startswith("rt_") and t["stripe_publishable_key"].startswith("pk_test_")
    again = call(st.url, "POST", "/oauth/token", form={"grant_type": "authorization_code", "code": params["code"],
                                                       "client_secret": st.secret_key})
    assert again.status == 400 and again.json["error"] == "invalid_grant" and "error_description" in again.json
    # the code's reuse revoked its tokens (as Stripe does); refresh gives a new one
    assert st_call(st, "GET", "/v1/payment_intents", key=t["access_token"]).status == 401
    ref = st_call(st, "POST", "/oauth/token", {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]})
    assert ref.status == 200 and ref.json["stripe_user_id"] == "acct_1Seller000000001"
    hdr = {"Stripe-Account": "acct_1Seller000000001"}
    pi = st_call(st, "POST", "/v1/payment_intents", {"amount": 10000, "currency": "usd", "confirm": True,
                                                     "payment_method": "pm_card_visa", "application_fee_amount": 500},
                 headers=hdr)
    assert pi.status == 200 and pi.json["application_fee_amount"] == 500
    assert_st_error(st_call(st, "POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd",
                                                               "application_fee_amount": 1001}, headers=hdr), 400,
                    param="application_fee_amount")
    ch = st_call(st, "GET", f"/v1/charges/{pi.json['latest_charge']}?expand[]=balance_transaction", headers=hdr).json
    bt = ch["balance_transaction"]
    assert [f["type"] for f in bt["fee_details"]] == ["stripe_fee", "application_fee"]
    assert bt["fee"] == 290 + 30 + 500 and bt["net"] == 10000 - 820
    # invisible to the platform itself, visible with the account's OAuth key
    assert st_call(st, "GET", f"/v1/payment_intents/{pi.json['id']}").status == 404
    assert st_call(st, "GET", f"/v1/payment_intents/{pi.json['id']}", key=ref.json["access_token"]).status == 200
    got = receiver.wait(3)
    assert {x.path for x in got} == {"/connect"}
    for x in got:
        evt = json.loads(x.body)
        assert evt["account"] == "acct_1Seller000000001"
        assert stripe_verify(x.headers["stripe-signature"], x.body, "whsec_connect", tolerance=300, now=time.time())
    # deauthorize
    d = st_call(st, "POST", "/oauth/deauthorize", {"client_id": st.client_id, "stripe_user_id": "acct_1Seller000000001"})
    assert d.status == 200 and d.json == {"stripe_user_id": "acct_1Seller000000001"}
    assert st_call(st, "GET", "/v1/payment_intents", headers=hdr).status == 403
    assert st_call(st, "GET", "/v1/payment_intents", key=ref.json["access_token"]).status == 401
    assert st.events_of()[-1]["type"] == "account.application.deauthorized"
    # add_connected_account skips the browser part
    acct = st.add_connected_account()
    assert st_call(st, "GET", "/v1/account", headers={"Stripe-Account": acct["id"]}).json["id"] == acct["id"]
    assert st_call(st, "GET", "/v1/account", key=acct["secret_key"]).json["type"] == "standard"


def test_stripe_rotation_negative_webhooks_and_faults(st, receiver):
    st.webhook_url = receiver.url + "/wh"
    st.webhook_secrets = ["whsec_old", "whsec_new"]
    assert st.webhook_secret == "whsec_new"
    st_call(st, "POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd"})
    got = receiver.wait(1)
    sig = got[0].headers["stripe-signature"]
    assert sig.count("v1=") == 2
    assert stripe_verify(sig, got[0].body, "whsec_old", tolerance=None)
    assert stripe_verify(sig, got[0].body, "whsec_new", tolerance=None)
    evt = st.events_of()[0]["id"]
    assert st.send_webhook(evt, secret="whsec_wrong") == 200
    assert st.send_webhook(evt, timestamp=int(time.time()) - 3600) == 200
    got = receiver.wait(3)
    assert got[1].body == got[0].body
    assert not stripe_verify(got[1].headers["stripe-signature"], got[1].body, ["whsec_old", "whsec_new"],
                             tolerance=None)
    assert stripe_verify(got[2].headers["stripe-signature"], got[2].body, "whsec_new", tolerance=None)
    assert not stripe_verify(got[2].headers["stripe-signature"], got[2].body, "whsec_new", tolerance=300,
                             now=time.time())
    receiver.statuses = [503, 200]
    st.enabled_events = ["payment_intent.canceled"]
    pi = st_call(st, "POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd"}).json
    st.cancel(pi["id"])
    got = receiver.wait(5)
    assert st.wait_webhooks()
    assert [json.loads(x.body)["type"] for x in got[3:]] == ["payment_intent.canceled"] * 2
    assert [s for _, s in st.webhook_deliveries[-2:]] == [503, 200]
    st.fail_next(1)
    assert_st_error(st_call(st, "GET", "/v1/payment_intents"), 500, type_="api_error")
    st.fail_next(1, 429)
    e = assert_st_error(st_call(st, "GET", "/v1/payment_intents"), 429, code="rate_limit")
    assert e
    st.down = True
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        st_call(st, "GET", "/v1/payment_intents")
    st.reset_faults()
    assert st_call(st, "GET", "/v1/payment_intents").status == 200


# ------------------------------------------------------------------------------------------
# Standalone mode


@pytest.mark.parametrize("module,extra", [("sim.mercadopago", []), ("sim.stripe", ["--webhook-url", "http://127.0.0.1:9/"])])
def test_standalone_mode(module, extra):
    proc = subprocess.Popen([sys.executable, "-m", module, "--port", "0", *extra], cwd=TESTS,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert " on http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split(" on ")[1].strip()
        r = call(url, "GET", "/__sim")
        assert r.status == 200 and r.json["url"] == url
        html_page = call(url, "GET", "/__sim", headers={"Accept": "text/html"})
        assert html_page.status == 200 and b"<table" in html_page.raw
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
        proc.stderr.close()
