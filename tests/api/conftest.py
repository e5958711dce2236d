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
from concurrent.futures import ThreadPoolExecutor

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("PASARELA_BIN", os.path.join(ROOT, "build", "pasarela")))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
# Data directories of servers stopped during the current test module: `pasarela ledger check`
# runs on each when the module ends (see ledger_check_after_module).
STOPPED_DATA_DIRS = set()
LEDGER_CHECK_PARALLEL = 4


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

    def __init__(self, data_dir, extra_env=None, log_path=None, stdout_path=None):
        """log_path: where stderr (and stdout, unless stdout_path) go; default
        data_dir/server.log. stdout_path: keep stdout apart (see stdout())."""
        self.data_dir = str(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_key = "adm_" + secrets.token_hex(24)
        self.master_key = base64.b64encode(secrets.token_bytes(32)).decode()
        self.extra_env = extra_env or {}
        self.proc = None
        self.log_path = str(log_path) if log_path else os.path.join(self.data_dir, "server.log")
        self.stdout_path = str(stdout_path) if stdout_path else None
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
        self.out_file = open(self.stdout_path, "ab") if self.stdout_path else self.log_file
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", self.data_dir, *args],
            stdout=self.out_file, stderr=self.log_file, env=self.env())
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
        STOPPED_DATA_DIRS.add(self.data_dir)
        self.log_file.close()
        if self.out_file is not self.log_file:
            self.out_file.close()
        return code

    def kill(self):
        return self.stop(signal.SIGKILL)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout(self):
        """What the server wrote on stdout, when started with a stdout_path."""
        with open(self.stdout_path, "rb") as f:
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


def assert_clean_stop(s):
    """Stops s with SIGTERM; asserts exit 0 and no sanitizer report in its log."""
    code = s.stop()
    assert_no_sanitizer_reports(s.log())
    assert code in (0, None), f"pasarela exited with {code} on SIGTERM:\n{s.log()[-4000:]}"


ERROR_TYPES = {400: "invalid_request_error", 404: "invalid_request_error",
               409: "invalid_request_error", 413: "invalid_request_error",
               405: "invalid_request_error", 422: "invalid_request_error",
               401: "authentication_error", 403: "permission_error", 429: "rate_limit_error",
               500: "api_error"}
NO_PARAM = object()


def assert_error(r, status, code, param=NO_PARAM):
    """r is an error of DESIGN.md's shape with this status and code; param, when given, is
    the field it names (None: the error names no field)."""
    assert r.status == status, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    assert isinstance(r.json, dict) and set(r.json) == {"error"}, r
    e = r.json["error"]
    assert {"type", "code", "message", "request_id"} <= set(e), e
    assert set(e) <= {"type", "code", "message", "param", "request_id"}, e
    assert e["code"] == code, e
    if status in ERROR_TYPES:
        assert e["type"] == ERROR_TYPES[status], e
    assert isinstance(e["message"], str) and len(e["message"]) > 5, e
    assert e["request_id"] and e["request_id"] == r.headers.get("request-id"), (e, r.headers)
    if param is not NO_PARAM:
        assert e.get("param") == param, e
    return e


def raw_http(port, data, timeout=20):
    """Sends data (bytes) on a fresh connection and reads one response.
    Returns (status, headers with lower-case names, body bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        try:
            c.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before it has read everything
        out = b""
        while True:
            head, sep, body = out.partition(b"\r\n\r\n")
            if sep:
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length", "-1"))
                if 0 <= n <= len(body):
                    return int(lines[0].split()[1]), headers, body[:n]
            try:
                chunk = c.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"connection closed before a full response: {out[:300]!r}")
            out += chunk


def ledger_check(data_dir):
    """Runs `pasarela ledger check` on a stopped server's data directory."""
    return subprocess.run([BIN, "ledger", "check", "--data", data_dir], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module", autouse=True)
def ledger_check_after_module():
    """After every test module, proves the ledger's invariants in the store of every server the
    module ran (skipping stores a test deleted), a few checks at a time."""
    STOPPED_DATA_DIRS.clear()
    yield
    dirs = sorted(d for d in STOPPED_DATA_DIRS if os.path.exists(os.path.join(d, "pasarela.db")))
    STOPPED_DATA_DIRS.clear()
    with ThreadPoolExecutor(LEDGER_CHECK_PARALLEL) as pool:
        results = list(pool.map(ledger_check, dirs))
    failed = [(d, r) for d, r in zip(dirs, results) if r.returncode != 0]
    assert not failed, "ledger check failed:\n" + "\n".join(
        f"{d}: exit {r.returncode}\n{r.stdout}{r.stderr}" for d, r in failed)


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data")
    os.makedirs(s.data_dir, exist_ok=True)
    s.start()
    yield s
    assert_clean_stop(s)


@pytest.fixture
def server_factory(tmp_path):
    """Makes more servers (not started) in their own directories under tmp_path; stops any
    still running at teardown and checks that they exit cleanly."""
    made = []

    def make(name="srv", extra_env=None, separate_stdout=False):
        base = tmp_path / f"{name}{len(made)}"
        os.makedirs(base / "data")
        s = Server(base / "data", extra_env=extra_env, log_path=base / "server.log",
                   stdout_path=(base / "stdout.log") if separate_stdout else None)
        made.append(s)
        return s

    yield make
    for s in made:
        if s.proc:
            assert_clean_stop(s)
