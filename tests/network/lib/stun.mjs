// Raw ICE-TCP bytes for the abuse tests: STUN Binding requests (RFC 8489 with the ICE attributes
// of RFC 8445), RFC 4571 framing, and a TCP connection that records what happens to it.
import { createHmac, randomBytes } from 'node:crypto';
import net from 'node:net';

const MAGIC = 0x2112a442;

let crcTable = null;
function crc32(buf) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function attr(type, value) {
  const pad = (4 - (value.length % 4)) % 4;
  const h = Buffer.alloc(4);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(value.length, 2);
  return Buffer.concat([h, value, Buffer.alloc(pad)]);
}

/**
 * A STUN Binding request as an ICE controlling agent sends it: USERNAME `username`
 * ("<server ufrag>:<client ufrag>"), PRIORITY, ICE-CONTROLLING, MESSAGE-INTEGRITY keyed with
 * `password` (the server's ice-pwd), FINGERPRINT. Returns {bytes, txid}.
 */
export function bindingRequest(username, password, { txid = randomBytes(12) } = {}) {
  const prio = Buffer.alloc(4);
  prio.writeUInt32BE(1845501695, 0);
  const attrs = [attr(0x0006, Buffer.from(username, 'utf8')), attr(0x0024, prio), attr(0x802a, randomBytes(8))];
  const header = (bodyLen) => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(0x0001, 0);
    h.writeUInt16BE(bodyLen, 2);
    h.writeUInt32BE(MAGIC, 4);
    txid.copy(h, 8);
    return h;
  };
  let body = Buffer.concat(attrs);
  // MESSAGE-INTEGRITY: HMAC-SHA1 over the message with a length that already counts it.
  const mi = createHmac('sha1', Buffer.from(password, 'utf8')).update(Buffer.concat([header(body.length + 24), body])).digest();
  body = Buffer.concat([body, attr(0x0008, mi)]);
  const fpValue = Buffer.alloc(4);
  fpValue.writeUInt32BE((crc32(Buffer.concat([header(body.length + 8), body])) ^ 0x5354554e) >>> 0, 0);
  body = Buffer.concat([body, attr(0x8028, fpValue)]);
  return { bytes: Buffer.concat([header(body.length), body]), txid };
}

/** Parses a STUN message header: {type, length, cookieOk, txid} or null. */
export function parseStun(buf) {
  if (buf.length < 20) return null;
  return { type: buf.readUInt16BE(0), length: buf.readUInt16BE(2), cookieOk: buf.readUInt32BE(4) === MAGIC, txid: buf.subarray(8, 20) };
}

/** RFC 4571: a 16-bit big-endian length, then the bytes. */
export function frame(payload) {
  const h = Buffer.alloc(2);
  h.writeUInt16BE(payload.length, 0);
  return Buffer.concat([h, payload]);
}

/**
 * A TCP connection that records what happens: `connected` (promise), `closed` (promise of
 * {ms: since connect, bytes received, error}), `data` (Buffer of everything received),
 * frames() (the RFC 4571 frames received so far), write(buf), destroy().
 */
export function rawConnection(port, host = '127.0.0.1', { localAddress } = {}) {
  const sock = net.connect({ port, host, localAddress });
  const c = { sock, data: Buffer.alloc(0), connectedAt: null, closedAt: null, error: null };
  c.connected = new Promise((res, rej) => {
    sock.once('connect', () => { c.connectedAt = Date.now(); res(); });
    sock.once('error', (e) => { if (!c.connectedAt) rej(e); });
  });
  c.connected.catch(() => {});
  sock.on('data', (d) => { c.data = Buffer.concat([c.data, d]); });
  sock.on('error', (e) => { c.error = e.code || e.message; });
  c.closed = new Promise((res) => sock.once('close', () => {
    c.closedAt = Date.now();
    res({ ms: c.connectedAt ? c.closedAt - c.connectedAt : null, bytes: c.data.length, error: c.error });
  }));
  c.write = (buf) => sock.write(buf);
  c.destroy = () => sock.destroy();
  c.frames = () => {
    const out = [];
    let b = c.data;
    while (b.length >= 2 && b.length >= 2 + b.readUInt16BE(0)) {
      out.push(b.subarray(2, 2 + b.readUInt16BE(0)));
      b = b.subarray(2 + b.readUInt16BE(0));
    }
    return out;
  };
  return c;
}
