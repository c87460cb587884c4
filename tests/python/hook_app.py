"""A peerpyrtc server in a process of its own (one SignalingManager per process) for
test_hook_backpressure.py: examples/python/chat.py's routes, a SignalingManager with the given
hook_overflow and hook_queue_capacity, and a message handler that is slow (each call takes
SLOW_CALL_S) for SLOW_FOR_S seconds from the first message, then fast. It records every message
it gets, by sender, and every peer that left; GET /handled answers them with the manager's stats.

    python3 tests/python/hook_app.py MODE CAPACITY SLOW_FOR_S SLOW_CALL_S
    -> prints {"url": "http://127.0.0.1:PORT"} on stdout, serves until stdin closes.
"""
import json
import os
import sys
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "examples", "python"))

import peerpyrtc  # noqa: E402
from flask import jsonify  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import chat  # noqa: E402

mode, capacity, slow_for, slow_call = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
manager = peerpyrtc.SignalingManager(hook_overflow=mode, hook_queue_capacity=capacity)
lock = threading.Lock()
handled = {}
left = []
slow_until = [None]


@manager.message_handler
def on_message(room, sender, message):
    now = time.monotonic()
    if slow_until[0] is None:
        slow_until[0] = now + slow_for
    if now < slow_until[0]:
        time.sleep(slow_call)  # a slow database write
    with lock:
        handled.setdefault(sender, []).append(message)


@manager.peer_left_handler
def on_left(room, peer_id, info):
    with lock:
        left.append([peer_id, info.get("reason")])


app = chat.create_app(manager)


@app.get("/handled")
def get_handled():
    with lock:
        return jsonify({"handled": handled, "left": left, "stats": manager.stats()})


http = make_server("127.0.0.1", 0, app, threaded=True)
threading.Thread(target=http.serve_forever, daemon=True).start()
print(json.dumps({"url": f"http://127.0.0.1:{http.server_port}"}), flush=True)
sys.stdin.read()  # until the test closes it
http.shutdown()
manager.close()
