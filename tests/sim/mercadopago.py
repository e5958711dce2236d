"""MercadoPago simulator: Payments API, refunds, Checkout Pro preferences, OAuth and signed
Webhooks, following /work/shared/PROVIDERS.md section 1. See README.md for the API and for
what is faithful and what is simplified.

    sim = MercadoPagoSim().start()
    sim.url                # -> PASARELA_MERCADOPAGO_API_URL
    sim.platform_token     # "APP_USR-platform-token" (user_id 1000)
    ...
    sim.stop()

Standalone: cd tests && python3 -m sim.mercadopago --port 8090
"""

import argparse
import base64
import copy
import hashlib
import hmac
import html
import itertools
import re
import secrets
import signal
import threading
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from .common import (Abort, Reply, SimBase, has_places, json_dumps, json_loads, round_half_up,
                     to_decimal)

# Currencies of the sites pasarela cares about, with their minor-unit digits.
CURRENCIES = {"ARS": 2, "BRL": 2, "CLP": 0, "MXN": 2, "COP": 2, "PEN": 2, "UYU": 2}
COUNTRIES = {"MLA": "AR", "MLB": "BR", "MLC": "CL", "MLM": "MX", "MCO": "CO", "MPE": "PE", "MLU": "UY"}
SITES = {"ARS": "MLA", "BRL": "MLB", "CLP": "MLC", "MXN": "MLM", "COP": "MCO", "PEN": "MPE", "UYU": "MLU"}

# MercadoPago's test cardholder names (payer.first_name, or the payer e-mail's local part).
TEST_NAMES = {
    "APRO": ("approved", "accredited"),
    "CONT": ("in_process", "pending_contingency"),
    "OTHE": ("rejected", "cc_rejected_other_reason"),
    "CALL": ("rejected", "cc_rejected_call_for_authorize"),
    "FUND": ("rejected", "cc_rejected_insufficient_amount"),
    "SECU": ("rejected", "cc_rejected_bad_filled_security_code"),
    "EXPI": ("rejected", "cc_rejected_bad_filled_date"),
    "FORM": ("rejected", "cc_rejected_bad_filled_other"),
}

# Outcome words accepted by pay() / pay_preference() besides the test names.
OUTCOMES = {
    "approved": ("approved", "accredited"),
    "rejected": ("rejected", "cc_rejected_other_reason"),
    "pending": ("pending", "pending_waiting_payment"),
    "in_process": ("in_process", "pending_contingency"),
    "cancelled": ("cancelled", "by_collector"),
}

TICKET_METHODS = {"bolbradesco", "pec", "oxxo", "paycash", "pagofacil", "rapipago", "efecty", "abitab",
                  "redpagos", "servipag", "pagoefectivo_atm", "7eleven"}
TRANSFER_METHODS = {"pix", "pse", "webpay", "khipu"}

SEARCH_SORTS = ("date_approved", "date_created", "date_last_updated", "money_release_date")
SEARCH_RANGES = SEARCH_SORTS

STATUS_ERRORS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 422: "unprocessable_entity", 423: "locked",
                 424: "failed_dependency", 429: "too_many_requests", 500: "internal_server_error",
                 502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout"}

# Cause codes. From PROVIDERS.md: 4292, 2000, 4038, 4039, 1000, 1001, 1003, 1004. The others are
# the simulator's choice (README.md lists them).
C_IDEMPOTENCY = 4292
C_NOT_FOUND = 2000
C_FEE_TOO_BIG = 4038
C_FEE_NEGATIVE = 4039
C_ROWS = 1000
C_DATE = 1001
C_RANGE = 1002
C_SORT = 1003
C_CRITERIA = 1004
C_AMOUNT = 4037
C_NOTIFICATION_URL = 4020
C_PAYER_EMAIL = 4050
C_STATE = 2063
C_REFUND_AMOUNT = 4040
C_BAD_FIELD = 4000

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:?\d{2})$")
_NOW_RE = re.compile(r"^NOW(?:-(\d+)(DAYS|HOURS|MINUTES))?$")


# --------------------------------------------------------------------------------------------
# x-signature (PROVIDERS.md 1.3)


def mp_manifest(data_id, request_id, ts, lowercase=True):
    """The signed manifest `id:<data.id>;request-id:<x-request-id>;ts:<ts>;` — pairs whose value
    is missing or blank are left out; data.id is lowercased unless lowercase=False."""
    parts = []
    if data_id is not None and str(data_id).strip():
        d = str(data_id)
        parts.append(f"id:{d.lower() if lowercase else d};")
    if request_id is not None and str(request_id).strip():
        parts.append(f"request-id:{request_id};")
    parts.append(f"ts:{ts};")
    return "".join(parts)


def mp_signature(secret, data_id, request_id, ts, lowercase=True):
    """Lowercase hex HMAC-SHA256 of the manifest, keyed with the secret's UTF-8 bytes."""
    return hmac.new(secret.encode("utf-8"), mp_manifest(data_id, request_id, ts, lowercase).encode("utf-8"),
                    hashlib.sha256).hexdigest()


def mp_signature_header(secret, data_id, request_id, ts):
    """The x-signature header value: `ts=<ts>,v1=<hex>`."""
    return f"ts={ts},v1={mp_signature(secret, data_id, request_id, ts)}"


def mp_verify(x_signature, x_request_id, data_id, secrets_, now=None, tolerance=None):
    """Receiver-side check (for tests): True when a v1 of the header matches one of the secrets
    and, with now and tolerance given, ts (seconds, or milliseconds when > 10^11) is within
    tolerance of now."""
    ts, v1s = None, []
    for item in (x_signature or "").split(","):
        k, sep, v = item.partition("=")
        if not sep:
            continue
        k, v = k.strip().lower(), v.strip()
        if k == "ts":
            ts = v
        elif k == "v1":
            v1s.append(v)
    if ts is None or not ts.isdigit() or not v1s:
        return False
    ok = False
    for s in secrets_:
        expected = mp_signature(s, data_id, x_request_id, ts)
        for v in v1s:
            ok |= hmac.compare_digest(expected, v.lower())
    if ok and now is not None and tolerance is not None:
        t = int(ts)
        if t > 10 ** 11:
            t //= 1000
        ok = abs(now - t) <= tolerance
    return ok


# --------------------------------------------------------------------------------------------


def _payment_type(pm):
    if pm == "account_money":
        return "account_money"
    if pm in TRANSFER_METHODS:
        return "bank_transfer"
    if pm in TICKET_METHODS:
        return "ticket"
    if pm.startswith("deb") or pm in ("maestro", "elo_debito"):
        return "debit_card"
    return "credit_card"


