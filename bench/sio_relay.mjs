// Socket.IO 4 relay for bench/outage.mjs: the anchor of issue 19 (what a new user of Socket.IO
// gets with connection state recovery on). Rooms as in peerrtc-server: a client joins the room
// named in its handshake's `auth`; an `m` event is relayed to the other members of the room.
// `connectionStateRecovery` with its defaults (2 minutes): a client that comes back keeps its
// id and rooms and gets every packet it missed. Prints {"port": P} once listening.
//   node bench/sio_relay.mjs HOST
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const host = process.argv[2] || '127.0.0.1';
const http = createServer();
const io = new Server(http, { connectionStateRecovery: {}, transports: ['websocket'] });
io.on('connection', (socket) => {
  const { room, peerId } = socket.handshake.auth || {};
  if (!socket.recovered) socket.join(String(room));
  socket.on('m', (text) => socket.to(String(room)).emit('m', { from: peerId, text }));
});
http.listen(0, host, () => process.stdout.write(`${JSON.stringify({ port: http.address().port })}\n`));
process.on('SIGTERM', () => { io.close(); process.exit(0); });
