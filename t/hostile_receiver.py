#!/usr/bin/python3
"""Receivers that misbehave, for t/006_hostile_receivers.pl.

Raw sockets on 127.0.0.1, one thread per connection, one request per
connection.  The first part of the request path picks the misbehaviour:

  /drip/...       200 headers, then one body byte a second for a minute
  /flood/...      200, chunked, 64 MiB of body and no Content-Length
  /reset/...      reads the request, then resets the connection (RST)
  /redirect/...   302 to the cloud metadata address, which must not be followed
  /ratelimit/...  429 with Retry-After: 2 on the first attempt, then 200

Each request is logged as a JSON line {path, attempt, at} to LOGFILE.
Usage: hostile_receiver.py PORTFILE LOGFILE
"""
import json
import os
import socket
import struct
import sys
import threading
import time

portfile, logfile = sys.argv[1], sys.argv[2]
lock = threading.Lock()
attempts = {}


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return lines[0].split(" ")[1], headers


def handle(conn):
    try:
        path, headers = read_request(conn)
        if path is None:
            return
        key = (path, headers.get("webhook-id", ""))
        with lock:
            attempts[key] = attempts.get(key, 0) + 1
            n = attempts[key]
            with open(logfile, "a") as f:
                f.write(json.dumps({"path": path, "attempt": n, "at": time.time()}) + "\n")
        mode = path.strip("/").split("/")[0]
        if mode == "drip":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n")
            for _ in range(60):
                conn.sendall(b"x")
                time.sleep(1)
        elif mode == "flood":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"y" * 65536
            for _ in range(1024):
                conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            conn.sendall(b"0\r\n\r\n")
        elif mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode == "redirect":
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\n"
                         b"Content-Length: 0\r\n\r\n")
        elif mode == "ratelimit" and n == 1:
            conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    except OSError:
        pass
    finally:
        conn.close()


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


main()
