#!/usr/bin/python3
"""Writes bench/RESULTS.md from the load generator's JSON lines (bench/run.sh calls it)."""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess

SERVERS = ["peerrtc", "aiortc", "pion"]
# (key, label, higher_is_better)
METRICS = {
    "chat": [("deliveries_per_s", "deliveries/s", True), ("delivered_fraction", "delivered fraction", True),
             ("lat_p50_ms", "latency p50 ms", False), ("lat_p99_ms", "latency p99 ms", False),
             ("open_p50_ms", "offer→open p50 ms", False), ("open_p99_ms", "offer→open p99 ms", False),
             ("server_cpu_us_per_delivery", "server CPU µs/delivery", False),
             ("server_cpu_pct", "server CPU %", False), ("server_rss_joined_kib", "server RSS KiB", False)],
    "saturation": [("rate", "rate/peer (msg/s)", True), ("deliveries_per_s", "deliveries/s", True),
                   ("delivered_fraction", "delivered fraction", True), ("lat_p99_ms", "latency p99 ms", False),
                   ("server_cpu_us_per_delivery", "server CPU µs/delivery", False),
                   ("server_cpu_pct", "server CPU %", False),
                   ("deliveries_per_server_core_s", "deliveries per server CPU-second", True),
                   ("loadgen_cpu_pct_load", "load generator CPU %", False)],
    "fanout": [("deliveries_per_s", "deliveries/s", True), ("delivered_fraction", "delivered fraction", True),
               ("lat_p50_ms", "latency p50 ms", False), ("lat_p99_ms", "latency p99 ms", False),
               ("server_cpu_us_per_delivery", "server CPU µs/delivery", False),
               ("server_cpu_pct", "server CPU %", False)],
    "scale": [("joined", "peers joined", True), ("join_s", "join time s (1000 peers)", False),
              ("open_p50_ms", "offer→open p50 ms", False), ("open_p99_ms", "offer→open p99 ms", False),
              ("join_server_cpu_s", "server CPU-s for the join", False),
              ("rss_kib_per_peer", "RSS KiB per peer", False), ("idle_server_cpu_pct", "idle server CPU %", False)],
    "bulk": [("mbit_per_s", "Mbit/s delivered", True), ("delivered_fraction", "delivered fraction", True),
             ("lat_p50_ms", "latency p50 ms", False), ("server_cpu_pct", "server CPU %", False)],
    "bulk64": [("mbit_per_s", "Mbit/s delivered", True), ("delivered_fraction", "delivered fraction", True),
               ("lat_p50_ms", "latency p50 ms", False), ("server_cpu_pct", "server CPU %", False)],
}
TITLES = {
    "chat": "1. Chat — 1 room × 8 peers, 100 B, 200 msg/s per peer, 5 s",
    "saturation": "2. Saturation — 4 rooms × 8 peers, 100 B, highest per-peer rate with every message delivered and p99 < 50 ms",
    "fanout": "3. Fan-out — 1 sender, 100 receivers in one room, 100 B, 200 msg/s",
    "scale": "4. Scale — 1,000 peers in 100 rooms: join, RSS, idle CPU",
    "bulk": "5. Bulk — one peer sends 262,078 B messages (256 KiB frames) as fast as flow control allows, one receiver",
    "bulk64": "5b. Bulk with 65,000 B messages (pion 3.1 relays nothing larger than 64 KiB)",
}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def machine():
    model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = sh("grep MemTotal /proc/meminfo | awk '{print int($2/1024)\" MiB\"}'")
    return f"{os.cpu_count()} CPUs ({model}), {mem}, Linux {platform.release()}"


