"""Stripe simulator: PaymentIntents, charges with balance transactions, refunds, events and
signed webhooks, Connect (Stripe-Account header and OAuth for standard accounts), following
/work/shared/PROVIDERS.md section 2. See README.md for the API and for what is faithful and
what is simplified.

    sim = StripeSim(webhook_url="http://127.0.0.1:8080/webhooks/stripe").start()
    sim.url            # -> PASARELA_STRIPE_API_URL
    sim.secret_key     # "sk_test_sim"
    ...
    sim.stop()

Standalone: cd tests && python3 -m sim.stripe --port 8091 --webhook-url http://...
"""

import argparse
import base64
import copy
import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import signal
import string
import threading
import urllib.parse
from decimal import Decimal

from .common import Abort, Reply, SimBase, json_dumps, json_loads, round_half_up

API_VERSION = "2026-06-24.dahlia"
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
                "xaf", "xof", "xpf"}
CURRENCIES = ZERO_DECIMAL | {"usd", "eur", "gbp", "mxn", "brl", "ars", "cop", "pen", "uyu", "cad", "aud", "chf",
                             "nzd", "sek", "nok", "dkk", "pln", "czk", "huf", "ron", "sgd", "hkd", "inr", "zar"}
# Minimum charge amounts (minor units) of the main currencies; others only need >= 1.
MINIMUMS = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "mxn": 1000, "brl": 50,
            "jpy": 50, "nzd": 50, "sgd": 50, "hkd": 400}

# Test PaymentMethods: (code, decline_code, message, last4)
DECLINES = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined.", "0002"),
    "pm_card_visa_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined.", "0002"),
    "pm_card_chargeDeclinedInsufficientFunds": ("card_declined", "insufficient_funds",
                                                "Your card has insufficient funds.", "9995"),
    "pm_card_visa_chargeDeclinedInsufficientFunds": ("card_declined", "insufficient_funds",
                                                     "Your card has insufficient funds.", "9995"),
    "pm_card_chargeDeclinedFraudulent": ("card_declined", "fraudulent", "Your card was declined.", "0019"),
    "pm_card_visa_chargeDeclinedFraudulent": ("card_declined", "fraudulent", "Your card was declined.", "0019"),
    "pm_card_visa_chargeDeclinedLostCard": ("card_declined", "lost_card", "Your card was declined.", "9987"),
    "pm_card_visa_chargeDeclinedStolenCard": ("card_declined", "stolen_card", "Your card was declined.", "9979"),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "expired_card", "Your card has expired.", "0069"),
    "pm_card_chargeDeclinedIncorrectCvc": ("incorrect_cvc", "incorrect_cvc",
                                           "Your card's security code is incorrect.", "0127"),
    "pm_card_chargeDeclinedProcessingError": ("processing_error", "processing_error",
                                              "An error occurred while processing your card. Try again in a little bit.",
                                              "0119"),
}
DECLINE_CODES = {d[1]: d for d in DECLINES.values()}
ACTION_REQUIRED = {"pm_card_authenticationRequired", "pm_card_threeDSecure2Required",
                   "pm_card_authenticationRequiredOnSetup"}
BRANDS = {"visa": ("visa", "4242", "credit"), "visa_debit": ("visa", "5556", "debit"),
          "mastercard": ("mastercard", "4444", "credit"), "mastercard_debit": ("mastercard", "8210", "debit"),
          "amex": ("amex", "8431", "credit"), "discover": ("discover", "1117", "credit"),
          "diners": ("diners", "0004", "credit"), "jcb": ("jcb", "0505", "credit"),
          "unionpay": ("unionpay", "0005", "credit"), "mx": ("visa", "0008", "credit"),
          "br": ("visa", "0002", "credit"), "us": ("visa", "0000", "credit")}

PI_CREATE_PARAMS = {
    "amount", "currency", "amount_details", "application_fee_amount", "automatic_payment_methods",
    "capture_method", "confirm", "confirmation_method", "confirmation_token", "customer", "description",
    "error_on_requires_action", "excluded_payment_method_types", "expand", "hooks", "mandate", "mandate_data",
    "metadata", "off_session", "on_behalf_of", "payment_details", "payment_method", "payment_method_configuration",
    "payment_method_data", "payment_method_options", "payment_method_types", "radar_options", "receipt_email",
    "return_url", "setup_future_usage", "shipping", "statement_descriptor", "statement_descriptor_suffix",
    "transfer_data", "transfer_group", "use_stripe_sdk"}
PI_UPDATE_PARAMS = {"amount", "currency", "application_fee_amount", "capture_method", "customer", "description",
                    "expand", "metadata", "payment_method", "payment_method_data", "payment_method_options",
                    "payment_method_types", "receipt_email", "setup_future_usage", "shipping",
                    "statement_descriptor", "statement_descriptor_suffix", "transfer_data", "transfer_group"}
PI_CONFIRM_PARAMS = {"payment_method", "return_url", "expand", "off_session", "error_on_requires_action",
                     "mandate", "mandate_data", "payment_method_data", "payment_method_options",
                     "payment_method_types", "receipt_email", "setup_future_usage", "shipping", "use_stripe_sdk",
                     "capture_method", "confirmation_token", "radar_options"}
REFUND_PARAMS = {"payment_intent", "charge", "amount", "reason", "metadata", "refund_application_fee",
                 "reverse_transfer", "instructions_email", "expand", "origin", "currency", "customer"}
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action")

_ALNUM = string.ascii_letters + string.digits


def _rand(n):
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


# --------------------------------------------------------------------------------------------
# Stripe-Signature (PROVIDERS.md 2.1)


def stripe_signature(secret, timestamp, payload):
    """Lowercase hex HMAC-SHA256 of `<timestamp>.<payload>`, keyed with the secret string's
    UTF-8 bytes (whsec_ prefix included)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return hmac.new(secret.encode("utf-8"), f"{int(timestamp)}.".encode() + payload, hashlib.sha256).hexdigest()


def stripe_signature_header(secrets_, timestamp, payload):
    """`t=<timestamp>,v1=<hex>[,v1=<hex>...]`, one v1 per secret (a str is one secret)."""
    if isinstance(secrets_, str):
        secrets_ = [secrets_]
    return f"t={int(timestamp)}," + ",".join(f"v1={stripe_signature(s, timestamp, payload)}" for s in secrets_)


def stripe_verify(header, payload, secrets_, tolerance=300, now=None):
    """Receiver-side check as stripe-python does it: any v1 matches any secret, then (if
    tolerance) the timestamp is not older than tolerance seconds."""
    if isinstance(secrets_, str):
        secrets_ = [secrets_]
    t, v1s = None, []
    for item in (header or "").split(","):
        k, sep, v = item.partition("=")
        if not sep:
            continue
        if k.strip() == "t" and t is None:
            t = v.strip()
        elif k.strip() == "v1":
            v1s.append(v.strip())
    if t is None or not t.lstrip("-").isdigit() or not v1s:
        return False
    ok = False
    for s in secrets_:
        expected = stripe_signature(s, int(t), payload)
        for v in v1s:
            ok |= hmac.compare_digest(expected, v)
    if ok and tolerance and now is not None:
        ok = int(t) >= now - tolerance
    return ok


# --------------------------------------------------------------------------------------------
# Form encoding (PROVIDERS.md 2.3)


def _split_key(key):
    m = re.match(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$", key)
    if not m:
        return [key]
    return [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))


def _listify(node):
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def parse_form(text):
    """Decodes Stripe's form encoding: `a[b]=1` -> {"a": {"b": "1"}}, `a[0]=x&a[1]=y` or
    `a[]=x&a[]=y` -> {"a": ["x", "y"]}. Values stay strings."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    root = {}
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        parts = _split_key(key)
        cur = root
        for part in parts[:-1]:
            if part == "":
                part = str(len(cur))
            nxt = cur.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                cur[part] = nxt
            cur = nxt
        last = parts[-1]
        if last == "":
            last = str(len(cur))
        cur[last] = value
    return _listify(root)


def encode_form(params, prefix=None):
    """The inverse, as the Stripe SDKs encode (arrays always indexed). For tests."""
    pairs = []

    def walk(v, name):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{name}[{k}]")
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(x, f"{name}[{i}]")
        elif v is None:
            return
        elif isinstance(v, bool):
            pairs.append((name, "true" if v else "false"))
        else:
            pairs.append((name, str(v)))

    for k, v in params.items():
        walk(v, f"{prefix}[{k}]" if prefix else k)
    return urllib.parse.urlencode(pairs)


