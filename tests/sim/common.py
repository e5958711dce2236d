"""Shared base of the provider simulators: a threaded HTTP server on loopback, the request log,
fault injection, idempotency bookkeeping, timed tasks and the webhook sender. Standard library
only. The provider modules (mercadopago.py, stripe.py) subclass SimBase; README.md describes
the public API."""

import heapq
import html
import http.client
import itertools
import json
import re
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 8 * 1024 * 1024

# --------------------------------------------------------------------------------------------
# JSON with exact decimals


def fmt_decimal(d):
    """The shortest plain decimal text of d: no exponent, no trailing zeros (100.50 -> 100.5,
    1E+2 -> 100, 0.00 -> 0)."""
    if not d.is_finite():
        raise ValueError(f"not a finite decimal: {d}")
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("", "-0"):
        s = "0"
    return s


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def json_loads(data):
    """Parses JSON bytes/str; non-integer numbers become Decimal (never float); NaN and
    Infinity are refused."""
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8")
    return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)


def json_dumps(obj, indent=None):
    """Serializes like json.dumps, but Decimal values are written as exact JSON numbers.
    indent=None gives compact output (no spaces); indent=2 gives Stripe's pretty form."""
    out = []
    _encode(obj, out, indent, 0)
    return "".join(out)


def _encode(o, out, indent, level):
    if o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, Decimal):
        out.append(fmt_decimal(o))
    elif isinstance(o, int):
        out.append(str(int(o)))
    elif isinstance(o, float):
        out.append(json.dumps(o, allow_nan=False))
    elif isinstance(o, str):
        out.append(json.dumps(o, ensure_ascii=False))
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        out.append("{")
        first = True
        for k, v in o.items():
            if not first:
                out.append(",")
            first = False
            if indent:
                out.append("\n" + " " * (indent * (level + 1)))
            out.append(json.dumps(str(k), ensure_ascii=False))
            out.append(": " if indent else ":")
            _encode(v, out, indent, level + 1)
        if indent:
            out.append("\n" + " " * (indent * level))
        out.append("}")
    elif isinstance(o, (list, tuple)):
        if not o:
            out.append("[]")
            return
        out.append("[")
        for i, v in enumerate(o):
            if i:
                out.append(",")
            if indent:
                out.append("\n" + " " * (indent * (level + 1)))
            _encode(v, out, indent, level + 1)
        if indent:
            out.append("\n" + " " * (indent * level))
        out.append("]")
    else:
        raise TypeError(f"cannot serialize {type(o).__name__}")


