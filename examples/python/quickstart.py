from flask import Flask, request, jsonify
from peerpyrtc import SignalingManager

app = Flask(__name__)
signaling_manager = SignalingManager()

# Endpoint to handle the initial offer from a client
@app.route("/offer", methods=["POST"])
def offer():
    # The offer method takes the room, peer_id, and offer from the request
    # and returns the corresponding answer.
    return jsonify(signaling_manager.offer(**request.json))

# Endpoint to handle ICE candidates
@app.route("/candidate", methods=["POST"])
def candidate():
    signaling_manager.candidate(**request.json)
    return jsonify({"status": "ok"})

# Endpoint for a peer leaving a room
@app.route("/leave", methods=["POST"])
def leave():
    signaling_manager.leave(**request.json)
    return jsonify({"status": "ok"})

if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
