#!/usr/bin/python3
"""aiortc (Debian python3-aiortc 1.4) as a PeerRTC client, for the interop and client suites.

Run with Debian's interpreter, /usr/bin/python3 (the aiortc package belongs to it):

  aiortc_client.py matrix --http-port P [--peer-id ID] [--offer-max-message-size N] [--timeout S]
      The interop matrix of tests/interop/matrix.js against peerrtc-testserver: the control
      channel, the 4 channel types each opened by the client and by the server, messages of
      0/1/1024/16384/65536/262144 bytes as text and binary plus a 65536-byte multi-byte UTF-8
      text, echoed and compared byte for byte and by kind; a flow-controlled burst on the
      reliable channels; /events; closes both ways; pc.close() -> peer_closed. Prints a line per
      failed or skipped check and ends with `N passed, M failed, K skipped`; exit 0 only when
      nothing failed and something passed. --offer-max-message-size tells the server another
      limit than the 65536 aiortc's offer carries (see AIORTC_MMS below).

  aiortc_client.py room --http-port P --room R --peer-id ID
      A member of a room of peerrtc-server (wire protocol v1, docs/protocol.md) driven through
      stdin/stdout with one JSON object per line, for tests/client/five-stacks.test.mjs:
        out: {"ev":"ready"} (welcome received; carries "welcome"), {"ev":"frame", "text": s} or
             {"ev":"frame", "binary": hex}, {"ev":"sent","id":..}, {"ev":"closed"},
             {"ev":"error","error":..}
        in:  {"op":"send_text","text":s} -> frame `m<text>`; {"op":"send_binary","hex":h} ->
             0x01 + payload; {"op":"leave"} -> POST /leave, close, exit 0.
      stdin closing also ends it.

Only 127.0.0.1 is used: aioice's host address list is replaced by 127.0.0.1 (it leaves
loopback out by default) and no STUN server is configured (aiortc's default is Google's).
"""
import argparse
import asyncio
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.request

import aioice.ice
import aiortc
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

VERBOSE = bool(os.environ.get("PEERRTC_VERBOSE"))

# ---- the stack's own limitations, found with this program (tests/interop/README.md) ----------
# aiortc 1.4 advertises a=max-message-size:65536 in its offer (RTCSctpTransport.getCapabilities
# hard-codes it; it reassembles larger messages all the same), and the server honours the remote's
# limit (RFC 8841: a sender must not exceed it), so a larger message is received by the server
# and its echo is refused, never truncated. Those cells check the receiving half through the
# server's echo_failed event and skip the echo with this text.
AIORTC_MMS = ("aiortc %s advertises a=max-message-size:%d in its offer (RTCSctpTransport."
              "getCapabilities hard-codes 65536), so the server may not send it the %d-byte echo")


def log(msg):
    if VERBOSE:
        print("[aiortc] " + msg, file=sys.stderr, flush=True)


def use_loopback_only():
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


# ---- HTTP (blocking urllib on a worker thread; the server is on 127.0.0.1) --------------------

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an http_proxy


