"""Black-box fixtures: each test gets the real pasarela binary serving on a free loopback port
with a temporary data directory. PASARELA_BIN picks the binary (the Makefile runs the suite
once with the normal build and once with the sanitizer build)."""
import base64
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("PASARELA_BIN", os.path.join(ROOT, "build", "pasarela"))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<Response {self.status} {self.raw[:300]!r}>"


class Server:
    """One pasarela process. start()/stop() may be called again to test restarts."""

    def __init__(self, data_dir, extra_env=None):
        self.data_dir = str(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_key = "adm_" + secrets.token_hex(24)
        self.master_key = base64.b64encode(secrets.token_bytes(32)).decode()
        self.extra_env = extra_env or {}
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.logs = []

    def env(self):
        env = dict(os.environ)
        env.update({
            "PASARELA_ADMIN_KEY": self.admin_key,
            "PASARELA_MASTER_KEY": self.master_key,
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=0",
        })
        env.update(self.extra_env)
        return env

    def start(self, *args):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", self.data_dir, *args],
            stdout=self.log_file, stderr=self.log_file, env=self.env())
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"pasarela exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.request("GET", "/health").status in (200, 503):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("pasarela did not answer /health within 15 s")

    def stop(self, sig=signal.SIGTERM):
        """Stops the server; returns its exit code. A clean stop must exit 0."""
        if not self.proc:
            return None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        self.log_file.close()
        return code

    def kill(self):
        return self.stop(signal.SIGKILL)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method, path, body=None, key=None, headers=None, raw=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if key:
            h["Authorization"] = f"Bearer {key}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode())
        finally:
            conn.close()

    def admin(self, method, path, body=None, **kw):
        return self.request(method, path, body=body, key=self.admin_key, **kw)

    def cli(self, *args, env=None):
        """Runs a pasarela subcommand against this server's data directory."""
        e = self.env()
        e.update(env or {})
        return subprocess.run([BIN, *args, "--data", self.data_dir], capture_output=True,
                              text=True, env=e, timeout=120)

    def create_tenant(self, slug=None, **fields):
        body = {"slug": slug or "t-" + uuid.uuid4().hex[:12], "name": "Tenant"}
        body.update(fields)
        r = self.admin("POST", "/v1/tenants", body)
        assert r.status == 201, r
        return r.json

    def create_key(self, tenant_id, name="test"):
        r = self.admin("POST", f"/v1/tenants/{tenant_id}/keys", {"name": name})
        assert r.status == 201, r
        return r.json


def assert_no_sanitizer_reports(text):
    for marker in SANITIZER_MARKERS:
        assert marker not in text, f"sanitizer report in the server log:\n{text[-4000:]}"


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data")
    os.makedirs(s.data_dir, exist_ok=True)
    s.start()
    yield s
    code = s.stop()
    assert_no_sanitizer_reports(s.log())
    assert code in (0, None), f"pasarela exited with {code} on SIGTERM:\n{s.log()[-4000:]}"
