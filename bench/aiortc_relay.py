#!/usr/bin/python3
"""Reference relay on aiortc (Debian python3-aiortc, the engine PeerPyRTC uses) for the benchmark.

Speaks the subset of docs/protocol.md the load generator uses: POST /offer {room, peer_id,
offer} -> {sdp, type, peer_id, room, token, max_message_size}; GET /health. On the `peerrtc`
channel: a welcome JSON first, then every text frame `m<text>` goes to every other peer of the
room as `m<from>\\n<text>`. Prints `READY {"http":P}` once listening.

Run with /usr/bin/python3 (Debian's aiortc belongs to it): aiortc_relay.py --port 8081
"""
import argparse
import asyncio
import json
import os
import secrets
import sys

import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription

MAX_PAYLOAD = 262144 - 66
rooms = {}  # room -> {peer_id: channel}
pcs = set()


def use_loopback_only():
    # aioice gathers every interface but loopback; the benchmark runs on loopback.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def leave(room, peer_id, channel):
    members = rooms.get(room, {})
    if members.get(peer_id) is channel:
        del members[peer_id]
        event = json.dumps({"type": "peer_left", "peer_id": peer_id, "reason": "closed"})
        for ch in members.values():
            if ch.readyState == "open":
                ch.send(event)
    if not members:
        rooms.pop(room, None)


async def offer(body):
    room, peer_id, desc = body["room"], body["peer_id"], body["offer"]
    pc = RTCPeerConnection()
    pcs.add(pc)

    @pc.on("datachannel")
    def on_datachannel(channel):
        members = rooms.setdefault(room, {})
        channel.send(json.dumps({"type": "welcome", "room": room, "peer_id": peer_id,
                                 "peers": list(members), "max_message_size": MAX_PAYLOAD}))
        joined = json.dumps({"type": "peer_joined", "peer_id": peer_id})
        for ch in members.values():
            ch.send(joined)
        members[peer_id] = channel
        prefix = "m" + peer_id + "\n"

        @channel.on("message")
        def on_message(message):
            if isinstance(message, str) and message.startswith("m"):
                frame = prefix + message[1:]
                for pid, ch in rooms.get(room, {}).items():
                    if pid != peer_id and ch.readyState == "open":
                        ch.send(frame)

        @channel.on("close")
        def on_close():
            leave(room, peer_id, channel)

    @pc.on("connectionstatechange")
    async def on_state():
        if pc.connectionState in ("failed", "closed"):
            pcs.discard(pc)
            await pc.close()

    # PeerRTC's client offers no candidates (the answerer learns its address from its checks) and
    # a=end-of-candidates; aioice would then prune its only component and gather nothing.
    sdp = "".join(l for l in desc["sdp"].splitlines(True) if not l.startswith("a=end-of-candidates"))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    if os.environ.get("AIORTC_RELAY_DUMP"):  # debugging: the last offer and answer
        with open(os.environ["AIORTC_RELAY_DUMP"], "w") as f:
            f.write(desc["sdp"] + "\n----\n" + pc.localDescription.sdp)
    # aiortc advertises 65536; it reassembles larger messages fine, and the bulk scenario sends
    # 256 KiB frames (docs/protocol.md's limit), so advertise what peerrtc-server does.
    answer = pc.localDescription.sdp.replace("a=max-message-size:65536", "a=max-message-size:262144")
    return {"sdp": answer, "type": "answer", "peer_id": peer_id, "room": room,
            "token": secrets.token_hex(16), "max_message_size": MAX_PAYLOAD}


async def handle(reader, writer):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        status, reply = 404, {"error": "not found"}
        if method == "POST" and target == "/offer":
            try:
                status, reply = 200, await offer(json.loads(body))
            except (KeyError, ValueError, TypeError) as e:
                status, reply = 400, {"error": "bad offer: %s" % e}
        elif method == "GET" and target == "/health":
            status, reply = 200, {"status": "ok", "rooms": len(rooms), "peers": sum(map(len, rooms.values()))}
        data = json.dumps(reply).encode()
        writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % (status, len(data)) + data)
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    use_loopback_only()
    server = await asyncio.start_server(handle, args.host, args.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print("READY " + json.dumps({"http": port}), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