def to_decimal(value):
    """A JSON number (int or Decimal, never bool) as Decimal; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None


def round_half_up(d, places):
    """d rounded half up to `places` decimal places (places >= 0)."""
    return d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def has_places(d, places):
    """True when d needs no more than `places` decimal places (100.50 has 1, 100.0 has 0)."""
    try:
        return d == d.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:
        return False


# --------------------------------------------------------------------------------------------
# Requests and replies


class Request:
    """One request the simulator received. Attributes: method, path, query (dict: name ->
    first value), query_list (all (name, value) pairs in order), raw_query, headers (dict with
    lower-case names), body (bytes), parsed (the body as the provider reads it: a dict/list
    for JSON or form bodies, else None), time (unix seconds, wall clock), kind ("api", "page",
    "control" or "unknown"), status (the answer's status; None while running or when the
    connection was dropped), request_id (the id the simulator answered with)."""

    def __init__(self, method, target, headers, body, client=None):
        self.method = method
        split = urllib.parse.urlsplit(target)
        self.path = split.path or "/"
        self.raw_query = split.query
        self.query_list = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        self.query = {}
        for k, v in self.query_list:
            self.query.setdefault(k, v)
        self.headers = {}
        for k, v in headers:
            self.headers[k.lower()] = v
        self.body = body or b""
        self.parsed = None
        self.time = time.time()
        self.kind = None
        self.status = None
        self.request_id = None
        self.client = client

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __getitem__(self, key):
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key, default)

    def __repr__(self):
        q = f"?{self.raw_query}" if self.raw_query else ""
        return f"<Request {self.method} {self.path}{q} -> {self.status}>"


class Reply:
    """An answer: status, body bytes, extra headers (name -> value)."""

    def __init__(self, status, body=b"", headers=None, content_type="application/json"):
        self.status = status
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.body = body
        self.headers = dict(headers or {})
        if content_type and body is not None:
            self.headers.setdefault("Content-Type", content_type)

    def copy(self):
        r = Reply(self.status, self.body, self.headers, content_type=None)
        return r

    def json(self):
        return json_loads(self.body) if self.body else None

    def __repr__(self):
        return f"<Reply {self.status} {self.body[:200]!r}>"


DROP = object()  # dispatch answer: close the connection without answering


class Abort(Exception):
    """Raised by handler code to answer `reply` at once."""

    def __init__(self, reply):
        super().__init__(reply.status)
        self.reply = reply


class _Route:
    def __init__(self, method, pattern, fn, kind):
        self.method = method
        self.regex = re.compile("^" + pattern + "$")
        self.fn = fn
        self.kind = kind


# --------------------------------------------------------------------------------------------
# Timed tasks on one daemon thread


class _Worker:
    """Runs callables at given delays, one at a time, on one daemon thread."""

    def __init__(self, name, on_error):
        self.name = name
        self.on_error = on_error
        self._heap = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._busy = False
        self._stopped = False
        self._thread = None

    def start(self):
        with self._cond:
            self._stopped = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def call_later(self, delay, fn, *args):
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), fn, args))
            self._cond.notify_all()

    def _run(self):
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        _, _, fn, args = heapq.heappop(self._heap)
                        self._busy = True
                        break
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
            try:
                fn(*args)
            except Exception:  # a task's bug must not kill the worker
                self.on_error(f"task {getattr(fn, '__name__', fn)!r} failed", traceback.format_exc())
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def pending(self):
        with self._cond:
            return len(self._heap) + (1 if self._busy else 0)

    def wait_idle(self, timeout):
        with self._cond:
            return self._cond.wait_for(lambda: not self._heap and not self._busy, timeout)

    def stop(self, timeout):
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        t = self._thread
        if t and t is not threading.current_thread():
            t.join(timeout)


# --------------------------------------------------------------------------------------------
# HTTP server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # Connections closed by the peer (or by stop()) are routine here.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections are closed after this many seconds

    def setup(self):
        super().setup()
        self.server.sim._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.sim._track(self.connection, False)

    def log_message(self, fmt, *args):
        if self.server.sim.verbose:
            sys.stderr.write(f"[{self.server.sim.provider}] {self.address_string()} {fmt % args}\n")

    def version_string(self):
        return f"{self.server.sim.provider}-sim"

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    return None
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
        n = self.headers.get("Content-Length")
        if not n:
            return b""
        try:
            n = int(n)
        except ValueError:
            return None
        if n < 0 or n > MAX_BODY:
            return None
        return self.rfile.read(n)

    def _serve(self):
        sim = self.server.sim
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self.send_error(400, "bad request framing")
            return
        req = Request(self.command, self.path, self.headers.items(), body, self.client_address)
        reply = sim._dispatch(req)
        if reply is DROP:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(reply.body)))
        if sim._stopping.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve


# --------------------------------------------------------------------------------------------
# The base simulator


class SimBase:
    """Common machinery. Subclasses set `provider`, register routes in __init__ and implement
    error_reply(), fault_body() and not_found()."""

    provider = "sim"
    json_indent = None           # Stripe pretty-prints its JSON
    default_webhook_secret = "sim-webhook-secret"
    webhook_user_agent = "sim-webhooks/1.0"

    def __init__(self, host="127.0.0.1", port=0, webhook_secret=None, verbose=False):
        self.host = host
        self.port = port
        self.public_url = None   # set to override .url (e.g. when serving on 0.0.0.0)
        self.verbose = verbose
        self.lock = threading.RLock()
        self._routes = []
        self._server = None
        self._thread = None
        self._conns = set()
        self._stopping = threading.Event()
        self._local = threading.local()
        self._on_error = self._record_error
        self._timers = _Worker(f"{self.provider}-sim-timers", self._record_error)
        self._hooks = _Worker(f"{self.provider}-sim-webhooks", self._record_error)
        # observation
        self.requests = []
        self.errors = []             # internal errors of the simulator itself (should stay empty)
        # faults
        self._faults = []
        self.delay_ms = 0
        self.work_delay_ms = 0
        self.down = False
        # time
        self.clock_offset = 0.0
        # idempotency
        self._idem = {}
        self.idempotency_ttl = 24 * 3600
        self.idempotency_conflict_status = 409
        # webhooks
        self.webhook_secrets = [webhook_secret or self.default_webhook_secret]
        self.webhook_deliveries = []
        self.webhook_log = []
        self.webhook_max_attempts = 4
        self.webhook_retry_interval = 0.2
        self.webhook_timeout = 5.0
        self.webhooks_paused = False
        self._add_control_routes()

    # ---- lifecycle

    def start(self):
        """Binds host:port (port 0 = a free one) and serves on daemon threads."""
        if self._server:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler)
        self._server.sim = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.provider}-sim-http", daemon=True)
        self._thread.start()
        self._timers = _Worker(f"{self.provider}-sim-timers", self._record_error)
        self._hooks = _Worker(f"{self.provider}-sim-webhooks", self._record_error)
        self._timers.start()
        self._hooks.start()
        return self

    def stop(self):
        """Stops serving, drops pending timers and webhook deliveries, closes open
        connections. Idempotent."""
        if not self._server:
            return
        self._stopping.set()
        self._timers.stop(2.0)
        self._hooks.stop(self.webhook_timeout + 1.0)
        self._server.shutdown()
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(2.0)
        self._server = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        if self.public_url:
            return self.public_url.rstrip("/")
        if not self._server:
            raise RuntimeError(f"{self.provider} simulator not started")
        host = self.host if self.host not in ("0.0.0.0", "") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    def _track(self, conn, add):
        with self.lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # ---- time

    def now(self):
        """Unix seconds as the provider sees them: wall clock + clock_offset. Tests may
        replace it: sim.now = lambda: 1700000000.0."""
        return time.time() + self.clock_offset

    def advance(self, seconds):
        """Moves the simulator's clock (the default now()) forward."""
        self.clock_offset += seconds

    # ---- observation

    def count(self, method=None, path_prefix=""):
        """How many recorded requests have this method (None: any) and a path starting with
        path_prefix."""
        with self.lock:
            return sum(1 for r in self.requests
                       if (method is None or r.method == method.upper()) and r.path.startswith(path_prefix))

    def requests_to(self, method=None, path_prefix=""):
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method.upper()) and r.path.startswith(path_prefix)]

    def clear_requests(self):
        with self.lock:
            self.requests.clear()

    def wait_for(self, predicate, timeout=5.0, interval=0.01):
        """Polls predicate() until it returns something truthy or timeout passes; returns its
        last value."""
        deadline = time.monotonic() + timeout
        while True:
            v = predicate()
            if v or time.monotonic() >= deadline:
                return v
            time.sleep(interval)

    def wait_webhooks(self, timeout=5.0):
        """Waits until no webhook delivery (first try or retry) is queued or running. True if
        that happened within timeout."""
        return self._hooks.wait_idle(timeout)

    def _record_error(self, what, tb):
        with self.lock:
            self.errors.append(f"{what}\n{tb}")
        sys.stderr.write(f"[{self.provider}-sim] {what}\n{tb}\n")

    # ---- faults

    def fail_next(self, n=1, status=500, body=None):
        """The next n API requests answer `status` with the provider's error shape (or with
        `body`: a dict is sent as JSON, str/bytes as is) without doing anything."""
        with self.lock:
            self._faults.extend([(status, body)] * n)

    def reset_faults(self):
        with self.lock:
            self._faults.clear()
            self.delay_ms = 0
            self.work_delay_ms = 0
            self.down = False

    def _take_fault(self):
        with self.lock:
            return self._faults.pop(0) if self._faults else None

    def fault_reply(self, status, body):
        if body is None:
            reply = self.fault_body(status)
        elif isinstance(body, (dict, list)):
            reply = self.reply(status, body)
        else:
            reply = Reply(status, body)
        if status == 429:
            reply.headers.setdefault("Retry-After", "1")
        return reply

    # ---- replies (subclasses override the provider-specific parts)

    def reply(self, status, obj, headers=None):
        return Reply(status, json_dumps(obj, self.json_indent) + ("\n" if self.json_indent else ""), headers)

    def error_reply(self, status, message, **kw):
        raise NotImplementedError

    def fault_body(self, status):
        return self.error_reply(status, "simulated failure")

    def not_found(self, req):
        return self.error_reply(404, f"unknown resource {req.method} {req.path}")

    def new_request_id(self):
        return str(uuid.uuid4())

    def finish_reply(self, req, reply):
        """Hook: adds provider headers (request ids) to every answer."""
        return reply

    def html_reply(self, status, title, body_html):
        page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}"
                "button{margin:.3em;padding:.5em 1em}</style></head>"
                f"<body><h1>{html.escape(title)}</h1>{body_html}</body></html>")
        return Reply(status, page, content_type="text/html; charset=utf-8")

    def redirect(self, location):
        return Reply(302, b"", {"Location": location}, content_type=None)

    # ---- routing

    def route(self, method, pattern, fn, kind="api"):
        """Registers fn(req, **groups) for method and a path regex (anchored)."""
        self._routes.append(_Route(method, pattern, fn, kind))

    def _match(self, req):
        for r in self._routes:
            if r.method != req.method and not (r.method == "GET" and req.method == "HEAD"):
                continue
            m = r.regex.match(req.path)
            if m:
                return r, m.groupdict()
        return None, {}

    @property
    def current_request(self):
        """The API request being handled on this thread (None elsewhere)."""
        return getattr(self._local, "req", None)

    def _dispatch(self, req):
        route, params = self._match(req)
        req.kind = route.kind if route else "unknown"
        with self.lock:
            self.requests.append(req)
        if req.kind != "control" and self.down:
            return DROP
        self._local.req = req
        req.request_id = self.new_request_id()
        try:
            fault = self._take_fault() if req.kind in ("api", "unknown") else None
            if fault:
                reply = self.fault_reply(*fault)
            elif route is None:
                reply = self.not_found(req)
            else:
                try:
                    reply = route.fn(req, **params)
                except Abort as a:
                    reply = a.reply
                except Exception:
                    self._record_error(f"handler for {req.method} {req.path} failed", traceback.format_exc())
                    reply = self.error_reply(500, "internal simulator error")
            reply = self.finish_reply(req, reply)
            req.status = reply.status
            if req.kind in ("api", "unknown") and self.delay_ms:
                self._stopping.wait(self.delay_ms / 1000.0)
            return reply
        finally:
            self._local.req = None

    # ---- idempotency

    def idempotent(self, scope, key, fingerprint, fn, mismatch=None, store=None):
        """Runs fn() once per (scope, key) and replays its reply afterwards.
        - another request with the key still running: idempotency_conflict_status (409);
        - a finished one: mismatch(key) if given and the fingerprint differs, else a replay
          (replay_reply());
        - store(reply) decides whether a reply is kept (default: 2xx and 5xx; a 4xx
          validation error leaves the key unused)."""
        k = (scope, key)
        with self.lock:
            e = self._idem.get(k)
            if e and e["state"] == "done" and self.now() - e["created"] > self.idempotency_ttl:
                del self._idem[k]
                e = None
            if e:
                if e["state"] == "running":
                    return self.idempotency_conflict(key)
                if mismatch and e["fingerprint"] != fingerprint:
                    return mismatch(key)
                return self.replay_reply(e["reply"])
            self._idem[k] = {"state": "running", "fingerprint": fingerprint, "created": self.now(), "reply": None}
        reply = None
        try:
            if self.work_delay_ms:
                self._stopping.wait(self.work_delay_ms / 1000.0)
            reply = fn()
            return reply
        finally:
            with self.lock:
                keep = reply is not None and (store(reply) if store else
                                              (200 <= reply.status < 300 or reply.status >= 500))
                if keep:
                    self._idem[k].update(state="done", reply=reply.copy())
                else:
                    self._idem.pop(k, None)

    def idempotent_running(self):
        """How many requests currently hold an idempotency key (for tests of concurrency)."""
        with self.lock:
            return sum(1 for e in self._idem.values() if e["state"] == "running")

    def idempotency_conflict(self, key):
        return self.error_reply(self.idempotency_conflict_status,
                                f"a request with idempotency key {key!r} is still being processed")

    def replay_reply(self, reply):
        return reply.copy()

    # ---- webhooks

    @property
    def webhook_secret(self):
        """The current webhook secret (the last of webhook_secrets); setting it replaces the
        list."""
        return self.webhook_secrets[-1] if self.webhook_secrets else None

    @webhook_secret.setter
    def webhook_secret(self, value):
        self.webhook_secrets = [value]

    def webhook_ok(self, status):
        return status is not None and 200 <= status < 300

    def deliver(self, url, body, headers, attempt=0, label=None):
        """POSTs body to url once, synchronously. Records (url, status) in webhook_deliveries
        (status None when there was no HTTP answer) and details in webhook_log; returns the
        status."""
        status, err, answer = None, None, b""
        conn = None
        try:
            u = urllib.parse.urlsplit(url)
            if u.scheme == "https":
                conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=self.webhook_timeout,
                                                   context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=self.webhook_timeout)
            path = (u.path or "/") + (f"?{u.query}" if u.query else "")
            conn.request("POST", path, body=body, headers=headers)
            r = conn.getresponse()
            answer = r.read(65536)
            status = r.status
        except (OSError, http.client.HTTPException, ValueError) as e:
            err = f"{type(e).__name__}: {e}"
        finally:
            if conn:
                conn.close()
        with self.lock:
            self.webhook_deliveries.append((url, status))
            self.webhook_log.append({"url": url, "status": status, "error": err, "attempt": attempt,
                                     "label": label, "headers": dict(headers), "body": body,
                                     "answer": answer, "time": time.time()})
        return status

    def queue_webhook(self, url, body, headers_fn, label=None):
        """Delivers in the background: headers_fn(attempt) gives the headers of each attempt;
        non-2xx answers (see webhook_ok) are retried up to webhook_max_attempts in all,
        webhook_retry_interval seconds apart."""
        job = {"url": url, "body": body, "headers_fn": headers_fn, "attempt": 0, "label": label}
        self._hooks.call_later(0, self._attempt, job)

    def _attempt(self, job):
        if self.webhooks_paused:
            self._hooks.call_later(0.05, self._attempt, job)
            return
        status = self.deliver(job["url"], job["body"], job["headers_fn"](job["attempt"]),
                              attempt=job["attempt"], label=job["label"])
        if not self.webhook_ok(status):
            job["attempt"] += 1
            if job["attempt"] < self.webhook_max_attempts:
                self._hooks.call_later(self.webhook_retry_interval, self._attempt, job)

    def call_later(self, delay, fn, *args):
        """Runs fn(*args) on the simulator's timer thread after delay seconds (dropped at
        stop())."""
        self._timers.call_later(delay, fn, *args)

    # ---- control endpoints (never subject to faults)

    def _add_control_routes(self):
        self.route("GET", r"/__sim/?", self._ctl_index, "control")
        self.route("GET", r"/__sim/requests", self._ctl_requests, "control")
        self.route("GET", r"/__sim/webhooks", self._ctl_webhooks, "control")
        self.route("POST", r"/__sim/faults", self._ctl_faults, "control")

    def describe(self):
        """A JSON-able summary for GET /__sim (subclasses extend it)."""
        return {"provider": self.provider, "url": self.url, "requests": len(self.requests),
                "webhook_deliveries": len(self.webhook_deliveries), "errors": len(self.errors)}

    def _ctl_index(self, req):
        if "text/html" in req.header("accept", ""):
            return self.html_index()
        return Reply(200, json_dumps(self.describe(), 2))

    def html_index(self):
        return self.html_reply(200, f"{self.provider} simulator",
                               f"<pre>{html.escape(json_dumps(self.describe(), 2))}</pre>")

    def _ctl_requests(self, req):
        with self.lock:
            rows = [{"method": r.method, "path": r.path, "query": r.raw_query, "status": r.status,
                     "kind": r.kind, "time": r.time} for r in self.requests]
        return Reply(200, json_dumps(rows, 2))

    def _ctl_webhooks(self, req):
        with self.lock:
            rows = [{k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
                     for k, v in e.items()} for e in self.webhook_log]
        return Reply(200, json_dumps(rows, 2))

    def _ctl_faults(self, req):
        try:
            body = json_loads(req.body or b"{}")
        except ValueError:
            return Reply(400, json_dumps({"error": "invalid JSON"}))
        if body.get("reset"):
            self.reset_faults()
        if "fail_next" in body:
            self.fail_next(int(body["fail_next"]), int(body.get("status", 500)))
        if "delay_ms" in body:
            self.delay_ms = int(body["delay_ms"])
        if "down" in body:
            self.down = bool(body["down"])
        return Reply(200, json_dumps({"pending_failures": len(self._faults), "delay_ms": self.delay_ms,
                                      "down": self.down}))


# --------------------------------------------------------------------------------------------
# A tiny webhook receiver (for the simulators' own tests, or any test that needs an endpoint)


class WebhookReceiver:
    """Collects POSTs on 127.0.0.1:<free port>. `statuses` is a list of statuses to answer in
    turn (the last one repeats; default [200]). received: list of Request."""

    def __init__(self, statuses=None):
        self.statuses = list(statuses or [200])
        self.received = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        receiver = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                req = Request("POST", self.path, self.headers.items(), body)
                with receiver._cond:
                    receiver.received.append(req)
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = _Server(("127.0.0.1", 0), H)
        self._server.sim = None
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="webhook-receiver")
        self._thread.start()

    def wait(self, n, timeout=5.0):
        """Waits until at least n requests arrived; returns the list (a copy)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= n, timeout)
            return list(self.received)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
