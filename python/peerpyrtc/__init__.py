"""peerpyrtc: PeerPyRTC's API on PeerRTC's C++ engine.

A WebRTC DataChannel backend: browsers post an SDP offer over HTTP, the server answers as a real
WebRTC peer (ICE-lite, DTLS, SCTP on one UDP port), and relays every message a peer sends to the
other peers of its room. Your code taps, moderates and sends messages::

    from flask import Flask, request, jsonify
    from peerpyrtc import SignalingManager

    app = Flask(__name__)
    signaling_manager = SignalingManager()

    @app.route("/offer", methods=["POST"])
    def offer():
        return jsonify(signaling_manager.offer(**request.json))

Threads: the relay runs on the engine's own network thread, never with the GIL. Message and
presence handlers are called from an engine hook thread, which takes the GIL only to hand them to
an asyncio loop (``asyncio.run_coroutine_threadsafe`` for ``async def``, ``call_soon_threadsafe``
for plain functions): the loop that ``SignalingManager(loop=...)`` was given, else one this module
runs in a daemon thread. A slow handler delays later handlers, never the relay. The filter is the
exception: it runs on the network thread, holding the GIL, for every message, so it must be fast.
Only one SignalingManager may exist per process (the engine's SCTP state is process-wide).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import atexit
import inspect
import json
import sys
import threading
import traceback
import weakref
from typing import Any, Callable, Dict, List, Optional, Union

from ._errors import PeerRTCError
from . import _peerpyrtc as _core

__all__ = ["SignalingManager", "Broadcaster", "Participant", "PeerRTCError", "Drop", "Replace", "make_join_token"]

make_join_token = _core.make_join_token
__version__ = _core.__version__  # VERSION at the top of the source tree

Data = Union[str, bytes]


class Drop:
    """A filter's verdict: drop the message; the sender gets an ``error`` event with ``reason``."""

    _peerpyrtc_drop = True

    def __init__(self, reason: str = "message rejected") -> None:
        self.reason = reason


class Replace:
    """A filter's verdict: relay ``data`` instead (a text message stays text, binary stays binary)."""

    _peerpyrtc_replace = True

    def __init__(self, data: Data) -> None:
        self.data = data


