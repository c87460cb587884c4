#!/usr/bin/python3
"""peerrtc-server --workers: 1 vs 2 workers at saturation, and offer->open through the room's
node vs through another node. Side by side in one run, interleaved; writes
bench/results-workers.md (included in RESULTS.md by report.py) and appends every run's JSON line
to <out>/workers.jsonl.

    bench/workers.py [--build build-bench] [--rounds 3] [--rates 100,200,400,800] [--open-rounds 6]

Needs redis-server, and peerrtc-server + peerrtc-loadgen built in --build (bench/setup.sh, or
cmake --build build --target peerrtc-server peerrtc-loadgen). A real redis-server is started on
a free port and killed at the end.

1. Saturation: the scenario of run.sh (32 peers in 4 rooms, 100-byte messages, every peer
   sending, 3 s) at a ladder of per-peer rates, against `--workers 1` and `--workers 2` (both
   with Redis, so the only difference is the number of processes), a fresh supervisor per run,
   the order of the two alternating per round. A run "passes" when every message arrived and
   p99 < 50 ms; saturation = the best deliveries/s of a passing run. The one load generator
   thread runs on the same two cores.
2. offer->open: `--workers 2`; a holder peer keeps room X open (its node: Redis' lease); then
   16 peers join X through the holder's own port (handled there) or the other worker's own port
   (forwarded over HTTP to the holder), alternating; p50 of POST /offer -> welcome per run.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Redis:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True)
        return r.stdout.strip()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Workers:
    def __init__(self, build, n, redis, log):
        self.log = log
        args = [os.path.join(build, "apps/peerrtc-server"), "--workers", str(n), "--redis", f"redis://127.0.0.1:{redis.port}",
                "--port", "0", "--no-examples", "--log-level", "warn", "--max-peers-per-room", "2000",
                "--peer-message-rate", "0", "--peer-byte-rate", "0"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"supervisor did not start: {line!r}")
        self.ready = json.loads(line[6:])
        self.http = self.ready["http"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def loadgen(build, port, out, *args, **kw):
    cmd = [os.path.join(build, "bench/peerrtc-loadgen"), "--server-host", "127.0.0.1", "--http-port", str(port), "--json",
           *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=kw.get("timeout", 120))
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    j = json.loads(lines[-1]) if lines else {"error": "loadgen failed", "stderr": r.stderr[-500:]}
    j.update(kw.get("tag", {}))
    with open(out, "a") as f:
        f.write(json.dumps(j) + "\n")
    return j


def cpu_s(pids):
    """utime + stime of these processes (every thread), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def saturation_run(build, w, raw, n, rate, gens, rnd):
    """`gens` load generators at once, the 32 peers and 4 rooms split between them."""
    pids = [x["pid"] for x in w.ready["workers"]]
    c0, t0 = cpu_s(pids), time.time()
    cmds = []
    for g in range(gens):
        cmds.append([os.path.join(build, "bench/peerrtc-loadgen"), "--server-host", "127.0.0.1", "--http-port", str(w.http),
                     "--json", "--peers", str(32 // gens), "--rooms", str(4 // gens), "--size", "100", "--duration", "3",
                     "--rate", str(rate), "--label", f"workers{n}", "--scenario", "saturation"])
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for c in cmds]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    wall, cpu = time.time() - t0, cpu_s(pids) - c0
    parts = []
    for o in outs:
        lines = [l for l in o.splitlines() if l.startswith("{")]
        parts.append(json.loads(lines[-1]) if lines else {"error": "loadgen failed"})
    j = {"workers": n, "round": rnd, "offered_rate": rate, "loadgens": gens,
         "deliveries_per_s": sum(x.get("deliveries_per_s", 0) for x in parts),
         "lat_p99_ms": max(x.get("lat_p99_ms", 99) for x in parts),
         "delivered_fraction": min(x.get("delivered_fraction", 0) for x in parts),
         "send_fail": sum(x.get("send_fail", 1) for x in parts),
         "joined": sum(x.get("joined", 0) for x in parts), "peers": sum(x.get("peers", 0) for x in parts),
         "deliveries": sum(x.get("deliveries", 0) for x in parts),
         "server_cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
         "loadgen_cpu_pct": sum(x.get("loadgen_cpu_pct_load", 0) for x in parts)}
    j["deliveries_per_server_cpu_s"] = round(j["deliveries"] / cpu) if cpu > 0 else 0
    with open(raw, "a") as f:
        f.write(json.dumps(j) + "\n")
    return j


