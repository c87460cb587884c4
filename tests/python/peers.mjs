// Real libwebrtc peers (@roamhq/wrtc) for the pytest suite, driven over stdin/stdout:
//   node tests/python/peers.mjs http://127.0.0.1:PORT
// Each stdin line is a JSON command; each stdout line a JSON report:
//   {"cmd":"connect","peer":P,"room":R[,"token":T][,"quiet":true]}  -> {"ev":"connected","peer":P,"token":T,"welcome":{...}}
//                                                     (quiet: P's received messages are not reported)
//                                                     or {"ev":"connect_failed","peer":P,"error":"..."}
//   {"cmd":"send","peer":P,"text":S}                 sends a text message to the room (frame m<S>)
//   {"cmd":"send_many","peer":P,"prefix":X,"n":N}    sends X0 .. X<N-1>, then {"ev":"sent","peer":P,"n":N}
//   {"cmd":"send_paced","peer":P,"prefix":X,"n":N,"rate":R}  sends X0 .. X<N-1> at R messages/s
//                                                     (in the background), then {"ev":"sent","peer":P,"n":N}
//   {"cmd":"send_bin","peer":P,"hex":H}              sends binary bytes to the room
//   {"cmd":"send_to","peer":P,"to":Q,"text":S}       a direct message
//   {"cmd":"close","peer":P}                         closes P's connection -> {"ev":"closed","peer":P}
//   {"cmd":"post","path":"/candidate","body":{...}}   an HTTP POST as a PeerPyRTC client makes it
//                                                     -> {"ev":"posted","path":..,"status":N,"json":{...}}
//   {"cmd":"client_connect","peer":P,"room":R}        the JS client (clients/js/peerrtc-client.js,
//                                                     GET /config, POST /offer) -> {"ev":"connected",...}
//   {"cmd":"client_send","peer":P,"text":S}           WebRTCConnection.sendMessage
//   {"cmd":"client_close","peer":P}                   closeConnection() (POST /leave with its token)
//                                                     -> {"ev":"client_closed","peer":P}
//   {"cmd":"client_send_many","peer":P,"prefix":X,"n":N}  sendMessage X0 .. X<N-1> (each acked) -> {"ev":"acked","peer":P,"n":N}
//   {"cmd":"client_kill","peer":P,"ms":M}             the client's transport dies and its network stays
//                                                     down M ms (protocol v2 resumes) -> {"ev":"killed","peer":P}
//   {"cmd":"exit"}                                    closes everything and exits 0
// Received frames: {"ev":"msg","peer":P,"from":F,"text":S,"direct":bool} / {"ev":"bin","peer":P,
// "from":F,"hex":H} / {"ev":"event","peer":P,"event":{...}} (welcome, peer_joined, peer_left, error).
import { createInterface } from 'node:readline';
import { connectPeer } from '../server/lib.mjs';
import { WebRTCConnection } from '../../clients/js/peerrtc-client.js';
import { wrtc } from '../lib/wrtc.mjs';

const base = process.argv[2];
const server = {
  async request(method, path, body) {
    const r = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, json, text };
  },
};
const peers = new Map();
const clients = new Map();
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

function watch(name, peer, quiet = false) {
  const dc = peer.dc;
  const prev = dc.onmessage;
  dc.onmessage = (ev) => {
    prev(ev);
    if (quiet && !(typeof ev.data === 'string' && ev.data.startsWith('{'))) return;
    if (typeof ev.data === 'string') {
      const s = ev.data;
      if (s.startsWith('{')) { out({ ev: 'event', peer: name, event: JSON.parse(s) }); return; }
      const nl = s.indexOf('\n');
      out({ ev: 'msg', peer: name, from: s.slice(1, nl), text: s.slice(nl + 1), direct: s[0] === 'd' });
    } else {
      const b = Buffer.from(ev.data);
      const len = b[1];
      out({ ev: 'bin', peer: name, from: b.subarray(2, 2 + len).toString(), hex: b.subarray(2 + len).toString('hex'), direct: b[0] === 2 });
    }
  };
  peer.closedPromise.then(() => out({ ev: 'closed', peer: name }));
}

