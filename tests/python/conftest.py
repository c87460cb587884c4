"""Fixtures of the peerpyrtc suite: one SignalingManager for the session (one per process is the
rule) inside the Flask app of examples/python/chat.py, served by werkzeug on an ephemeral port in
a thread, and real libwebrtc peers (@roamhq/wrtc) run by tests/python/peers.mjs in node.

Run: PYTHONPATH=build/python /usr/bin/python3 -m pytest tests/python (scripts/test.sh does).
"""
import json
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "examples", "python"))
if os.path.join(REPO, "build", "python") not in sys.path and "PEERPYRTC_PATH" not in os.environ:
    sys.path.insert(0, os.path.join(REPO, "build", "python"))

import peerpyrtc  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import chat  # noqa: E402  (examples/python/chat.py)

TIMEOUT = 15.0


class Recorder:
    """What the handlers saw, with waits on a condition (markers, never sleeps)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.items = []

    def add(self, item):
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait(self, pred, timeout=TIMEOUT, what="items"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [i for i in self.items if pred(i)]
                if got and (not callable(getattr(pred, "enough", None)) or pred.enough(got)):
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; have {self.items[-10:]}")
                self.cond.wait(left)

    def wait_count(self, pred, n, timeout=TIMEOUT, what="items"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [i for i in self.items if pred(i)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {n} {what}; have {len(got)}: {got[-5:]}")
                self.cond.wait(left)

    def matching(self, pred):
        with self.cond:
            return [i for i in self.items if pred(i)]


class Server:
    def __init__(self):
        self.manager = peerpyrtc.SignalingManager()
        self.async_seen = Recorder()
        self.plain_seen = Recorder()
        self.joined = Recorder()
        self.left = Recorder()
        self.block_release = threading.Event()
        self.blocked = threading.Event()
        self.unblocked = threading.Event()  # set by the handler itself once it returns
        self.filter_fn = None
        chat.install_echo(self.manager)

        @self.manager.message_handler
        async def on_async(room, sender, message):
            self.async_seen.add((room, sender, message))

        @self.manager.message_handler
        def on_plain(room, sender, message):
            self.plain_seen.add((room, sender, message))
            if room.startswith("block") and message == "block":
                self.blocked.set()
                self.block_release.wait(20)  # bounded: the test releases it
                self.unblocked.set()

        @self.manager.peer_joined_handler
        async def on_joined(room, peer_id, info):
            self.joined.add((room, peer_id, info))

        @self.manager.peer_left_handler
        def on_left(room, peer_id, info):
            self.left.add((room, peer_id, info))

        self.app = chat.create_app(self.manager)
        self.http = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.port = self.http.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def post(self, path, body):
        c = self.app.test_client()
        r = c.post(path, json=body)
        return r.status_code, r.get_json()

    def close(self):
        self.http.shutdown()
        self.manager.close()


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    s.close()


class Peers:
    """A node process holding real wrtc peers; reports are collected by a reader thread."""

    def __init__(self, url):
        self.proc = subprocess.Popen(["node", os.path.join(REPO, "tests", "python", "peers.mjs"), url],
                                     cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.events = Recorder()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.events.wait(lambda e: e.get("ev") == "ready", what="the node helper to start")

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.events.add(json.loads(line))
            except ValueError:
                self.events.add({"ev": "noise", "line": line})

    def cmd(self, **c):
        self.proc.stdin.write(json.dumps(c) + "\n")
        self.proc.stdin.flush()

    def connect(self, room, *names, token=None):
        out = {}
        for n in names:
            c = {"cmd": "connect", "room": room, "peer": n}
            if token:
                c["token"] = token
            self.cmd(**c)
        for n in names:
            ev = self.events.wait(lambda e, n=n: e.get("peer") == n and e.get("ev") in ("connected", "connect_failed"),
                                  what=f"{n} to connect")[-1]
            assert ev["ev"] == "connected", ev
            out[n] = ev
        return out

    def msgs(self, peer, pred=lambda e: True):
        return self.events.matching(lambda e: e.get("peer") == peer and e.get("ev") in ("msg", "bin") and pred(e))

    def wait_msgs(self, peer, n, pred=lambda e: True, timeout=TIMEOUT):
        return self.events.wait_count(lambda e: e.get("peer") == peer and e.get("ev") in ("msg", "bin") and pred(e),
                                      n, timeout, what=f"messages at {peer}")

    def close(self):
        try:
            self.cmd(cmd="exit")
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def peers(server):
    p = Peers(server.url)
    yield p
    p.close()


_seq = [0]


@pytest.fixture
def room():
    def make(prefix="room"):
        _seq[0] += 1
        return f"{prefix}-{os.getpid()}-{_seq[0]}"
    return make
