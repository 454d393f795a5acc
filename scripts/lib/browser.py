#!/usr/bin/env python3
"""Drives headless Chromium through a page as a person would, over the DevTools protocol on
a pipe (--remote-debugging-pipe; no port, no third-party client): opens URL, types into
fields, clicks, waits for a text, takes a screenshot, and prints what it saw as one JSON
object (the address after load, each waited-for text, the console and the browser's own log,
which carries Content-Security-Policy violations). Exits 1 with one line on stderr when a step
fails. Used by the tests of the account pages; people can run it too.

    browser.py URL [--type SELECTOR=TEXT]... [--click SELECTOR] [--wait SELECTOR=TEXT]...
               [--screenshot PNG] [--timeout S]

Steps run in the order: every --type, the --click, every --wait.
"""
import argparse
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, timeout):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="campushub-browser-")
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()

        # Move both ends above 4 first, so that placing one on 3 or 4 cannot overwrite the
        # other.
        to_r_high = fcntl_dup(to_r)
        from_w_high = fcntl_dup(from_w)

        def fds():
            os.dup2(to_r_high, 3)
            os.dup2(from_w_high, 4)

        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            fail("chromium is not installed (scripts/test installs it)")
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--remote-debugging-pipe",
             f"--user-data-dir={self.profile}", "--window-size=800,1000", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.profile, "chromium.log"), "wb"),
            preexec_fn=fds, close_fds=False)
        for fd in (to_r, from_w, to_r_high, from_w_high):
            os.close(fd)
        self.out = to_w
        self.inp = from_r
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def send(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        try:
            os.write(self.out, json.dumps(msg).encode() + b"\0")
        except BrokenPipeError:
            fail(f"chromium exited before {method}: {self.last_words()}")
        want = self.next_id
        deadline = time.monotonic() + self.timeout
        while True:
            m = self.read(deadline)
            if m is None:
                fail(f"no answer to {method} within {self.timeout} s")
            if m.get("id") == want:
                if "error" in m:
                    fail(f"{method}: {m['error'].get('message')}")
                return m.get("result", {})
            self.events.append(m)

    def read(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.inp], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.inp, 1 << 16)
            if not chunk:
                fail("chromium closed the pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def wait_event(self, method, within):
        deadline = time.monotonic() + within
        for e in self.events:
            if e.get("method") == method:
                return e
        while True:
            m = self.read(deadline)
            if m is None:
                return None
            self.events.append(m)
            if m.get("method") == method:
                return m

    def eval(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            fail(f"page script failed: {r['exceptionDetails'].get('text')}: {expression}")
        return r.get("result", {}).get("value")

    def last_words(self):
        try:
            with open(os.path.join(self.profile, "chromium.log"), "rb") as f:
                lines = f.read().decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else "(nothing on stderr)"
        except OSError:
            return "(no log)"

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except SystemExit:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def fcntl_dup(fd):
    """A duplicate of fd numbered 10 or more."""
    import fcntl
    return fcntl.fcntl(fd, fcntl.F_DUPFD, 10)


def fail(line):
    print(f"browser.py: {line}", file=sys.stderr)
    sys.exit(1)


def pair(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not SELECTOR=TEXT")
    return tuple(text.split("=", 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--type", type=pair, action="append", default=[])
    ap.add_argument("--click")
    ap.add_argument("--wait", type=pair, action="append", default=[])
    ap.add_argument("--screenshot")
    ap.add_argument("--timeout", type=float, default=15.0)
    args = ap.parse_args()

    b = Browser(args.timeout)
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        b.session = b.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                           session=False)["sessionId"]
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            b.send(domain)
        b.send("Page.navigate", {"url": args.url})
        if b.wait_event("Page.loadEventFired", args.timeout) is None:
            fail(f"{args.url} did not load within {args.timeout} s")
        seen = {"url_after_load": b.eval("window.location.href"), "texts": {}}
        for selector, text in args.type:
            found = b.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                           f" if (!e) return false; e.focus(); return true; }})()")
            if not found:
                fail(f"no element {selector}")
            b.send("Input.insertText", {"text": text})
        if args.click:
            found = b.eval(f"(() => {{ const e = document.querySelector({json.dumps(args.click)});"
                           f" if (!e) return false; e.click(); return true; }})()")
            if not found:
                fail(f"no element {args.click}")
        for selector, text in args.wait:
            deadline = time.monotonic() + args.timeout
            got = None
            while time.monotonic() < deadline:
                got = b.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                             f" return e ? e.textContent : null; }})()")
                if got is not None and text in got:
                    break
                time.sleep(0.05)
            else:
                fail(f"{selector} never said {text!r} (it said {got!r})")
            seen["texts"][selector] = got
        if args.screenshot:
            shot = b.send("Page.captureScreenshot", {"format": "png"})
            with open(args.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        # Whatever arrived meanwhile: console messages and the browser's own log entries.
        while True:
            m = b.read(time.monotonic() + 0.2)
            if m is None:
                break
            b.events.append(m)
        log = []
        for e in b.events:
            if e.get("method") == "Log.entryAdded":
                entry = e["params"]["entry"]
                log.append(f"{entry.get('level')} {entry.get('source')}: {entry.get('text')}")
            elif e.get("method") == "Runtime.consoleAPICalled":
                p = e["params"]
                log.append(f"console.{p.get('type')}: " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif e.get("method") == "Runtime.exceptionThrown":
                log.append("exception: " + e["params"]["exceptionDetails"].get("text", ""))
        seen["log"] = log
        print(json.dumps(seen))
    finally:
        b.close()


if __name__ == "__main__":
    main()
