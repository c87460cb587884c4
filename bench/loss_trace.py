#!/usr/bin/env python3
"""Reads the traces of bench/wrtc_loss.sh (TRACE_DIR): for each run, where the late deliveries
were. A stall on messages FROM one client to every receiver is that client's SCTP (the sender,
libwebrtc's dcSCTP) towards the server; a stall on messages TO one client from every sender is
the server's SCTP (usrsctp) towards that client.

  bench/loss_trace.py TRACE_DIR/peerrtc-3.json [--late-ms 150]
"""
import argparse, json
from collections import defaultdict

ap = argparse.ArgumentParser()
ap.add_argument('trace', nargs='+')
ap.add_argument('--late-ms', type=float, default=150)
a = ap.parse_args()

for path in a.trace:
    t = json.load(open(path))
    t0 = t['t_start_ms']
    rows = []  # (from, to, sent_ms, lat_ms)
    for r in t['receivers']:
        rec = r['rec']
        for k in range(0, len(rec), 3):
            rows.append((rec[k], r['to'], rec[k + 1] - t0, rec[k + 2]))
    late = [x for x in rows if x[3] > a.late_ms]
    lat = sorted(x[3] for x in rows)
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else None
    print(f'== {path}: {len(rows)} deliveries, p99 {p99:.0f} ms, {len(late)} over {a.late_ms:.0f} ms')
    # Episodes: late deliveries grouped by sender and by receiver, over time.
    for key, name, other in ((0, 'from', 1), (1, 'to', 0)):
        g = defaultdict(list)
        for x in late:
            g[x[key]].append(x)
        for k, xs in sorted(g.items(), key=lambda kv: -len(kv[1])):
            if len(xs) < 5:
                continue
            peers = sorted({x[other] for x in xs})
            s0, s1 = min(x[2] for x in xs), max(x[2] for x in xs)
            print(f'  {name} p{k}: {len(xs)} late (max {max(x[3] for x in xs):.0f} ms), '
                  f'sent {s0:.0f}..{s1:.0f} ms, {"to" if key == 0 else "from"} {["p%d" % p for p in peers]}')
    # Server counters that moved during the run, with times (ms from the start).
    prev = None
    for ts, s in t.get('stats', []):
        if prev is not None:
            moved = {k: s[k] - prev[k] for k in ('t3_timeouts', 't3_marked_chunks', 'path_returns', 'path_return_resends')
                     if k in s and s[k] != prev[k]}
            if moved:
                print(f'  server @{ts - t0:.0f} ms: {moved}')
        prev = s