class MercadoPagoSim(SimBase):
    """In-process MercadoPago. See README.md for the full API."""

    provider = "mercadopago"
    default_webhook_secret = "mp-webhook-secret"
    webhook_user_agent = "MercadoPago WebHook v1.0 payment"

    def __init__(self, host="127.0.0.1", port=0, webhook_secret=None, platform_user_id=1000,
                 platform_token="APP_USR-platform-token", currency_id="ARS", verbose=False):
        super().__init__(host, port, webhook_secret, verbose)
        self.tz = timezone(timedelta(hours=-4))   # offset of the dates MercadoPago writes
        self.fee_rate = Decimal("0.0399")           # mercadopago_fee, rounded half up
        self.pending_delay = 0.3                    # CONT: in_process -> approved after this
        self.token_ttl = 15552000                   # expires_in of OAuth access tokens
        self.code_ttl = 600                         # OAuth authorization codes
        self.auto_webhooks = True                   # False: record notifications, send nothing
        self.webhook_url = None                     # the panel's URL, for payments without notification_url
        self.webhook_ts_ms = False                  # True: x-signature ts in milliseconds
        self.accounts = {}
        self.tokens = {}
        self.payments = {}
        self.preferences = {}
        self.apps = {}
        self.codes = {}
        self.refresh_tokens = {}
        self.notifications = []
        self._oauth_next = []
        self._payment_ids = itertools.count(1_300_000_001)
        self._refund_ids = itertools.count(2_100_000_001)
        self._notification_ids = itertools.count(110_000_000_001)
        self._order_ids = itertools.count(30_000_000_001)
        self._user_ids = itertools.count(2001)
        self.platform_user_id = platform_user_id
        self.platform_token = platform_token
        self.add_account(platform_user_id, platform_token, currency_id=currency_id, nickname="PLATFORM")

        r = self.route
        r("POST", r"/v1/payments/?", self._post_payment)
        r("GET", r"/v1/payments/search", self._search)
        r("GET", r"/v1/payments/(?P<pid>[^/]+)", self._get_payment)
        r("PUT", r"/v1/payments/(?P<pid>[^/]+)", self._put_payment)
        r("POST", r"/v1/payments/(?P<pid>[^/]+)/refunds/?", self._post_refund)
        r("GET", r"/v1/payments/(?P<pid>[^/]+)/refunds/?", self._list_refunds)
        r("GET", r"/v1/payments/(?P<pid>[^/]+)/refunds/(?P<rid>[^/]+)", self._get_refund)
        r("POST", r"/checkout/preferences/?", self._post_preference)
        r("GET", r"/checkout/preferences/(?P<pref_id>[^/]+)", self._get_preference)
        r("PUT", r"/checkout/preferences/(?P<pref_id>[^/]+)", self._put_preference)
        r("POST", r"/oauth/token/?", self._oauth_token)
        r("GET", r"/users/me", self._users_me)
        r("GET", r"/authorization", self._authorize, "page")
        r("GET", r"/checkout/v1/redirect", self._checkout_page, "page")
        r("POST", r"/checkout/v1/pay", self._checkout_pay, "page")
        r("POST", r"/__sim/payments/(?P<pid>\d+)/pay", self._ctl_pay, "control")
        r("POST", r"/__sim/preferences/(?P<pref_id>[^/]+)/pay", self._ctl_pay_preference, "control")

    # ---------------------------------------------------------------- accounts and tokens

    def add_account(self, user_id=None, access_token=None, currency_id="ARS", nickname=None, email=None):
        """Registers a seller (collector) account, or another token for an existing one;
        returns the access token (a new "APP_USR-..." one when not given). These tokens never
        expire."""
        if currency_id not in CURRENCIES:
            raise ValueError(f"unknown currency {currency_id}")
        with self.lock:
            if user_id is None:
                user_id = next(self._user_ids)
            user_id = int(user_id)
            if user_id not in self.accounts:
                self.accounts[user_id] = {
                    "user_id": user_id, "currency_id": currency_id, "site_id": SITES[currency_id],
                    "nickname": nickname or f"TESTUSER{user_id}", "email": email or f"test_user_{user_id}@testuser.com",
                    "public_key": f"APP_USR-{uuid.uuid4()}", "client_id": str(4_000_000_000_000_000 + user_id)}
            token = access_token or f"APP_USR-{secrets.randbelow(10 ** 16):016d}-{secrets.token_hex(16)}-{user_id}"
            self.tokens[token] = {"user_id": user_id, "expires_at": None, "client_id": None, "revoked": False}
            return token

    def revoke_token(self, access_token):
        with self.lock:
            if access_token in self.tokens:
                self.tokens[access_token]["revoked"] = True

    def _auth(self, req):
        h = req.header("authorization", "")
        token = h[7:].strip() if h[:7].lower() == "bearer " else ""
        if not token:
            raise Abort(self.error_reply(401, "unauthorized: missing access token", "unauthorized"))
        with self.lock:
            t = self.tokens.get(token)
            if not t or t["revoked"]:
                raise Abort(self.error_reply(401, "invalid access token", "unauthorized"))
            if t["expires_at"] is not None and self.now() >= t["expires_at"]:
                raise Abort(self.error_reply(401, "expired access token", "unauthorized"))
            req.token = t
            return self.accounts[t["user_id"]]

    # ---------------------------------------------------------------- replies

    def error_reply(self, status, message, error=None, cause=None, headers=None):
        req = self.current_request
        rid = req.request_id if req and req.request_id else str(uuid.uuid4())
        data = datetime.now(timezone.utc).strftime("%d-%m-%YT%H:%M:%SUTC") + ";" + rid
        causes = [{"code": c, "description": d, "data": data} for c, d in (cause or [])]
        return self.reply(status, {"message": message, "error": error or STATUS_ERRORS.get(status, "error"),
                                   "status": status, "cause": causes}, headers)

    def _bad(self, message, code=C_BAD_FIELD, error="bad_request"):
        return Abort(self.error_reply(400, message, error, [(code, message)]))

    def fault_body(self, status):
        msg = {500: "internal_error", 502: "bad_gateway", 503: "service unavailable",
               429: "too many requests"}.get(status, "simulated failure")
        return self.error_reply(status, msg)

    def not_found(self, req):
        return self.error_reply(404, f"resource {req.path} not found")

    def finish_reply(self, req, reply):
        reply.headers.setdefault("x-request-id", req.request_id)
        return reply

    def _not_found_payment(self):
        return Abort(self.error_reply(404, "Payment not found", "not_found", [(C_NOT_FOUND, "Payment not found")]))

    # ---------------------------------------------------------------- helpers

    def _date(self, t=None):
        t = self.now() if t is None else t
        return datetime.fromtimestamp(t, self.tz).isoformat(timespec="milliseconds")

    def _json_body(self, req, allow_empty=False):
        if not req.body.strip():
            if allow_empty:
                req.parsed = {}
                return {}
            raise self._bad("body is required", error="bad_request")
        try:
            body = json_loads(req.body)
        except ValueError:
            raise Abort(self.error_reply(400, "invalid json", "bad_request", [(C_BAD_FIELD, "json_syntax_error")]))
        if not isinstance(body, dict):
            raise self._bad("body must be a JSON object")
        req.parsed = body
        return body

    def _idem_key(self, req):
        key = req.header("x-idempotency-key")
        if key is None or key == "":
            raise Abort(self.error_reply(400, "Header X-Idempotency-Key can't be null", "bad_request",
                                         [(C_IDEMPOTENCY, "Header X-Idempotency-Key can't be null")]))
        if len(key) > 64:
            raise Abort(self.error_reply(400, "Header X-Idempotency-Key must have between 1 and 64 characters",
                                         "bad_request", [(C_IDEMPOTENCY, "invalid X-Idempotency-Key")]))
        return key

    def _amount(self, value, field, currency, positive=True):
        d = to_decimal(value)
        if d is None or (positive and d <= 0) or d < 0 or d > Decimal("99999999999"):
            raise self._bad(f"Invalid {field}", C_AMOUNT)
        if not has_places(d, CURRENCIES[currency]):
            raise self._bad(f"Invalid {field}: {currency} allows {CURRENCIES[currency]} decimals", C_AMOUNT)
        return d

    def _notification_url(self, value):
        if value is None:
            return None
        if (not isinstance(value, str) or len(value) > 248
                or not re.match(r"^https?://[^\s/?#]+[^\s]*$", value)):
            raise self._bad("notification_url attribute must be url valid", C_NOTIFICATION_URL)
        return value

    def _currency(self, value, acct):
        cur = value if value is not None else acct["currency_id"]
        if cur not in CURRENCIES:
            raise self._bad(f"Invalid currency_id: {cur}", C_AMOUNT)
        return cur

    def _outcome(self, outcome):
        """(status, status_detail, auto_approve) for a test name or an outcome word."""
        o = str(outcome)
        if o.upper() in TEST_NAMES:
            st, det = TEST_NAMES[o.upper()]
            return st, det, o.upper() == "CONT"
        if o in OUTCOMES:
            st, det = OUTCOMES[o]
            return st, det, o == "in_process"
        raise ValueError(f"unknown outcome {outcome!r}")

    def _render(self, p):
        return {k: copy.deepcopy(v) for k, v in p.items() if not k.startswith("_")}

    def _find_payment(self, acct, pid):
        try:
            p = self.payments.get(int(pid))
        except (TypeError, ValueError):
            p = None
        if not p or p["collector_id"] != acct["user_id"]:
            raise self._not_found_payment()
        return p

    # ---------------------------------------------------------------- payments

    def _post_payment(self, req):
        acct = self._auth(req)
        key = self._idem_key(req)
        body = self._json_body(req)
        return self.idempotent((acct["user_id"], "POST", "/v1/payments"), key, None,
                               lambda: self._create_payment(acct, body))

    def _create_payment(self, acct, body):
        cur = self._currency(body.get("currency_id"), acct)
        amount = self._amount(body.get("transaction_amount"), "transaction_amount", cur)
        payer = body.get("payer")
        if not isinstance(payer, dict) or not isinstance(payer.get("email"), str) or "@" not in payer["email"]:
            raise self._bad("payer.email must be a valid email", C_PAYER_EMAIL)
        nurl = self._notification_url(body.get("notification_url"))
        app_fee = body.get("application_fee")
        if app_fee is not None:
            fee = to_decimal(app_fee)
            if fee is None or fee < 0:
                raise self._bad("application_fee must be positive", C_FEE_NEGATIVE)
            if fee > amount:
                raise self._bad("application_fee must be less than transaction_amount", C_FEE_TOO_BIG)
            if not has_places(fee, CURRENCIES[cur]):
                raise self._bad("Invalid application_fee", C_AMOUNT)
            app_fee = fee
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise self._bad("metadata must be an object")
        ext = body.get("external_reference")
        if ext is not None and (not isinstance(ext, str) or len(ext) > 256):
            raise self._bad("external_reference must be a string of at most 256 characters")
        pm = body.get("payment_method_id") or "visa"
        if not isinstance(pm, str):
            raise self._bad("payment_method_id must be a string")
        capture = body.get("capture", True)
        if not isinstance(capture, bool):
            raise self._bad("capture must be a boolean")
        name = str(payer.get("first_name") or "").strip().upper()
        if name not in TEST_NAMES:
            name = payer["email"].split("@")[0].split("+")[0].strip().upper()
        with self.lock:
            p = self._new_payment(acct, amount, cur, payer, nurl, ext, metadata, app_fee, pm, capture,
                                  description=body.get("description"), installments=body.get("installments") or 1,
                                  statement_descriptor=body.get("statement_descriptor"),
                                  binary_mode=bool(body.get("binary_mode", False)),
                                  additional_info=body.get("additional_info"))
            if name in TEST_NAMES:
                st, det, auto = self._outcome(name)
            else:
                st, det, auto = "pending", self._waiting_detail(p), False
            self._start(p, st, det, auto)
            return self.reply(201, self._render(p))

    def _waiting_detail(self, p):
        return "pending_waiting_transfer" if p["payment_type_id"] == "bank_transfer" else "pending_waiting_payment"

    def _new_payment(self, acct, amount, cur, payer, nurl, ext, metadata, app_fee, pm, capture,
                     description=None, installments=1, statement_descriptor=None, binary_mode=False,
                     additional_info=None):
        pid = next(self._payment_ids)
        now = self.now()
        d = self._date(now)
        ptype = _payment_type(pm)
        payer_out = {"id": str(payer.get("id") or 1_000_000_000 + secrets.randbelow(10 ** 9)), "type": payer.get("type"),
                     "email": payer.get("email"), "first_name": payer.get("first_name"),
                     "last_name": payer.get("last_name"), "entity_type": payer.get("entity_type"),
                     "identification": payer.get("identification") or {"type": None, "number": None},
                     "phone": payer.get("phone") or {"area_code": None, "number": None, "extension": None},
                     "operator_id": None}
        p = {
            "id": pid, "date_created": d, "date_approved": None, "date_last_updated": d,
            "date_of_expiration": None, "money_release_date": None, "money_release_status": None,
            "operation_type": "regular_payment", "issuer_id": None, "payment_method_id": pm,
            "payment_type_id": ptype, "status": "pending", "status_detail": "pending_waiting_payment",
            "currency_id": cur, "description": description, "live_mode": False, "sponsor_id": None,
            "authorization_code": None, "taxes_amount": 0, "counter_currency": None, "shipping_amount": 0,
            "collector_id": acct["user_id"], "payer": payer_out, "metadata": copy.deepcopy(metadata),
            "additional_info": copy.deepcopy(additional_info) if isinstance(additional_info, dict) else {},
            "order": {}, "external_reference": ext, "transaction_amount": amount,
            "transaction_amount_refunded": Decimal(0), "coupon_amount": 0, "installments": installments,
            "transaction_details": {"net_received_amount": Decimal(0), "total_paid_amount": amount,
                                    "overpaid_amount": 0, "installment_amount": amount if ptype.endswith("card") else 0,
                                    "external_resource_url": None, "payment_method_reference_id": None,
                                    "financial_institution": None},
            "fee_details": [], "charges_details": [], "captured": capture, "binary_mode": binary_mode,
            "statement_descriptor": statement_descriptor, "notification_url": nurl, "refunds": [],
            "processing_mode": "aggregator", "point_of_interaction": {"type": "UNSPECIFIED"},
            "card": {}, "_app_fee": app_fee,
            "_times": {"date_created": now, "date_last_updated": now, "date_approved": None,
                       "money_release_date": None},
        }
        if ptype.endswith("card"):
            p["card"] = {"first_six_digits": "503175", "last_four_digits": "0604", "expiration_month": 11,
                         "expiration_year": 2030, "cardholder": {"name": payer.get("first_name") or "APRO",
                                                                 "identification": {"type": None, "number": None}}}
        if pm == "pix":
            code = f"00020126580014br.gov.bcb.pix0136{uuid.uuid4()}5204000053039865802BR5913SIM{pid}6304ABCD"
            p["point_of_interaction"] = {"type": "PIX", "transaction_data": {
                "qr_code": code, "qr_code_base64": base64.b64encode(code.encode()).decode(),
                "ticket_url": f"{self.url}/checkout/v1/pix?payment_id={pid}"}}
        if ptype == "ticket":
            p["transaction_details"]["external_resource_url"] = f"{self.url}/checkout/v1/ticket?payment_id={pid}"
        self.payments[pid] = p
        return p

    def _start(self, p, status, detail, auto):
        """Sets the first status of a new payment and notifies payment.created."""
        if status == "approved" and not p["captured"]:
            status, detail = "authorized", "pending_capture"
        p["status"], p["status_detail"] = status, detail
        if status == "approved":
            self._apply_approval(p)
        self._notify(p, "payment.created")
        if auto:
            self.call_later(self.pending_delay, self._contingency_done, p["id"])

    def _contingency_done(self, pid):
        with self.lock:
            p = self.payments.get(pid)
            if p and p["status"] == "in_process":
                if p["captured"]:
                    self._transition(p, "approved", "accredited")
                else:
                    self._transition(p, "authorized", "pending_capture")

    def _apply_approval(self, p):
        now = self.now()
        places = CURRENCIES[p["currency_id"]]
        p["date_approved"] = self._date(now)
        p["_times"]["date_approved"] = now
        release = now + 14 * 86400
        p["money_release_date"] = self._date(release)
        p["_times"]["money_release_date"] = release
        p["money_release_status"] = "pending"
        amount = p["transaction_amount"]
        fees = [{"type": "mercadopago_fee", "amount": round_half_up(amount * self.fee_rate, places),
                 "fee_payer": "collector"}]
        if p["_app_fee"] is not None:
            fees.append({"type": "application_fee", "amount": p["_app_fee"], "fee_payer": "collector"})
        p["fee_details"] = fees
        p["transaction_details"]["net_received_amount"] = amount - sum(f["amount"] for f in fees)
        p["captured"] = True
        if p["payment_type_id"].endswith("card"):
            p["authorization_code"] = f"{secrets.randbelow(10 ** 6):06d}"

    def _touch(self, p):
        now = self.now()
        p["date_last_updated"] = self._date(now)
        p["_times"]["date_last_updated"] = now

    def _transition(self, p, status, detail, action="payment.updated"):
        p["status"], p["status_detail"] = status, detail
        self._touch(p)
        if status == "approved" and p["date_approved"] is None:
            self._apply_approval(p)
        self._notify(p, action)

    def _get_payment(self, req, pid):
        acct = self._auth(req)
        with self.lock:
            return self.reply(200, self._render(self._find_payment(acct, pid)))

    def _put_payment(self, req, pid):
        acct = self._auth(req)
        key = req.header("x-idempotency-key")
        body = self._json_body(req)
        if key:
            return self.idempotent((acct["user_id"], "PUT", f"/v1/payments/{pid}"), key, None,
                                   lambda: self._update_payment(acct, pid, body))
        return self._update_payment(acct, pid, body)

    def _update_payment(self, acct, pid, body):
        with self.lock:
            p = self._find_payment(acct, pid)
            if body.get("status") is not None:
                if body["status"] != "cancelled":
                    raise self._bad(f"invalid status {body['status']!r}: only cancelled can be set")
                if p["status"] not in ("pending", "in_process", "authorized"):
                    raise self._bad(f"Payment in status {p['status']} cannot be cancelled", C_STATE)
                self._transition(p, "cancelled", "by_collector")
                return self.reply(200, self._render(p))
            if body.get("capture") is True:
                if p["status"] != "authorized":
                    raise self._bad(f"Payment in status {p['status']} cannot be captured", C_STATE)
                if body.get("transaction_amount") is not None:
                    amount = self._amount(body["transaction_amount"], "transaction_amount", p["currency_id"])
                    if amount > p["transaction_amount"]:
                        raise self._bad("transaction_amount must not exceed the authorized amount", C_AMOUNT)
                    p["transaction_amount"] = amount
                    p["transaction_details"]["total_paid_amount"] = amount
                p["captured"] = True
                self._transition(p, "approved", "accredited")
                return self.reply(200, self._render(p))
            raise self._bad("nothing to update: send {\"status\": \"cancelled\"} or {\"capture\": true}")

    # ---------------------------------------------------------------- refunds

    def _post_refund(self, req, pid):
        acct = self._auth(req)
        key = self._idem_key(req)
        body = self._json_body(req, allow_empty=True)
        return self.idempotent((acct["user_id"], "POST", f"/v1/payments/{pid}/refunds"), key, None,
                               lambda: self._refund(acct, pid, body))

    def _refund(self, acct, pid, body):
        with self.lock:
            p = self._find_payment(acct, pid)
            if p["status"] != "approved":
                raise self._bad(f"Payment in status {p['status']} cannot be refunded", C_STATE)
            remaining = p["transaction_amount"] - p["transaction_amount_refunded"]
            if body.get("amount") is None:
                amount = remaining
            else:
                amount = self._amount(body["amount"], "amount", p["currency_id"])
                if amount > remaining:
                    raise self._bad(f"The amount to refund ({amount}) exceeds the available amount ({remaining})",
                                    C_REFUND_AMOUNT)
            now = self._date()
            refund = {"id": next(self._refund_ids), "payment_id": p["id"], "amount": amount,
                      "metadata": copy.deepcopy(body.get("metadata") or {}),
                      "source": {"id": str(acct["user_id"]), "name": acct["nickname"], "type": "collector"},
                      "date_created": now, "unique_sequence_number": None, "refund_mode": "standard",
                      "adjustment_amount": 0, "status": "approved", "reason": None, "labels": [],
                      "amount_refunded_to_payer": amount, "partition_details": []}
            p["refunds"].append(refund)
            p["transaction_amount_refunded"] += amount
            if p["transaction_amount_refunded"] >= p["transaction_amount"]:
                self._transition(p, "refunded", "refunded")
            else:
                self._transition(p, "approved", "partially_refunded")
            return self.reply(201, copy.deepcopy(refund))

    def _list_refunds(self, req, pid):
        acct = self._auth(req)
        with self.lock:
            return self.reply(200, copy.deepcopy(self._find_payment(acct, pid)["refunds"]))

    def _get_refund(self, req, pid, rid):
        acct = self._auth(req)
        with self.lock:
            p = self._find_payment(acct, pid)
            for r in p["refunds"]:
                if str(r["id"]) == rid:
                    return self.reply(200, copy.deepcopy(r))
        raise Abort(self.error_reply(404, "Refund not found", "not_found", [(C_NOT_FOUND, "Refund not found")]))

    # ---------------------------------------------------------------- search

    def _parse_date(self, s, field):
        m = _NOW_RE.match(s)
        if m:
            n, unit = m.groups()
            delta = {"DAYS": 86400, "HOURS": 3600, "MINUTES": 60}.get(unit, 0) * int(n or 0)
            return self.now() - delta
        if not _DATE_RE.match(s):
            raise self._bad(f"Invalid {field} format, use yyyy-MM-dd'T'HH:mm:ss.SSSZ", C_DATE)
        try:
            return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        except ValueError:
            raise self._bad(f"Invalid {field} format, use yyyy-MM-dd'T'HH:mm:ss.SSSZ", C_DATE)

    def _search(self, req):
        acct = self._auth(req)
        q = req.query

        def integer(name, default):
            v = q.get(name)
            if v is None or v == "":
                return default
            if not re.fullmatch(r"\d{1,9}", v):
                raise self._bad(f"Invalid {name}", C_ROWS)
            return int(v)

        limit = integer("limit", 30)
        offset = integer("offset", 0)
        if limit < 1 or limit > 100:
            raise self._bad("Number of rows exceeded the limits", C_ROWS)
        sort = q.get("sort") or "date_created"
        if sort not in SEARCH_SORTS:
            raise self._bad(f"Invalid sort {sort}", C_SORT)
        criteria = q.get("criteria") or "asc"
        if criteria not in ("asc", "desc"):
            raise self._bad(f"Invalid criteria {criteria}", C_CRITERIA)
        begin = self._parse_date(q["begin_date"], "begin_date") if q.get("begin_date") else None
        end = self._parse_date(q["end_date"], "end_date") if q.get("end_date") else None
        rng = q.get("range") or "date_created"
        if rng not in SEARCH_RANGES:
            raise self._bad(f"Invalid range {rng}", C_RANGE)
        filters = {k: q[k] for k in ("external_reference", "status", "status_detail", "payment_method_id",
                                     "payment_type_id", "currency_id", "id") if q.get(k)}
        with self.lock:
            rows = []
            for p in self.payments.values():
                if p["collector_id"] != acct["user_id"]:
                    continue
                if any(str(p[k]) != v for k, v in filters.items()):
                    continue
                t = p["_times"][rng]
                if begin is not None or end is not None:
                    if t is None or (begin is not None and t < begin) or (end is not None and t > end):
                        continue
                rows.append(p)

            def sort_key(p):
                t = p["_times"][sort]
                return (t is None, t or 0, p["id"])

            rows.sort(key=sort_key, reverse=(criteria == "desc"))
            page = [self._render(p) for p in rows[offset:offset + limit]]
            return self.reply(200, {"paging": {"total": len(rows), "limit": limit, "offset": offset},
                                    "results": page})

    # ---------------------------------------------------------------- Checkout Pro preferences

    def _post_preference(self, req):
        acct = self._auth(req)
        key = self._idem_key(req)
        body = self._json_body(req)
        client_id = req.token.get("client_id") or acct["client_id"]
        return self.idempotent((acct["user_id"], "POST", "/checkout/preferences"), key, None,
                               lambda: self._create_preference(acct, client_id, body))

    def _pref_bad(self, message, error):
        return Abort(self.error_reply(400, message, error, []))

    def _create_preference(self, acct, client_id, body):
        items = body.get("items")
        if not isinstance(items, list) or not items:
            raise self._pref_bad("items needed", "invalid_items")
        cur = None
        total = Decimal(0)
        out_items = []
        for i, it in enumerate(items):
            if not isinstance(it, dict):
                raise self._pref_bad(f"items[{i}] must be an object", "invalid_items")
            c = it.get("currency_id") or cur or acct["currency_id"]
            if c not in CURRENCIES:
                raise self._pref_bad(f"currency_id invalid: {c}", "invalid_items")
            if cur is not None and c != cur:
                raise self._pref_bad("all items must have the same currency_id", "invalid_items")
            cur = c
            q = it.get("quantity")
            if isinstance(q, bool) or not isinstance(q, int) or q < 1:
                raise self._pref_bad(f"items[{i}].quantity must be a positive integer", "invalid_items")
            price = to_decimal(it.get("unit_price"))
            if price is None or price <= 0 or not has_places(price, CURRENCIES[c]):
                raise self._pref_bad(f"items[{i}].unit_price invalid", "invalid_items")
            total += price * q
            out_items.append({"id": it.get("id", ""), "category_id": it.get("category_id", ""), "currency_id": c,
                              "description": it.get("description", ""), "picture_url": it.get("picture_url"),
                              "title": it.get("title", ""), "quantity": q, "unit_price": price})
        fee = body.get("marketplace_fee")
        if fee is not None:
            fee = to_decimal(fee)
            if fee is None or fee < 0 or fee > total or not has_places(fee, CURRENCIES[cur]):
                raise self._pref_bad("marketplace_fee invalid", "invalid_marketplace_fee")
        nurl = body.get("notification_url")
        if nurl is not None and (not isinstance(nurl, str) or len(nurl) > 248
                                 or not re.match(r"^https?://[^\s/?#]+[^\s]*$", nurl)):
            raise self._pref_bad("notification_url attribute must be url valid", "invalid_notification_url")
        back = {"failure": "", "pending": "", "success": ""}
        if isinstance(body.get("back_urls"), dict):
            back.update({k: v for k, v in body["back_urls"].items() if isinstance(v, str)})
        auto = body.get("auto_return") or ""
        if auto and not back["success"]:
            raise self._pref_bad("auto_return invalid. back_url.success must be defined", "invalid_auto_return")
        ext = body.get("external_reference") or ""
        with self.lock:
            pref_id = f"{acct['user_id']}-{uuid.uuid4()}"
            init = f"{self.url}/checkout/v1/redirect?pref_id={pref_id}"
            payer = body.get("payer") if isinstance(body.get("payer"), dict) else {}
            pref = {
                "additional_info": body.get("additional_info", ""), "auto_return": auto, "back_urls": back,
                "binary_mode": bool(body.get("binary_mode", False)), "client_id": str(client_id),
                "collector_id": acct["user_id"], "coupon_code": None, "coupon_labels": None,
                "date_created": self._date(), "date_of_expiration": body.get("date_of_expiration"),
                "expiration_date_from": body.get("expiration_date_from"),
                "expiration_date_to": body.get("expiration_date_to"), "expires": bool(body.get("expires", False)),
                "external_reference": ext, "id": pref_id, "init_point": init, "internal_metadata": None,
                "items": out_items, "marketplace": body.get("marketplace") or "NONE",
                "marketplace_fee": fee if fee is not None else 0, "metadata": copy.deepcopy(body.get("metadata") or {}),
                "notification_url": nurl, "operation_type": body.get("operation_type") or "regular_payment",
                "payer": {"phone": {"area_code": "", "number": ""}, "address": {"zip_code": "", "street_name": "",
                          "street_number": None}, "email": payer.get("email", ""), "identification":
                          {"number": "", "type": ""}, "name": payer.get("name", ""), "surname": payer.get("surname", ""),
                          "date_created": None, "last_purchase": None},
                "payment_methods": body.get("payment_methods") or {
                    "default_card_id": None, "default_payment_method_id": None, "excluded_payment_methods": [{"id": ""}],
                    "excluded_payment_types": [{"id": ""}], "installments": None, "default_installments": None},
                "processing_modes": body.get("processing_modes"), "product_id": None,
                "redirect_urls": {"failure": "", "pending": "", "success": ""}, "sandbox_init_point": init,
                "site_id": SITES[cur], "shipments": {"default_shipping_method": None, "receiver_address": {
                    "zip_code": "", "street_name": "", "street_number": None, "floor": "", "apartment": "",
                    "city_name": None, "state_name": None, "country_name": None}},
                "statement_descriptor": body.get("statement_descriptor"), "total_amount": None,
                "last_updated": None, "financing_group": "",
                "_amount": total, "_currency": cur, "_fee": fee, "_payments": [],
            }
            self.preferences[pref_id] = pref
            return self.reply(201, self._render(pref))

    def _get_preference(self, req, pref_id):
        acct = self._auth(req)
        with self.lock:
            pref = self.preferences.get(pref_id)
            if not pref or pref["collector_id"] != acct["user_id"]:
                raise Abort(self.error_reply(404, f"Preference {pref_id} not found", "not_found", []))
            return self.reply(200, self._render(pref))

    def _put_preference(self, req, pref_id):
        """Updates a preference; only its expiry fields are honoured (how a seller closes a
        checkout nobody paid)."""
        acct = self._auth(req)
        body = self._json_body(req)
        with self.lock:
            pref = self.preferences.get(pref_id)
            if not pref or pref["collector_id"] != acct["user_id"]:
                raise Abort(self.error_reply(404, f"Preference {pref_id} not found", "not_found", []))
            if "expires" in body:
                pref["expires"] = bool(body["expires"])
            for k in ("expiration_date_from", "expiration_date_to"):
                if k in body:
                    pref[k] = body[k]
            pref["last_updated"] = self._date()
            return self.reply(200, self._render(pref))

    def preference_expired(self, pref_id):
        """True when the preference expires and its expiration_date_to has passed."""
        with self.lock:
            pref = self.preferences[pref_id]
        end = pref.get("expiration_date_to")
        if not pref["expires"] or not end:
            return False
        return datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp() <= self.now()

    # ---------------------------------------------------------------- test controls

    def pay(self, payment_id, outcome="approved", status_detail=None):
        """Settles a pending/in_process payment as the buyer or the bank would: outcome is
        "approved", "rejected", "pending", "in_process", "cancelled" or a test name ("APRO",
        "FUND", ...). Notifies payment.updated. Returns the payment (as GET shows it)."""
        st, det, _ = self._outcome(outcome)
        with self.lock:
            p = self.payments[int(payment_id)]
            if p["status"] not in ("pending", "in_process"):
                raise ValueError(f"payment {payment_id} is {p['status']}, not pending/in_process")
            if st == "approved" and not p["captured"]:
                st, det = "authorized", "pending_capture"
            if st == "pending" and status_detail is None:
                det = self._waiting_detail(p)
            self._transition(p, st, status_detail or det)
            return self._render(p)

    def set_status(self, payment_id, status, status_detail, notify=True):
        """Sets any status (no checks), e.g. ("charged_back", "settled") or ("refunded",
        "by_admin"); notifies payment.updated unless notify=False."""
        with self.lock:
            p = self.payments[int(payment_id)]
            p["status"], p["status_detail"] = status, status_detail
            self._touch(p)
            if status == "approved" and p["date_approved"] is None:
                self._apply_approval(p)
            if notify:
                self._notify(p, "payment.updated")
            return self._render(p)

    def chargeback(self, payment_id, status_detail="settled"):
        """An approved payment becomes charged_back (payment.updated)."""
        with self.lock:
            p = self.payments[int(payment_id)]
            if p["status"] != "approved":
                raise ValueError(f"payment {payment_id} is {p['status']}, not approved")
            self._transition(p, "charged_back", status_detail)
            return self._render(p)

    def pay_preference(self, pref_id, outcome="approved", payer=None, payment_method_id="visa"):
        """The buyer pays a Checkout Pro preference: creates the payment (amount = sum of
        unit_price x quantity, the preference's currency, external_reference, notification_url,
        metadata; marketplace_fee becomes an application_fee) and notifies payment.created.
        outcome as for pay(); "pending" waits for pay(), "in_process"/"CONT" approves after
        pending_delay. Returns the payment."""
        st, det, auto = self._outcome(outcome)
        if self.preference_expired(pref_id):
            raise ValueError(f"preference {pref_id} has expired")
        with self.lock:
            pref = self.preferences[pref_id]
            acct = self.accounts[pref["collector_id"]]
            payer = payer or {"email": pref["payer"].get("email") or "test_user_buyer@testuser.com",
                              "first_name": pref["payer"].get("name") or None}
            p = self._new_payment(acct, pref["_amount"], pref["_currency"], payer, pref["notification_url"],
                                  pref["external_reference"] or None, pref["metadata"], pref["_fee"] or None,
                                  payment_method_id, True, description=pref["items"][0]["title"] or None,
                                  statement_descriptor=pref["statement_descriptor"], binary_mode=pref["binary_mode"])
            p["order"] = {"id": next(self._order_ids), "type": "mercadopago"}
            if st == "pending":
                det = self._waiting_detail(p)
            pref["_payments"].append(p["id"])
            self._start(p, st, det, auto)
            return self._render(p)

    def payment(self, payment_id):
        """The payment as GET /v1/payments/{id} shows it (no auth)."""
        with self.lock:
            return self._render(self.payments[int(payment_id)])

    def payments_of(self, user_id=None, external_reference=None):
        with self.lock:
            return [self._render(p) for p in self.payments.values()
                    if (user_id is None or p["collector_id"] == int(user_id))
                    and (external_reference is None or p["external_reference"] == external_reference)]

    # ---------------------------------------------------------------- webhooks

    def _notify(self, p, action):
        """Records a notification for p and, when it has a notification_url (or the sim has a
        webhook_url) and auto_webhooks is on, queues its delivery (with retries)."""
        body = self._notification_body(p, action)
        raw = json_dumps(body).encode("utf-8")
        n = {"id": body["id"], "payment_id": p["id"], "action": action, "status": p["status"],
             "url": p["notification_url"], "body": raw}
        self.notifications.append(n)
        url = p["notification_url"] or self.webhook_url
        if url and self.auto_webhooks:
            target = self.notification_target(url, str(p["id"]))
            request_id = str(uuid.uuid4())
            self.queue_webhook(target, raw, lambda attempt: self.webhook_headers(str(p["id"]), request_id, attempt),
                               label=f"payment {p['id']} {action} ({p['status']})")

    def _notification_body(self, p, action):
        return {"id": next(self._notification_ids), "live_mode": False, "type": "payment",
                "date_created": self._date(), "user_id": p["collector_id"], "api_version": "v1",
                "action": action, "data": {"id": str(p["id"])}}

    @staticmethod
    def notification_target(url, data_id, topic="payment"):
        """The notification URL with `data.id=<id>&type=<topic>` appended to its query."""
        base, hash_, frag = url.partition("#")
        sep = "" if base.endswith(("?", "&")) else ("&" if "?" in base else "?")
        return f"{base}{sep}data.id={urllib.parse.quote(data_id, safe='')}&type={topic}" + (hash_ + frag)

    def webhook_headers(self, data_id, request_id, attempt=0, secret=None, ts=None):
        """Headers of one delivery: x-signature over (data_id, request_id, ts)."""
        if ts is None:
            ts = int(self.now() * 1000) if self.webhook_ts_ms else int(self.now())
        secret = self.webhook_secret if secret is None else secret
        return {"Content-Type": "application/json", "User-Agent": self.webhook_user_agent,
                "x-signature": mp_signature_header(secret, data_id, request_id, ts),
                "x-request-id": request_id, "x-retry": str(attempt), "x-socket-timeout": "22000"}

    def webhook_ok(self, status):
        return status in (200, 201)   # MercadoPago accepts only 200 or 201

    def send_webhook(self, payment_id, action="payment.updated", url=None, secret=None, ts=None,
                     request_id=None, data_id=None, body=None, wait=True):
        """(Re)sends a notification for a payment, now. url: the notification URL (default
        the payment's, else webhook_url); `?data.id=..&type=payment` is appended.
        secret/ts/request_id override the signature's inputs (a wrong secret, a stale ts);
        data_id replaces the id in the query and the signature (not in the body); body
        (bytes/dict) replaces the body. wait=True: one attempt, returns the HTTP status (None:
        no answer); wait=False: queued with retries, returns None."""
        with self.lock:
            p = self.payments[int(payment_id)]
            url = url or p["notification_url"] or self.webhook_url
            if not url:
                raise ValueError(f"payment {payment_id} has no notification_url; pass url=")
            b = self._notification_body(p, action)
        if body is None:
            raw = json_dumps(b).encode()
        elif isinstance(body, (dict, list)):
            raw = json_dumps(body).encode()
        else:
            raw = body if isinstance(body, bytes) else body.encode()
        did = str(p["id"]) if data_id is None else str(data_id)
        target = self.notification_target(url, did)
        rid = request_id or str(uuid.uuid4())
        if wait:
            return self.deliver(target, raw, self.webhook_headers(did, rid, 0, secret, ts),
                                label=f"payment {payment_id} {action} (manual)")
        self.queue_webhook(target, raw, lambda attempt: self.webhook_headers(did, rid, attempt, secret, ts),
                           label=f"payment {payment_id} {action} (manual)")
        return None

    # ---------------------------------------------------------------- OAuth

    def oauth_app(self, client_id, client_secret, redirect_uri, owner_user_id=None, pkce=False):
        """Registers an application. redirect_uri: a string or a list of allowed URIs.
        pkce=True requires code_challenge at /authorization."""
        uris = [redirect_uri] if isinstance(redirect_uri, str) else list(redirect_uri)
        with self.lock:
            self.apps[str(client_id)] = {"client_id": str(client_id), "client_secret": client_secret,
                                         "redirect_uris": uris, "owner": owner_user_id or self.platform_user_id,
                                         "pkce": pkce}

    def oauth_next_user(self, user_id=None, currency_id="ARS"):
        """The next /authorization approves as this seller (created if new; None: a new
        seller). Calls queue up; when the queue is empty a new seller is created."""
        with self.lock:
            if user_id is not None and int(user_id) not in self.accounts:
                self.add_account(int(user_id), currency_id=currency_id)
            self._oauth_next.append(("user", None if user_id is None else int(user_id)))

    def oauth_next_error(self, error="access_denied", description="The user denied the authorization"):
        """The next /authorization redirects back with ?error=...&error_description=...&state=."""
        with self.lock:
            self._oauth_next.append(("error", (error, description)))

    def _authorize(self, req):
        q = req.query
        with self.lock:
            app = self.apps.get(q.get("client_id", ""))
            if not app:
                return self.html_reply(400, "Invalid client", "<p>Unknown client_id.</p>")
            redirect_uri = q.get("redirect_uri", "")
            if redirect_uri not in app["redirect_uris"]:
                return self.html_reply(400, "Invalid redirect_uri",
                                       "<p>redirect_uri does not match the application's.</p>")
            if q.get("response_type") != "code":
                return self.redirect(self._add_query(redirect_uri, {"error": "unsupported_response_type",
                                                                    "state": q.get("state")}))
            challenge, method = q.get("code_challenge"), q.get("code_challenge_method") or "plain"
            if app["pkce"] and not challenge:
                return self.redirect(self._add_query(redirect_uri, {"error": "invalid_request",
                                                                    "error_description": "code_challenge required",
                                                                    "state": q.get("state")}))
            kind, value = self._oauth_next.pop(0) if self._oauth_next else ("user", None)
            if kind == "error":
                return self.redirect(self._add_query(redirect_uri, {"error": value[0], "error_description": value[1],
                                                                    "state": q.get("state")}))
            if value is None:
                value = next(self._user_ids)
                self.add_account(value)
            user_id = value
            code = f"TG-{secrets.token_hex(12)}-{user_id}"
            self.codes[code] = {"client_id": app["client_id"], "redirect_uri": redirect_uri, "user_id": user_id,
                                "created": self.now(), "used": False, "challenge": challenge,
                                "challenge_method": method}
            return self.redirect(self._add_query(redirect_uri, {"code": code, "state": q.get("state")}))

    @staticmethod
    def _add_query(url, params):
        params = {k: v for k, v in params.items() if v is not None}
        sep = "" if url.endswith(("?", "&")) else ("&" if "?" in url else "?")
        return url + sep + urllib.parse.urlencode(params)

    def _oauth_error(self, error, message, status=400):
        return Abort(self.reply(status, {"message": message, "error": error, "status": status, "cause": []}))

    def _oauth_token(self, req):
        ctype = req.header("content-type", "")
        if "application/x-www-form-urlencoded" in ctype:
            body = dict(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
            req.parsed = body
        else:
            try:
                body = json_loads(req.body) if req.body.strip() else {}
            except ValueError:
                raise self._oauth_error("invalid_request", "invalid json body")
            if not isinstance(body, dict):
                raise self._oauth_error("invalid_request", "body must be a JSON object")
            req.parsed = body
        grant = body.get("grant_type")
        client_id = str(body.get("client_id") or "")
        with self.lock:
            app = self.apps.get(client_id)
            if not app or body.get("client_secret") != app["client_secret"]:
                raise self._oauth_error("invalid_client", "invalid client_id or client_secret")
            if grant == "authorization_code":
                code = self.codes.get(str(body.get("code") or ""))
                if not code or code["used"] or code["client_id"] != client_id:
                    raise self._oauth_error("invalid_grant", "invalid, expired or already used authorization code")
                if self.now() - code["created"] > self.code_ttl:
                    raise self._oauth_error("invalid_grant", "expired authorization code")
                if body.get("redirect_uri") != code["redirect_uri"]:
                    raise self._oauth_error("invalid_grant", "redirect_uri does not match")
                if code["challenge"]:
                    verifier = body.get("code_verifier") or ""
                    if code["challenge_method"] == "S256":
                        calc = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                    else:
                        calc = verifier
                    if not (43 <= len(verifier) <= 128) or not hmac.compare_digest(calc, code["challenge"]):
                        raise self._oauth_error("invalid_grant", "invalid code_verifier")
                code["used"] = True
                return self.reply(200, self._issue_tokens(code["user_id"], client_id))
            if grant == "refresh_token":
                rt = self.refresh_tokens.get(str(body.get("refresh_token") or ""))
                if not rt or rt["used"] or rt["client_id"] != client_id:
                    raise self._oauth_error("invalid_grant", "invalid or already used refresh_token")
                rt["used"] = True
                out = self._issue_tokens(rt["user_id"], client_id)
                old = self.tokens.get(rt["access_token"])
                if old:
                    old["revoked"] = True
                return self.reply(200, out)
            if grant == "client_credentials":
                return self.reply(200, self._issue_tokens(app["owner"], client_id, refresh=False))
            if not grant:
                raise self._oauth_error("invalid_request", "grant_type is required")
            raise self._oauth_error("unsupported_grant_type", f"unsupported grant_type {grant}")

    def _issue_tokens(self, user_id, client_id, refresh=True):
        acct = self.accounts[user_id]
        stamp = datetime.fromtimestamp(self.now(), timezone.utc).strftime("%m%d%H")
        access = f"APP_USR-{client_id}-{stamp}-{secrets.token_hex(16)}-{user_id}"
        self.tokens[access] = {"user_id": user_id, "expires_at": self.now() + self.token_ttl,
                               "client_id": client_id, "revoked": False}
        out = {"access_token": access, "token_type": "bearer", "expires_in": self.token_ttl,
               "scope": "offline_access payments read write", "user_id": user_id}
        if refresh:
            rt = f"TG-{secrets.token_hex(12)}-{user_id}"
            self.refresh_tokens[rt] = {"user_id": user_id, "client_id": client_id, "access_token": access,
                                       "used": False}
            out["refresh_token"] = rt
        out["public_key"] = acct["public_key"]
        out["live_mode"] = False
        return out

    def _users_me(self, req):
        acct = self._auth(req)
        return self.reply(200, {"id": acct["user_id"], "nickname": acct["nickname"], "email": acct["email"],
                                "first_name": "Test", "last_name": "User", "site_id": acct["site_id"],
                                "country_id": COUNTRIES[acct["site_id"]],
                                "user_type": "normal", "status": {"site_status": "active"}})

    # ---------------------------------------------------------------- hosted checkout page

    def _checkout_page(self, req):
        pref_id = req.query.get("pref_id", "")
        with self.lock:
            pref = self.preferences.get(pref_id)
            if not pref:
                return self.html_reply(404, "Checkout", "<p>Unknown preference.</p>")
            lines = "".join(f"<li>{html.escape(str(i['title']))} × {i['quantity']} — {i['unit_price']}</li>"
                            for i in pref["items"])
            total = f"{pref['_amount']} {pref['_currency']}"
        buttons = "".join(
            f"<button name='outcome' value='{o}'>{label}</button>"
            for o, label in (("approved", "Pay (approved)"), ("rejected", "Pay (rejected)"),
                             ("pending", "Pay later (pending)")))
        return self.html_reply(200, "MercadoPago simulator — checkout",
                               f"<ul>{lines}</ul><p>Total: <b>{html.escape(total)}</b></p>"
                               f"<form method='post' action='/checkout/v1/pay'>"
                               f"<input type='hidden' name='pref_id' value='{html.escape(pref_id)}'>{buttons}</form>")

    def _checkout_pay(self, req):
        form = dict(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace")))
        pref_id, outcome = form.get("pref_id", ""), form.get("outcome", "approved")
        try:
            p = self.pay_preference(pref_id, outcome)
        except (KeyError, ValueError) as e:
            return self.html_reply(400, "Checkout", f"<p>{html.escape(str(e))}</p>")
        with self.lock:
            pref = self.preferences[pref_id]
            which = {"approved": "success", "rejected": "failure"}.get(p["status"], "pending")
            back = pref["back_urls"].get(which)
        if back:
            params = {"collection_id": p["id"], "collection_status": p["status"], "payment_id": p["id"],
                      "status": p["status"], "external_reference": p["external_reference"] or "null",
                      "payment_type": p["payment_type_id"], "merchant_order_id": p["order"].get("id"),
                      "preference_id": pref_id, "site_id": SITES[p["currency_id"]],
                      "processing_mode": "aggregator", "merchant_account_id": "null"}
            return self.redirect(self._add_query(back, params))
        return self.html_reply(200, "Payment done", f"<p>Payment {p['id']}: {html.escape(p['status'])} "
                                                    f"({html.escape(p['status_detail'])})</p>")

    # ---------------------------------------------------------------- control endpoints

    def _ctl_outcome(self, req):
        if "json" in req.header("content-type", ""):
            return (json_loads(req.body or b"{}") or {}).get("outcome", "approved")
        form = dict(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace")))
        return form.get("outcome") or req.query.get("outcome") or "approved"

    def _ctl_pay(self, req, pid):
        try:
            p = self.pay(pid, self._ctl_outcome(req))
        except (KeyError, ValueError) as e:
            return Reply(400, json_dumps({"error": str(e)}))
        if "form" in req.header("content-type", ""):
            return self.redirect("/__sim")
        return Reply(200, json_dumps(p, 2))

    def _ctl_pay_preference(self, req, pref_id):
        try:
            p = self.pay_preference(pref_id, self._ctl_outcome(req))
        except (KeyError, ValueError) as e:
            return Reply(400, json_dumps({"error": str(e)}))
        return Reply(200, json_dumps(p, 2))

    def describe(self):
        d = super().describe()
        with self.lock:
            d.update({"platform_user_id": self.platform_user_id, "platform_token": self.platform_token,
                      "webhook_secret": self.webhook_secret,
                      "accounts": sorted(self.accounts), "apps": sorted(self.apps),
                      "payments": [{"id": p["id"], "collector_id": p["collector_id"], "status": p["status"],
                                    "status_detail": p["status_detail"],
                                    "amount": p["transaction_amount"], "currency_id": p["currency_id"],
                                    "external_reference": p["external_reference"]}
                                   for p in self.payments.values()],
                      "preferences": sorted(self.preferences)})
        return d

    def html_index(self):
        with self.lock:
            rows = []
            for p in self.payments.values():
                act = ""
                if p["status"] in ("pending", "in_process"):
                    act = "".join(f"<form method='post' action='/__sim/payments/{p['id']}/pay' style='display:inline'>"
                                  f"<button name='outcome' value='{o}'>{o}</button></form>"
                                  for o in ("approved", "rejected"))
                rows.append(f"<tr><td>{p['id']}</td><td>{p['collector_id']}</td><td>{p['transaction_amount']} "
                            f"{p['currency_id']}</td><td>{html.escape(str(p['external_reference']))}</td>"
                            f"<td>{p['status']} / {p['status_detail']}</td><td>{act}</td></tr>")
        return self.html_reply(200, "MercadoPago simulator",
                               f"<p>API: {html.escape(self.url)} — platform token "
                               f"<code>{html.escape(self.platform_token)}</code> (user {self.platform_user_id})</p>"
                               "<table border=1 cellpadding=4><tr><th>id</th><th>collector</th><th>amount</th>"
                               "<th>external_reference</th><th>status</th><th></th></tr>" + "".join(rows) + "</table>")


# --------------------------------------------------------------------------------------------
# Standalone mode


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m sim.mercadopago",
                                 description="Run the MercadoPago simulator until interrupted.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    ap.add_argument("--webhook-secret", default=MercadoPagoSim.default_webhook_secret)
    ap.add_argument("--token", default="APP_USR-platform-token", help="the platform account's access token")
    ap.add_argument("--user-id", type=int, default=1000, help="the platform account's user id")
    ap.add_argument("--currency", default="ARS", choices=sorted(CURRENCIES))
    ap.add_argument("--client-id", help="register an OAuth application with this client id")
    ap.add_argument("--client-secret", default="sim-client-secret")
    ap.add_argument("--redirect-uri", action="append", default=[], help="allowed OAuth redirect URI (repeatable)")
    ap.add_argument("--pending-delay", type=float, default=0.3, help="seconds before a CONT payment is approved")
    ap.add_argument("--public-url", help="URL to advertise (init_point) instead of http://HOST:PORT")
    ap.add_argument("--verbose", action="store_true", help="log every request on stderr")
    a = ap.parse_args(argv)
    sim = MercadoPagoSim(a.host, a.port, a.webhook_secret, a.user_id, a.token, a.currency, a.verbose)
    sim.pending_delay = a.pending_delay
    sim.public_url = a.public_url
    if a.client_id:
        sim.oauth_app(a.client_id, a.client_secret, a.redirect_uri or ["http://127.0.0.1:8080/oauth/callback"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim.start()
    print(f"MercadoPago simulator on {sim.url}", flush=True)
    print(f"  platform user_id {a.user_id}, access token {a.token}", flush=True)
    print(f"  webhook secret {a.webhook_secret}; state and pay buttons: {sim.url}/__sim", flush=True)
    if a.client_id:
        print(f"  OAuth app {a.client_id} / {a.client_secret}: {sim.url}/authorization", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
