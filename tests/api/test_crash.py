"""Durability of the webhook inbox: a few thousand signed webhooks arrive concurrently, the
server is killed with SIGKILL in the middle of the stream, and after a restart every webhook
that was answered 2xx is in the inbox exactly once and gets processed."""
import os
import signal
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from test_payments import pay, sandbox_event, signed

WEBHOOKS = 3000


def test_kill_9_mid_stream_loses_no_acknowledged_webhook(server):
    t = server.create_tenant()
    key = server.create_key(t["id"])["secret"]
    payments = [pay(server, key, email="pending@x.com").json for _ in range(50)]
    bodies = []
    for i in range(WEBHOOKS):
        raw, headers = signed(server, sandbox_event(payments[i % len(payments)], "approved"),
                              msg_id=f"msg_crash_{i}_{uuid.uuid4().hex[:8]}")
        bodies.append((headers["webhook-id"], raw, headers))
    acknowledged = []
    lock = threading.Lock()
    started = threading.Event()

    def send(item):
        msg_id, raw, headers = item
        started.set()
        try:
            r = server.request("POST", "/webhooks/sandbox", raw=raw, headers=headers, timeout=5)
        except OSError:
            return
        if 200 <= r.status < 300:
            with lock:
                acknowledged.append(msg_id)

    pid = server.proc.pid
    with ThreadPoolExecutor(32) as pool:
        futures = [pool.submit(send, b) for b in bodies]
        started.wait(5)
        deadline = time.time() + 10
        while time.time() < deadline and len(acknowledged) < WEBHOOKS // 4:
            time.sleep(0.005)
        os.kill(pid, signal.SIGKILL)
        for f in futures:
            f.result()
    server.proc.wait()
    server.proc = None
    server.log_file.close()
    assert WEBHOOKS // 4 <= len(acknowledged) < WEBHOOKS, len(acknowledged)

    server.start()
    db = sqlite3.connect(os.path.join(server.data_dir, "pasarela.db"))
    rows = db.execute("SELECT event_id, count(*) FROM webhook_inbox WHERE provider = 'sandbox'"
                      " GROUP BY event_id").fetchall()
    counts = dict(rows)
    missing = [m for m in acknowledged if m not in counts]
    assert not missing, f"{len(missing)} acknowledged webhooks lost, e.g. {missing[:3]}"
    assert all(n == 1 for n in counts.values())
    deadline = time.time() + 60
    while time.time() < deadline:
        pending = db.execute("SELECT count(*) FROM webhook_inbox WHERE state != 'processed'"
                             " AND provider = 'sandbox'").fetchone()[0]
        if pending == 0:
            break
        time.sleep(0.1)
    assert pending == 0, f"{pending} webhooks not processed after the restart"
    statuses = {server.request("GET", f"/v1/payments/{p['id']}", key=key).json["status"]
                for p in payments}
    assert statuses == {"approved"}
    assert server.admin("GET", "/v1/audit/verify").json["intact"] is True
