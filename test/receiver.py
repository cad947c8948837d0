#!/usr/bin/python3
"""A scriptable webhook receiver for the tests and the demo.

Listens on 127.0.0.1, appends one JSON line per request it receives to a log
file (path, headers, body, and whether the signature verified when the
secret is known), and answers according to the first part of the path:

  /ok/...               200
  /fail/N/...           500 for the first N attempts of each webhook-id, then 200
  /status/CODE/...      CODE every time (e.g. /status/410 for Gone)
  /retry-after/N/...    503 with "Retry-After: N" on the first attempt, then 200
  /slow/MS/...          200 after MS milliseconds
  /hang/...             never answers (holds the connection for 120 s)

Usage: receiver.py PORTFILE LOGFILE [--print] [--secrets FILE] [--port N]
Writes the port it listens on to PORTFILE once it is ready.  --print also
prints each event briefly on stdout (the demo uses it).  --secrets names a
file of lines "<path prefix> <whsec_ secret>": a request whose path starts
with a prefix is checked against that secret, and "verified" is logged.
"""
import base64
import hashlib
import hmac
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

portfile, logfile = sys.argv[1], sys.argv[2]
echo = "--print" in sys.argv[3:]
secrets_file = sys.argv[sys.argv.index("--secrets") + 1] if "--secrets" in sys.argv else None
lock = threading.Lock()
attempts = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # the status line and the body go out in separate writes: without
        # this, Nagle and the client's delayed ACK add 40 ms to each reply
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def reply(self, code, extra=None):
        body = b"ok" if 200 <= code < 300 else b"nope"
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        parts = self.path.strip("/").split("/")
        msg_id = self.headers.get("webhook-id", "")
        with lock:
            attempts[(self.path, msg_id)] = attempts.get((self.path, msg_id), 0) + 1
            n = attempts[(self.path, msg_id)]
            entry = {
                "path": self.path,
                "received_at": time.time(),
                "attempt": n,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": raw.decode("utf-8", errors="replace"),
                "utf8": is_utf8(raw),
                "verified": check_signature(self.path, self.headers, raw),
            }
            if "xml" in self.headers.get("content-type", ""):
                entry["xml"] = parse_xml(raw)
            with open(logfile, "a") as f:
                f.write(json.dumps(entry) + "\n")
        if echo:
            try:
                evs = json.loads(raw)
                sig = {True: "signature ok", False: "BAD SIGNATURE", None: "unsigned?"}
                if isinstance(evs, list):  # batch mode: an array of events
                    print(f"  receiver got a batch of {len(evs)} events "
                          f"({sig[entry['verified']]})", flush=True)
                    evs = evs[:3]
                else:
                    evs = [evs]
                for ev in evs:
                    d = ev.get("data", {})
                    print(f"  receiver got {ev.get('type')} ({sig[entry['verified']]}): "
                          f"new={json.dumps(d.get('new'))} old={json.dumps(d.get('old'))}"
                          + (f" changed={d.get('changed')}" if "changed" in d else ""), flush=True)
            except ValueError:
                print("  receiver got a body that is not JSON", flush=True)

        mode = parts[0] if parts else "ok"
        if mode == "fail" and n <= int(parts[1]):
            self.reply(500)
        elif mode == "status":
            self.reply(int(parts[1]))
        elif mode == "retry-after" and n == 1:
            self.reply(503, {"Retry-After": parts[1]})
        elif mode == "slow":
            time.sleep(int(parts[1]) / 1000)
            self.reply(200)
        elif mode == "hang":
            time.sleep(120)
        else:
            self.reply(200)


XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def parse_xml(raw):
    """An XML body parsed by a real parser (xml.etree), as JSON: an element
    with children is an object of them (a list for <element>, <column> and
    <event> items), a leaf its text, xsi:nil null; the root's attributes
    are "@name" members.  {"error": ...} if the body is not well-formed."""
    import xml.etree.ElementTree as ET

    def conv(e):
        if e.get(XSI_NIL) == "true":
            return None
        if len(e) == 0:
            return e.text or ""
        if all(c.tag in ("element", "column", "event") for c in e):
            return [conv(c) for c in e]
        return {c.tag: conv(c) for c in e}

    try:
        root = ET.fromstring(raw)
    except ET.ParseError as err:
        return {"error": str(err)}
    out = conv(root)
    if isinstance(out, dict):
        out.update({"@" + k: v for k, v in root.attrib.items()})
    return {"root": root.tag, "doc": out}


def is_utf8(raw):
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def check_signature(path, headers, body):
    """True or False if a secret is known for this path, else None."""
    if not secrets_file:
        return None
    try:
        with open(secrets_file) as f:
            pairs = [line.split() for line in f if line.strip()]
    except OSError:
        return None
    for prefix, secret in pairs:
        if path.startswith(prefix):
            return verify(secret, headers.get("webhook-id", ""),
                          headers.get("webhook-timestamp", ""), body,
                          headers.get("webhook-signature", ""))
    return None


def verify(secret, msg_id, ts, body, signature):
    """Standard Webhooks verification, written from the specification."""
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(expected, s) for s in signature.split(" "))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 0
    server = Server(("127.0.0.1", port), Handler)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    server.serve_forever()
