#!/usr/bin/env python3
"""Re-verifies a pasarela audit chain without pasarela: recomputes every record's SHA-256 over
the canonical form of docs/audit.md and checks sequence numbers and links.
usage: verify-audit.py FILE.json   (the records of one chain: a list, or a page {"data": [...]})
       verify-audit.py URL         (GET /v1/audit of a server; key in $PASARELA_KEY)"""
import hashlib, json, os, sys, urllib.request

FIELDS = ("chain_id", "seq", "id", "prev_hash", "created", "correlation_id", "actor",
          "tenant_id", "action", "entity_type", "entity_id", "changes")

def fetch(url):
    records, after = [], ""
    while True:
        sep = "&" if "?" in url else "?"
        req = urllib.request.Request(f"{url}{sep}limit=100{after}",
                                     headers={"Authorization": "Bearer " + os.environ["PASARELA_KEY"]})
        page = json.load(urllib.request.urlopen(req))
        records += page["data"]
        if not page["has_more"]:
            return records
        after = "&starting_after=" + page["data"][-1]["id"]

def canonical(record):
    body = {k: record[k] for k in FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

def verify(records):
    prev = ""
    for n, r in enumerate(sorted(records, key=lambda r: r["seq"]), start=1):
        if r["seq"] != n:
            return f"record {n} is missing"
        if hashlib.sha256(canonical(r)).hexdigest() != r["hash"]:
            return f"record {n} does not match its hash"
        if r["prev_hash"] != prev:
            return f"record {n} does not link to record {n - 1}"
        prev = r["hash"]
    return None

arg = sys.argv[1]
records = fetch(arg) if arg.startswith("http") else json.load(open(arg, encoding="utf-8"))
records = records["data"] if isinstance(records, dict) else records
problem = verify(records)
print(f"broken: {problem}" if problem else f"intact: {len(records)} records")
sys.exit(1 if problem else 0)
