#!/usr/bin/python3
"""Summarise latency_receiver.py's output: for each phase named on the
command line, "<phase> <received> <p50_ms> <p99_ms> <max_ms>" (nearest-rank
percentiles of arrival_ns/1000 - commit_us).

Usage: latency_stats.py FILE PHASE...
"""
import math
import sys

path, phases = sys.argv[1], sys.argv[2:]
lat = {p: [] for p in phases}
with open(path) as f:
    for line in f:
        phase, us, arrival = line.split()
        if phase in lat:
            lat[phase].append((int(arrival) / 1000 - int(us)) / 1000.0)


def pct(xs, q):
    return xs[max(0, math.ceil(q * len(xs)) - 1)]


for p in phases:
    xs = sorted(lat[p])
    if xs:
        print(f"{p} {len(xs)} {pct(xs, 0.50):.2f} {pct(xs, 0.99):.2f} {xs[-1]:.2f}")
    else:
        print(f"{p} 0 - - -")