async function run(c) {
  const p = peers.get(c.peer);
  switch (c.cmd) {
    case 'connect':
      try {
        const peer = await connectPeer(server, c.room, c.peer, { token: c.token, timeoutMs: 15000 });
        peers.set(c.peer, peer);
        watch(c.peer, peer, !!c.quiet);
        out({ ev: 'connected', peer: c.peer, token: peer.token, welcome: peer.welcome });
      } catch (e) {
        out({ ev: 'connect_failed', peer: c.peer, error: String(e.message || e) });
      }
      break;
    case 'send': p.sendText('m' + c.text); break;
    case 'send_to': p.sendText(`d${c.to}\n${c.text}`); break;
    case 'send_bin': p.sendBinary(Buffer.concat([Buffer.from([1]), Buffer.from(c.hex, 'hex')])); break;
    case 'send_many':
      for (let i = 0; i < c.n; i++) p.sendText(`m${c.prefix}${i}`);
      out({ ev: 'sent', peer: c.peer, n: c.n });
      break;
    case 'send_paced': {
      // A steady rate, like a real client: one message every 1000/rate ms (timer drift is
      // caught up, never skipped), in the background so that several peers send at once.
      const t0 = Date.now();
      let i = 0;
      const tick = () => {
        const due = Math.min(c.n, Math.floor(((Date.now() - t0) * c.rate) / 1000) + 1);
        try {
          for (; i < due; i++) p.sendText(`m${c.prefix}${i}`);
        } catch (e) {
          out({ ev: 'send_failed', peer: c.peer, i, error: String(e.message || e) });
          return;
        }
        if (i < c.n) setTimeout(tick, 1000 / c.rate);
        else out({ ev: 'sent', peer: c.peer, n: c.n });
      };
      tick();
      break;
    }
    case 'close': p.close(); break;
    case 'post': {
      const r = await server.request('POST', c.path, c.body);
      out({ ev: 'posted', path: c.path, status: r.status, json: r.json });
      break;
    }
    case 'client_connect': {
      const net = { offline: false };
      const conn = new WebRTCConnection(c.room, {
        peerId: c.peer, serverUrl: base, RTCPeerConnection: wrtc.RTCPeerConnection, disconnectTimeout: 1000,
        fetch: (url, init) => (net.offline ? Promise.reject(new Error('network down (test)')) : fetch(url, init)),
      });
      conn.net = net;
      conn.onPeerAway = (q) => out({ ev: 'event', peer: c.peer, event: { type: 'peer_away', peer_id: q } });
      conn.onPeerBack = (q) => out({ ev: 'event', peer: c.peer, event: { type: 'peer_back', peer_id: q } });
      conn.onResumeGap = (g) => out({ ev: 'event', peer: c.peer, event: g });
      conn.onMessage = (from, message) => {
        if (typeof message === 'string') out({ ev: 'msg', peer: c.peer, from, text: message, client: true });
        else out({ ev: 'bin', peer: c.peer, from, hex: Buffer.from(message).toString('hex'), client: true });
      };
      conn.onPeerJoined = (q) => out({ ev: 'event', peer: c.peer, event: { type: 'peer_joined', peer_id: q } });
      conn.onPeerLeft = (q) => out({ ev: 'event', peer: c.peer, event: { type: 'peer_left', peer_id: q } });
      clients.set(c.peer, conn);
      try {
        await conn.connect();
        out({ ev: 'connected', peer: c.peer, client: true });
      } catch (e) {
        out({ ev: 'connect_failed', peer: c.peer, error: String(e.message || e) });
      }
      break;
    }
    case 'client_send': clients.get(c.peer).sendMessage(c.text); break;
    case 'client_send_many': {
      const conn = clients.get(c.peer);
      const acks = [];
      for (let i = 0; i < c.n; i++) acks.push(conn.sendMessage(`${c.prefix}${i}`));
      await Promise.all(acks);
      out({ ev: 'acked', peer: c.peer, n: c.n });
      break;
    }
    case 'client_kill': {
      const conn = clients.get(c.peer);
      const s = conn._session;
      conn.net.offline = true;
      try { s.pc.close(); } catch { /* closed */ }
      conn._lost(s, 'transport killed by the test');
      setTimeout(() => { conn.net.offline = false; }, c.ms);
      out({ ev: 'killed', peer: c.peer });
      break;
    }
    case 'client_close':
      await clients.get(c.peer).closeConnection();
      clients.delete(c.peer);
      out({ ev: 'client_closed', peer: c.peer });
      break;
    case 'exit':
      for (const q of peers.values()) q.close();
      for (const q of clients.values()) await q.closeConnection().catch(() => {});
      process.exit(0);
  }
}

let chain = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line);
  // Connects run one after another (so joins are ordered); sends run in order too.
  chain = chain.then(() => run(c)).catch((e) => out({ ev: 'helper_error', error: String(e.stack || e) }));
}).on('close', () => { for (const q of peers.values()) q.close(); process.exit(0); });
out({ ev: 'ready' });
