"""The command line: refusing to serve without strong keys, --demo, help and version,
migrate, restarts, flags beating the environment, and /health when the store is gone."""
import base64
import os
import re
import secrets
import socket
import stat
import subprocess
import time

import pytest

from conftest import BIN, assert_clean_stop, assert_error, assert_no_sanitizer_reports, free_port

STRONG = "k" * 32


def run(args, env_over=None, timeout=30, cwd=None):
    """Runs the binary with the environment stripped of PASARELA_* and env_over added."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASARELA_")}
    env.update({"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
    env.update(env_over or {})
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=timeout,
                       cwd=cwd)
    assert_no_sanitizer_reports(p.stdout + p.stderr)
    return p


def master_key():
    return base64.b64encode(secrets.token_bytes(32)).decode()


def assert_refuses(p, mentions):
    """serve refused: non-zero exit, one line on stderr naming the problem, nothing served."""
    assert p.returncode != 0, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert mentions in lines[0], lines[0]
    assert "listening" not in p.stdout + p.stderr


def serve_args(tmp_path):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return ["serve", "--listen", f"127.0.0.1:{free_port()}", "--data", str(data)]


# ---------------------------------------------------------------- refusing weak keys

def test_serve_refuses_without_admin_key(tmp_path):
    p = run(serve_args(tmp_path), {"PASARELA_MASTER_KEY": master_key()})
    assert_refuses(p, "PASARELA_ADMIN_KEY")
    p = run(serve_args(tmp_path), {"PASARELA_MASTER_KEY": master_key(), "PASARELA_ADMIN_KEY": ""})
    assert_refuses(p, "PASARELA_ADMIN_KEY")


@pytest.mark.parametrize("length", [1, 16, 31])
def test_serve_refuses_a_short_admin_key(tmp_path, length):
    p = run(serve_args(tmp_path),
            {"PASARELA_MASTER_KEY": master_key(), "PASARELA_ADMIN_KEY": "k" * length})
    assert_refuses(p, "PASARELA_ADMIN_KEY")
    assert "32" in p.stderr


def test_serve_refuses_without_master_key(tmp_path):
    p = run(serve_args(tmp_path), {"PASARELA_ADMIN_KEY": STRONG})
    assert_refuses(p, "PASARELA_MASTER_KEY")


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"x" * 31).decode(),
                                 base64.b64encode(b"x" * 33).decode(), "c2hvcnQ="])
def test_serve_refuses_a_malformed_master_key(tmp_path, bad):
    p = run(serve_args(tmp_path), {"PASARELA_ADMIN_KEY": STRONG, "PASARELA_MASTER_KEY": bad})
    assert_refuses(p, "PASARELA_MASTER_KEY")


def test_serve_accepts_a_32_character_admin_key(server_factory):
    s = server_factory()
    s.admin_key = "k" * 32
    s.start()
    assert s.admin("GET", "/v1/tenants").status == 200
    assert_clean_stop(s)


# ---------------------------------------------------------------- --demo

def key_file_mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_demo_generates_keys_and_prints_the_admin_key_once(server_factory):
    s = server_factory(extra_env={"PASARELA_ADMIN_KEY": "", "PASARELA_MASTER_KEY": ""},
                       separate_stdout=True)
    assert os.listdir(s.data_dir) == []
    s.admin_key = None
    s.start("--demo")
    admin_path = os.path.join(s.data_dir, "admin.key")
    master_path = os.path.join(s.data_dir, "master.key")
    for path in (admin_path, master_path):
        assert os.path.isfile(path)
        assert key_file_mode(path) == 0o600, oct(key_file_mode(path))
    with open(admin_path) as f:
        key = f.read().strip()
    with open(master_path) as f:
        assert len(base64.b64decode(f.read().strip(), validate=True)) == 32
    assert len(key) >= 32
    out = s.stdout()
    assert out.count(key) == 1, out
    assert key not in s.log(), "the admin key went to the log"
    # The printed key is the one that works.
    printed = re.search(r"^\s+(\S+)\s*$", out, re.M).group(1)
    assert printed == key
    s.admin_key = printed
    t = s.create_tenant(slug="demo-tenant")
    assert_error(s.request("GET", "/v1/tenants", key=key + "x"), 401, "api_key_invalid")
    assert_clean_stop(s)

    # A second start reuses the keys and does not print the admin key again.
    before = len(out)
    s.start("--demo")
    assert s.admin("GET", f"/v1/tenants/{t['id']}").status == 200
    with open(admin_path) as f:
        assert f.read().strip() == key
    again = s.stdout()[before:]
    assert key not in again and "admin.key" in again, again
    assert key_file_mode(admin_path) == 0o600 and key_file_mode(master_path) == 0o600
    assert_clean_stop(s)


# ---------------------------------------------------------------- help, version, migrate

@pytest.mark.parametrize("args,first", [
    (["serve", "--help"], "usage: pasarela serve"),
    (["migrate", "--help"], "usage: pasarela migrate"),
    (["audit", "--help"], "usage: pasarela audit verify"),
    (["audit", "verify", "--help"], "usage: pasarela audit verify"),
    (["ledger", "--help"], "usage: pasarela ledger check"),
    (["ledger", "check", "--help"], "usage: pasarela ledger check"),
    (["--help"], "usage: pasarela <command>"),
])
def test_help_prints_usage_and_exits_0(tmp_path, args, first):
    p = run(args, cwd=tmp_path)
    assert p.returncode == 0, p
    assert p.stdout.startswith(first), p.stdout
    assert p.stderr == ""
    assert os.listdir(tmp_path) == [], "help must not create a data directory"


def test_unknown_command_or_option_fails(tmp_path):
    p = run(["frobnicate"], cwd=tmp_path)
    assert p.returncode != 0 and "frobnicate" in p.stderr
    p = run(["ledger", "frobnicate"], cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.startswith("usage: pasarela ledger check")
    p = run(["serve", "--frobnicate"], {"PASARELA_ADMIN_KEY": STRONG,
                                       "PASARELA_MASTER_KEY": master_key()}, cwd=tmp_path)
    assert_refuses(p, "--frobnicate")


def test_version_matches_health(server):
    p = run(["version"])
    assert p.returncode == 0
    m = re.fullmatch(r"pasarela (\d+\.\d+\.\d+\S*)\n", p.stdout)
    assert m, p.stdout
    assert server.request("GET", "/health").json["version"] == m.group(1)


def test_migrate_is_idempotent(tmp_path):
    data = tmp_path / "fresh"
    data.mkdir()
    first = run(["migrate", "--data", str(data)])
    assert first.returncode == 0, first.stderr
    m = re.match(r"schema version (\d+) \((\d+) migrations? applied\)", first.stdout)
    assert m, first.stdout
    version, applied = int(m.group(1)), int(m.group(2))
    assert version >= 1 and applied >= 1
    assert os.path.exists(data / "pasarela.db")
    second = run(["migrate", "--data", str(data)])
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"schema version {version} (0 migrations applied)"), \
        second.stdout


def test_migrate_then_serve_uses_the_migrated_store(server_factory):
    s = server_factory()
    p = s.cli("migrate")
    assert p.returncode == 0, p.stderr
    s.start()
    assert s.admin("GET", "/v1/tenants").json["data"] == []
    s.create_tenant()
    assert_clean_stop(s)
    p = s.cli("migrate")
    assert p.returncode == 0 and "(0 migrations applied)" in p.stdout


# ---------------------------------------------------------------- restarts

def test_tenants_and_keys_survive_a_restart(server):
    t = server.create_tenant(slug="persistent", platform_fee_bps=123,
                             limits={"max_payment_amount": {"MXN": 100}})
    k = server.create_key(t["id"], name="kept")
    revoked = server.create_key(t["id"], name="revoked")
    assert server.admin("DELETE", f"/v1/tenants/{t['id']}/keys/{revoked['id']}").status == 200
    assert server.stop() == 0, server.log()[-2000:]
    server.start()
    assert server.admin("GET", f"/v1/tenants/{t['id']}").json == t
    r = server.request("GET", f"/v1/tenants/{t['id']}", key=k["secret"])
    assert r.status == 200 and r.json["slug"] == "persistent"
    assert_error(server.request("GET", "/v1/tenants", key=revoked["secret"]), 401,
                 "api_key_invalid")
    keys = server.admin("GET", f"/v1/tenants/{t['id']}/keys").json["data"]
    assert {x["id"] for x in keys} == {k["id"], revoked["id"]}
    # The audit trail is intact across the restart.
    r = server.admin("GET", "/v1/audit/verify")
    assert r.status == 200, r
    assert_error(server.admin("POST", "/v1/tenants", {"slug": "persistent", "name": "x"}), 409,
                 "slug_taken", param="slug")


def test_sigint_also_stops_cleanly(server):
    server.create_tenant()
    import signal
    assert server.stop(signal.SIGINT) == 0
    server.start()
    assert len(server.admin("GET", "/v1/tenants").json["data"]) == 1


def test_committed_data_survives_sigkill(server):
    t = server.create_tenant(slug="crash-safe")
    k = server.create_key(t["id"])
    server.kill()
    server.start()
    assert server.request("GET", f"/v1/tenants/{t['id']}", key=k["secret"]).status == 200


# ---------------------------------------------------------------- configuration precedence

def port_open(port):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_listen_flag_beats_the_environment(server_factory):
    env_port = free_port()
    s = server_factory(extra_env={"PASARELA_LISTEN": f"127.0.0.1:{env_port}"})
    s.start()   # passes --listen 127.0.0.1:<s.port>
    assert s.port != env_port
    assert s.request("GET", "/health").status == 200
    assert not port_open(env_port)
    assert f'"port":{s.port}' in s.log()
    assert_clean_stop(s)


def test_listen_environment_beats_the_default(tmp_path):
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASARELA_")}
    env.update({"PASARELA_ADMIN_KEY": STRONG, "PASARELA_MASTER_KEY": master_key(),
                "PASARELA_LISTEN": f"127.0.0.1:{port}", "PASARELA_DATA": str(data),
                "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([BIN, "serve"], stdout=log, stderr=log, env=env, cwd=tmp_path)
        try:
            deadline = time.time() + 15
            while not port_open(port):
                assert proc.poll() is None, log_path.read_text()
                assert time.time() < deadline, "did not listen on PASARELA_LISTEN's port"
                time.sleep(0.05)
            assert os.path.exists(data / "pasarela.db"), "PASARELA_DATA was not used"
        finally:
            proc.terminate()
            code = proc.wait(timeout=30)
    assert code == 0
    assert_no_sanitizer_reports(log_path.read_text())


# ---------------------------------------------------------------- health

def test_health_is_503_when_the_database_file_is_deleted(server):
    r = server.request("GET", "/health")
    assert r.status == 200 and r.json["store"] == "ok"
    os.remove(os.path.join(server.data_dir, "pasarela.db"))
    r = server.request("GET", "/health")
    assert r.status == 503, r
    assert r.json["store"] == "unavailable" and r.json["status"] != "ok"
    assert r.json["version"] and r.headers.get("request-id")


def test_sigterm_lets_a_slow_request_finish(tmp_path):
    """A request in flight when SIGTERM arrives still gets its answer."""
    import threading
    from conftest import Server
    s = Server(tmp_path / "data", extra_env={"PASARELA_PROVIDER_TIMEOUT_MS": "1500"})
    os.makedirs(s.data_dir, exist_ok=True)
    s.start()
    t = s.create_tenant()
    key = s.create_key(t["id"])["secret"]
    result = {}

    def slow():  # the sandbox's timeout outcome keeps the request busy for 1.5 s
        result["r"] = s.request("POST", "/v1/payments", {"amount": 100, "currency": "MXN",
                                                        "customer": {"email": "timeout@x.com"}},
                                key=key)

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.3)
    code = s.stop()
    th.join()
    assert code == 0
    assert result["r"].status == 504 and result["r"].json["error"]["code"] == "provider_timeout"
