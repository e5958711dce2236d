"""Provider accounts (PUT/GET/DELETE /v1/providers/{provider}): settings and secrets, secrets
sealed at rest and masked in answers, audit, tenant scoping, and the IP allowlist of the
webhook endpoints."""
import glob
import os
import time

import pytest

from test_payments import pay, signed, sandbox_event, wait_status

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "APP_USR-1234567890-abcdefghijklmnop"


def put(server, provider, body, tenant=None, key=None):
    headers = {"Pasarela-Tenant": tenant} if tenant else None
    return server.request("PUT", f"/v1/providers/{provider}", body,
                          key=key or server.admin_key, headers=headers)


def test_account_lifecycle_masks_and_seals_secrets(server):
    t = server.create_tenant()
    r = put(server, "mercadopago", {"webhook_secrets": [SECRET], "credentials": {"access_token": TOKEN},
                                    "ip_allowlist": ["203.0.113.0/24", "2001:db8::/32"],
                                    "default": True}, tenant=t["id"])
    assert r.status == 200, r
    a = r.json
    assert a["provider"] == "mercadopago" and a["mode"] == "manual" and a["default"] is True
    assert a["webhook_secrets"] == ["****LaSw"] and a["credentials"] == {"access_token": "****mnop"}
    assert a["ip_allowlist"] == ["203.0.113.0/24", "2001:db8::/32"]
    # rotation: a second secret joins; absent fields keep their values
    r = put(server, "mercadopago", {"webhook_secrets": [SECRET, "whsec_second_secret_abcd"]},
            tenant=t["id"])
    assert r.json["webhook_secrets"] == ["****LaSw", "****abcd"]
    assert r.json["credentials"] == {"access_token": "****mnop"}
    got = server.admin("GET", "/v1/providers/mercadopago", headers={"Pasarela-Tenant": t["id"]})
    assert got.status == 200 and got.json == r.json
    listed = server.admin("GET", "/v1/providers", headers={"Pasarela-Tenant": t["id"]}).json
    assert [x["provider"] for x in listed["data"]] == ["mercadopago"]
    # the platform's own accounts are separate
    assert server.admin("GET", "/v1/providers").json["data"] == []
    everything = ""
    for path in glob.glob(os.path.join(server.data_dir, "pasarela.db*")):
        with open(path, "rb") as f:
            everything += f.read().decode("latin-1")
    everything += server.log() + server.admin("GET", "/v1/audit?limit=100").raw
    assert SECRET not in everything and TOKEN not in everything
    assert "whsec_second_secret_abcd" not in everything
    actions = [x["action"] for x in server.admin("GET", f"/v1/audit?chain_id={t['id']}").json["data"]]
    assert actions[:2] == ["provider.updated", "provider.connected"]
    d = server.admin("DELETE", "/v1/providers/mercadopago", headers={"Pasarela-Tenant": t["id"]})
    assert d.status == 200
    assert server.admin("GET", "/v1/providers/mercadopago",
                        headers={"Pasarela-Tenant": t["id"]}).status == 404
    assert server.admin("DELETE", "/v1/providers/mercadopago",
                        headers={"Pasarela-Tenant": t["id"]}).status == 404


def test_secrets_survive_a_restart(server):
    t = server.create_tenant()
    assert put(server, "stripe", {"webhook_secrets": [SECRET]}, tenant=t["id"]).status == 200
    assert server.stop() == 0
    server.start()
    got = server.admin("GET", "/v1/providers/stripe", headers={"Pasarela-Tenant": t["id"]})
    assert got.json["webhook_secrets"] == ["****LaSw"]


@pytest.mark.parametrize("body,param", [
    ({"webhook_secrets": "x"}, "webhook_secrets"),
    ({"webhook_secrets": ["short"]}, "webhook_secrets"),
    ({"webhook_secrets": ["a" * 20, "b" * 20, "c" * 20]}, "webhook_secrets"),
    ({"webhook_secrets": [12345678]}, "webhook_secrets"),
    ({"ip_allowlist": ["300.1.1.1"]}, "ip_allowlist"),
    ({"ip_allowlist": ["10.0.0.0/33"]}, "ip_allowlist"),
    ({"ip_allowlist": "10.0.0.0/8"}, "ip_allowlist"),
    ({"credentials": {"k": 1}}, "credentials"),
    ({"mode": "whatever"}, "mode"),
    ({"default": "yes"}, "default"),
    ({"colour": "red"}, "colour"),
])
def test_bad_account_input_names_the_field(server, body, param):
    t = server.create_tenant()
    r = put(server, "stripe", body, tenant=t["id"])
    assert r.status == 400 and r.json["error"]["param"] == param, r


def test_unknown_provider_and_tenant_scoping(server):
    a, b = server.create_tenant(), server.create_tenant()
    ka = server.create_key(a["id"])["secret"]
    assert put(server, "nope", {}, tenant=a["id"]).status == 404
    assert put(server, "stripe", {"webhook_secrets": [SECRET]}, key=ka).status == 200
    assert put(server, "stripe", {"webhook_secrets": [SECRET]}, tenant=b["id"]).status == 200
    mine = server.request("GET", "/v1/providers", key=ka).json["data"]
    assert len(mine) == 1 and mine[0]["owner"] == a["id"]
    # a tenant key may not name another tenant
    r = server.request("GET", "/v1/providers", key=ka, headers={"Pasarela-Tenant": b["id"]})
    assert r.status == 403


def test_ip_allowlist_refuses_other_sources(server):
    t = server.create_tenant()
    key = server.create_key(t["id"])["secret"]
    p = pay(server, key, email="pending@x.com").json
    assert put(server, "sandbox", {"ip_allowlist": ["192.0.2.0/24"]}).status == 200
    raw, h = signed(server, sandbox_event(p, "approved"))
    r = server.request("POST", "/webhooks/sandbox", raw=raw, headers=h)
    assert r.status == 403
    sec = server.admin("GET", "/v1/security_events").json["data"]
    assert sec[0]["kind"] == "webhook_source_refused" and sec[0]["source"] == "127.0.0.1"
    assert put(server, "sandbox", {"ip_allowlist": ["127.0.0.0/8", "::1"]}).status == 200
    raw, h = signed(server, sandbox_event(p, "approved"))
    assert server.request("POST", "/webhooks/sandbox", raw=raw, headers=h).status == 200
    wait_status(server, key, p["id"], "approved")


def test_webhooks_for_unconfigured_accounts_are_not_found(server):
    t = server.create_tenant()
    r = server.request("POST", f"/webhooks/stripe/{t['id']}", raw=b"{}")
    assert r.status == 404
    r = server.request("POST", "/webhooks/nosuchprovider", raw=b"{}")
    assert r.status == 404
    r = server.request("POST", "/webhooks/sandbox/ten_000000000000000000000000a", raw=b"{}")
    assert r.status == 404
