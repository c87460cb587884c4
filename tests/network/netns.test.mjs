// The namespace harness itself (lib/netns.mjs): a namespace with UDP dropped really drops UDP
// (and counts it) while TCP gets through, the "UDP allowed" control passes UDP, the namespace
// has no route but its veth's subnet, and destroy() leaves nothing behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { createNetns, listNamespaces, sh } from './lib/netns.mjs';

const namespaces = [];
after(async () => { for (const ns of namespaces) await ns.destroy().catch((e) => console.error(String(e))); });

// In the namespace: send one UDP datagram to the root side, then connect over TCP and send a
// line. Prints JSON lines: {type:'udp', error} then {type:'tcp', ok}.
const SENDER = `
const dgram = require('node:dgram'); const net = require('node:net');
const [host, udpPort, tcpPort] = process.argv.slice(1);
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const s = dgram.createSocket('udp4');
s.send(Buffer.from('udp-probe'), Number(udpPort), host, (err) => {
  emit({ type: 'udp', error: err ? err.code : null });
  s.close();
  const c = net.connect(Number(tcpPort), host, () => c.end('tcp-probe\\n'));
  c.on('close', () => { emit({ type: 'tcp', ok: true }); });
  c.on('error', (e) => emit({ type: 'tcp', ok: false, error: e.code }));
});
`;

// Root-side UDP and TCP listeners on ns.rootIp; resolves the ports and what arrived.
async function listeners(ip) {
  const got = { udp: [], tcp: [] };
  const udp = dgram.createSocket('udp4');
  udp.on('message', (m) => got.udp.push(m.toString()));
  await new Promise((r) => udp.bind(0, ip, r));
  let tcpDone;
  const tcpArrived = new Promise((r) => { tcpDone = r; });
  const tcp = net.createServer((c) => {
    let s = '';
    c.on('data', (d) => { s += d; });
    c.on('end', () => { got.tcp.push(s.trim()); tcpDone(); });
  });
  await new Promise((r) => tcp.listen(0, ip, r));
  return {
    got, tcpArrived, udpPort: udp.address().port, tcpPort: tcp.address().port,
    close: () => { udp.close(); tcp.close(); },
  };
}

for (const mode of ['dropped', 'allowed']) {
  test(`netns: UDP ${mode}`, { timeout: 30000 }, async () => {
    const ns = await createNetns({ udp: mode });
    namespaces.push(ns);
    assert.deepEqual(ns.routes(), [`${ns.subnet} dev ${ns.vethNs} proto kernel scope link src ${ns.nsIp}`],
      'the namespace reaches nothing but its veth subnet');
    const l = await listeners(ns.rootIp);
    try {
      const before = ns.udpCounters();
      const p = ns.spawnJson(process.execPath, ['-e', SENDER, ns.rootIp, String(l.udpPort), String(l.tcpPort)], { name: `sender-${mode}` });
      const udp = await p.waitFor((m) => m.type === 'udp', 10000, 'the UDP send');
      await p.waitFor((m) => m.type === 'tcp', 10000, 'the TCP connection');
      // Marker: the TCP line, sent after the datagram, has arrived.
      await l.tcpArrived;
      await p.exited;
      const c = ns.udpCounters();
      assert.deepEqual(l.got.tcp, ['tcp-probe'], 'TCP gets through in both modes');
      if (mode === 'dropped') {
        // The datagram never left the namespace: sendto failed and the rule counted it.
        assert.equal(udp.error, 'EPERM', 'sendto fails: the OUTPUT rule drops it');
        assert.deepEqual(l.got.udp, [], 'no datagram arrived');
        assert.equal(c.out.packets - before.out.packets, 1, 'the DROP rule counted the datagram');
      } else {
        assert.equal(udp.error, null);
        // Delivered before the TCP line; its 'message' event may still be queued behind it.
        for (let i = 0; i < 100 && !l.got.udp.length; i++) await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(l.got.udp, ['udp-probe'], 'the datagram arrived');
        assert.equal(c.out.packets - before.out.packets, 1, 'the ACCEPT rule counted the datagram');
      }
    } finally {
      l.close();
    }
  });
}

test('netns: destroy() kills what runs inside and removes the namespace and veths', { timeout: 30000 }, async () => {
  const ns = await createNetns({ udp: 'dropped' });
  const p = ns.spawnJson('sleep', ['600'], { name: 'sleeper' });
  const pids = () => sh('ip', ['netns', 'pids', ns.name], { allowFail: true }).stdout.trim();
  for (let i = 0; i < 100 && !pids(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(pids(), 'a process runs inside');
  await ns.destroy(); // throws if the namespace or a veth is left
  const exit = await p.exited;
  assert.equal(exit.signal, 'SIGKILL');
  assert.ok(!listNamespaces().includes(ns.name));
  assert.equal(sh('ip', ['link', 'show', ns.vethRoot], { allowFail: true }).code !== 0, true, 'root veth gone');
});
