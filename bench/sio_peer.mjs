// A Socket.IO 4 client (npm socket.io-client, WebSocket transport, default options otherwise)
// for bench/outage.mjs, speaking the same JSON lines as tests/network/lib/resume-peer.mjs:
//   out: {type:'connected'}, {type:'message', from, text, t}, {type:'status', status}
//        ({recovered} on each reconnect, {reason} on a disconnect), {type:'started', t} when a send
//        command starts (message i is emitted at t + i * 1000 / rate or later), {type:'acked', n,
//        buffered} after it (buffered: the emits made while the client knew it was disconnected)
//   in:  {cmd:'send', n, rate}, {cmd:'close'}
// Socket.IO has no per-message ack here (plain emit, as a chat would): a message emitted while
// disconnected waits in the client's send buffer (flushed on the reconnect); one emitted while the
// client still believes a dead connection alive is written to that connection and may be gone
// with it. `acked` reports n once every emit was made.
//   node bench/sio_peer.mjs '{"baseUrl":...,"room":...,"peerId":...}'
import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';

const job = JSON.parse(process.argv[2] || '{}');
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const socket = io(job.baseUrl, { transports: ['websocket'], auth: { room: job.room, peerId: job.peerId } });
let first = true;
socket.on('connect', () => {
  if (first) { first = false; emit({ type: 'connected' }); } else emit({ type: 'status', status: 'connected', recovered: socket.recovered });
});
socket.on('disconnect', (reason) => emit({ type: 'status', status: 'disconnected', reason }));
socket.on('m', (m) => emit({ type: 'message', from: m.from, text: m.text, t: Date.now() }));

createInterface({ input: process.stdin }).on('line', async (line) => {
  const cmd = JSON.parse(line);
  if (cmd.cmd === 'send') {
    const t0 = Date.now();
    emit({ type: 'started', t: t0 });
    let buffered = 0;
    for (let i = 0; i < cmd.n; i++) {
      const due = t0 + (i * 1000) / cmd.rate;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      if (!socket.connected) buffered++;
      socket.emit('m', String(i));
    }
    emit({ type: 'acked', n: cmd.n, buffered });
  } else if (cmd.cmd === 'close') {
    socket.close();
    process.exit(0);
  }
}).on('close', () => process.exit(0));
