#!/usr/bin/python3
"""A receiver that accepts connections and never answers (scenario 6).

Usage: blackhole.py PORTFILE MAX_SECONDS
Listens on 127.0.0.1 (a free port, written to PORTFILE once listening),
accepts connections and holds them open without reading or replying, at most
MAX_SECONDS (then exits) and at most 10,000 connections (then stops
accepting).  SIGTERM closes everything and exits.
"""
import select
import signal
import socket
import sys
import time

portfile, max_s = sys.argv[1], float(sys.argv[2])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(1024)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
import os
os.rename(portfile + ".tmp", portfile)
held = []
deadline = time.monotonic() + max_s
while time.monotonic() < deadline:
    r, _, _ = select.select([srv], [], [], 0.5)
    if r and len(held) < 10000:
        conn, _ = srv.accept()
        held.append(conn)
