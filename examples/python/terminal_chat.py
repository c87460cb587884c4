"""PeerPyRTC's terminal chat: the Flask chat server, and you in a room from the terminal.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/terminal_chat.py [--port 5000] [--room lobby] [--name operator]

The backend joins the room as a server-side participant (SignalingManager.join): people chat in
their browsers at http://HOST:PORT/?room=lobby, you type here. Commands (stdin): text to the room,
"/to <peer> <text>" a direct message, "/peers", "/quit" (or EOF). Output (stdout, flushed): a
READY {"http":P,"udp":U} line first, then "[x] text", "[x -> you] text", "* ..." (presence and
answers) and "! ..." (errors) lines, as the C++ terminal-chat prints them.
"""
import argparse
import json
import os
import sys
import threading

from werkzeug.serving import make_server

from peerpyrtc import PeerRTCError, SignalingManager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chat  # noqa: E402  (the Flask app of examples/python/chat.py)


def say(line: str) -> None:
    print(line.replace("\n", "\n    "), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5000, help="HTTP port; 0 = ephemeral")
    ap.add_argument("--room", default="lobby")
    ap.add_argument("--name", default="operator")
    args = ap.parse_args()

    manager = SignalingManager()
    chat.install_echo(manager)
    srv = make_server(args.host, args.port, chat.create_app(manager), threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    def on_message(room, sender, message, to):
        text = message if isinstance(message, str) else f"<{len(message)} bytes>"
        say(f"[{sender} -> you] {text}" if to else f"[{sender}] {text}")

    def on_event(ev):
        kind, who = ev.get("type"), ev.get("peer_id")
        if kind == "peer_joined":
            say(f"* {who} joined")
        elif kind == "peer_left":
            say(f"* {who} left")

    try:
        me = manager.join(args.room, args.name, on_message, on_event)
    except PeerRTCError as e:
        print(f"! cannot join {args.room} as {args.name}: {e.message}", file=sys.stderr)
        return 1
    say("READY " + json.dumps({"http": srv.server_port, "udp": manager.udp_port}, separators=(",", ":")))
    others = [p for p in manager.get_room_peers(args.room) if p != args.name]
    say(f"* you are {args.name} in {args.room}; " + (f"here: {', '.join(others)}" if others else "nobody else is here"))
    print(f"open http://{args.host}:{srv.server_port}/?room={args.room}", file=sys.stderr)

    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        if line == "/quit":
            break
        if line == "/peers":
            others = [p for p in manager.get_room_peers(args.room) if p != args.name]
            say("* peers: " + (", ".join(others) if others else "nobody"))
        elif line.startswith("/to "):
            parts = line.split(" ", 2)
            if len(parts) < 3 or not me.send_to(parts[1], parts[2]):
                say(f"! {parts[1] if len(parts) > 1 else '?'} is not in {args.room}")
        elif line.startswith("/") and not line.startswith("//"):
            say("* commands: text, /to <peer> <text>, /peers, /quit, //text for a line starting with /")
        else:
            try:
                me.send(line[1:] if line.startswith("//") else line)
            except PeerRTCError as e:
                say(f"! {e.message}")
    me.leave()
    srv.shutdown()
    manager.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
