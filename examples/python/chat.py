"""The chat, whiteboard and echo of examples/web, served by Flask with peerpyrtc.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/chat.py [--port 5000]

Serves the pages of examples/web and /peerrtc-client.js (clients/js) from this repository, the
signaling routes (PeerPyRTC's /offer, /candidate, /leave), GET /config, /rooms, /rooms/peers and
/health; rooms whose name starts with "echo" get every message back from the backend (the echo
page). Errors are JSON {"error": ...} with the status PeerRTCError carries.
"""
import argparse
import os
import sys

from flask import Flask, jsonify, request, send_from_directory

from peerpyrtc import PeerRTCError, SignalingManager

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WEB = os.path.join(REPO, "examples", "web")
CLIENT = os.path.join(REPO, "clients", "js")


def create_app(manager: SignalingManager) -> Flask:
    """The Flask app around ``manager``: signaling, room info and the example pages."""
    app = Flask(__name__, static_folder=None)

    @app.errorhandler(PeerRTCError)
    def api_error(e: PeerRTCError):
        return jsonify({"error": e.message}), e.status

    def body() -> dict:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise PeerRTCError(400, "the body must be a JSON object")
        return data

    @app.post("/offer")
    def offer():
        return jsonify(manager.offer(**body()))

    @app.post("/candidate")
    def candidate():
        manager.candidate(**body())
        return jsonify({"status": "ok"})

    @app.post("/leave")
    def leave():
        manager.leave(**body())
        return jsonify({"status": "ok"})

    @app.get("/config")
    def config():
        resp = jsonify(manager.ice_config(request.args.get("peer_id", "")))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/rooms")
    def rooms():
        return jsonify(manager.rooms_info())

    @app.get("/rooms/peers")
    def room_peers():
        room = request.args.get("room", "")
        return jsonify({"room": room, "peers": manager.get_room_peers(room)})

    @app.get("/health")
    def health():
        s = manager.stats()
        return jsonify({"status": "ok", "rooms": s["rooms"], "peers": s["peers"]})

    @app.get("/peerrtc-client.js")
    def client_js():
        return send_from_directory(CLIENT, "peerrtc-client.js", mimetype="text/javascript")

    @app.get("/")
    @app.get("/<path:path>")
    def pages(path: str = ""):
        if path == "" or path.endswith("/"):
            path += "index.html"
        return send_from_directory(WEB, path)

    return app


def install_echo(manager: SignalingManager, prefix: str = "echo") -> None:
    """Rooms named ``echo...``: every message goes back to its sender ("echo: " + text; binary as is)."""

    @manager.message_handler
    def echo(room: str, sender: str, message):
        if not room.startswith(prefix) or sender == "server":
            return
        try:
            manager.send_to(room, sender, message if isinstance(message, bytes) else "echo: " + message)
        except PeerRTCError:
            pass  # e.g. 413: the text plus "echo: " is too large


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args()
    manager = SignalingManager(debug=args.debug)
    install_echo(manager)

    @manager.message_handler
    async def log_message(room: str, sender: str, message):
        print(f"[{room}] {sender}: {message if isinstance(message, str) else f'<{len(message)} bytes>'}", file=sys.stderr)

    create_app(manager).run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
