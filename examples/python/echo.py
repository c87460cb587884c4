"""The smallest backend that talks back: every message is sent back to its sender.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/echo.py
"""
from flask import Flask, jsonify, request

from peerpyrtc import SignalingManager

app = Flask(__name__)
manager = SignalingManager()


@manager.message_handler
async def echo(room_name: str, sender_id: str, message):
    # Handlers run on an asyncio loop, off the relay's path; send_to waits for the network
    # thread without the GIL.
    manager.send_to(room_name, sender_id, message if isinstance(message, bytes) else "echo: " + message)


@app.route("/offer", methods=["POST"])
def offer():
    return jsonify(manager.offer(**request.json))


@app.route("/candidate", methods=["POST"])
def candidate():
    manager.candidate(**request.json)
    return jsonify({"status": "ok"})


@app.route("/leave", methods=["POST"])
def leave():
    manager.leave(**request.json)
    return jsonify({"status": "ok"})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000)