def _ordered(d):
    """Stripe's key order: id, object, then alphabetical."""
    out = {}
    for k in ("id", "object"):
        if k in d:
            out[k] = d[k]
    for k in sorted(d):
        if k not in out:
            out[k] = d[k]
    return out


class StripeSim(SimBase):
    """In-process Stripe. See README.md for the full API."""

    provider = "stripe"
    json_indent = 2
    default_webhook_secret = "whsec_sim_secret"
    webhook_user_agent = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"

    def __init__(self, host="127.0.0.1", port=0, secret_key="sk_test_sim", webhook_secret=None,
                 webhook_url=None, client_id="ca_sim_platform", platform_account="acct_1SimPlatform0000",
                 verbose=False):
        super().__init__(host, port, webhook_secret, verbose)
        self.api_version = API_VERSION
        self.webhook_url = webhook_url
        self.connect_webhook_url = None       # None: connected accounts' events go to webhook_url
        self.connect_webhook_secrets = None   # None: signed with webhook_secrets
        self.enabled_events = ["*"]
        self.fee_percent = Decimal("2.9")
        self.fee_fixed = 30
        self.client_id = client_id
        self.redirect_uris = []               # empty: any redirect_uri is accepted
        self.code_ttl = 300
        self.platform_account = platform_account
        self.publishable_key = "pk_test_sim"
        self.accounts = {}
        self.keys = {}
        self.objects = {}                     # every resource by id
        self.events = []
        self.codes = {}
        self.refresh_tokens = {}
        self._oauth_next = []
        self._seq = itertools.count(1)
        self.accounts[platform_account] = self._new_account(platform_account, platform=True)
        self._secret_key = None
        self.secret_key = secret_key

        r = self.route
        r("POST", r"/v1/payment_intents", lambda req: self._post(req, self._pi_create))
        r("GET", r"/v1/payment_intents", self._pi_list)
        r("GET", r"/v1/payment_intents/(?P<oid>[^/]+)", self._pi_get)
        r("POST", r"/v1/payment_intents/(?P<oid>[^/]+)", lambda req, oid: self._post(req, self._pi_update, oid))
        r("POST", r"/v1/payment_intents/(?P<oid>[^/]+)/confirm",
          lambda req, oid: self._post(req, self._pi_confirm, oid))
        r("POST", r"/v1/payment_intents/(?P<oid>[^/]+)/cancel",
          lambda req, oid: self._post(req, self._pi_cancel, oid))
        r("POST", r"/v1/payment_intents/(?P<oid>[^/]+)/capture",
          lambda req, oid: self._post(req, self._pi_capture, oid))
        r("GET", r"/v1/charges", self._charge_list)
        r("GET", r"/v1/charges/(?P<oid>[^/]+)", lambda req, oid: self._get(req, oid, "charge", "charge"))
        r("GET", r"/v1/balance_transactions/(?P<oid>[^/]+)",
          lambda req, oid: self._get(req, oid, "balance_transaction", "id"))
        r("GET", r"/v1/payment_methods/(?P<oid>[^/]+)",
          lambda req, oid: self._get(req, oid, "payment_method", "payment_method"))
        r("POST", r"/v1/refunds", lambda req: self._post(req, self._refund_create))
        r("GET", r"/v1/refunds", self._refund_list)
        r("GET", r"/v1/refunds/(?P<oid>[^/]+)", lambda req, oid: self._get(req, oid, "refund", "refund"))
        r("GET", r"/v1/disputes/(?P<oid>[^/]+)", lambda req, oid: self._get(req, oid, "dispute", "dispute"))
        r("GET", r"/v1/events", self._event_list)
        r("GET", r"/v1/events/(?P<oid>[^/]+)", lambda req, oid: self._get(req, oid, "event", "id"))
        r("GET", r"/v1/account", self._account_get)
        r("GET", r"/v1/accounts/(?P<oid>[^/]+)", self._account_get)
        r("GET", r"/oauth/authorize", self._oauth_authorize, "page")
        r("POST", r"/oauth/token", self._oauth_token)
        r("POST", r"/oauth/deauthorize", self._oauth_deauthorize)
        r("POST", r"/__sim/payment_intents/(?P<oid>[^/]+)/pay", self._ctl_pay, "control")

    # ---------------------------------------------------------------- keys and accounts

    @property
    def secret_key(self):
        """The platform's secret key (default "sk_test_sim"); settable."""
        return self._secret_key

    @secret_key.setter
    def secret_key(self, value):
        with self.lock:
            if self._secret_key:
                self.keys.pop(self._secret_key, None)
            self._secret_key = value
            self.keys[value] = {"account": self.platform_account, "oauth": False, "revoked": False}

    def _new_account(self, acct_id, platform=False, email=None, country="US", default_currency="usd"):
        return {"id": acct_id, "platform": platform, "connected": False, "email": email or f"{acct_id.lower()}@example.com",
                "country": country, "default_currency": default_currency, "created": int(self.now()),
                "publishable_key": f"pk_test_{_rand(24)}", "refresh_token": None}

    def add_connected_account(self, account_id=None, email=None, country="US", default_currency="usd"):
        """Creates (or reconnects) a standard account connected to the platform, as if it had
        gone through OAuth. Returns {"id", "secret_key", "publishable_key", "refresh_token"};
        the secret key is the account's OAuth access token."""
        with self.lock:
            acct_id = account_id or f"acct_1{_rand(15)}"
            a = self.accounts.get(acct_id)
            if not a:
                a = self.accounts[acct_id] = self._new_account(acct_id, email=email, country=country,
                                                               default_currency=default_currency)
            tok = self._connect(a, code=None)
            return {"id": acct_id, "secret_key": tok["access_token"], "publishable_key": a["publishable_key"],
                    "refresh_token": tok["refresh_token"]}

    def _connect(self, a, code):
        a["connected"] = True
        access = f"sk_test_{_rand(24)}"
        self.keys[access] = {"account": a["id"], "oauth": True, "revoked": False, "code": code}
        if not a["refresh_token"]:
            a["refresh_token"] = f"rt_{_rand(24)}"
            self.refresh_tokens[a["refresh_token"]] = a["id"]
        return {"access_token": access, "livemode": False, "refresh_token": a["refresh_token"], "scope": "read_write",
                "stripe_publishable_key": a["publishable_key"], "stripe_user_id": a["id"], "token_type": "bearer"}

    def _disconnect(self, a):
        a["connected"] = False
        for k in self.keys.values():
            if k["account"] == a["id"] and k["oauth"]:
                k["revoked"] = True
        if a["refresh_token"]:
            self.refresh_tokens.pop(a["refresh_token"], None)
            a["refresh_token"] = None

    @staticmethod
    def _mask(key):
        return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "*" * len(key)

    def _auth(self, req):
        h = req.header("authorization", "")
        key = None
        if h[:7].lower() == "bearer ":
            key = h[7:].strip()
        elif h[:6].lower() == "basic ":
            try:
                key = base64.b64decode(h[6:].strip()).decode("utf-8").split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = None
        if not key:
            raise Abort(self.error_reply(401, "You did not provide an API key. You need to provide your API key in "
                                              "the Authorization header, using Bearer auth (e.g. 'Authorization: "
                                              "Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication "
                                              "for details, or we can help at https://support.stripe.com/."))
        with self.lock:
            k = self.keys.get(key)
            if not k or k["revoked"]:
                raise Abort(self.error_reply(401, f"Invalid API Key provided: {self._mask(key)}"))
            owner = self.accounts[k["account"]]
            hdr = req.header("stripe-account")
            denied = Abort(self.error_reply(
                403, f"The provided key '{self._mask(key)}' does not have access to account '{hdr}' (or that account "
                     "does not exist). Application access may have been revoked.", code="account_invalid"))
            if owner["platform"]:
                if hdr:
                    a = self.accounts.get(hdr)
                    if hdr == owner["id"]:
                        return {"account": owner["id"], "connect": False, "key": key}
                    if not a or not a["connected"]:
                        raise denied
                    return {"account": hdr, "connect": True, "key": key}
                return {"account": owner["id"], "connect": False, "key": key}
            if hdr and hdr != owner["id"]:
                raise denied
            return {"account": owner["id"], "connect": True, "key": key}

    # ---------------------------------------------------------------- replies

    def new_request_id(self):
        return f"req_{_rand(14)}"

    def error_reply(self, status, message, type=None, code=None, param=None, decline_code=None, extra=None,
                    headers=None):
        req = self.current_request
        err = {}
        if code:
            err["code"] = code
        if decline_code:
            err["decline_code"] = decline_code
        if code:
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        err["message"] = message
        if param:
            err["param"] = param
        if req is not None and req.request_id:
            err["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{req.request_id}?t={int(self.now())}"
        err["type"] = type or ("card_error" if status == 402 else "api_error" if status >= 500
                               else "invalid_request_error")
        err.update(extra or {})
        return self.reply(status, {"error": dict(sorted(err.items()))}, headers)

    def _bad(self, message, param=None, code=None, status=400):
        return Abort(self.error_reply(status, message, code=code, param=param))

    def fault_body(self, status):
        if status == 429:
            return self.error_reply(429, "Too many requests hit the API too quickly. We recommend an exponential "
                                         "backoff of your requests.", code="rate_limit")
        if status >= 500:
            return self.error_reply(status, "An unknown error occurred", type="api_error")
        return self.error_reply(status, "simulated failure")

    def not_found(self, req):
        return self.error_reply(404, f"Unrecognized request URL ({req.method}: {req.path}). Please see "
                                     "https://stripe.com/docs or we can help at https://support.stripe.com/.")

    def finish_reply(self, req, reply):
        reply.headers.setdefault("Request-Id", req.request_id)
        if req.path.startswith("/v1/"):
            reply.headers.setdefault("Stripe-Version", self.api_version)
        key = req.header("idempotency-key")
        if key and req.method == "POST":
            reply.headers.setdefault("Idempotency-Key", key)
        return reply

    def replay_reply(self, reply):
        r = reply.copy()
        r.headers["Idempotent-Replayed"] = "true"
        return r

    def idempotency_conflict(self, key):
        return self.error_reply(409, "There is currently another in-progress request using this Stripe token "
                                     "(probably the same idempotency key). Please try again later.",
                                type="invalid_request_error", code="lock_timeout")

    def _idempotency_mismatch(self, key):
        return self.error_reply(400, f"Keys for idempotent requests can only be used with the same parameters they "
                                     f"were first used with. Try using a key other than '{key}' if you meant to "
                                     "execute a different request.", type="idempotency_error")

    # ---------------------------------------------------------------- request plumbing

    def _post(self, req, fn, *args):
        ctx = self._auth(req)
        params = parse_form(req.body)
        req.parsed = params
        key = req.header("idempotency-key")
        if key is None:
            return fn(ctx, params, *args)
        if len(key) > 255 or key == "":
            raise self._bad("Idempotency-Key must be between 1 and 255 characters long.")
        fp = (req.path, json.dumps(params, sort_keys=True))
        rid = req.request_id

        def run():
            r = fn(ctx, params, *args)
            r.headers["Original-Request"] = rid
            return r

        return self.idempotent((ctx["account"], key), key, fp, run, mismatch=self._idempotency_mismatch,
                               store=lambda r: r.status < 400 or r.status == 402 or r.status >= 500)

    def _query(self, req):
        params = parse_form(req.raw_query)
        req.parsed = params
        return params

    def _check_params(self, params, allowed):
        for k in params:
            if k not in allowed:
                raise self._bad(f"Received unknown parameter: {k}", param=k, code="parameter_unknown")

    def _int(self, params, name, value=None, minimum=None):
        v = params.get(name) if value is None else value
        if not isinstance(v, str) or not re.fullmatch(r"-?\d{1,18}", v):
            raise self._bad(f"Invalid integer: {v}", param=name, code="parameter_invalid_integer")
        n = int(v)
        if minimum is not None and n < minimum:
            raise self._bad(f"This value must be greater than or equal to {minimum}.", param=name,
                            code="parameter_invalid_integer")
        return n

    def _bool(self, params, name, default=False):
        v = params.get(name)
        if v is None or v == "":
            return default
        if v not in ("true", "false"):
            raise self._bad(f"Invalid boolean: {v}", param=name, code="parameter_invalid_boolean")
        return v == "true"

    def _str(self, params, name, maxlen=5000):
        v = params.get(name)
        if v is None:
            return None
        if not isinstance(v, str):
            raise self._bad(f"Invalid string: {name}", param=name, code="parameter_invalid_string")
        if len(v) > maxlen:
            raise self._bad(f"{name} must be at most {maxlen} characters", param=name)
        return v or None

    def _metadata(self, params, current=None):
        out = dict(current or {})
        md = params.get("metadata")
        if md is None:
            return out
        if md == "":
            return {}
        if not isinstance(md, dict):
            raise self._bad("Invalid hash", param="metadata", code="parameter_invalid_string")
        for k, v in md.items():
            if not isinstance(v, str):
                raise self._bad(f"Invalid metadata[{k}]", param=f"metadata[{k}]")
            if len(k) > 40:
                raise self._bad("Metadata keys can have up to 40 characters", param=f"metadata[{k}]")
            if len(v) > 500:
                raise self._bad("Metadata values can have up to 500 characters", param=f"metadata[{k}]")
            if v == "":
                out.pop(k, None)
            else:
                out[k] = v
        if len(out) > 50:
            raise self._bad("Metadata can have up to 50 keys", param="metadata")
        return out

    def _expand_list(self, params):
        e = params.get("expand")
        if e is None:
            return []
        if isinstance(e, str):
            return [e]
        if isinstance(e, list) and all(isinstance(x, str) for x in e):
            return e
        raise self._bad("Invalid array", param="expand")

    def _id(self, prefix):
        return f"{prefix}_{_rand(24)}"

    def _store(self, obj, account):
        obj["_account"] = account
        obj["_seq"] = next(self._seq)
        self.objects[obj["id"]] = obj
        return obj

    def _find(self, ctx, oid, obj_type, param):
        o = self.objects.get(oid)
        if not o or o["object"] != obj_type or o["_account"] != ctx["account"]:
            raise Abort(self.error_reply(404, f"No such {obj_type}: '{oid}'", code="resource_missing", param=param))
        return o

    def render(self, obj):
        """A resource as the API shows it (internal fields removed, Stripe's key order)."""
        return _ordered({k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")})

    def _render_expanded(self, obj, expand):
        out = self.render(obj)
        for path in expand:
            self._expand(out, path.split("."), path)
        return out

    def _expand(self, obj, parts, full):
        if not parts or not isinstance(obj, dict):
            return
        head, rest = parts[0], parts[1:]
        if head == "data" and obj.get("object") == "list":
            for item in obj["data"]:
                self._expand(item, rest, full)
            return
        if head not in obj or head in ("id", "object"):
            raise self._bad(f"This property cannot be expanded ({head}).", param="expand")
        v = obj[head]
        if isinstance(v, str):
            target = self.objects.get(v)
            if target is None:
                raise self._bad(f"This property cannot be expanded ({head}).", param="expand")
            v = obj[head] = self.render(target)
        if rest and isinstance(v, dict):
            self._expand(v, rest, full)

    def _get(self, req, oid, obj_type, param):
        ctx = self._auth(req)
        q = self._query(req)
        with self.lock:
            return self.reply(200, self._render_expanded(self._find(ctx, oid, obj_type, param), self._expand_list(q)))

    def _list(self, req, ctx, items, url, q):
        """Stripe's list pagination, newest first."""
        limit = 10 if q.get("limit") in (None, "") else self._int(q, "limit", minimum=1)
        if limit > 100:
            raise self._bad("This value must be less than or equal to 100.", param="limit",
                            code="parameter_invalid_integer")
        created = q.get("created")
        if isinstance(created, dict):
            bounds = {op: self._int(created, op, value=created[op]) for op in created}
            for op in bounds:
                if op not in ("gt", "gte", "lt", "lte"):
                    raise self._bad(f"Received unknown parameter: created[{op}]", param=f"created[{op}]")
            items = [o for o in items if all({"gt": o["created"] > v, "gte": o["created"] >= v,
                                              "lt": o["created"] < v, "lte": o["created"] <= v}[op]
                                             for op, v in bounds.items())]
        elif created not in (None, ""):
            c = self._int(q, "created")
            items = [o for o in items if o["created"] == c]
        items.sort(key=lambda o: (o["created"], o["_seq"]), reverse=True)
        after, before = q.get("starting_after"), q.get("ending_before")
        if after:
            idx = next((i for i, o in enumerate(items) if o["id"] == after), None)
            if idx is None and after not in self.objects:
                raise Abort(self.error_reply(404, f"No such object: '{after}'", code="resource_missing",
                                             param="starting_after"))
            items = items[idx + 1:] if idx is not None else []
            page, has_more = items[:limit], len(items) > limit
        elif before:
            idx = next((i for i, o in enumerate(items) if o["id"] == before), None)
            if idx is None and before not in self.objects:
                raise Abort(self.error_reply(404, f"No such object: '{before}'", code="resource_missing",
                                             param="ending_before"))
            items = items[:idx] if idx is not None else []
            page, has_more = items[-limit:], len(items) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        out = {"object": "list", "data": [self.render(o) for o in page], "has_more": has_more, "url": url}
        for path in self._expand_list(q):
            self._expand(out, path.split("."), path)
        return self.reply(200, out)

    # ---------------------------------------------------------------- events and webhooks

    def _emit(self, etype, obj, account, previous_attributes=None):
        req = self.current_request
        connected = account != self.platform_account
        url = (self.connect_webhook_url or self.webhook_url) if connected else self.webhook_url
        enabled = "*" in self.enabled_events or etype in self.enabled_events
        data = {"object": self.render(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        evt = {"id": self._id("evt"), "object": "event", "api_version": self.api_version,
               "created": int(self.now()), "data": data, "livemode": False,
               "pending_webhooks": 1 if (url and enabled) else 0,
               "request": {"id": req.request_id if req is not None else None,
                           "idempotency_key": req.header("idempotency-key") if req is not None else None},
               "type": etype}
        if connected:
            evt["account"] = account
        evt = _ordered(evt)
        self._store(evt, account)
        evt["_raw"] = (json_dumps(self.render(evt), 2) + "\n").encode("utf-8")
        self.events.append(evt)
        if url and enabled:
            raw = evt["_raw"]
            self.queue_webhook(url, raw, lambda attempt: self.webhook_headers(raw, account=account),
                               label=f"{etype} {evt['id']}")
        return evt

    def _secrets_for(self, account):
        if account != self.platform_account and self.connect_webhook_secrets:
            return self.connect_webhook_secrets
        return self.webhook_secrets

    def webhook_headers(self, raw, account=None, secret=None, secrets=None, timestamp=None):
        """Headers of one delivery; Stripe-Signature has one v1 per secret in use."""
        if secrets is None:
            secrets = [secret] if secret is not None else self._secrets_for(account or self.platform_account)
        t = int(self.now()) if timestamp is None else int(timestamp)
        return {"Content-Type": "application/json; charset=utf-8", "User-Agent": self.webhook_user_agent,
                "Accept": "*/*; q=0.5, application/xml", "Cache-Control": "no-cache",
                "Stripe-Signature": stripe_signature_header(secrets, t, raw)}

    def send_webhook(self, event_id, url=None, secret=None, secrets=None, timestamp=None, body=None, wait=True):
        """(Re)sends an event now (the same bytes as first sent, or body). secret/secrets
        override the signing secrets (e.g. a wrong one), timestamp the `t` (e.g. a stale
        one). wait=True: one attempt, returns the HTTP status (None: no answer); wait=False:
        queued with retries."""
        with self.lock:
            evt = self.objects[event_id]
            account = evt["_account"]
            url = url or ((self.connect_webhook_url or self.webhook_url) if account != self.platform_account
                          else self.webhook_url)
            raw = evt["_raw"] if body is None else (json_dumps(body, 2).encode() if isinstance(body, dict) else
                                                    body if isinstance(body, bytes) else body.encode())
        if not url:
            raise ValueError("no webhook URL: set sim.webhook_url or pass url=")
        if wait:
            return self.deliver(url, raw, self.webhook_headers(raw, account, secret, secrets, timestamp),
                                label=f"{evt['type']} {event_id} (manual)")
        self.queue_webhook(url, raw, lambda attempt: self.webhook_headers(raw, account, secret, secrets, timestamp),
                           label=f"{evt['type']} {event_id} (manual)")
        return None

    def events_of(self, etype=None, account=None):
        """Recorded events (as sent), optionally of one type and/or account."""
        with self.lock:
            return [self.render(e) for e in self.events
                    if (etype is None or e["type"] == etype) and (account is None or e["_account"] == account)]

    # ---------------------------------------------------------------- payment methods and charges

    def _payment_method(self, test_pm, account):
        """A PaymentMethod object for a test id (pm_card_visa, ...), as Stripe creates one."""
        if not isinstance(test_pm, str) or not test_pm.startswith("pm_card_"):
            return None
        name = test_pm[len("pm_card_"):]
        brand, last4, funding = BRANDS.get(name, BRANDS.get(name.split("_")[0], BRANDS["visa"]))
        if test_pm in DECLINES:
            last4 = DECLINES[test_pm][3]
        if test_pm in ACTION_REQUIRED:
            last4 = "3184"
        pm = {"id": self._id("pm"), "object": "payment_method", "allow_redisplay": "unspecified",
              "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                              "postal_code": None, "state": None},
                                  "email": None, "name": None, "phone": None},
              "card": {"brand": brand, "checks": {"address_line1_check": None, "address_postal_code_check": None,
                                                  "cvc_check": "pass"},
                       "country": "US", "display_brand": brand, "exp_month": 12, "exp_year": 2034,
                       "fingerprint": _rand(16), "funding": funding, "last4": last4,
                       "networks": {"available": [brand], "preferred": None}, "wallet": None},
              "created": int(self.now()), "customer": None, "livemode": False, "metadata": {}, "type": "card",
              "_test": test_pm}
        return self._store(pm, account)

    def _resolve_pm(self, ctx, value):
        if value is None:
            return None
        if isinstance(value, str) and value in self.objects and self.objects[value]["object"] == "payment_method":
            return self.objects[value]
        pm = self._payment_method(value, ctx["account"])
        if pm is None:
            raise Abort(self.error_reply(400, f"No such PaymentMethod: '{value}'", code="resource_missing",
                                         param="payment_method"))
        return pm

    def _fee(self, amount):
        pct = round_half_up(Decimal(amount) * self.fee_percent / 100, 0)
        return int(pct) + self.fee_fixed

    def _balance_txn(self, account, source, amount, currency, kind, fee_details=(), description=None):
        fee = sum(f["amount"] for f in fee_details)
        now = int(self.now())
        txn = {"id": self._id("txn"), "object": "balance_transaction", "amount": amount,
               "available_on": now + 2 * 86400, "created": now, "currency": currency, "description": description,
               "exchange_rate": None, "fee": fee, "fee_details": list(fee_details), "net": amount - fee,
               "reporting_category": kind, "source": source, "status": "pending", "type": kind}
        return self._store(txn, account)

    def _new_charge(self, pi, pm, status, failure=None):
        now = int(self.now())
        card = pm["card"] if pm else {"brand": "visa", "last4": "4242", "funding": "credit", "country": "US",
                                      "exp_month": 12, "exp_year": 2034, "fingerprint": _rand(16)}
        ch = {"id": self._id("ch"), "object": "charge", "amount": pi["amount"], "amount_captured": 0,
              "amount_refunded": 0, "application": None, "application_fee": None,
              "application_fee_amount": pi["application_fee_amount"], "balance_transaction": None,
              "billing_details": pm["billing_details"] if pm else {}, "calculated_statement_descriptor": "SIM",
              "captured": False, "created": now, "currency": pi["currency"], "customer": pi["customer"],
              "description": pi["description"], "disputed": False, "failure_balance_transaction": None,
              "failure_code": failure[0] if failure else None, "failure_message": failure[2] if failure else None,
              "fraud_details": {}, "livemode": False, "metadata": dict(pi["metadata"]),
              "on_behalf_of": pi["on_behalf_of"],
              "outcome": ({"network_status": "declined_by_network", "reason": failure[1], "risk_level": "normal",
                           "risk_score": 40, "seller_message": "The bank did not return any further details with "
                                                               "this decline.", "type": "issuer_declined"}
                          if failure else
                          {"network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                           "risk_score": 20, "seller_message": "Payment complete.", "type": "authorized"}),
              "paid": status == "succeeded", "payment_intent": pi["id"],
              "payment_method": pm["id"] if pm else None,
              "payment_method_details": {"card": {"amount_authorized": pi["amount"] if not failure else None,
                                                  "brand": card["brand"], "checks": card.get("checks"),
                                                  "country": card["country"], "exp_month": card["exp_month"],
                                                  "exp_year": card["exp_year"], "fingerprint": card["fingerprint"],
                                                  "funding": card["funding"], "last4": card["last4"],
                                                  "network": card["brand"]}, "type": "card"},
              "receipt_email": pi["receipt_email"], "receipt_number": None,
              "receipt_url": f"{self.url}/receipts/{pi['id']}", "refunded": False, "review": None, "shipping": None,
              "source_transfer": None, "statement_descriptor": None, "statement_descriptor_suffix": None,
              "status": status, "transfer_data": pi["transfer_data"], "transfer_group": pi["transfer_group"]}
        if pi["application_fee_amount"] is not None and pi["_account"] != self.platform_account:
            ch["application"] = self.client_id
        return self._store(ch, pi["_account"])

    def _capture_charge(self, pi, ch, amount):
        """Marks ch captured for amount and books its balance transaction (with fees)."""
        ch["captured"] = True
        ch["amount_captured"] = amount
        ch["status"] = "succeeded"
        ch["paid"] = True
        fees = [{"amount": self._fee(amount), "application": None, "currency": ch["currency"],
                 "description": "Stripe processing fees", "type": "stripe_fee"}]
        app_fee = pi["application_fee_amount"]
        if app_fee is not None and pi["_account"] != self.platform_account:
            ch["application_fee"] = self._id("fee")
            fees.append({"amount": app_fee, "application": self.client_id, "currency": ch["currency"],
                         "description": "Application fee", "type": "application_fee"})
        txn = self._balance_txn(pi["_account"], ch["id"], amount, ch["currency"], "charge", fees,
                                description=pi["description"])
        ch["balance_transaction"] = txn["id"]

    # ---------------------------------------------------------------- PaymentIntents

    def _pi_create(self, ctx, p):
        self._check_params(p, PI_CREATE_PARAMS)
        if p.get("amount") is None:
            raise self._bad("Missing required param: amount.", param="amount", code="parameter_missing")
        amount = self._int(p, "amount", minimum=1)
        cur = p.get("currency")
        if not cur:
            raise self._bad("Missing required param: currency.", param="currency", code="parameter_missing")
        if not isinstance(cur, str) or cur.lower() not in CURRENCIES:
            raise self._bad(f"Invalid currency: {cur}. Stripe currently supports these currencies: "
                            + ", ".join(sorted(CURRENCIES)), param="currency")
        cur = cur.lower()
        if amount < MINIMUMS.get(cur, 1):
            m = MINIMUMS[cur]
            shown = str(m) if cur in ZERO_DECIMAL else f"{m // 100}.{m % 100:02d}"
            raise self._bad(f"Amount must be at least {shown} {cur}", param="amount", code="amount_too_small")
        if amount > 99999999:
            raise self._bad("Amount must be no more than 999,999.99", param="amount", code="amount_too_large")
        transfer = p.get("transfer_data")
        if transfer is not None:
            dest = transfer.get("destination") if isinstance(transfer, dict) else None
            a = self.accounts.get(dest) if isinstance(dest, str) else None
            if ctx["connect"] or not a or not a["connected"]:
                raise self._bad(f"No such destination: '{dest}'", param="transfer_data[destination]",
                                code="resource_missing")
            transfer = {"destination": dest}
            if isinstance(p["transfer_data"], dict) and p["transfer_data"].get("amount") is not None:
                transfer["amount"] = self._int(p["transfer_data"], "amount", minimum=1)
        fee = None
        if p.get("application_fee_amount") not in (None, ""):
            fee = self._int(p, "application_fee_amount", minimum=0)
            if not ctx["connect"] and transfer is None:
                raise self._bad("Can only apply an application_fee_amount when the PaymentIntent is attempting a "
                                "direct payment (using an OAuth key or Stripe-Account header) or destination "
                                "payment (using `transfer_data[destination]`).", param="application_fee_amount")
            if fee > amount:
                raise self._bad("The application_fee_amount must be less than or equal to the amount.",
                                param="application_fee_amount")
        confirm = self._bool(p, "confirm")
        capture_method = p.get("capture_method") or "automatic_async"
        if capture_method not in ("automatic", "automatic_async", "manual"):
            raise self._bad("Invalid capture_method: must be one of automatic, automatic_async, or manual",
                            param="capture_method")
        apm = p.get("automatic_payment_methods")
        types = p.get("payment_method_types")
        if types is not None and (not isinstance(types, list) or not all(isinstance(t, str) for t in types)):
            raise self._bad("Invalid array", param="payment_method_types")
        if isinstance(apm, dict):
            enabled = apm.get("enabled")
            if enabled not in ("true", "false"):
                raise self._bad(f"Invalid boolean: {enabled}", param="automatic_payment_methods[enabled]",
                                code="parameter_invalid_boolean")
            apm_out = {"allow_redirects": apm.get("allow_redirects") or "always", "enabled": True} \
                if enabled == "true" else None
        elif types is None:
            apm_out = {"allow_redirects": "always", "enabled": True}
        else:
            apm_out = None
        metadata = self._metadata(p)
        description = self._str(p, "description", 1000)
        receipt_email = self._str(p, "receipt_email", 800)
        with self.lock:
            pm = self._resolve_pm(ctx, p.get("payment_method"))
            if confirm and pm is None:
                raise self._bad("You cannot confirm this PaymentIntent because it's missing a payment method. "
                                "You can either update the PaymentIntent with a payment method and then confirm it "
                                "again, or confirm it again directly with a payment method.",
                                param="payment_method", code="payment_intent_unexpected_state")
            pi_id = self._id("pi")
            pi = {"id": pi_id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
                  "amount_details": {"tip": {}}, "amount_received": 0, "application": None,
                  "application_fee_amount": fee, "automatic_payment_methods": apm_out, "canceled_at": None,
                  "cancellation_reason": None, "capture_method": capture_method,
                  "client_secret": f"{pi_id}_secret_{_rand(25)}", "confirmation_method": p.get("confirmation_method")
                  or "automatic", "created": int(self.now()), "currency": cur,
                  "customer": p.get("customer") or None, "description": description, "last_payment_error": None,
                  "latest_charge": None, "livemode": False, "metadata": metadata, "next_action": None,
                  "on_behalf_of": p.get("on_behalf_of") or None, "payment_method": pm["id"] if pm else None,
                  "payment_method_configuration_details": None, "payment_method_options": {"card": {
                      "installments": None, "mandate_options": None, "network": None,
                      "request_three_d_secure": "automatic"}},
                  "payment_method_types": types or ["card"], "processing": None, "receipt_email": receipt_email,
                  "review": None, "setup_future_usage": p.get("setup_future_usage") or None, "shipping": None,
                  "source": None, "statement_descriptor": p.get("statement_descriptor") or None,
                  "statement_descriptor_suffix": p.get("statement_descriptor_suffix") or None,
                  "status": "requires_confirmation" if pm else "requires_payment_method",
                  "transfer_data": transfer, "transfer_group": p.get("transfer_group") or None}
            if ctx["connect"] and fee is not None:
                pi["application"] = self.client_id
            self._store(pi, ctx["account"])
            self._emit("payment_intent.created", pi, ctx["account"])
            if confirm:
                return self._confirm_reply(pi, pm, self._expand_list(p))
            return self.reply(200, self._render_expanded(pi, self._expand_list(p)))

    def _confirm_reply(self, pi, pm, expand):
        self._settle(pi, self._pm_outcome(pm), pm)
        if pi["status"] == "requires_payment_method" and pi["last_payment_error"]:
            e = pi["last_payment_error"]
            return self.error_reply(402, e["message"], type="card_error", code=e["code"],
                                    decline_code=e.get("decline_code"),
                                    extra={"charge": e["charge"], "payment_intent": self.render(pi),
                                           "payment_method": e["payment_method"], "payment_method_type": "card"})
        return self.reply(200, self._render_expanded(pi, expand))

    @staticmethod
    def _pm_outcome(pm):
        test = pm.get("_test") if pm else None
        if test in DECLINES:
            return "failed"
        if test in ACTION_REQUIRED:
            return "requires_action"
        return "succeeded"

    def _settle(self, pi, outcome, pm=None, decline=None):
        """Moves pi to an outcome: succeeded, failed, processing or requires_action, with the
        charge, balance transaction and events Stripe produces."""
        acct = pi["_account"]
        if pm is None and pi["payment_method"]:
            pm = self.objects.get(pi["payment_method"])
        if pm is None:
            pm = self._payment_method("pm_card_visa" if outcome != "failed" else "pm_card_chargeDeclined", acct)
        pi["payment_method"] = pm["id"]
        pi["next_action"] = None
        if outcome == "requires_action":
            pi["status"] = "requires_action"
            pi["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {
                "type": "three_d_secure_redirect", "stripe_js": f"{self.url}/3ds/{pi['id']}", "source": "src_sim"}}
            self._emit("payment_intent.requires_action", pi, acct)
            return
        if outcome == "processing":
            ch = self.objects.get(pi["latest_charge"]) if pi["latest_charge"] else None
            if not ch or ch["status"] != "pending":
                ch = self._new_charge(pi, pm, "pending")
                pi["latest_charge"] = ch["id"]
            pi["status"] = "processing"
            pi["processing"] = {"card": {"customer_notification": None}, "type": "card"}
            self._emit("charge.pending", ch, acct)
            self._emit("payment_intent.processing", pi, acct)
            return
        if outcome == "failed":
            d = DECLINES.get(pm.get("_test")) or DECLINE_CODES.get(decline) or DECLINES["pm_card_chargeDeclined"]
            if decline and decline not in DECLINE_CODES:
                d = ("card_declined", decline, "Your card was declined.", "0002")
            ch = self.objects.get(pi["latest_charge"]) if pi["latest_charge"] else None
            if ch and ch["status"] == "pending":
                ch.update(status="failed", failure_code=d[0], failure_message=d[2], paid=False)
            else:
                ch = self._new_charge(pi, pm, "failed", d)
                pi["latest_charge"] = ch["id"]
            pi["status"] = "requires_payment_method"
            pi["processing"] = None
            pi["payment_method"] = None
            pi["last_payment_error"] = {"charge": ch["id"], "code": d[0], "decline_code": d[1],
                                        "doc_url": f"https://stripe.com/docs/error-codes/{d[0].replace('_', '-')}",
                                        "message": d[2], "payment_method": self.render(pm), "type": "card_error"}
            self._emit("charge.failed", ch, acct)
            self._emit("payment_intent.payment_failed", pi, acct)
            return
        # succeeded
        ch = self.objects.get(pi["latest_charge"]) if pi["latest_charge"] else None
        if not ch or ch["status"] != "pending":
            ch = self._new_charge(pi, pm, "succeeded")
            pi["latest_charge"] = ch["id"]
        ch["status"] = "succeeded"
        ch["paid"] = True
        pi["last_payment_error"] = None
        pi["processing"] = None
        if pi["capture_method"] == "manual":
            pi["status"] = "requires_capture"
            pi["amount_capturable"] = pi["amount"]
            self._emit("charge.succeeded", ch, acct)
            self._emit("payment_intent.amount_capturable_updated", pi, acct)
            return
        self._capture_charge(pi, ch, pi["amount"])
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        self._emit("charge.succeeded", ch, acct)
        self._emit("payment_intent.succeeded", pi, acct)

    def _pi_get(self, req, oid):
        ctx = self._auth(req)
        q = self._query(req)
        with self.lock:
            pi = self._find(ctx, oid, "payment_intent", "intent")
            return self.reply(200, self._render_expanded(pi, self._expand_list(q)))

    def _pi_list(self, req):
        ctx = self._auth(req)
        q = self._query(req)
        with self.lock:
            items = [o for o in self.objects.values()
                     if o["object"] == "payment_intent" and o["_account"] == ctx["account"]
                     and (not q.get("customer") or o["customer"] == q["customer"])]
            return self._list(req, ctx, items, "/v1/payment_intents", q)

    def _pi_update(self, ctx, p, oid):
        self._check_params(p, PI_UPDATE_PARAMS)
        with self.lock:
            pi = self._find(ctx, oid, "payment_intent", "intent")
            money = {"amount", "currency", "payment_method", "application_fee_amount", "capture_method"} & set(p)
            if money and pi["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
                raise self._bad(f"This PaymentIntent's {sorted(money)[0]} could not be updated because it has a "
                                f"status of {pi['status']}.", code="payment_intent_unexpected_state")
            if "amount" in p:
                pi["amount"] = self._int(p, "amount", minimum=1)
            if "currency" in p:
                if p["currency"].lower() not in CURRENCIES:
                    raise self._bad(f"Invalid currency: {p['currency']}", param="currency")
                pi["currency"] = p["currency"].lower()
            if "application_fee_amount" in p:
                pi["application_fee_amount"] = self._int(p, "application_fee_amount", minimum=0)
            if "payment_method" in p:
                pm = self._resolve_pm(ctx, p["payment_method"])
                pi["payment_method"] = pm["id"]
                pi["status"] = "requires_confirmation"
            if "metadata" in p:
                pi["metadata"] = self._metadata(p, pi["metadata"])
            for k in ("description", "receipt_email", "statement_descriptor", "statement_descriptor_suffix",
                      "transfer_group", "customer", "setup_future_usage"):
                if k in p:
                    pi[k] = p[k] or None
            return self.reply(200, self._render_expanded(pi, self._expand_list(p)))

    def _pi_confirm(self, ctx, p, oid):
        self._check_params(p, PI_CONFIRM_PARAMS)
        with self.lock:
            pi = self._find(ctx, oid, "payment_intent", "intent")
            if pi["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
                raise self._bad(f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}.",
                                code="payment_intent_unexpected_state")
            pm = self._resolve_pm(ctx, p.get("payment_method")) if p.get("payment_method") else (
                self.objects.get(pi["payment_method"]) if pi["payment_method"] else None)
            if pm is None:
                raise self._bad("You cannot confirm this PaymentIntent because it's missing a payment method.",
                                param="payment_method", code="payment_intent_unexpected_state")
            if "receipt_email" in p:
                pi["receipt_email"] = p["receipt_email"] or None
            return self._confirm_reply(pi, pm, self._expand_list(p))

    def _pi_cancel(self, ctx, p, oid):
        self._check_params(p, {"cancellation_reason", "expand"})
        reason = p.get("cancellation_reason")
        if reason is not None and reason not in ("duplicate", "fraudulent", "requested_by_customer", "abandoned"):
            raise self._bad(f"Invalid cancellation_reason: {reason}", param="cancellation_reason")
        with self.lock:
            pi = self._find(ctx, oid, "payment_intent", "intent")
            if pi["status"] not in CANCELABLE:
                raise self._bad(f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. "
                                f"Only a PaymentIntent with one of the following statuses may be canceled: "
                                f"{', '.join(CANCELABLE)}.", code="payment_intent_unexpected_state")
            self._cancel(pi, reason)
            return self.reply(200, self._render_expanded(pi, self._expand_list(p)))

    def _cancel(self, pi, reason):
        pi["status"] = "canceled"
        pi["canceled_at"] = int(self.now())
        pi["cancellation_reason"] = reason
        pi["next_action"] = None
        pi["amount_capturable"] = 0
        self._emit("payment_intent.canceled", pi, pi["_account"])

    def _pi_capture(self, ctx, p, oid):
        self._check_params(p, {"amount_to_capture", "application_fee_amount", "expand", "metadata",
                               "statement_descriptor", "statement_descriptor_suffix", "final_capture"})
        with self.lock:
            pi = self._find(ctx, oid, "payment_intent", "intent")
            if pi["status"] != "requires_capture":
                raise self._bad(f"This PaymentIntent could not be captured because it has a status of "
                                f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
                                "captured: requires_capture.", code="payment_intent_unexpected_state")
            amount = pi["amount_capturable"]
            if p.get("amount_to_capture") not in (None, ""):
                amount = self._int(p, "amount_to_capture", minimum=1)
                if amount > pi["amount_capturable"]:
                    raise self._bad("The amount to capture must be less than or equal to the amount capturable.",
                                    param="amount_to_capture", code="amount_too_large")
            if p.get("application_fee_amount") not in (None, ""):
                pi["application_fee_amount"] = self._int(p, "application_fee_amount", minimum=0)
            if "metadata" in p:
                pi["metadata"] = self._metadata(p, pi["metadata"])
            ch = self.objects[pi["latest_charge"]]
            self._capture_charge(pi, ch, amount)
            pi["status"] = "succeeded"
            pi["amount_received"] = amount
            pi["amount_capturable"] = 0
            self._emit("charge.captured", ch, pi["_account"])
            self._emit("payment_intent.succeeded", pi, pi["_account"])
            return self.reply(200, self._render_expanded(pi, self._expand_list(p)))

    # ---------------------------------------------------------------- charges, refunds, events

    def _charge_list(self, req):
        ctx = self._auth(req)
        q = self._query(req)
        with self.lock:
            items = [o for o in self.objects.values() if o["object"] == "charge" and o["_account"] == ctx["account"]
                     and (not q.get("payment_intent") or o["payment_intent"] == q["payment_intent"])]
            return self._list(req, ctx, items, "/v1/charges", q)

    def _refund_create(self, ctx, p):
        self._check_params(p, REFUND_PARAMS)
        reason = p.get("reason")
        if reason is not None and reason not in ("duplicate", "fraudulent", "requested_by_customer"):
            raise self._bad("Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                            param="reason")
        with self.lock:
            if p.get("payment_intent"):
                pi = self._find(ctx, p["payment_intent"], "payment_intent", "payment_intent")
                ch = self.objects.get(pi["latest_charge"]) if pi["latest_charge"] else None
                if pi["status"] != "succeeded" or not ch:
                    raise self._bad(f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                                    param="payment_intent", code="charge_not_refundable")
            elif p.get("charge"):
                ch = self._find(ctx, p["charge"], "charge", "charge")
                pi = self.objects.get(ch["payment_intent"])
                if ch["status"] != "succeeded" or not ch["captured"]:
                    raise self._bad(f"Charge {ch['id']} cannot be refunded.", param="charge",
                                    code="charge_not_refundable")
            else:
                raise self._bad("One of the following params should be provided for this request: payment_intent "
                                "or charge.", code="parameter_missing")
            if ch["refunded"]:
                raise self._bad(f"Charge {ch['id']} has already been refunded.", code="charge_already_refunded")
            remaining = ch["amount_captured"] - ch["amount_refunded"]
            amount = remaining if p.get("amount") in (None, "") else self._int(p, "amount", minimum=1)
            if amount > remaining:
                raise self._bad(f"Refund amount ({amount} {ch['currency']}) is greater than unrefunded amount on "
                                f"charge ({remaining} {ch['currency']})", param="amount", code="amount_too_large")
            acct = ch["_account"]
            re_id = self._id("re")
            txn = self._balance_txn(acct, re_id, -amount, ch["currency"], "refund",
                                    description="REFUND FOR CHARGE")
            refund = {"id": re_id, "object": "refund", "amount": amount, "balance_transaction": txn["id"],
                      "charge": ch["id"], "created": int(self.now()), "currency": ch["currency"],
                      "destination_details": {"card": {"reference_status": "pending",
                                                       "reference_type": "acquirer_reference_number",
                                                       "type": "refund"}, "type": "card"},
                      "metadata": self._metadata(p), "payment_intent": ch["payment_intent"], "reason": reason,
                      "receipt_number": None, "source_transfer_reversal": None, "status": "succeeded",
                      "transfer_reversal": None}
            self._store(refund, acct)
            previous = {"amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"]}
            ch["amount_refunded"] += amount
            ch["refunded"] = ch["amount_refunded"] >= ch["amount_captured"]
            self._emit("refund.created", refund, acct)
            self._emit("charge.refunded", ch, acct, previous_attributes=previous)
            return self.reply(200, self._render_expanded(refund, self._expand_list(p)))

    def _refund_list(self, req):
        ctx = self._auth(req)
        q = self._query(req)
        with self.lock:
            items = [o for o in self.objects.values() if o["object"] == "refund" and o["_account"] == ctx["account"]
                     and (not q.get("payment_intent") or o["payment_intent"] == q["payment_intent"])
                     and (not q.get("charge") or o["charge"] == q["charge"])]
            return self._list(req, ctx, items, "/v1/refunds", q)

    def _event_list(self, req):
        ctx = self._auth(req)
        q = self._query(req)
        types = q.get("types") if isinstance(q.get("types"), list) else None
        with self.lock:
            items = [o for o in self.objects.values() if o["object"] == "event" and o["_account"] == ctx["account"]
                     and (not q.get("type") or o["type"] == q["type"] or
                          (q["type"].endswith(".*") and o["type"].startswith(q["type"][:-1])))
                     and (types is None or o["type"] in types)]
            return self._list(req, ctx, items, "/v1/events", q)

    def _account_get(self, req, oid=None):
        ctx = self._auth(req)
        with self.lock:
            target = oid or ctx["account"]
            a = self.accounts.get(target)
            visible = a and (target == ctx["account"] or (not ctx["connect"] and a["connected"]))
            if not visible:
                raise Abort(self.error_reply(404 if oid else 403, f"No such account: '{target}'",
                                             code="resource_missing" if oid else "account_invalid", param="account"))
            return self.reply(200, self.render_account(a))

    def render_account(self, a):
        return _ordered({"id": a["id"], "object": "account",
                         "business_profile": {"name": None, "url": None, "support_email": None},
                         "capabilities": {"card_payments": "active", "transfers": "active"},
                         "charges_enabled": True, "country": a["country"], "created": a["created"],
                         "default_currency": a["default_currency"], "details_submitted": True, "email": a["email"],
                         "payouts_enabled": True, "settings": {"dashboard": {"display_name": a["id"]}},
                         "type": None if a["platform"] else "standard"})

    # ---------------------------------------------------------------- test controls

    def pay(self, pi_id, outcome="succeeded", payment_method=None, decline_code=None):
        """Completes a PaymentIntent as the customer's browser / bank would. outcome:
        "succeeded", "failed" (decline_code picks the decline, default generic_decline),
        "processing" (then pay() again with succeeded/failed) or "requires_action".
        payment_method: a test id (default pm_card_visa, or the one already attached).
        Emits the events Stripe sends. Returns the PaymentIntent."""
        if outcome not in ("succeeded", "failed", "processing", "requires_action"):
            raise ValueError(f"unknown outcome {outcome!r}")
        with self.lock:
            pi = self.objects[pi_id]
            allowed = ("requires_payment_method", "requires_confirmation", "requires_action")
            if pi["status"] not in allowed and not (pi["status"] == "processing" and outcome in ("succeeded", "failed")):
                raise ValueError(f"{pi_id} is {pi['status']}")
            pm = self._payment_method(payment_method, pi["_account"]) if payment_method else None
            if payment_method and pm is None:
                raise ValueError(f"unknown test payment method {payment_method!r}")
            self._settle(pi, outcome, pm, decline_code)
            return self.render(pi)

    def cancel(self, pi_id, reason="abandoned"):
        """Cancels a PaymentIntent as Stripe would (e.g. abandoned)."""
        with self.lock:
            pi = self.objects[pi_id]
            if pi["status"] not in CANCELABLE:
                raise ValueError(f"{pi_id} is {pi['status']}")
            self._cancel(pi, reason)
            return self.render(pi)

    def dispute(self, pi_id, reason="fraudulent"):
        """Opens a dispute on the PaymentIntent's charge (charge.dispute.created)."""
        with self.lock:
            pi = self.objects[pi_id]
            ch = self.objects[pi["latest_charge"]]
            dp = {"id": self._id("dp"), "object": "dispute", "amount": ch["amount_captured"], "balance_transactions": [],
                  "charge": ch["id"], "created": int(self.now()), "currency": ch["currency"], "evidence": {},
                  "is_charge_refundable": False, "livemode": False, "metadata": {}, "payment_intent": pi["id"],
                  "reason": reason, "status": "needs_response"}
            self._store(dp, pi["_account"])
            ch["disputed"] = True
            self._emit("charge.dispute.created", dp, pi["_account"])
            return self.render(dp)

    def payment_intent(self, pi_id):
        with self.lock:
            return self.render(self.objects[pi_id])

    def get(self, object_id):
        """Any resource by id (pi_, ch_, re_, txn_, pm_, evt_, dp_), rendered."""
        with self.lock:
            return self.render(self.objects[object_id])

    # ---------------------------------------------------------------- Connect OAuth

    def oauth_next_user(self, account_id=None):
        """The next /oauth/authorize connects this account (created if new; None: a new one)."""
        with self.lock:
            self._oauth_next.append(("user", account_id))

    def oauth_next_error(self, error="access_denied", description="The user denied your request"):
        with self.lock:
            self._oauth_next.append(("error", (error, description)))

    @staticmethod
    def _add_query(url, params):
        params = {k: v for k, v in params.items() if v is not None}
        sep = "" if url.endswith(("?", "&")) else ("&" if "?" in url else "?")
        return url + sep + urllib.parse.urlencode(params)

    def _oauth_authorize(self, req):
        q = req.query
        with self.lock:
            if q.get("client_id") != self.client_id:
                return self.html_reply(400, "Invalid client_id", "<p>No such application.</p>")
            redirect_uri = q.get("redirect_uri") or (self.redirect_uris[0] if self.redirect_uris else None)
            if not redirect_uri or (self.redirect_uris and redirect_uri not in self.redirect_uris):
                return self.html_reply(400, "Invalid redirect_uri", "<p>Invalid redirect URI.</p>")
            state = q.get("state")
            if q.get("response_type") != "code":
                return self.redirect(self._add_query(redirect_uri, {
                    "error": "unsupported_response_type", "error_description": "Only 'code' is supported",
                    "state": state}))
            scope = q.get("scope") or "read_only"
            if scope not in ("read_write", "read_only"):
                return self.redirect(self._add_query(redirect_uri, {"error": "invalid_scope",
                                                                    "error_description": f"Invalid scope: {scope}",
                                                                    "state": state}))
            kind, value = self._oauth_next.pop(0) if self._oauth_next else ("user", None)
            if kind == "error":
                return self.redirect(self._add_query(redirect_uri, {"error": value[0], "error_description": value[1],
                                                                    "state": state}))
            acct_id = value or f"acct_1{_rand(15)}"
            if acct_id not in self.accounts:
                self.accounts[acct_id] = self._new_account(acct_id)
            code = f"ac_{_rand(32)}"
            self.codes[code] = {"account": acct_id, "created": self.now(), "used": False, "scope": scope}
            return self.redirect(self._add_query(redirect_uri, {"scope": scope, "code": code, "state": state}))

    def _oauth_error(self, error, description, status=400):
        return Abort(self.reply(status, {"error": error, "error_description": description}))

    def _oauth_client(self, req, params):
        h = req.header("authorization", "")
        key = h[7:].strip() if h[:7].lower() == "bearer " else params.get("client_secret")
        if not key:
            raise self._oauth_error("invalid_client", "No authentication was provided. Send your secret API key "
                                                      "using the Authorization header, or as a client_secret POST "
                                                      "parameter.", 401)
        if key != self.secret_key:
            raise self._oauth_error("invalid_client", f"Invalid API Key provided: {self._mask(key)}", 401)

    def _oauth_token(self, req):
        p = parse_form(req.body)
        req.parsed = p
        self._oauth_client(req, p)
        grant = p.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                code = p.get("code") or ""
                c = self.codes.get(code)
                if not c:
                    raise self._oauth_error("invalid_grant", f"Authorization code does not exist: {code}")
                if c["used"]:
                    for k in self.keys.values():
                        if k.get("code") == code:
                            k["revoked"] = True
                    raise self._oauth_error("invalid_grant", "This authorization code has already been used. All "
                                                             "tokens issued with this code have been revoked.")
                if self.now() - c["created"] > self.code_ttl:
                    raise self._oauth_error("invalid_grant", f"Authorization code expired: {code}")
                c["used"] = True
                tok = self._connect(self.accounts[c["account"]], code)
                tok["scope"] = c["scope"]
                return self.reply(200, tok)
            if grant == "refresh_token":
                rt = p.get("refresh_token") or ""
                acct_id = self.refresh_tokens.get(rt)
                if not acct_id or not self.accounts[acct_id]["connected"]:
                    raise self._oauth_error("invalid_grant", f"Refresh token does not exist: {rt}")
                return self.reply(200, self._connect(self.accounts[acct_id], None))
            if not grant:
                raise self._oauth_error("invalid_request", "No grant type specified")
            raise self._oauth_error("unsupported_grant_type", f"Unsupported grant type: {grant}")

    def _oauth_deauthorize(self, req):
        p = parse_form(req.body)
        req.parsed = p
        self._oauth_client(req, p)
        with self.lock:
            if p.get("client_id") != self.client_id:
                raise self._oauth_error("invalid_client", f"No such application: '{p.get('client_id')}'")
            acct_id = p.get("stripe_user_id") or ""
            a = self.accounts.get(acct_id)
            if not a or a["platform"] or not a["connected"]:
                raise self._oauth_error("invalid_client", f"This application is not connected to stripe account "
                                                          f"{acct_id}, or that account does not exist.")
            self._disconnect(a)
            app = {"id": self.client_id, "object": "application", "name": "Simulated platform"}
            self._emit("account.application.deauthorized", app, acct_id)
            return self.reply(200, {"stripe_user_id": acct_id})

    def deauthorize(self, account_id):
        """The connected account disconnects the platform from its dashboard."""
        with self.lock:
            a = self.accounts[account_id]
            self._disconnect(a)
            app = {"id": self.client_id, "object": "application", "name": "Simulated platform"}
            self._emit("account.application.deauthorized", app, account_id)

    # ---------------------------------------------------------------- control endpoints

    def _ctl_pay(self, req, oid):
        if "json" in req.header("content-type", ""):
            outcome = (json_loads(req.body or b"{}") or {}).get("outcome", "succeeded")
        else:
            form = dict(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace")))
            outcome = form.get("outcome") or req.query.get("outcome") or "succeeded"
        try:
            pi = self.pay(oid, outcome)
        except (KeyError, ValueError) as e:
            return Reply(400, json_dumps({"error": str(e)}))
        if "form" in req.header("content-type", ""):
            return self.redirect("/__sim")
        return Reply(200, json_dumps(pi, 2))

    def describe(self):
        d = super().describe()
        with self.lock:
            d.update({"secret_key": self.secret_key, "platform_account": self.platform_account,
                      "client_id": self.client_id, "webhook_url": self.webhook_url,
                      "webhook_secrets": list(self.webhook_secrets),
                      "connected_accounts": sorted(a["id"] for a in self.accounts.values() if a["connected"]),
                      "payment_intents": [{"id": o["id"], "account": o["_account"], "amount": o["amount"],
                                           "currency": o["currency"], "status": o["status"]}
                                          for o in self.objects.values() if o["object"] == "payment_intent"],
                      "events": len(self.events)})
        return d

    def html_index(self):
        with self.lock:
            rows = []
            for o in self.objects.values():
                if o["object"] != "payment_intent":
                    continue
                act = ""
                if o["status"] in ("requires_payment_method", "requires_confirmation", "requires_action",
                                   "processing"):
                    act = "".join(f"<form method='post' action='/__sim/payment_intents/{o['id']}/pay' "
                                  f"style='display:inline'><button name='outcome' value='{x}'>{x}</button></form>"
                                  for x in ("succeeded", "failed"))
                rows.append(f"<tr><td>{o['id']}</td><td>{o['_account']}</td><td>{o['amount']} {o['currency']}</td>"
                            f"<td>{html.escape(json.dumps(o['metadata']))}</td><td>{o['status']}</td>"
                            f"<td>{act}</td></tr>")
        return self.html_reply(200, "Stripe simulator",
                               f"<p>API: {html.escape(self.url)} — secret key <code>{html.escape(self.secret_key)}"
                               f"</code>, webhooks to {html.escape(str(self.webhook_url))}</p>"
                               "<table border=1 cellpadding=4><tr><th>id</th><th>account</th><th>amount</th>"
                               "<th>metadata</th><th>status</th><th></th></tr>" + "".join(rows) + "</table>")


# --------------------------------------------------------------------------------------------
# Standalone mode


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m sim.stripe", description="Run the Stripe simulator until interrupted.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8091, help="0 picks a free port")
    ap.add_argument("--secret-key", default="sk_test_sim")
    ap.add_argument("--webhook-secret", action="append", default=[],
                    help="endpoint secret (repeat for two during a rotation); default whsec_sim_secret")
    ap.add_argument("--webhook-url", help="where events are POSTed, e.g. http://127.0.0.1:8080/webhooks/stripe")
    ap.add_argument("--client-id", default="ca_sim_platform", help="Connect OAuth client_id")
    ap.add_argument("--redirect-uri", action="append", default=[], help="allowed OAuth redirect URI (repeatable)")
    ap.add_argument("--public-url", help="URL to advertise instead of http://HOST:PORT")
    ap.add_argument("--verbose", action="store_true", help="log every request on stderr")
    a = ap.parse_args(argv)
    sim = StripeSim(a.host, a.port, a.secret_key, webhook_url=a.webhook_url, client_id=a.client_id, verbose=a.verbose)
    if a.webhook_secret:
        sim.webhook_secrets = list(a.webhook_secret)
    sim.redirect_uris = list(a.redirect_uri)
    sim.public_url = a.public_url
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim.start()
    print(f"Stripe simulator on {sim.url}", flush=True)
    print(f"  secret key {sim.secret_key}; platform account {sim.platform_account}", flush=True)
    print(f"  webhooks to {sim.webhook_url or '(none: pass --webhook-url)'} signed with "
          f"{', '.join(sim.webhook_secrets)}", flush=True)
    print(f"  state and pay buttons: {sim.url}/__sim; Connect OAuth: {sim.url}/oauth/authorize "
          f"(client_id {sim.client_id})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
