"""Property test of the ledger: thousands of random operations (payments that are approved,
rejected, left pending or charged back; partial and full refunds; payouts, some beyond the
balance; payouts marked paid or failed; repeated provider reports), run concurrently, after
which `pasarela ledger check` passes and every tenant's balance equals what this test computes
on its own from the final payments and payouts with the rules of docs/ledger.md.

LEDGER_PROPERTY_OPS and LEDGER_PROPERTY_SEED change the size and the seed (printed on
failure)."""
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import Server, assert_no_sanitizer_reports, ledger_check
from test_payments import sandbox_event, signed

OPS = int(os.environ.get("LEDGER_PROPERTY_OPS", "3000"))
SEED = int(os.environ.get("LEDGER_PROPERTY_SEED", str(random.randrange(1 << 30))))
THREADS = 8
SANDBOX_BPS = 299
CURRENCIES = ("MXN", "CLP", "KWD")
EMAILS = (("ana@example.com", 70), ("chargeback@example.com", 12), ("reject@example.com", 10),
          ("pending@example.com", 8))
TENANTS = ({"platform_fee_bps": 0}, {"platform_fee_bps": 100},
           {"platform_fee_bps": 250, "settlement_delay_seconds": 1})


def fee_bps(amount, bps):
    return (amount * bps + 5000) // 10000


def prorate(part, reversed_, gross):
    return (2 * part * reversed_ + gross) // (2 * gross)


def net_remaining(p, bps):
    """What the tenant keeps of payment p (docs/ledger.md: split, cumulative reversal)."""
    if p["status"] not in ("approved", "partially_refunded", "refunded", "charged_back"):
        return 0, 0
    g = p["amount"]
    platform = fee_bps(g, bps)
    provider = min(p["provider_fee"], g - platform)
    fees = platform + provider
    r = g if p["status"] == "charged_back" else min(p["amount_refunded"], g)
    return (g - fees) - (r - prorate(fees, r, g)), platform - prorate(platform, r, g)


class World:
    """What the random operations created, shared by the threads."""

    def __init__(self, server, tenants):
        self.s = server
        self.tenants = tenants
        self.lock = threading.Lock()
        self.payments = []  # (tenant index, payment id)
        self.payouts = []   # (tenant index, payout id)
        self.statuses = {}

    def pick(self, rng, items):
        with self.lock:
            return rng.choice(items) if items else None


def op_payment(w, rng, t):
    emails, weights = zip(*EMAILS)
    cur = rng.choice(CURRENCIES)
    amount = rng.choice((1, 99, 101, rng.randrange(1, 2_000_000)))
    body = {"amount": amount, "currency": cur, "description": "property",
            "customer": {"email": rng.choices(emails, weights)[0]}}
    r = w.s.request("POST", "/v1/payments", body, key=w.tenants[t]["key"])
    assert r.status == 201, r
    with w.lock:
        w.payments.append((t, r.json["id"]))


def op_refund(w, rng, _t):
    picked = w.pick(rng, w.payments)
    if not picked:
        return
    t, pid = picked
    body = {} if rng.random() < 0.2 else {"amount": rng.randrange(1, 60_000)}
    r = w.s.request("POST", f"/v1/payments/{pid}/refunds", body, key=w.tenants[t]["key"])
    assert r.status in (201, 409, 422, 502), r


