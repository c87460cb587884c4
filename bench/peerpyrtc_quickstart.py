#!/usr/bin/python3
"""The seed's Flask quick start (examples/python/quickstart.py, imported unchanged) on peerpyrtc,
served for the benchmark on a chosen port: prints READY {"http":P} once listening.

    PYTHONPATH=build/python /usr/bin/python3 bench/peerpyrtc_quickstart.py --port 8082 [--handler]

--handler adds the seed's async message handler (a database tap: an await per message), so every
relayed message also crosses into Python. Served by werkzeug's threaded server (Flask's app.run
in the quick start uses the same server).
"""
import argparse
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "python"))
from werkzeug.serving import make_server  # noqa: E402

import quickstart  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8082)
    ap.add_argument("--handler", action="store_true")
    args = ap.parse_args()
    if args.handler:
        seen = [0]

        @quickstart.signaling_manager.message_handler
        async def save_all_messages(room_name, sender_id, message):
            seen[0] += 1
            await asyncio.sleep(0)

    srv = make_server(args.host, args.port, quickstart.app, threaded=True)
    print("READY " + json.dumps({"http": srv.server_port}), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