def _http(method, url, body):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json"} if data else {})
    try:
        with _opener.open(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def http(method, url, body=None):
    return await asyncio.get_running_loop().run_in_executor(None, _http, method, url, body)


# ---- payloads (the same kinds and sizes as matrix.js) ---------------------------------------

ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\t\n"
SIZES = [0, 1, 1024, 16384, 65536, 262144]


def utf8_payload(nbytes):
    cycle = ["A", "é", "Ж", "€", "中", "😀", "ß", "🚀", "z"]
    parts, n, i = [], 0, 0
    while True:
        c = cycle[i % len(cycle)]
        ln = len(c.encode())
        if n + ln > nbytes - 4:
            break
        parts.append(c)
        n += ln
        i += 1
    parts.append("." * (nbytes - n))
    return "".join(parts)


class Msg:
    def __init__(self, kind, size, desc, data):
        self.kind, self.size, self.desc, self.data = kind, size, desc, data


def messages_for(sizes, seed):
    rnd = random.Random(seed)
    out = []
    for size in sizes:
        out.append(Msg("text", size, "%d-byte text" % size, "".join(rnd.choice(ASCII) for _ in range(size))))
        out.append(Msg("binary", size, "%d-byte binary" % size, rnd.randbytes(size)))
    if 65536 in sizes:
        s = utf8_payload(65536)
        out.append(Msg("text", 65536, "65536-byte multi-byte UTF-8 text (%d code points)" % len(s), s))
    return out


def describe(x):
    if isinstance(x, str):
        return "text (%d UTF-8 bytes)" % len(x.encode())
    if isinstance(x, bytes):
        return "binary (%d bytes)" % len(x)
    return repr(type(x))


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return -1 if len(a) == len(b) else min(len(a), len(b))


def compare(msg, got):
    """None if `got` is the exact echo of msg (same kind, same bytes), else what differs."""
    if msg.kind == "text":
        if not isinstance(got, str):
            return "expected text, got " + describe(got)
        a, b = msg.data.encode(), got.encode()
    else:
        if not isinstance(got, bytes):
            return "expected binary, got " + describe(got)
        a, b = msg.data, got
    if a != b:
        return "sent %d bytes, got %d, first difference at byte %d" % (len(a), len(b), first_diff(a, b))
    return None


def same(msg, got):
    return compare(msg, got) is None


# ---- channel plumbing -----------------------------------------------------------------------

class Chan:
    def __init__(self, dc, opened_by, ctype):
        self.dc, self.opened_by, self.type, self.label = dc, opened_by, ctype, dc.label
        self.queue = asyncio.Queue()
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()
        if dc.readyState == "open":
            self.opened.set()
        dc.on("message", self.queue.put_nowait)
        dc.on("open", self.opened.set)
        dc.on("close", self.closed.set)

    async def next(self, timeout):
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def wait_buffered(self, limit, timeout):
        deadline = time.monotonic() + timeout
        while self.dc.bufferedAmount > limit:
            if time.monotonic() > deadline:
                raise asyncio.TimeoutError()
            await asyncio.sleep(0.005)


CHANNEL_TYPES = [
    {"name": "reliable", "protocol": "", "ordered": True, "maxRetransmits": None, "maxPacketLifeTime": None},
    {"name": "unordered", "protocol": "x-peerrtc-unordered", "ordered": False, "maxRetransmits": None, "maxPacketLifeTime": None},
    {"name": "rexmit5", "protocol": "x-peerrtc-rexmit", "ordered": False, "maxRetransmits": 5, "maxPacketLifeTime": None},
    {"name": "lifetime2000", "protocol": "x-peerrtc-lifetime", "ordered": True, "maxRetransmits": None, "maxPacketLifeTime": 2000},
]


def echo_timeout(size):
    return 5 + size / 1048576 * 20


class Results:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
            log("ok: " + what)
        else:
            self.failed += 1
            print("FAIL: " + what, flush=True)
        return ok

    def skip(self, what, reason):
        self.skipped += 1
        print("SKIP: %s: %s" % (what, reason), flush=True)


# ---- the matrix -----------------------------------------------------------------------------

async def run_matrix(args, res):
    base = "http://%s:%d" % (args.host, args.http_port)
    peer_id = args.peer_id

    async def events():
        status, body = await http("GET", base + "/events")
        if status != 200:
            raise RuntimeError("GET /events: %d %s" % (status, body[:200]))
        return [e for e in json.loads(body)["events"] if e.get("peer_id") == peer_id]

    async def wait_event(pred, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            evs = await events()
            for e in evs:
                if pred(e):
                    return e
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    incoming = {}
    incoming_waiters = {}

    @pc.on("datachannel")
    def on_datachannel(dc):
        ch = Chan(dc, "server", None)  # subscribe at once: messages may follow the OPEN
        fut = incoming_waiters.pop(dc.label, None)
        if fut and not fut.done():
            fut.set_result(ch)
        else:
            incoming[dc.label] = ch

    async def wait_incoming(label, timeout):
        if label in incoming:
            return incoming.pop(label)
        fut = asyncio.get_running_loop().create_future()
        incoming_waiters[label] = fut
        return await asyncio.wait_for(fut, timeout)

    try:
        t0 = time.monotonic()
        control = Chan(pc.createDataChannel("control"), "client", None)
        await pc.setLocalDescription(await pc.createOffer())
        offer_sdp = pc.localDescription.sdp
        if args.offer_max_message_size:
            # Only what the server is told changes: aiortc enforces no limit of its own.
            offer_sdp, n = re.subn(r"a=max-message-size:\d+", "a=max-message-size:%d" % args.offer_max_message_size, offer_sdp)
            if not res.check(n == 1, "aiortc's offer has one a=max-message-size line to raise"):
                return res
        mms = re.search(r"a=max-message-size:(\d+)", offer_sdp)
        offer_mms = int(mms.group(1)) if mms else 65536  # RFC 8841: absent means 64 KiB
        status, body = await http("POST", base + "/offer", {
            "room": "interop", "peer_id": peer_id,
            "offer": {"sdp": offer_sdp, "type": "offer"}})
        if not res.check(status == 200, "POST /offer -> 200 (got %d %s)" % (status, body[:300])):
            return res
        answer = json.loads(body)["sdp"]
        mms = re.search(r"a=max-message-size:(\d+)", answer)
        res.check(mms and int(mms.group(1)) == 262144,
                  "answer a=max-message-size is 262144 (got %s)" % (mms and mms.group(1)))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        try:
            await asyncio.wait_for(control.opened.wait(), 15)
        except asyncio.TimeoutError:
            res.check(False, "control channel open within 15 s (ICE %s, connection %s)"
                      % (pc.iceConnectionState, pc.connectionState))
            return res
        res.check(True, "control channel open")
        print("offer->control open: %.1f ms" % ((time.monotonic() - t0) * 1000), flush=True)

        async def command(cmd):
            control.dc.send(json.dumps(cmd))
            try:
                raw = await control.next(5)
            except asyncio.TimeoutError:
                return None
            try:
                return json.loads(raw)
            except (TypeError, ValueError):
                return {"unparsable": repr(raw)[:200]}

        rep = await command({"cmd": "frobnicate"})
        res.check(rep is not None and rep.get("ok") is False and isinstance(rep.get("error"), str),
                  "unknown control command -> ok:false with an error (got %s)" % rep)

        # ---- open channels ----
        chans = []
        for t in CHANNEL_TYPES:
            dc = pc.createDataChannel("c-" + t["name"], ordered=t["ordered"], protocol=t["protocol"],
                                      maxRetransmits=t["maxRetransmits"],
                                      maxPacketLifeTime=t["maxPacketLifeTime"])
            chans.append(Chan(dc, "client", t))
        for ch in chans:
            try:
                await asyncio.wait_for(ch.opened.wait(), 5)
                res.check(True, "client-opened %s open" % ch.label)
            except asyncio.TimeoutError:
                res.check(False, "client-opened %s open within 5 s (readyState %s)" % (ch.label, ch.dc.readyState))
        for t in CHANNEL_TYPES:
            label = "s-" + t["name"]
            cmd = {"cmd": "open", "label": label, "protocol": t["protocol"], "ordered": t["ordered"],
                   "maxRetransmits": t["maxRetransmits"], "maxPacketLifeTime": t["maxPacketLifeTime"]}
            rep = await command(cmd)
            res.check(rep is not None and rep.get("ok") is True and rep.get("label") == label,
                      "control open %s -> ok (got %s)" % (label, rep))
            try:
                ch = await wait_incoming(label, 5)
                ch.type = t
                chans.append(ch)
                res.check(True, "server-opened %s arrived" % label)
            except asyncio.TimeoutError:
                res.check(False, "datachannel event for server-opened %s within 5 s" % label)
        chans = [ch for ch in chans if ch.opened.is_set()]

        for ch in chans:
            t = ch.type
            got = {"protocol": ch.dc.protocol, "ordered": ch.dc.ordered,
                   "maxRetransmits": ch.dc.maxRetransmits, "maxPacketLifeTime": ch.dc.maxPacketLifeTime}
            want = {k: t[k] for k in got}
            res.check(got == want, "channel %s (opened by %s) as seen by aiortc: %s, expected %s"
                      % (ch.label, ch.opened_by, got, want))

        async def oversize_cell(ch, msg, attempts):
            """A message larger than our offer's max-message-size: the server must receive it
            intact and refuse the echo (echo_failed), not truncate it; the echo is skipped."""
            what = "%s on %s" % (msg.desc, ch.label)
            kind = msg.kind == "binary"

            def match(e):
                return (e["type"] == "echo_failed" and e["label"] == ch.label and e["size"] == msg.size
                        and e["binary"] == kind)
            before = len([e for e in await events() if match(e)])
            ev = None
            for attempt in range(attempts):  # loss is legal on partially reliable channels
                ch.dc.send(msg.data)
                deadline = time.monotonic() + echo_timeout(msg.size)
                while ev is None and time.monotonic() < deadline:
                    evs = [e for e in await events() if match(e)]
                    ev = evs[before] if len(evs) > before else None
                    if ev is None:
                        await asyncio.sleep(0.05)
                if ev:
                    break
            res.check(ev is not None and "max-message-size" in ev["error"],
                      "server received %s and refused the echo past our advertised %d bytes (event %s)"
                      % (what, offer_mms, ev))
            res.skip("echo of " + what, AIORTC_MMS % (aiortc.__version__, offer_mms, msg.size))

        # ---- echo every message on every channel, one at a time ----
        seed = 1
        for ch in chans:
            t = ch.type
            partial = t["maxRetransmits"] is not None or t["maxPacketLifeTime"] is not None
            attempts = 3 if partial else 1
            stale = []
            tc = time.monotonic()
            for msg in messages_for(SIZES, seed):
                what = "echo of %s on %s" % (msg.desc, ch.label)
                if msg.size > offer_mms:
                    await oversize_cell(ch, msg, attempts)
                    continue
                for attempt in range(1, attempts + 1):
                    try:
                        await ch.wait_buffered(65536, 10)
                    except asyncio.TimeoutError:
                        res.check(False, "bufferedAmount of %s below 64 KiB within 10 s before %s"
                                  % (ch.label, msg.desc))
                        break
                    ch.dc.send(msg.data)
                    deadline = time.monotonic() + echo_timeout(msg.size)
                    got = None
                    try:
                        while True:
                            got = await ch.next(max(0.001, deadline - time.monotonic()))
                            if any(same(m, got) for m in stale) and not same(msg, got):
                                continue  # a late echo of an earlier message
                            break
                    except asyncio.TimeoutError:
                        if attempt < attempts:
                            log("%s: lost on a partially reliable channel, sending again" % what)
                            continue
                        res.check(False, "%s within %.1f s" % (what, echo_timeout(msg.size)))
                        break
                    diff = compare(msg, got)
                    res.check(diff is None, "%s: %s" % (what, diff or "identical"))
                    break
                if partial:
                    stale.append(msg)
            log("channel %s: echoes done in %.0f ms" % (ch.label, (time.monotonic() - tc) * 1000))
            seed += 1

        # ---- burst on the reliable ordered channels ----
        for ch in chans:
            t = ch.type
            if not (t["ordered"] and t["maxRetransmits"] is None and t["maxPacketLifeTime"] is None):
                continue
            msgs = [m for m in messages_for(SIZES, 100 + seed) + messages_for(SIZES, 200 + seed)
                    if m.size <= offer_mms]
            if len(msgs) < 26:
                res.skip("burst of the %d messages larger than %d bytes on %s" % (26 - len(msgs), offer_mms, ch.label),
                         AIORTC_MMS % (aiortc.__version__, offer_mms, max(SIZES)))
            seed += 1
            tb = time.monotonic()

            async def receive():
                for i, m in enumerate(msgs):
                    got = await ch.next(echo_timeout(m.size) * 2)
                    diff = compare(m, got)
                    if diff:
                        return "burst echo %d (%s) on %s: %s" % (i, m.desc, ch.label, diff)
                return None

            receiving = asyncio.ensure_future(receive())
            sent_ok = True
            for m in msgs:
                try:
                    await ch.wait_buffered(262144, 10)
                except asyncio.TimeoutError:
                    sent_ok = False
                    break
                ch.dc.send(m.data)
            try:
                err = await receiving
            except asyncio.TimeoutError:
                err = "burst on %s: an echo did not arrive in time" % ch.label
            res.check(sent_ok and err is None, err or ("burst of %d messages on %s echoed in order (%.0f ms)"
                                                       % (len(msgs), ch.label, (time.monotonic() - tb) * 1000)))

        # ---- server events ----
        evs = await events()
        types = [e["type"] for e in evs]
        res.check("peer_connected" in types and "channel_open" in types
                  and types.index("peer_connected") < types.index("channel_open"),
                  "peer_connected before the first channel_open (%s)" % types)
        ctl = [e for e in evs if e["type"] == "channel_open" and e["label"] == "control"]
        res.check(len(ctl) == 1 and ctl[0]["opened_by"] == "client", "server saw control opened by the client")
        for ch in chans:
            t = ch.type
            ev = [e for e in evs if e["type"] == "channel_open" and e["label"] == ch.label]
            want = {"protocol": t["protocol"], "opened_by": ch.opened_by, "ordered": t["ordered"],
                    "maxRetransmits": t["maxRetransmits"], "maxPacketLifeTime": t["maxPacketLifeTime"]}
            got = {k: ev[0].get(k, "<missing>") for k in want} if ev else None
            res.check(got == want, "server event channel_open for %s: %s, expected %s" % (ch.label, got, want))

        # ---- close ----
        for ch in [c for c in chans if c.opened_by == "client"]:
            ch.dc.close()
            try:
                await asyncio.wait_for(ch.closed.wait(), 5)
                res.check(True, "client-closed %s: close event" % ch.label)
            except asyncio.TimeoutError:
                res.check(False, "client-closed %s: close event within 5 s (readyState %s)" % (ch.label, ch.dc.readyState))
            ev = await wait_event(lambda e, l=ch.label: e["type"] == "channel_closed" and e["label"] == l)
            res.check(ev is not None, "server reported channel_closed for client-closed %s" % ch.label)
        for ch in [c for c in chans if c.opened_by == "server"]:
            rep = await command({"cmd": "close", "label": ch.label})
            res.check(rep == {"ok": True, "cmd": "close", "label": ch.label}, "control close %s -> ok (got %s)" % (ch.label, rep))
            try:
                await asyncio.wait_for(ch.closed.wait(), 5)
                res.check(True, "server-closed %s: aiortc saw the close" % ch.label)
            except asyncio.TimeoutError:
                res.check(False, "server-closed %s: close event within 5 s (readyState %s)" % (ch.label, ch.dc.readyState))
            ev = await wait_event(lambda e, l=ch.label: e["type"] == "channel_closed" and e["label"] == l)
            res.check(ev is not None, "server reported channel_closed for server-closed %s" % ch.label)
        rep = await command({"cmd": "close", "label": "no-such-channel"})
        res.check(rep is not None and rep.get("ok") is False, "control close of an unknown label -> ok:false (got %s)" % rep)

        tc = time.monotonic()
        await pc.close()
        ev = await wait_event(lambda e: e["type"] == "peer_closed", 10)
        res.check(ev is not None, "server saw peer_closed within 10 s of pc.close()")
        if ev:
            print("pc.close() -> peer_closed (%s): %.0f ms" % (ev.get("reason"), (time.monotonic() - tc) * 1000), flush=True)
        return res
    finally:
        await pc.close()


# ---- room mode (peerrtc-server, wire protocol v1) ---------------------------------------------

def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def run_room(args):
    base = "http://%s:%d" % (args.host, args.http_port)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    dc = pc.createDataChannel("peerrtc", ordered=True)
    done = asyncio.Event()
    welcomed = asyncio.Event()

    @dc.on("message")
    def on_message(m):
        if isinstance(m, str):
            if m.startswith("{"):
                try:
                    ev = json.loads(m)
                except ValueError:
                    ev = None
                if isinstance(ev, dict) and ev.get("type") == "welcome" and not welcomed.is_set():
                    welcomed.set()
                    emit({"ev": "ready", "welcome": ev})
                    return
            emit({"ev": "frame", "text": m})
        else:
            emit({"ev": "frame", "binary": m.hex()})

    @dc.on("close")
    def on_close():
        emit({"ev": "closed"})
        done.set()

    await pc.setLocalDescription(await pc.createOffer())
    status, body = await http("POST", base + "/offer", {
        "room": args.room, "peer_id": args.peer_id,
        "offer": {"sdp": pc.localDescription.sdp, "type": "offer"}})
    if status != 200:
        emit({"ev": "error", "error": "POST /offer: %d %s" % (status, body[:300])})
        await pc.close()
        return 1
    answer = json.loads(body)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    try:
        await asyncio.wait_for(welcomed.wait(), 20)
    except asyncio.TimeoutError:
        emit({"ev": "error", "error": "no welcome within 20 s (ICE %s, connection %s, channel %s)"
              % (pc.iceConnectionState, pc.connectionState, dc.readyState)})
        await pc.close()
        return 1

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 22)  # a command line carries a message as hex
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    rc = 0
    while not done.is_set():
        line_task = asyncio.ensure_future(reader.readline())
        closed_task = asyncio.ensure_future(done.wait())
        await asyncio.wait([line_task, closed_task], return_when=asyncio.FIRST_COMPLETED)
        if not line_task.done():
            line_task.cancel()
            break
        closed_task.cancel()
        line = line_task.result()
        if not line:
            break  # stdin closed: the test is gone
        try:
            cmd = json.loads(line)
            op = cmd["op"]
            if op == "send_text":
                dc.send("m" + cmd["text"])
            elif op == "send_binary":
                dc.send(b"\x01" + bytes.fromhex(cmd["hex"]))
            elif op == "leave":
                status, body = await http("POST", base + "/leave", {
                    "room": args.room, "peer_id": args.peer_id, "token": answer["token"]})
                if status != 200:
                    emit({"ev": "error", "error": "POST /leave: %d %s" % (status, body[:200])})
                    rc = 1
                break
            else:
                raise ValueError("unknown op " + op)
            emit({"ev": "sent", "id": cmd.get("id")})
        except (ValueError, KeyError, aiortc.exceptions.InvalidStateError) as e:
            emit({"ev": "error", "error": "%s: %s" % (type(e).__name__, e)})
    await pc.close()
    return rc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["matrix", "room"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--peer-id", default="aiortc-%d" % os.getpid())
    parser.add_argument("--room", default="interop")
    parser.add_argument("--timeout", type=int, default=150, help="matrix: seconds for the whole run")
    parser.add_argument("--offer-max-message-size", type=int, default=0,
                        help="matrix: advertise this a=max-message-size to the server instead of aiortc's 65536")
    args = parser.parse_args()
    use_loopback_only()
    print("aiortc %s" % aiortc.__version__, file=sys.stderr, flush=True)
    if args.mode == "matrix":
        res = Results()
        try:
            asyncio.run(asyncio.wait_for(run_matrix(args, res), args.timeout))
        except asyncio.TimeoutError:
            res.check(False, "the matrix did not finish within %d s" % args.timeout)
        except Exception as e:  # a bug here or in aiortc: say what, still print the summary
            res.check(False, "the matrix raised %s: %s" % (type(e).__name__, e))
        print("%d passed, %d failed, %d skipped" % (res.passed, res.failed, res.skipped), flush=True)
        sys.exit(0 if res.failed == 0 and res.passed > 0 else 1)
    sys.exit(asyncio.run(run_room(args)))


if __name__ == "__main__":
    main()