def passes(j):
    return (j.get("delivered_fraction") == 1 and j.get("send_fail", 1) == 0 and 0 <= j.get("lat_p99_ms", 99) < 50
            and j.get("joined") == j.get("peers"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("BENCH_BUILD", os.path.join(ROOT, "build-bench")))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rates", default="300,450,600,750,900")
    ap.add_argument("--loadgens", default="1,2", help="load generator processes at once (each a share of the peers)")
    ap.add_argument("--open-rounds", type=int, default=6)
    ap.add_argument("--results", default=os.path.join(ROOT, "bench/results-workers.md"))
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the last run's workers.jsonl")
    a = ap.parse_args()
    out_dir = os.environ.get("BENCH_OUT", os.path.join(a.build, "bench-out"))
    os.makedirs(out_dir, exist_ok=True)
    raw = os.path.join(out_dir, "workers.jsonl")
    if a.report_only:
        return report_from(a, raw)
    open(raw, "w").close()
    log = open(os.path.join(out_dir, "workers-servers.log"), "w")
    rates = [int(r) for r in a.rates.split(",")]
    redis = Redis()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        # 1. Saturation, interleaved.
        gens_list = [int(g) for g in a.loadgens.split(",")]
        sat = {(n, g): [] for n in (1, 2) for g in gens_list}
        for rnd in range(a.rounds):
            order = [1, 2] if rnd % 2 == 0 else [2, 1]
            for gens in gens_list:
                for rate in rates:
                    for n in order:
                        w = Workers(a.build, n, redis, log)
                        try:
                            j = saturation_run(a.build, w, raw, n, rate, gens, rnd)
                        finally:
                            w.stop()
                        sat[(n, gens)].append(j)
                        print(f"  workers={n} loadgens={gens} rate={rate}: {j['deliveries_per_s']:.0f} deliveries/s, p99 "
                              f"{j['lat_p99_ms']} ms, delivered {j['delivered_fraction']}, server CPU {j['server_cpu_s']} s, "
                              f"pass={passes(j)}", flush=True)

        # 2. offer->open through the holder vs through the other worker.
        opens = {"direct": [], "forwarded": []}
        w = Workers(a.build, 2, redis, log)
        try:
            own = {x["node"]: x["http"] for x in w.ready["workers"] if "node" in x}
            for rnd in range(a.open_rounds):
                prefix = f"open{rnd}-{os.getpid()}"
                holder = subprocess.Popen([os.path.join(a.build, "bench/peerrtc-loadgen"), "--server-host", "127.0.0.1",
                                           "--http-port", str(w.http), "--peers", "1", "--rooms", "1", "--duration", "0",
                                           "--idle", "60", "--room-prefix", prefix, "--json"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    node = ""
                    deadline = time.time() + 15
                    while not node and time.time() < deadline:
                        node = redis.cli("GET", f"peerrtc:room:{prefix}-r0")
                        time.sleep(0.1)
                    if node not in own:
                        raise RuntimeError(f"room {prefix}-r0 not placed on a worker ({node!r}, workers {own})")
                    other = [p for n, p in own.items() if n != node][0]
                    kinds = [("direct", own[node]), ("forwarded", other)]
                    if rnd % 2:
                        kinds.reverse()
                    for kind, port in kinds:
                        j = loadgen(a.build, port, raw, "--peers", "16", "--rooms", "1", "--duration", "0", "--room-prefix",
                                    prefix, "--label", kind, "--scenario", "offer-open",
                                    tag={"workers": 2, "round": rnd, "path": kind})
                        opens[kind].append(j)
                        print(f"  offer->open {kind}: p50 {j.get('open_p50_ms')} ms, p99 {j.get('open_p99_ms')} ms,"
                              f" joined {j.get('joined')}/{j.get('peers')}", flush=True)
                finally:
                    holder.send_signal(signal.SIGTERM)
                    holder.wait()
        finally:
            w.stop()
    finally:
        redis.stop()
    write_report(a, started, rates, gens_list, sat, opens)


def report_from(a, raw):
    runs = [json.loads(l) for l in open(raw) if l.strip()]
    sat_runs = [j for j in runs if "loadgens" in j]
    gens_list = sorted({j["loadgens"] for j in sat_runs})
    rates = sorted({j["offered_rate"] for j in sat_runs})
    sat = {(n, g): [j for j in sat_runs if j["workers"] == n and j["loadgens"] == g] for n in (1, 2) for g in gens_list}
    opens = {k: [j for j in runs if j.get("path") == k] for k in ("direct", "forwarded")}
    a.rounds = 1 + max(j["round"] for j in sat_runs)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(raw)))
    write_report(a, started, rates, gens_list, sat, opens)


def write_report(a, started, rates, gens_list, sat, opens):
    cpu = os.cpu_count()
    L = []
    L.append("## Several processes: `--workers 1` vs `--workers 2` (bench/workers.py)\n")
    L.append(f"Run {started} on this {cpu}-core machine, **shared with other jobs at the time** (other helpers' "
             "builds and test runs): absolute numbers are noisy, so the configurations were interleaved "
             f"(alternating order, {a.rounds} rounds, a fresh supervisor per run) and the ratios are what to read. "
             "The load generators (each one thread doing about as much DTLS/SCTP work per delivery as the server) and "
             "Redis run on the same two cores as the workers. Both configurations run with `--redis` (the only "
             "difference is the number of worker processes).\n")
    for gens in gens_list:
        L.append(f"### Saturation, {gens} load generator process{'es' if gens > 1 else ''} (32 peers in 4 rooms in all, "
                 "100 B, every peer sending, 3 s)\n")
        L.append("| msgs/s per peer | 1 worker: deliveries/s | p99 ms | passed | per server CPU-s | 2 workers: deliveries/s | p99 ms | passed | per server CPU-s |")
        L.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        best = {}
        for rate in rates:
            row = [str(rate)]
            for n in (1, 2):
                runs = [j for j in sat[(n, gens)] if j.get("offered_rate") == rate]
                d = [j["deliveries_per_s"] for j in runs]
                p = [j["lat_p99_ms"] for j in runs]
                e = [j["deliveries_per_server_cpu_s"] for j in runs]
                ok = sum(1 for j in runs if passes(j))
                row += [f"{statistics.median(d):,.0f}" if d else "-", f"{statistics.median(p):.1f}" if p else "-",
                        f"{ok}/{len(runs)}", f"{statistics.median(e):,.0f}" if e else "-"]
                if runs and ok * 2 > len(runs):  # most runs at this rate passed
                    best.setdefault(n, []).append((rate, statistics.median(j["deliveries_per_s"] for j in runs if passes(j))))
            L.append("| " + " | ".join(row) + " |")
        L.append("")
        sat_best, over = {}, {}
        for n in (1, 2):
            name = f"{n} worker{'s' if n > 1 else ''}"
            top = [j["deliveries_per_s"] for j in sat[(n, gens)] if j.get("offered_rate") == rates[-1]]
            over[n] = statistics.median(top) if top else 0
            if best.get(n):
                top_rate, sat_best[n] = max(best[n])
                L.append(f"* {name}: saturation {sat_best[n]:,.0f} deliveries/s: the highest rate at which most runs "
                         f"passed ({top_rate}/s per peer; pass = every message delivered and p99 < 50 ms); "
                         f"{over[n]:,.0f} deliveries/s delivered at {rates[-1]}/s per peer (overloaded, median)")
            else:
                L.append(f"* {name}: no rate passed in most runs; {over[n]:,.0f} deliveries/s delivered at {rates[-1]}/s "
                         "per peer (overloaded, median)")
        if 1 in sat_best and 2 in sat_best:
            L.append(f"* ratio 2 workers / 1 worker: **{sat_best[2] / sat_best[1]:.2f}** at saturation, "
                     f"**{over[2] / over[1]:.2f}** overloaded")
        L.append("")
    L.append("### offer->open: through the room's worker vs through the other one (forwarded)\n")
    L.append("16 peers join a room held open by one peer on worker A; `POST /offer` goes to A's own port (direct) "
             "or to worker B's own port, which forwards it to A over HTTP (one more hop on loopback plus one Redis GET "
             "of A's record). Each run's p50 of POST /offer -> `welcome` (HTTP + ICE + DTLS + SCTP + DCEP + join).\n")
    L.append("| path | runs | p50 ms (median of runs) | p99 ms (median of runs) | all joined |")
    L.append("| --- | ---: | ---: | ---: | ---: |")
    med = {}
    for kind in ("direct", "forwarded"):
        runs = opens[kind]
        p50 = [j["open_p50_ms"] for j in runs if "open_p50_ms" in j]
        p99 = [j["open_p99_ms"] for j in runs if "open_p99_ms" in j]
        ok = sum(1 for j in runs if j.get("joined") == j.get("peers"))
        med[kind] = statistics.median(p50) if p50 else None
        L.append(f"| {kind} | {len(runs)} | {med[kind]:.1f} | {statistics.median(p99):.1f} | {ok}/{len(runs)} |" if p50
                 else f"| {kind} | {len(runs)} | - | - | {ok}/{len(runs)} |")
    if med.get("direct") and med.get("forwarded"):
        L.append(f"\n* forwarded / direct p50: **{med['forwarded'] / med['direct']:.2f}** "
                 f"(+{med['forwarded'] - med['direct']:.1f} ms)")
    L.append("")
    with open(a.results, "w") as f:
        f.write("\n".join(L) + "\n")
    print(f"wrote {a.results}")


if __name__ == "__main__":
    sys.exit(main())