def op_payout(w, rng, t):
    key = w.tenants[t]["key"]
    cur = rng.choice(CURRENCIES)
    rows = w.s.request("GET", "/v1/balance", key=key).json["data"]
    available = sum(row["available"] for row in rows if row["currency"] == cur)
    amount = rng.randrange(1, max(2, available // 2 if rng.random() < 0.8 else available * 2 + 2))
    r = w.s.request("POST", "/v1/payouts", {"amount": amount, "currency": cur}, key=key)
    assert r.status in (201, 422), r
    if r.status == 201:
        with w.lock:
            w.payouts.append((t, r.json["id"]))
    else:
        assert r.json["error"]["code"] == "balance_insufficient", r


def op_settle(w, rng, _t):
    picked = w.pick(rng, w.payouts)
    if not picked:
        return
    action, body = rng.choice((("paid", {"reference": "bank-1"}), ("failed", {"reason": "no"})))
    r = w.s.admin("POST", f"/v1/payouts/{picked[1]}/{action}", body)
    assert r.status in (200, 409), r


def op_report_again(w, rng, _t):
    """A provider repeating what pasarela already knows: must post nothing new."""
    picked = w.pick(rng, w.payments)
    if not picked:
        return
    t, pid = picked
    p = w.s.request("GET", f"/v1/payments/{pid}", key=w.tenants[t]["key"]).json
    if p["status"] in ("pending", "cancelled", "expired"):
        return
    raw, h = signed(w.s, sandbox_event(p, p["status"], refunded=p["amount_refunded"]))
    assert w.s.request("POST", "/webhooks/sandbox", raw=raw, headers=h).status == 200


OPERATIONS = ((op_payment, 40), (op_refund, 25), (op_payout, 15), (op_settle, 10),
              (op_report_again, 10))


def run_op(w, i):
    rng = random.Random(SEED * 1_000_003 + i)
    fns, weights = zip(*OPERATIONS)
    rng.choices(fns, weights)[0](w, rng, rng.randrange(len(w.tenants)))


def all_payments(s, key):
    out, after = [], None
    while True:
        q = "/v1/payments?limit=100" + (f"&starting_after={after}" if after else "")
        page = s.request("GET", q, key=key).json
        out += page["data"]
        if not page["has_more"]:
            return out
        after = page["data"][-1]["id"]


def all_payouts(s, key):
    out, after = [], None
    while True:
        q = "/v1/payouts?limit=100" + (f"&starting_after={after}" if after else "")
        page = s.request("GET", q, key=key).json
        out += page["data"]
        if not page["has_more"]:
            return out
        after = page["data"][-1]["id"]


def settled(s, tenants):
    """True once the sandbox has nothing left to do and every delayed release ran."""
    for t in tenants:
        for p in all_payments(s, t["key"]):
            email = p["customer"]["email"]
            if p["status"] == "pending" and not email.startswith("pending@"):
                return False
            if email.startswith("chargeback@") and p["status"] in ("approved",
                                                                   "partially_refunded"):
                return False
        if any(row["pending"] for row in s.request("GET", "/v1/balance",
                                                   key=t["key"]).json["data"]):
            return False
    return True


def expected_balances(s, t, bps):
    """Per currency: (available, receivable, in transit, fee revenue), computed here."""
    totals = {}
    for p in all_payments(s, t["key"]):
        net, fee = net_remaining(p, bps)
        row = totals.setdefault(p["currency"], [0, 0, 0])
        row[0] += net
        row[2] += fee
    transit = {}
    for po in all_payouts(s, t["key"]):
        row = totals.setdefault(po["currency"], [0, 0, 0])
        if po["status"] != "failed":
            row[0] -= po["amount"]
        if po["status"] == "requested":
            transit[po["currency"]] = transit.get(po["currency"], 0) + po["amount"]
    return {cur: (max(0, x), max(0, -x), transit.get(cur, 0), fee)
            for cur, (x, _, fee) in totals.items()}


def test_random_operations_keep_the_ledger_exact(tmp_path):
    s = Server(tmp_path / "data", extra_env={"PASARELA_SANDBOX_DELAY_MS": "20",
                                             "PASARELA_WORKERS": "4"})
    os.makedirs(s.data_dir)
    s.start()
    started = time.time()
    try:
        tenants = []
        for fields in TENANTS:
            t = s.create_tenant(**fields)
            tenants.append({"id": t["id"], "key": s.create_key(t["id"])["secret"], **fields})
        w = World(s, tenants)
        with ThreadPoolExecutor(THREADS) as pool:
            for f in [pool.submit(run_op, w, i) for i in range(OPS)]:
                f.result()
        deadline = time.time() + 90
        while not settled(s, tenants):
            assert time.time() < deadline, f"not settled after 90 s (seed {SEED})"
            time.sleep(0.2)
        report = s.admin("GET", "/v1/reports/platform").json["data"]
        for t in tenants:
            want = expected_balances(s, t, t["platform_fee_bps"])
            got = {row["currency"]: (row["available"], row["receivable"],
                                     row["payouts_in_transit"], None)
                   for row in s.request("GET", "/v1/balance", key=t["key"]).json["data"]}
            for cur, (available, receivable, transit, fee) in want.items():
                assert got.get(cur, (0, 0, 0, None))[:3] == (available, receivable, transit), \
                    (SEED, t["id"], cur, got.get(cur), want[cur])
                revenue = [r["fee_revenue"] for r in report
                           if r["tenant_id"] == t["id"] and r["currency"] == cur]
                assert (revenue or [0])[0] == fee, (SEED, t["id"], cur)
    finally:
        code = s.stop()
    assert code == 0, s.log()[-3000:]
    assert_no_sanitizer_reports(s.log())
    check = ledger_check(s.data_dir)
    assert check.returncode == 0, (SEED, check.stdout, check.stderr)
    print(f"{OPS} operations, seed {SEED}, {time.time() - started:.1f} s: {check.stdout.strip()}")
