"""close() while other threads are inside calls (issue 21): e.g. atexit, or a request handler
closing the manager, under a threaded WSGI server. Every call that was inside when close()
began must finish on a live manager (with its answer, or PeerRTCError 503), close() returns only
after them, and every call after it raises PeerRTCError 503. Before the fix close() destroyed
the manager under those calls and stats() read freed memory.

The race is made certain with a test hook compiled into the module (_test_call_delay: each call
pauses after taking the manager), since the ASan stage does not load the Python module. It runs
in a child process: one SignalingManager per process, and a use after free there may crash it."""
import os
import subprocess
import sys
import textwrap

from conftest import REPO

SCRIPT = textwrap.dedent("""
    import json, sys, threading, time
    import peerpyrtc
    from peerpyrtc import PeerRTCError, _peerpyrtc as core

    m = peerpyrtc.SignalingManager(udp_port=0, udp_bind="127.0.0.1")
    assert m.stats()["rooms"] == 0
    core._test_call_delay(0.3)
    N = 8
    inside = threading.Barrier(N + 1)
    results, errors = [], []
    def hammer(i):
        inside.wait()
        try:
            # stats() and rooms_info(), alternately: both read the manager's state.
            r = m.stats() if i % 2 == 0 else m.rooms_info()
            results.append(type(r).__name__)
        except PeerRTCError as e:
            errors.append(e.status)
        except Exception as e:
            errors.append(repr(e))
    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    inside.wait()
    time.sleep(0.1)  # the calls are inside their 0.3 s pause now (they took the manager)
    t0 = time.monotonic()
    m.close()
    closed_after = time.monotonic() - t0
    for t in threads:
        t.join()
    core._test_call_delay(0)
    try:
        m.stats()
        after = "no error"
    except PeerRTCError as e:
        after = e.status
    print(json.dumps({"results": results, "errors": errors, "after": after,
                      "used_after_close": core._test_used_after_close(), "closed_after": closed_after}))
""")


def test_close_waits_for_calls_on_other_threads():
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, f"the child died (rc {proc.returncode}): {proc.stderr[-2000:]}"
    import json
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["used_after_close"] == 0, f"calls used the manager after close() destroyed it: {out}"
    # Every call that was inside finished cleanly: an answer, or the 503 of a manager shutting down.
    assert len(out["results"]) + len(out["errors"]) == 8, out
    assert all(e == 503 for e in out["errors"]), out
    # close() waited for them (they were ~0.2 s into their pause when it began).
    assert out["closed_after"] >= 0.1, out
    assert out["after"] == 503, out