def num(v):
    if isinstance(v, str):
        return v
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--load-before", default="")
    ap.add_argument("--load-after", default="")
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--command", default="bench/run.sh")
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.raw) if l.strip().startswith("{")]
    groups = {}
    for r in rows:
        groups.setdefault((r.get("scenario"), r.get("server")), []).append(r)

    def med(scen, server, key):
        vals = [r[key] for r in groups.get((scen, server), []) if isinstance(r.get(key), (int, float))]
        return statistics.median(vals) if vals else None

    def runs(scen, server, key):
        vals = [r[key] for r in groups.get((scen, server), []) if isinstance(r.get(key), (int, float))]
        return vals

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = sh(f"git -C {root} rev-parse --short HEAD")
    aiortc_v = sh("/usr/bin/python3 -c 'import aiortc; print(aiortc.__version__)'")
    pion_v = sh("dpkg-query -W -f='${Version}' golang-github-pion-webrtc.v3-dev")
    go_v = sh("go version").replace("go version ", "")
    out = ["# PeerRTC benchmark results", "",
           "Generated by `bench/run.sh` (bench/README.md). Numbers are medians of the runs shown in",
           "brackets; every run starts a fresh server process. Server CPU and RSS are read from",
           "`/proc/<pid>` of the server (all its threads), not wall time.", "",
           f"* Date: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, commit {commit}",
           f"* Machine: {machine()}",
           f"* Load average (1/5/15 min) before: {a.load_before}; after: {a.load_after} "
           "(other engineers build on this machine; the load generator and the server share its cores)",
           f"* Command: `{a.command}` ({a.seconds} s)",
           "* Servers: `peerrtc-server` (this repo, RelWithDebInfo), `bench/aiortc_relay.py` "
           f"(aiortc {aiortc_v}), `bench/pion_relay` (pion/webrtc {pion_v}, {go_v})", ""]
    for scen, metrics in METRICS.items():
        if not any((scen, s) in groups for s in SERVERS):
            continue
        out += [f"## {TITLES[scen]}", "",
                "| metric | peerrtc | aiortc | pion | PeerRTC vs aiortc | PeerRTC vs pion |",
                "| --- | --- | --- | --- | --- | --- |"]
        for key, label, hib in metrics:
            cells = []
            for s in SERVERS:
                m = med(scen, s, key)
                rr = runs(scen, s, key)
                cells.append("–" if m is None else num(m) + (f" [{', '.join(num(x) for x in rr)}]" if len(rr) > 1 else ""))
            ratios = []
            p = med(scen, "peerrtc", key)
            for s in ("aiortc", "pion"):
                o = med(scen, s, key)
                nothing = med(scen, s, "deliveries") == 0 and scen != "scale"
                if p is None or o is None or p <= 0 or o <= 0 or nothing or key in ("delivered_fraction", "joined"):
                    ratios.append("n/a" if nothing else "")
                else:
                    r = p / o if hib else o / p
                    ratios.append("same" if abs(r - 1) < 0.005 else f"{r:.1f}× better" if r > 1 else f"{1 / r:.1f}× worse")
            out.append(f"| {label} | " + " | ".join(cells) + f" | {ratios[0]} | {ratios[1]} |")
        errs = [r for s in SERVERS for r in groups.get((scen, s), []) if r.get("error") or r.get("first_error")]
        for r in errs[:3]:
            out.append("")
            out.append(f"Note ({r.get('server')}): {r.get('error') or r.get('first_error')}")
        out.append("")
    probes = [r for r in rows if r.get("scenario") == "saturation-probe"]
    if probes:
        out += ["### Saturation search (every probe, 3 s each)", "",
                "| server | rate/peer | offered/s | deliveries/s | delivered | p99 ms | server CPU % | deliveries per server CPU-s | loadgen CPU % |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in probes:
            out.append(f"| {r['server']} | {num(r.get('rate'))} | {num(r.get('offered_per_s'))} | {num(r.get('deliveries_per_s'))} | "
                       f"{num(r.get('delivered_fraction'))} | {num(r.get('lat_p99_ms'))} | {num(r.get('server_cpu_pct'))} | "
                       f"{num(r.get('deliveries_per_server_core_s'))} | {num(r.get('loadgen_cpu_pct_load'))} |")
        out.append("")

    # Targets (issue #4).
    def ratio(scen, key, other):
        p, o = med(scen, "peerrtc", key), med(scen, other, key)
        return (o / p) if p and o else None
    t = []
    ra, rp = ratio("chat", "server_cpu_us_per_delivery", "aiortc"), ratio("chat", "server_cpu_us_per_delivery", "pion")
    if ra or rp:
        ok = (ra or 0) >= 10 and (rp or 0) >= 10
        t.append(f"| Scenario 1 server CPU/delivery ≤ 1/10 of aiortc's and pion's | aiortc/peerrtc {num(ra)}×, pion/peerrtc {num(rp)}× | {'met' if ok else 'MISSED'} |")
    cap = med("saturation", "peerrtc", "deliveries_per_server_core_s")
    ach = med("saturation", "peerrtc", "deliveries_per_s")
    if cap:
        t.append(f"| Scenario 2 ≥ 200,000 deliveries/s on one server core | {num(cap)} deliveries per server CPU-second (achieved {num(ach)}/s at the best passing rate) | {'met' if cap >= 200000 else 'MISSED'} |")
    op = med("chat", "peerrtc", "open_p50_ms")
    ops = med("scale", "peerrtc", "open_p50_ms")
    if op is not None:
        t.append(f"| offer→channel open p50 ≤ 20 ms on loopback | {num(op)} ms (chat), {num(ops)} ms (1,000-peer join) | {'met' if op <= 20 else 'MISSED'} |")
    rss = med("scale", "peerrtc", "rss_kib_per_peer")
    if rss is not None:
        t.append(f"| ≤ 100 KiB RSS per connected idle peer at 1,000 peers | {num(rss)} KiB | {'met' if rss <= 100 else 'MISSED'} |")
    mb = med("bulk", "peerrtc", "mbit_per_s")
    if mb is not None:
        t.append(f"| Scenario 5 ≥ 400 Mbit/s | {num(mb)} Mbit/s | {'met' if mb >= 400 else 'MISSED'} |")
    if t:
        out += ["## Targets (issue #4)", "", "| target | PeerRTC | |", "| --- | --- | --- |"] + t + [""]
    tcp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results-ice-tcp.md")
    if os.path.exists(tcp):  # written by bench/ice_tcp.sh
        out += [open(tcp).read().rstrip(), ""]
    workers = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results-workers.md")
    if os.path.exists(workers):  # written by bench/workers.py
        out += [open(workers).read().rstrip(), ""]
    wrtc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results-wrtc.md")
    if os.path.exists(wrtc):  # bench/wrtc_ab.sh runs, written up by hand
        out += [open(wrtc).read().rstrip(), ""]
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profile-notes.md")
    if os.path.exists(notes):
        out += [open(notes).read().rstrip(), ""]
    open(a.out, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