class _LoopThread:
    """An asyncio loop run in a daemon thread; the default home of the handlers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(ready.set)
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="peerpyrtc-handlers", daemon=True)
        self.thread.start()
        ready.wait()

    def stop(self, timeout: float = 2.0) -> None:
        if self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:
            return
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout)


def _report(what: str) -> None:
    print(f"peerpyrtc: {what} raised:", file=sys.stderr)
    traceback.print_exc()


def _log_future(fut: "asyncio.Future[Any]") -> None:
    if not fut.cancelled() and fut.exception() is not None:
        exc = fut.exception()
        print("peerpyrtc: an async handler raised:", file=sys.stderr)
        traceback.print_exception(type(exc), exc, exc.__traceback__)


def _str_arg(name: str, value: Any) -> str:
    if value is None:
        raise PeerRTCError(400, f"field '{name}' is missing")
    if not isinstance(value, str):
        raise PeerRTCError(400, f"field '{name}' must be a string")
    return value


_live: "weakref.WeakSet[SignalingManager]" = weakref.WeakSet()


class SignalingManager:
    """Rooms of WebRTC DataChannel peers, relayed by the server (PeerPyRTC's SignalingManager).

    ``SignalingManager(debug=False, loop=None, **config)``: ``config`` sets any field of the
    engine's ``Config`` (``udp_port``, ``udp_bind``, ``public_ips``, ``max_peers_per_room``,
    ``api_timeout`` in seconds, ``require_leave_token``...; see ``peerpyrtc._peerpyrtc.Config``);
    an unknown key is a TypeError. ``require_leave_token`` defaults to False here, as PeerPyRTC's
    ``leave(room, peer_id)`` takes no token (a wrong token is still refused). ``loop``: an asyncio
    loop (your app's) to run handlers on; by default the module runs its own in a daemon thread.
    Raises RuntimeError if another SignalingManager is alive in this process.
    """

    def __init__(self, debug: bool = False, *, loop: Optional[asyncio.AbstractEventLoop] = None, **config: Any) -> None:
        cfg = _core.Config()
        cfg.debug = bool(debug)
        cfg.require_leave_token = False
        for key, value in config.items():
            if key.startswith("_") or not hasattr(cfg, key):
                raise TypeError(f"SignalingManager: unknown config option {key!r}")
            setattr(cfg, key, value)
        # hook_overflow="backpressure": each message handler call is waited for on the hook
        # thread, so the engine's hook queue holds the backlog and pauses the senders when full.
        self._lossless = cfg.hook_overflow == "backpressure"
        self._closing = False
        self._message_handlers: List[Callable[..., Any]] = []
        self._joined_handlers: List[Callable[..., Any]] = []
        self._left_handlers: List[Callable[..., Any]] = []
        self._participants: "weakref.WeakSet[Participant]" = weakref.WeakSet()
        self._own_loop: Optional[_LoopThread] = None
        self._core = _core.Manager(cfg)  # RuntimeError for a second manager
        if loop is None:
            self._own_loop = _LoopThread()
            loop = self._own_loop.loop
        self._loop = loop
        self._hook_ids = [
            self._core.on_message(self._dispatch_message),
            self._core.on_presence(True, self._dispatch_joined),
            self._core.on_presence(False, self._dispatch_left),
        ]
        _live.add(self)

    # -- PeerPyRTC's three calls -------------------------------------------------------------

    def offer(self, room: Optional[str] = None, peer_id: Optional[str] = None, offer: Any = None,
              token: Optional[str] = None, join_token: Optional[str] = None, protocol: Any = None,
              resume: Any = None, restart: Any = None, **kw: Any) -> Dict[str, Any]:
        """Answers a client's SDP offer (``{"sdp": ..., "type": "offer"}``) and admits it to ``room``.

        Returns ``{"sdp", "type": "answer", "peer_id", "room", "token", "max_message_size"}``.
        ``token`` (from an earlier answer) lets a peer reconnect under the same id. Extra keys
        are ignored, so ``offer(**request.json)`` works. Raises PeerRTCError (400 bad name or
        SDP, 409 id taken, 403 wrong token, 503 a limit). With ``join_secret`` set, ``join_token``
        must be a join token for (room, peer_id) (``make_join_token``): 401 without, 403 bad.
        ``protocol`` and ``resume`` (docs/protocol.md "v2") are passed on, so a v2 client resumes
        after a drop with every message it missed; the handlers see each message once (a
        replay runs no hook).

        An offer with the token from the peer's live connection (same DTLS fingerprint) is an ICE
        restart: the connection, its membership and queues are kept and only the ICE credentials
        change (the answer adds ``"restart": true``); ``restart=True`` (the JS client's body
        field) insists on one, a 409 when it cannot be.
        """
        if offer is None:
            raise PeerRTCError(400, "field 'offer' is missing")
        answer = self._core.offer(_str_arg("room", room), _str_arg("peer_id", peer_id),
                                  json.dumps(offer), token if isinstance(token, str) else "",
                                  join_token if isinstance(join_token, str) else "",
                                  json.dumps({"protocol": protocol, "resume": resume, "restart": restart}))
        return json.loads(answer)

    def candidate(self, room: Optional[str] = None, peer_id: Optional[str] = None, candidate: Any = None,
                  token: Optional[str] = None, **kw: Any) -> None:
        """Accepts a trickled ICE candidate (validated, then ignored: the server is ICE-lite).

        No token is needed; a wrong one is a 403. Extra keys are ignored.
        """
        self._core.candidate(_str_arg("room", room), _str_arg("peer_id", peer_id), json.dumps(candidate),
                             token if isinstance(token, str) else "")

    def leave(self, room: Optional[str] = None, peer_id: Optional[str] = None, token: Optional[str] = None,
              **kw: Any) -> None:
        """Removes a peer from its room (the others see it leave; an empty room is removed).

        Without ``require_leave_token`` (the default here) no token is needed; a wrong one is a 403.
        """
        self._core.leave(_str_arg("room", room), _str_arg("peer_id", peer_id),
                         token if isinstance(token, str) else "")

    def handle(self, action: str, body: Union[str, bytes]) -> "tuple[int, Dict[str, Any]]":
        """Handles a raw JSON body for ``action`` ("offer", "candidate", "leave"): (status, dict). Never raises for bad input."""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        status, out = self._core.handle(action, body)
        return status, json.loads(out)

    # -- who is where ------------------------------------------------------------------------

    def rooms_info(self) -> Dict[str, Any]:
        """``{"rooms": [{"room": name, "peers": [peer_id, ...]}, ...]}``."""
        return json.loads(self._core.rooms_info())

    def get_room_peers(self, room: str) -> List[str]:
        """The peer ids (and participants' names) in ``room``; [] for an unknown room."""
        try:
            return list(json.loads(self._core.room_peers(room))["peers"])
        except PeerRTCError as e:
            if e.status == 404:
                return []
            raise

    def ice_config(self, peer_id: str = "") -> Dict[str, Any]:
        """The ``GET /config`` body: ICE servers for clients (TURN credentials minted per call)."""
        return json.loads(self._core.ice_config(peer_id))

    def stats(self) -> Dict[str, Any]:
        """Counters: rooms, peers, messages_relayed, deliveries, drops, hook_events, hook_dropped;
        ICE-TCP counters under "ice_tcp"; histograms under "relay_latency" and "handshake"."""
        return json.loads(self._core.stats())

    @property
    def udp_port(self) -> int:
        """The UDP port every peer uses (ICE-lite)."""
        return self._core.udp_port()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio loop the handlers run on."""
        return self._loop

    # -- the backend speaks --------------------------------------------------------------------

    def broadcast(self, room: str, message: Data) -> int:
        """Sends ``message`` (str: text, bytes: binary) to every peer of ``room`` as sender "server"; returns how many. 413 if too large."""
        data, binary = _encode(message)
        return self._core.broadcast(room, data, binary)

    def send_to(self, room: str, peer_id: str, message: Data) -> bool:
        """Sends ``message`` to one peer of ``room`` as sender "server"; False if it is not there."""
        data, binary = _encode(message)
        return self._core.send_to(room, peer_id, data, binary)

    def kick(self, room: str, peer_id: str, reason: str = "") -> bool:
        """Removes a peer: it gets a ``kicked`` event and is disconnected; the others see it leave
        (reason ``kicked: <reason>``). False if it is not in ``room``."""
        return self._core.kick(room, peer_id, reason)

    # -- hooks -----------------------------------------------------------------------------------

    def message_handler(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: ``fn(room_name, sender_id, message)`` gets a copy of every relayed message.

        ``message`` is a str, or bytes for a binary message. ``async def`` or plain; it runs on
        the handlers' asyncio loop, in order, never on the relay's path. By default a handler
        slower than the room misses messages once ``hook_queue_capacity`` wait (counted in
        ``stats()["hook_dropped"]``); with ``SignalingManager(hook_overflow="backpressure")`` it
        gets every one: each call is waited for, and while the queue is full the peers whose
        messages fill it are paused (``stats()["hook_backpressure_pauses"]``), not dropped.
        """
        self._message_handlers.append(fn)
        return fn

    def peer_joined_handler(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: ``fn(room, peer_id, info)`` when a peer (or a participant) joins a room."""
        self._joined_handlers.append(fn)
        return fn

    def peer_left_handler(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: ``fn(room, peer_id, info)`` when a peer leaves; ``info["reason"]`` says why."""
        self._left_handlers.append(fn)
        return fn

    def filter(self, fn: Optional[Callable[..., Any]]) -> Optional[Callable[..., Any]]:
        """Decorator: the moderation filter, ``fn(room, sender_id, message)``, before every relay.

        Returns None or True: pass; False: drop; a str: drop, with that reason told to the sender;
        ``Replace(data)`` or bytes: relay that instead; ``Drop(reason)``: drop. It runs on the
        network thread and takes the GIL for the call, so every message waits for it: keep it fast
        and never block in it (no I/O, no locks held by other threads). An exception passes the
        message. ``manager.filter(None)`` removes it.
        """
        if fn is None:
            self._core.set_filter(None)
            return None

        def call(room: str, sender: str, data: Data, to: Optional[str]) -> Any:
            return fn(room, sender, data)

        self._core.set_filter(call)
        return fn

    def _submit(self, handler: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop.is_closed():
            return
        try:
            if inspect.iscoroutinefunction(handler):
                asyncio.run_coroutine_threadsafe(handler(*args), loop).add_done_callback(_log_future)
            else:
                loop.call_soon_threadsafe(_call_plain, handler, args)
        except RuntimeError:  # the loop was closed meanwhile
            pass

    def _submit_and_wait(self, handler: Callable[..., Any], *args: Any) -> None:
        # hook_overflow="backpressure": the hook thread waits until the handler has run (its
        # coroutine included), so a slow handler fills the engine's hook queue, which pauses the
        # senders instead of growing a backlog in the loop. Gives up when the manager closes
        # (the loop may be the thread that closes it).
        loop = self._loop
        if loop.is_closed():
            return

        async def call() -> None:
            result = handler(*args)
            if inspect.isawaitable(result):
                await result

        try:
            fut = asyncio.run_coroutine_threadsafe(call(), loop)
        except RuntimeError:  # the loop was closed meanwhile
            return
        while not self._closing:
            try:
                fut.result(timeout=0.25)
                return
            except concurrent.futures.TimeoutError:
                continue
            except concurrent.futures.CancelledError:
                return
            except Exception as exc:
                print("peerpyrtc: a message handler raised:", file=sys.stderr)
                traceback.print_exception(type(exc), exc, exc.__traceback__)
                return

    def _dispatch_message(self, room: str, sender: str, data: Data, to: Optional[str]) -> None:
        for h in list(self._message_handlers):
            if self._lossless:
                self._submit_and_wait(h, room, sender, data)
            else:
                self._submit(h, room, sender, data)

    def _dispatch_joined(self, room: str, peer: str, info: str) -> None:
        for h in list(self._joined_handlers):
            self._submit(h, room, peer, json.loads(info))

    def _dispatch_left(self, room: str, peer: str, info: str) -> None:
        for h in list(self._left_handlers):
            self._submit(h, room, peer, json.loads(info))

    # -- server-side participants --------------------------------------------------------------

    def join(self, room: str, name: str, on_message: Optional[Callable[..., Any]] = None,
             on_event: Optional[Callable[..., Any]] = None) -> "Participant":
        """Joins ``room`` as ``name``, a participant next to the peers.

        ``on_message(room, sender_id, message, to)`` gets the room's messages (``to`` None) and the
        direct ones to ``name`` (``to == name``); ``on_event(event)`` the presence events as dicts (``{"type": "peer_joined",
        ...}``). Both run on the handlers' loop, ``async def`` or plain. Returns a Participant
        (``send``, ``send_to``, ``leave``). 409 if the name is taken.
        """
        def msg(room_: str, sender: str, data: Data, to: Optional[str]) -> None:
            if on_message is not None:
                self._submit(on_message, room_, sender, data, to)

        def ev(event: str) -> None:
            if on_event is not None:
                self._submit(on_event, json.loads(event))

        p = Participant(self._core.join(room, name, msg, ev))
        self._participants.add(p)
        return p

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Closes every peer, stops the engine's threads and the module's loop; idempotent.

        Called at interpreter exit for a manager still alive. Later calls raise PeerRTCError(503).
        """
        self._closing = True
        for p in list(self._participants):
            try:
                p.leave()  # waits for the network thread without the GIL
            except PeerRTCError:
                pass
        self._core.close()  # idempotent; waits for the calls inside on other threads (and for a close under way)
        if self._own_loop is not None:
            self._own_loop.stop()
        _live.discard(self)

    shutdown = close

    def __enter__(self) -> "SignalingManager":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _call_plain(handler: Callable[..., Any], args: Any) -> None:
    try:
        handler(*args)
    except Exception:
        _report(f"handler {getattr(handler, '__name__', handler)!r}")


def _encode(message: Data) -> "tuple[Union[str, bytes], bool]":
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message), True
    if isinstance(message, str):
        return message, False
    raise TypeError("message must be str or bytes")


class Participant:
    """A server-side member of a room (``SignalingManager.join``): ``send``, ``send_to``, ``leave``."""

    def __init__(self, core: Any) -> None:
        self._p = core
        self.room: str = core.room
        self.name: str = core.name

    def send(self, message: Data) -> bool:
        """Sends ``message`` (str or bytes) to everyone else in the room; False once left."""
        if self._p is None:
            return False
        data, binary = _encode(message)
        return self._p.send(data, binary)

    def send_to(self, peer_id: str, message: Data) -> bool:
        """Sends ``message`` to ``peer_id`` only; False if it is not in the room."""
        if self._p is None:
            return False
        data, binary = _encode(message)
        return self._p.send_to(peer_id, data, binary)

    def leave(self) -> None:
        """Leaves the room (the peers see it go); idempotent."""
        p, self._p = self._p, None
        if p is not None:
            p.leave()

    def __del__(self) -> None:
        # Leave here, through the binding's leave() that waits without the GIL, rather than in the
        # C++ destructor, which would wait for the network thread with the GIL held.
        try:
            self.leave()
        except Exception:
            pass


class Broadcaster:
    """PeerPyRTC's Broadcaster: the backend sends to a room, or to one peer, as sender "server"."""

    def __init__(self, signaling_manager: SignalingManager) -> None:
        self._manager = signaling_manager

    def broadcast(self, room_name: str, message: Data) -> int:
        """Sends ``message`` to every peer in ``room_name``; returns how many it was queued to."""
        return self._manager.broadcast(room_name, message)

    def send(self, room_name: str, peer_id: str, message: Data) -> bool:
        """Sends ``message`` to one peer of ``room_name``."""
        return self._manager.send_to(room_name, peer_id, message)


@atexit.register
def _close_all() -> None:
    # Before the interpreter finalizes: engine threads must not wait for a GIL that is going away.
    for m in list(_live):
        try:
            m.close()
        except Exception:
            pass
