"""Rotating the master key (`pasarela rotate-master-key`): every sealed value re-sealed under
the new key in one transaction, the audit trail and the sandbox's webhook key unchanged, the
old key refused with the key ids named, plaintext nowhere on disk, and refusals (a running
server, a bad or repeated new key, a value the current key cannot unseal) that change
nothing."""
import base64
import glob
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import stat
import subprocess
import time

import pytest

from conftest import BIN, assert_no_sanitizer_reports, free_port
from test_payments import pay, sandbox_event, sandbox_key, signed, wait_status
from test_webhooks import stripe_headers

STRIPE_SECRET = "whsec_rotation_stripe_3f9a1c77e2"
MP_SECRET = "mp_rotation_webhook_8b2d41aa"
TOKEN = "APP_USR-rotation-0123456789-abcdefgh"
STRIPE_KEY = "sk_test_rotation_51Habcdefghijkl"
PLAINTEXTS = (STRIPE_SECRET, MP_SECRET, TOKEN, STRIPE_KEY)


def new_key():
    return base64.b64encode(secrets.token_bytes(32)).decode()


def key_id(master_b64):
    """The key id sealed values carry: HMAC-SHA256 of a label under the secrets key, which is
    HMAC-SHA256(master key, "pasarela secrets v1")."""
    secrets_key = hmac.new(base64.b64decode(master_b64), b"pasarela secrets v1",
                           hashlib.sha256).digest()
    return hmac.new(secrets_key, b"pasarela key id v1", hashlib.sha256).hexdigest()[:8]


def rotate(server, new, **env):
    e = {"PASARELA_NEW_MASTER_KEY": new} if new is not None else {}
    e.update(env)
    r = server.cli("rotate-master-key", env=e)
    assert_no_sanitizer_reports(r.stderr)
    return r


def sealed_values(server):
    db = sqlite3.connect(os.path.join(server.data_dir, "pasarela.db"))
    try:
        return (db.execute("SELECT owner, provider, secrets FROM provider_accounts"
                           " ORDER BY owner, provider").fetchall(),
                db.execute("SELECT name, sealed FROM keyring ORDER BY name").fetchall())
    finally:
        db.close()


def set_secrets(server, owner, sealed):
    db = sqlite3.connect(os.path.join(server.data_dir, "pasarela.db"))
    with db:
        db.execute("UPDATE provider_accounts SET secrets = ? WHERE owner = ?", (sealed, owner))
    db.close()


def on_disk(server):
    text = ""
    for path in glob.glob(os.path.join(server.data_dir, "*")):
        if os.path.isfile(path) and not path.endswith(".key"):
            with open(path, "rb") as f:
                text += f.read().decode("latin-1")
    return text


def serve_fails(server):
    """Starts serve on server's data directory expecting a refusal; returns (code, stderr)."""
    r = subprocess.run([BIN, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data",
                        server.data_dir],
                       env=server.env(), capture_output=True, text=True, timeout=60)
    assert_no_sanitizer_reports(r.stderr)
    return r.returncode, r.stderr


def configure(server):
    """A tenant with its own Stripe account, the platform's MercadoPago account, and some
    audited history; returns (tenant id, tenant key)."""
    t = server.create_tenant()
    key = server.create_key(t["id"])["secret"]
    r = server.admin("PUT", "/v1/providers/stripe",
                     {"webhook_secrets": [STRIPE_SECRET], "credentials": {"secret_key": STRIPE_KEY}},
                     headers={"Pasarela-Tenant": t["id"]})
    assert r.status == 200, r
    r = server.admin("PUT", "/v1/providers/mercadopago",
                     {"webhook_secrets": [MP_SECRET], "credentials": {"access_token": TOKEN}})
    assert r.status == 200, r
    return t["id"], key


def masks(server, tenant):
    return (server.admin("GET", "/v1/providers", headers={"Pasarela-Tenant": tenant}).json,
            server.admin("GET", "/v1/providers").json)


@pytest.fixture
def sserver(server_factory):
    s = server_factory(extra_env={"PASARELA_SANDBOX_DELAY_MS": "50"})
    s.start()
    return s


