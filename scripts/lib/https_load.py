#!/usr/bin/env python3
"""Constant-rate HTTPS load with keep-alive connections, for checks through a TLS balancer
(scripts/fleet): every request is due at start + k / rate; each failure (a status that is not
2xx, a reset, a timeout) is counted and the connection opened again. Prints one JSON object.

  python3 scripts/lib/https_load.py --url https://127.0.0.1:8443/path --ca CA.pem --rate 200
      --duration 10 [--connections 8] [--token TOKEN] [--source 127.0.0.2]
"""
import argparse
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--token")
    ap.add_argument("--source", default="")
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()
    if a.rate <= 0 or a.duration <= 0 or a.connections < 1:
        sys.exit("https_load: --rate, --duration and --connections must be positive")
    u = urllib.parse.urlsplit(a.url)
    if u.scheme != "https" or not u.hostname:
        sys.exit(f"https_load: {a.url!r} is not an https URL")
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    ctx = ssl.create_default_context(cafile=a.ca)
    headers = {"Authorization": f"Bearer {a.token}"} if a.token else {}
    total = int(a.rate * a.duration)
    start = time.monotonic() + 0.1
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "failed": 0, "statuses": {}, "errors": [], "lat": [], "hsts": 0}

    def connect():
        return http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx, timeout=a.timeout,
                                           source_address=(a.source, 0) if a.source else None)

    def worker():
        conn = connect()
        while True:
            with lock:
                k = state["next"]
                if k >= total:
                    break
                state["next"] = k + 1
            due = start + k / a.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            try:
                conn.request("GET", path, headers=headers)
                r = conn.getresponse()
                r.read()
                took = time.monotonic() - due
                with lock:
                    state["statuses"][r.status] = state["statuses"].get(r.status, 0) + 1
                    state["lat"].append(took)
                    state["hsts"] += r.getheader("Strict-Transport-Security") is not None
                    if 200 <= r.status < 300:
                        state["ok"] += 1
                    else:
                        state["failed"] += 1
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = connect()
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    state["failed"] += 1
                    if len(state["errors"]) < 10:
                        state["errors"].append(f"{type(e).__name__}: {e}")
                conn.close()
                conn = connect()
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(a.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = sorted(state["lat"])
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000 if lat else 0.0
    print(json.dumps({"sent": total, "ok": state["ok"], "failed": state["failed"],
                      "statuses": state["statuses"], "errors": state["errors"],
                      "hsts": state["hsts"], "p99_ms": round(p99, 2)}))


if __name__ == "__main__":
    main()
