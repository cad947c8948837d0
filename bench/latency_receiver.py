#!/usr/bin/python3
"""Latency probe for scenario 5: a minimal HTTP/1.1 keep-alive receiver.

Usage: latency_receiver.py PORTFILE OUTFILE MAX_SECONDS
Listens on 127.0.0.1 (a free port, written to PORTFILE once listening).  For
every complete POST it answers "204 No Content" at once and keeps, in
memory, the arrival time (CLOCK_REALTIME, ns, taken when the last byte of
the request was read) and the body.  On SIGTERM, or after MAX_SECONDS, it
writes one line per request to OUTFILE: "<phase> <commit_us> <arrival_ns>",
where phase and commit_us come from the row's column b ("<phase>:<us>",
written by the load generator with clock_timestamp() just before COMMIT).
Requests whose body does not parse are written as "? 0 <arrival_ns>".
"""
import asyncio
import json
import os
import signal
import socket
import sys
import time

portfile, outfile, max_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
records = []


class Conn(asyncio.Protocol):
    def connection_made(self, transport):
        self.tr = transport
        self.buf = b""

    def data_received(self, data):
        now = time.time_ns()
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buf[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            self.tr.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            records.append((now, body))


def dump():
    with open(outfile, "w") as f:
        for arrival, body in records:
            try:
                b = json.loads(body)["data"]["new"]["b"]
                phase, us = b.split(":")
                f.write(f"{phase} {int(us)} {arrival}\n")
            except (ValueError, KeyError, TypeError, AttributeError):
                f.write(f"? 0 {arrival}\n")


async def main():
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = await loop.create_server(Conn, sock=sock, backlog=1024)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(sock.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    try:
        await asyncio.wait_for(stop, max_s)
    except asyncio.TimeoutError:
        pass
    server.close()
    dump()


asyncio.run(main())