def test_rotation_keeps_secrets_audit_and_sandbox_working(sserver):
    s = sserver
    tenant, key = configure(s)
    approved = pay(s, key).json
    wait_status(s, key, approved["id"], "approved")
    pending = pay(s, key, email="pending@example.com").json
    before = masks(s, tenant)
    old = s.master_key
    assert s.stop() == 0

    new = new_key()
    r = rotate(s, new)
    assert r.returncode == 0, r.stderr
    assert f"master key id {key_id(old)} -> {key_id(new)}" in r.stdout
    assert "re-sealed 2 values of provider_accounts.secrets" in r.stdout
    assert "re-sealed 2 values of keyring.sealed" in r.stdout
    accounts, keyring = sealed_values(s)
    assert all(v.startswith(f"v2:{key_id(new)}:") for _, _, v in accounts)
    assert all(v.startswith(f"v2:{key_id(new)}:") for _, v in keyring)

    s.master_key = new
    s.start()
    assert f'"master_key_id":"{key_id(new)}"' in s.log()
    assert masks(s, tenant) == before
    # the tenant's webhook secret still verifies its provider's notifications
    body = json.dumps({"id": "evt_after_rotation", "type": "payment_intent.succeeded"}).encode()
    r = s.request("POST", f"/webhooks/stripe/{tenant}", raw=body,
                  headers=stripe_headers(STRIPE_SECRET, body))
    assert r.status == 200, r
    # the audit trail verifies, over the API and from the command line
    assert s.admin("GET", "/v1/audit/verify").json["intact"] is True
    # the sandbox's key is the one it had: a delivery signed before the rotation still counts
    raw, h = signed(s, sandbox_event(pending, "approved"), key=sandbox_key(old))
    assert s.request("POST", "/webhooks/sandbox", raw=raw, headers=h).status == 200
    wait_status(s, key, pending["id"], "approved")
    fresh = pay(s, key).json
    wait_status(s, key, fresh["id"], "approved")
    assert s.stop() == 0

    v = s.cli("audit", "verify")
    assert v.returncode == 0 and "intact" in v.stdout, v.stdout + v.stderr
    everything = on_disk(s) + s.log() + r.raw + v.stdout
    for plain in PLAINTEXTS + (old, new):
        assert plain not in everything

    # the old key no longer opens the data directory, and says which key would
    s.master_key = old
    code, err = serve_fails(s)
    assert code == 2
    assert f"sealed under master key id {key_id(new)}" in err and key_id(old) in err
    assert old not in err and new not in err
    v = s.cli("audit", "verify")
    assert v.returncode == 2 and key_id(new) in v.stderr
    # nor can it rotate again: nothing changes
    r = rotate(s, new_key())
    assert r.returncode == 1 and "nothing was changed" in r.stderr, r.stderr
    assert sealed_values(s) == (accounts, keyring)


def test_rotation_refuses_while_a_server_runs(server):
    configure(server)
    before = sealed_values(server)
    r = rotate(server, new_key())
    assert r.returncode == 2
    assert "a server is running" in r.stderr and "stop it" in r.stderr
    assert sealed_values(server) == before
    assert server.admin("GET", "/v1/providers").status == 200
    assert server.stop() == 0
    assert rotate(server, new_key()).returncode == 0


@pytest.mark.parametrize("bad,why", [
    (None, "PASARELA_NEW_MASTER_KEY is not set"),
    ("", "PASARELA_NEW_MASTER_KEY is not set"),
    ("not base64!", "base64 of exactly 32 bytes"),
    (base64.b64encode(b"k" * 31).decode(), "base64 of exactly 32 bytes"),
    (base64.b64encode(b"k" * 33).decode(), "base64 of exactly 32 bytes"),
    (base64.b64encode(bytes(32)).decode(), "too weak"),
    (base64.b64encode(b"passwordpasswordpasswordpassword").decode(), "too weak"),
    ("same", "is the current master key"),
])
def test_bad_new_keys_are_refused_with_nothing_changed(server, bad, why):
    tenant, _ = configure(server)
    before_masks = masks(server, tenant)
    assert server.stop() == 0
    before = sealed_values(server)
    r = rotate(server, server.master_key if bad == "same" else bad)
    assert r.returncode == 2 and why in r.stderr, r.stderr
    assert r.stdout == ""
    assert server.master_key not in r.stderr
    assert sealed_values(server) == before
    server.start()
    assert masks(server, tenant) == before_masks


