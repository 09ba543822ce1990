#!/usr/bin/env python3
"""Runs a command, samples /proc for its peak private (RssAnon) and total RSS, prints one JSON line.
usage: measure.py LABEL -- CMD..."""
import json
import resource
import subprocess
import sys
import time


def tree_pids(root):
    pids, frontier = [root], [root]
    while frontier:
        p = frontier.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        pids += kids
        frontier += kids
    return pids


def sample(pids):
    anon = rss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        anon += int(line.split()[1])
                    elif line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
        except OSError:
            pass
    return anon, rss


label = sys.argv[1]
cmd = sys.argv[sys.argv.index("--") + 1:]
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.perf_counter()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
peak_anon = peak_rss = 0
while proc.poll() is None:
    a, r = sample(tree_pids(proc.pid))
    peak_anon, peak_rss = max(peak_anon, a), max(peak_rss, r)
    time.sleep(0.02)
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # CPU time tells more than wall time on a loaded machine
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
err = proc.stderr.read().decode(errors="replace").strip().splitlines()
print(json.dumps({"label": label, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "peak_rss_anon_mib": round(peak_anon / 1024, 1),
                  "peak_rss_mib": round(peak_rss / 1024, 1), "exit": proc.returncode,
                  "stderr_tail": err[-1] if err else ""}))
