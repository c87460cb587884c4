"""A message handler that must persist every message (issue 19, part 6): with
``SignalingManager(hook_overflow="backpressure")`` a handler that is slow for 5 s while 8 real
wrtc peers send 100 messages/s each gets every message, in order per sender; the senders were
paused (``hook_backpressure_pauses``), not cut (no peer left, no connection closed, nothing
dropped). The manager runs in a process of its own (tests/python/hook_app.py: one manager per
process), with a hook queue of 200 events, so that it fills within a quarter of a second.

The control, the same traffic with the default ``drop_oldest``: nothing is paused, and the
backlog piles up in the handlers' asyncio loop instead (the relay never waits for it) - the
memory that backpressure bounds.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

from conftest import REPO, Peers

SENDERS = 8
RATE = 100          # messages/s per sender
SECONDS = 6         # of sending: 4,800 messages in all
SLOW_FOR = 5.0      # the handler is slow for this long from the first message ...
SLOW_CALL = 0.02    # ... taking 20 ms a call (50 messages/s against 800 offered)
CAPACITY = 200      # hook events queued before the senders are paused
# Bound on the handler getting everything after the last send: the rest of the slow period,
# then the backlog at full speed (a few thousand calls, ~1 ms each on a loaded machine), with a
# 20 s margin.
DELIVERY_BOUND = SLOW_FOR + 20.0


class App:
    def __init__(self, mode):
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(REPO, "tests", "python", "hook_app.py"), mode, str(CAPACITY),
             str(SLOW_FOR), str(SLOW_CALL)],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line, f"hook_app.py ({mode}) did not start (exit {self.proc.poll()})"
        self.url = json.loads(line)["url"]

    def handled(self):
        with urllib.request.urlopen(self.url + "/handled", timeout=10) as r:
            return json.loads(r.read())

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run(mode, room):
    app = App(mode)
    peers = Peers(app.url)
    try:
        names = [f"s{i}" for i in range(SENDERS)]
        for n in names:  # quiet: the peers do not report the 4,200 messages each receives
            peers.cmd(cmd="connect", room=room, peer=n, quiet=True)
        for n in names:
            ev = peers.events.wait(lambda e, n=n: e.get("peer") == n and e.get("ev") in ("connected", "connect_failed"),
                                   what=f"{n} to connect")[-1]
            assert ev["ev"] == "connected", ev
        n_msgs = RATE * SECONDS
        t0 = time.monotonic()
        for n in names:
            peers.cmd(cmd="send_paced", peer=n, prefix=f"{n}-", n=n_msgs, rate=RATE)
        peers.events.wait_count(lambda e: e.get("ev") == "sent", SENDERS, timeout=SECONDS + 15.0,
                                what="every sender to finish")
        sent_s = time.monotonic() - t0
        deadline = time.monotonic() + DELIVERY_BOUND
        while True:
            h = app.handled()
            got = sum(len(v) for v in h["handled"].values())
            if got >= SENDERS * n_msgs or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        done_s = time.monotonic() - t0
        closed = peers.events.matching(lambda e: e.get("ev") in ("closed", "send_failed"))
        return app, h, names, n_msgs, closed, sent_s, done_s
    finally:
        peers.close()
        app.close()


def test_backpressure_every_message_reaches_a_slow_handler_and_the_senders_are_paused(room):
    app, h, names, n_msgs, closed, sent_s, done_s = run("backpressure", room("hookbp"))
    for n in names:
        want = [f"{n}-{i}" for i in range(n_msgs)]
        got = h["handled"].get(n, [])
        assert got == want, f"{n}: the handler got {len(got)} of {n_msgs} (first missing: " \
                            f"{next((w for w, g in zip(want, got + [None] * n_msgs) if w != g), None)})"
    st = h["stats"]
    assert st["hook_dropped"] == 0, st
    assert st["hook_backpressure_pauses"] >= SENDERS, st  # every sender was paused at least once
    assert h["left"] == [], h["left"]                      # not cut: nobody left the room
    assert closed == [], closed                            # and no connection ended
    print(f"\n# hook backpressure: {SENDERS}x{n_msgs} messages, sent in {sent_s:.1f} s, all handled "
          f"{done_s:.1f} s after the first; {st['hook_backpressure_pauses']} pauses, 0 dropped")


def test_control_drop_oldest_never_pauses_the_senders(room):
    app, h, names, n_msgs, closed, sent_s, done_s = run("drop_oldest", room("hookdrop"))
    st = h["stats"]
    assert st["hook_backpressure_pauses"] == 0, st
    assert h["left"] == [] and closed == [], (h["left"], closed)