def test_a_value_the_current_key_cannot_unseal_stops_the_rotation(server, server_factory):
    tenant, _ = configure(server)
    other = server_factory("other")
    other.start()
    assert other.admin("PUT", "/v1/providers/paypal", {"webhook_secrets": ["paypal_secret_1"]}).status == 200
    assert other.stop() == 0
    assert server.stop() == 0
    foreign = sealed_values(other)[0][0][2]
    original = sealed_values(server)[0]
    assert [row[0] for row in original] == ["platform", tenant]
    set_secrets(server, "platform", foreign)
    before = sealed_values(server)
    r = rotate(server, new_key())
    assert r.returncode == 1, r.stderr
    assert "provider_accounts.secrets of owner=platform, provider=mercadopago" in r.stderr
    assert f"sealed under master key id {key_id(other.master_key)}" in r.stderr
    assert "nothing was changed" in r.stderr
    assert sealed_values(server) == before

    # an altered value is named as such
    set_secrets(server, "platform", original[0][2])
    altered = original[1][2]
    altered = altered[:-6] + ("A" if altered[-6] != "A" else "B") + altered[-5:]
    set_secrets(server, tenant, altered)
    r = rotate(server, new_key())
    assert r.returncode == 1
    assert f"owner={tenant}, provider=stripe" in r.stderr and "altered" in r.stderr, r.stderr
    for plain in PLAINTEXTS:
        assert plain not in r.stderr + r.stdout


def test_demo_key_file_is_replaced(server_factory):
    s = server_factory(extra_env={"PASARELA_ADMIN_KEY": "", "PASARELA_MASTER_KEY": ""})
    s.admin_key = None
    s.start("--demo")
    with open(os.path.join(s.data_dir, "admin.key")) as f:
        s.admin_key = f.read().strip()
    tenant, _ = configure(s)
    before = masks(s, tenant)
    assert s.stop() == 0
    path = os.path.join(s.data_dir, "master.key")
    with open(path) as f:
        old = f.read().strip()
    new = new_key()
    r = rotate(s, new)
    assert r.returncode == 0, r.stderr
    assert f"{s.data_dir}/master.key now holds the new key" in r.stdout
    with open(path) as f:
        assert f.read().strip() == new
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not os.path.exists(path + ".new")
    s.start("--demo")
    assert masks(s, tenant) == before
    assert s.stop() == 0
    assert key_id(old) != key_id(new)
    assert s.cli("audit", "verify").returncode == 0

    # a refused rotation leaves the key file alone
    r = rotate(s, new)
    assert r.returncode == 2 and "is the current master key" in r.stderr
    with open(path) as f:
        assert f.read().strip() == new
    assert not os.path.exists(path + ".new")


def test_first_start_checks_the_key_before_keeping_it(server):
    """A data directory from before the keyring gets one on its first start, from the master
    key it is started with; a key that did not make its audit trail is refused."""
    configure(server)
    assert server.stop() == 0
    db = sqlite3.connect(os.path.join(server.data_dir, "pasarela.db"))
    with db:
        db.execute("DELETE FROM keyring")
        db.execute("DELETE FROM provider_accounts")  # leave only the audit trail to check
    db.close()
    right = server.master_key
    server.master_key = new_key()
    code, err = serve_fails(server)
    assert code == 2 and "audit trail was not authenticated" in err, err
    assert sealed_values(server)[1] == []
    server.master_key = right
    server.start()
    assert server.admin("GET", "/v1/audit/verify").json["intact"] is True
    assert [n for n, _ in sealed_values(server)[1]] == ["audit", "sandbox_webhooks"]


def test_help_and_missing_current_key(tmp_path):
    r = subprocess.run([BIN, "rotate-master-key", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "PASARELA_NEW_MASTER_KEY" in r.stdout
    env = {k: v for k, v in os.environ.items() if k != "PASARELA_MASTER_KEY"}
    env["PASARELA_NEW_MASTER_KEY"] = new_key()
    r = subprocess.run([BIN, "rotate-master-key", "--data", str(tmp_path / "none")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "needs the current master key" in r.stderr
    assert not os.path.exists(tmp_path / "none")
