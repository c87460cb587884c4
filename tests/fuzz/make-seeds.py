#!/usr/bin/env python3
"""Writes the hand-made seed inputs of tests/fuzz/<target>/ (see README.md there).

    python3 tests/fuzz/make-seeds.py        # rewrites every seed-* file; the rest is left alone

Deterministic: running it again gives the same bytes. Files named fuzz-* in the folders were
picked from fuzzer runs (README.md says how) and are not made here.
"""
import hashlib
import hmac
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    assert len(data) < 4096, (target, name, len(data))
    with open(os.path.join(HERE, target, 'seed-' + name), 'wb') as f:
        f.write(data)


# ------------------------------------------------------------------------------------------- STUN
# RFC 8489. The ICE checks of RFC 8445 use short-term credentials: the key is the peer's ice-pwd.

def unhex(s):
    return bytes.fromhex(''.join(s.split()))


# RFC 5769 §2.1-2.4, byte for byte (as in tests/unit/stun/stun_test.cpp).
RFC5769 = {
    'rfc5769-request': '''
      00 01 00 58  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
      80 22 00 10  53 54 55 4e  20 74 65 73  74 20 63 6c  69 65 6e 74
      00 24 00 04  6e 00 01 ff
      80 29 00 08  93 2f f9 b1  51 26 3b 36
      00 06 00 09  65 76 74 6a  3a 68 36 76  59 20 20 20
      00 08 00 14  9a ea a7 0c  bf d8 cb 56  78 1e f2 b5  b2 d3 f2 49  c1 b5 71 a2
      80 28 00 04  e5 7a 3b cf''',
    'rfc5769-ipv4-response': '''
      01 01 00 3c  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
      80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
      00 20 00 08  00 01 a1 47  e1 12 a6 43
      00 08 00 14  2b 91 f5 99  fd 9e 90 c3  8c 74 89 f9  2a f9 ba 53  f0 6b e7 d7
      80 28 00 04  c0 7d 4c 96''',
    'rfc5769-ipv6-response': '''
      01 01 00 48  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
      80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
      00 20 00 14  00 02 a1 47  01 13 a9 fa  a5 d3 f1 79  bc 25 f4 b5  be d2 b9 d9
      00 08 00 14  a3 82 95 4e  4b e6 7b f1  17 84 c9 7c  82 92 c2 75  bf e3 ed 41
      80 28 00 04  c8 fb 0b 4c''',
    'rfc5769-long-term-request': '''
      00 01 00 60  21 12 a4 42  78 ad 34 33  c6 ad 72 c0  29 da 41 2e
      00 06 00 12  e3 83 9e e3  83 88 e3 83  aa e3 83 83  e3 82 af e3  82 b9 00 00
      00 15 00 1c  66 2f 2f 34  39 39 6b 39  35 34 64 36  4f 4c 33 34  6f 4c 39 46
                   53 54 76 79  36 34 73 41
      00 14 00 0b  65 78 61 6d  70 6c 65 2e  6f 72 67 00
      00 08 00 14  f6 70 24 65  6d d6 4a 3e  02 b8 e0 71  2e 85 c9 a2  8c a8 96 66''',
}

MAGIC = 0x2112A442
TID = bytes.fromhex('b7e7a701bc34d686fa87dfae')
KEY = b'VOkJxbRl1RmTxUk/WvJxBt'
REQUEST, INDICATION, SUCCESS, ERROR = 0x0001, 0x0011, 0x0101, 0x0111  # Binding + class bits


def attr(t, v):
    return struct.pack('!HH', t, len(v)) + v + b'\0' * (-len(v) % 4)


def xor_address(ip, port):
    x = struct.pack('!I', MAGIC) + TID
    if len(ip) == 4:
        return struct.pack('!BBH', 0, 1, port ^ (MAGIC >> 16)) + bytes(a ^ b for a, b in zip(ip, x))
    return struct.pack('!BBH', 0, 2, port ^ (MAGIC >> 16)) + bytes(a ^ b for a, b in zip(ip, x))


def stun(mtype, attrs, integrity=True, fingerprint=True):
    body = b''.join(attrs)
    msg = lambda extra: struct.pack('!HHI', mtype, len(body) + extra, MAGIC) + TID + body
    if integrity:
        mac = hmac.new(KEY, msg(24), hashlib.sha1).digest()
        body += attr(0x0008, mac)
    if fingerprint:
        crc = (zlib.crc32(msg(8)) ^ 0x5354554E) & 0xFFFFFFFF
        body += attr(0x8028, struct.pack('!I', crc))
    return msg(0)


def stun_seeds():
    for name, h in RFC5769.items():
        write('stun', name, unhex(h))
    user = attr(0x0006, b'srvU:cliU')
    prio = attr(0x0024, struct.pack('!I', 1853824767))
    # What a browser sends an ICE-lite server: USE-CANDIDATE nominates.
    write('stun', 'ice-request-controlling', stun(REQUEST, [
        user, prio, attr(0x802A, struct.pack('!Q', 0x1122334455667788)), attr(0x0025, b'')]))
    # What PeerRTC's own client gets checked with when the other side controls.
    write('stun', 'ice-request-controlled', stun(REQUEST, [
        user, prio, attr(0x8029, struct.pack('!Q', 0x8877665544332211)), attr(0x8022, b'peerrtc')]))
    write('stun', 'success-ipv4', stun(SUCCESS, [attr(0x0020, xor_address(bytes([192, 0, 2, 1]), 32853))]))
    write('stun', 'success-ipv6', stun(SUCCESS, [attr(0x0020, xor_address(
        bytes.fromhex('20010db8000000000000000000000001'), 443))]))
    # Legacy MAPPED-ADDRESS (RFC 3489), no integrity.
    write('stun', 'success-mapped-address', stun(SUCCESS, [attr(0x0001, struct.pack('!BBH', 0, 1, 5000) + bytes([198, 51, 100, 7]))],
                                                  integrity=False))
    err = lambda code, reason: attr(0x0009, struct.pack('!HBB', 0, code // 100, code % 100) + reason)
    write('stun', 'error-400', stun(ERROR, [err(400, b'Bad Request')], integrity=False))
    write('stun', 'error-401', stun(ERROR, [err(401, b'Unauthenticated')], integrity=False))
    write('stun', 'error-487-role-conflict', stun(ERROR, [err(487, b'Role Conflict')]))
    write('stun', 'error-420-unknown-attributes', stun(ERROR, [
        err(420, b'Unknown Attribute'), attr(0x000A, struct.pack('!HH', 0x7777, 0x001C))], integrity=False))
    # A request with attributes the parser does not know: comprehension-required (0x7777,
    # answered with 420) and -optional (0xC001, ignored), and MESSAGE-INTEGRITY-SHA256.
    write('stun', 'request-unknown-attributes', stun(REQUEST, [
        user, attr(0x7777, b'\1\2\3'), attr(0xC001, b'optional'), attr(0x001C, bytes(32))], integrity=False))
    # Consent freshness keep-alive (an indication) and a bare request: no attributes at all.
    write('stun', 'indication', stun(INDICATION, [], integrity=False, fingerprint=True))
    write('stun', 'bare-request', stun(REQUEST, [], integrity=False, fingerprint=False))
    # Broken: an attribute whose length runs past the end, and a header one byte short.
    bad = struct.pack('!HH', 0x0006, 0x0100) + b'srvU:cliU\0\0\0'
    write('stun', 'attribute-past-end', struct.pack('!HHI', REQUEST, len(bad), MAGIC) + TID + bad)
    write('stun', 'short-header', stun(REQUEST, [user, prio])[:19])


# ------------------------------------------------------------------------------------------- DCEP
# RFC 8832 §5.1 DATA_CHANNEL_OPEN: type, channel type, priority, reliability, label length,
# protocol length, label, protocol. §5.2 DATA_CHANNEL_ACK: one byte.

def dcep_open(ctype, priority, reliability, label, protocol=b''):
    return struct.pack('!BBHIHH', 0x03, ctype, priority, reliability, len(label), len(protocol)) + label + protocol


def dcep_seeds():
    write('dcep', 'open-reliable', dcep_open(0x00, 256, 0, b'peerrtc'))
    write('dcep', 'open-reliable-unordered', dcep_open(0x80, 256, 0, b'unordered'))
    write('dcep', 'open-rexmit', dcep_open(0x01, 512, 3, b'rexmit-3', b'chat.v1'))
    write('dcep', 'open-rexmit-unordered', dcep_open(0x81, 128, 0, b'rexmit-0'))
    write('dcep', 'open-timed', dcep_open(0x02, 256, 1500, b'timed-1500ms'))
    write('dcep', 'open-timed-unordered', dcep_open(0x82, 1024, 100, 'ünïcödé ✓'.encode(), b'proto'))
    write('dcep', 'open-empty-label', dcep_open(0x00, 0, 0, b''))
    write('dcep', 'open-long-label', dcep_open(0x00, 0xFFFF, 0, b'L' * 1000, b'P' * 500))
    write('dcep', 'ack', b'\x02')
    write('dcep', 'open-truncated-header', dcep_open(0x00, 256, 0, b'peerrtc')[:11])
    write('dcep', 'open-label-past-end', dcep_open(0x00, 256, 0, b'peerrtc')[:-3])
    write('dcep', 'open-unknown-channel-type', dcep_open(0x03, 256, 0, b'x'))
    write('dcep', 'unknown-message-type', b'\x04\x00')


# -------------------------------------------------------------------------------------------- SDP
# tests/fixtures/sdp (whole browser offers) is replayed too; these are the data-channel parts and
# the edge cases the parser has special paths for.

FP256 = 'sha-256 ' + ':'.join(['AB', '12'] * 16)
DATA = ('m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n'
        'a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=fingerprint:' + FP256 + '\r\n'
        'a=setup:actpass\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n')
HEAD = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n'


def sdp_seeds():
    write('sdp', 'minimal-datachannel', HEAD + 'a=group:BUNDLE 0\r\n' + DATA)
    write('sdp', 'lf-line-endings', (HEAD + 'a=group:BUNDLE 0\r\n' + DATA).replace('\r\n', '\n'))
    write('sdp', 'trickle-candidates', HEAD + 'a=group:BUNDLE 0\r\na=ice-options:trickle\r\n' + DATA +
          'a=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host generation 0\r\n'
          'a=candidate:2 1 udp 2122262783 2001:db8::1 54322 typ host\r\n'
          'a=candidate:3 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active\r\n'
          'a=candidate:4 1 udp 1677729535 198.51.100.7 3478 typ srflx raddr 192.0.2.1 rport 54321\r\n'
          'a=candidate:5 1 UDP 2122187007 d96b04eb-f298-4afa-8e6a-ae6bffe288ce.local 58009 typ host\r\n'
          'a=end-of-candidates\r\n')
    # Legacy (pre RFC 8841) data channel section, as old Chrome and Firefox wrote it.
    write('sdp', 'legacy-sctpmap', HEAD + 'a=group:BUNDLE data\r\n' +
          'm=application 9 DTLS/SCTP 5000\r\nc=IN IP4 0.0.0.0\r\na=mid:data\r\n'
          'a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=fingerprint:' + FP256 + '\r\n'
          'a=setup:active\r\na=sctpmap:5000 webrtc-datachannel 1024\r\n')
    # Session-level credentials and fingerprint, setup:passive, no max-message-size.
    write('sdp', 'session-level-attributes', HEAD + 'a=ice-ufrag:sess\r\na=ice-pwd:sessionsessionsession12\r\n'
          'a=fingerprint:sha-1 ' + ':'.join(['0F'] * 20) + '\r\na=setup:passive\r\n'
          'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:d\r\na=sctp-port:5000\r\n')
    # RFC 8843 bundle-only data section behind an audio section; a second, disabled one.
    write('sdp', 'bundle-only-after-audio', HEAD + 'a=group:BUNDLE a d\r\n'
          'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:a\r\n'
          'a=ice-ufrag:TAGG\r\na=ice-pwd:tagtagtagtagtagtagtagtag\r\n'
          'a=fingerprint:sha-512 ' + ':'.join(['5A'] * 64) + '\r\na=setup:actpass\r\na=rtpmap:111 opus/48000/2\r\n'
          'a=candidate:1 1 udp 2130706431 192.0.2.1 9999 typ host\r\n'
          'm=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=bundle-only\r\n'
          'a=mid:d\r\na=sctp-port:5000\r\na=max-message-size:0\r\n'
          'm=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:x\r\n')
    # Errors: no data section, a disabled one, a bare CR, an unknown setup, a bad port.
    write('sdp', 'audio-only', HEAD + 'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n'
          'a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=fingerprint:' + FP256 + '\r\n')
    write('sdp', 'disabled-datachannel', HEAD + DATA.replace('m=application 9', 'm=application 0'))
    write('sdp', 'bare-cr', (HEAD + DATA).replace('\r\n', '\r'))
    write('sdp', 'bad-setup', HEAD + DATA.replace('a=setup:actpass', 'a=setup:sideways'))
    write('sdp', 'bad-sctp-port', HEAD + DATA.replace('a=sctp-port:5000', 'a=sctp-port:70000'))


# -------------------------------------------------------------------------------------- signaling
# fuzz/signaling_fuzz.cpp: the first byte picks the request (byte % 3: '0' offer, '1' candidate,
# '2' leave) and the rest is its JSON body; the whole input is also parsed as a data channel
# frame, text and binary (docs/protocol.md).

def body(action_byte, obj):
    return action_byte + json.dumps(obj, separators=(',', ':'), ensure_ascii=False).encode()


def signaling_seeds():
    with open(os.path.join(ROOT, 'tests/fixtures/sdp/chromium-datachannel.sdp'), 'rb') as f:
        sdp = f.read().decode()
    write('signaling', 'offer', body(b'0', {'room': 'lobby', 'peer_id': 'alice',
                                            'offer': {'sdp': sdp, 'type': 'offer'}}))
    write('signaling', 'offer-reconnect-token', body(b'0', {'room': 'r:x@host.name', 'peer_id': 'a_b-c.d',
                                                            'offer': {'sdp': 'v=0\r\n', 'type': 'offer'},
                                                            'token': '3f2a9c0d1e8b7a6c'}))
    # An ICE restart (docs/protocol.md "ICE restart"): `restart` must be a boolean.
    write('signaling', 'offer-ice-restart', body(b'0', {'room': 'lobby', 'peer_id': 'alice',
                                                        'offer': {'sdp': sdp, 'type': 'offer'},
                                                        'token': '3f2a9c0d1e8b7a6c', 'restart': True}))
    write('signaling', 'offer-restart-not-bool', body(b'0', {'room': 'lobby', 'peer_id': 'alice',
                                                             'offer': {'sdp': 'v=0\r\n', 'type': 'offer'},
                                                             'token': 't', 'restart': 'yes'}))
    cand = {'candidate': 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host generation 0', 'sdpMid': '0',
            'sdpMLineIndex': 0}
    write('signaling', 'candidate', body(b'1', {'room': 'lobby', 'peer_id': 'alice', 'candidate': cand,
                                                'token': '3f2a9c0d1e8b7a6c'}))
    write('signaling', 'candidate-end-null', body(b'1', {'room': 'lobby', 'peer_id': 'alice', 'candidate': None,
                                                         'token': 't'}))
    write('signaling', 'candidate-end-empty', body(b'1', {'room': 'lobby', 'peer_id': 'alice',
                                                          'candidate': {'candidate': ''}, 'token': 't'}))
    write('signaling', 'leave', body(b'2', {'room': 'lobby', 'peer_id': 'alice', 'token': '3f2a9c0d1e8b7a6c'}))
    # Protocol v2 (docs/protocol.md "v2"): an offer that resumes, and the v2 frames.
    write('signaling', 'offer-v2-resume', body(b'0', {'room': 'lobby', 'peer_id': 'alice', 'protocol': 2,
                                                      'token': '3f2a9c0d1e8b7a6c',
                                                      'resume': {'epoch': '0a1b2c3d.4e5f6a7b', 'seq': 1234},
                                                      'offer': {'type': 'offer', 'sdp': 'v=0\r\n'}}))
    write('signaling', 'frame-v2-text', b'M17 hello')
    write('signaling', 'frame-v2-direct', b'D9007199254740991 bob\nhi')
    write('signaling', 'frame-v2-binary', b'\x12\x00\x00\x00\x00\x00\x00\x01\x02\x03bobxyz')
    write('signaling', 'ack-frame', b'A1:17,2!rate_limited,3:0')
    write('signaling', 'offer-reserved-name', body(b'0', {'room': 'lobby', 'peer_id': 'server',
                                                          'offer': {'sdp': 'v=0\r\n', 'type': 'offer'}}))
    write('signaling', 'leave-escapes', b'2{"room":"lo\\u0062by","peer_id":"\\u00e9","token":"\\ud83d\\ude00"}')
    # Client -> server frames (text 'm' and 'd', binary 0x01 and 0x02) and broken ones.
    write('signaling', 'frame-text-broadcast', 'mhello room ✓')
    write('signaling', 'frame-text-direct', 'dbob\nhi bob\nsecond line')
    write('signaling', 'frame-text-direct-64', 'd' + 'p' * 64 + '\n')
    write('signaling', 'frame-binary-broadcast', b'\x01\x00\x01\x02\xff')
    write('signaling', 'frame-binary-direct', b'\x02\x0bbob@host:1.\x00\xfe\xff')
    write('signaling', 'frame-text-no-newline', 'dbob')
    write('signaling', 'frame-binary-target-past-end', b'\x02\x40bob')
    write('signaling', 'frame-unknown-tag', 'xwhat is this')
    # Server -> client JSON events, as bodies (the request parser must refuse them cleanly).
    write('signaling', 'event-welcome', body(b'{', {'type': 'welcome', 'room': 'lobby', 'peer_id': 'alice',
                                                    'peers': ['bob'], 'max_message_size': 262078}))
    write('signaling', 'event-error', body(b'{', {'type': 'error', 'code': 'unknown_peer', 'error': 'no peer', 'to': 'x'}))


# ----------------------------------------------------------------------------------- SCTP bundle
# fuzz/sctp_bundle_fuzz.cpp: byte 0 * 8 = where the second packet starts, byte 1 = the size
# limit (64 + 16 * it), then the two packets. Chunks: DATA (0) and SACK (3) as usrsctp makes them.

def sctp_bundle_seeds():
    def chunk(ctype, body, pad=True):
        c = struct.pack('>BBH', ctype, 3, 4 + len(body)) + body
        return c + b'\0' * ((-len(c)) % 4) if pad else c

    def data(tsn, payload, pad=True):
        return chunk(0, struct.pack('>IHHI', tsn, 1, tsn & 0xffff, 51) + payload, pad)

    sack = chunk(3, struct.pack('>IIHH', 1000, 65536, 0, 0))
    header = struct.pack('>HHII', 5000, 5000, 0x11223344, 0)

    def pair(name, a, b, limit=1200):
        a = header + a
        a += b'\0' * ((-len(a)) % 8)  # the split is in steps of 8: pad the first with zeros
        write('sctp_bundle', name, bytes([len(a) // 8, (limit - 64) // 16]) + a + header + b)

    pair('data-data', data(1, b'x' * 100), data(2, b'y' * 100) + data(3, b'z' * 100))
    pair('sack-data', sack, data(7, b'hello'))
    pair('data-sack', data(7, b'hello' * 3), sack)
    pair('two-sacks', sack + data(1, b'a' * 20), sack + data(2, b'b' * 20))
    pair('too-large', data(1, b'x' * 600), data(2, b'y' * 600))
    pair('unpadded-last', data(1, b'abc', pad=False) + b'\0' * 0, data(2, b'de', pad=False))
    pair('heartbeat', chunk(4, b'\1' * 20), data(2, b'y'))
    pair('forward-tsn', data(1, b'x'), chunk(192, struct.pack('>I', 9)))


if __name__ == '__main__':
    for target in ('stun', 'dcep', 'sdp', 'signaling', 'sctp_bundle'):
        d = os.path.join(HERE, target)
        os.makedirs(d, exist_ok=True)
        for n in os.listdir(d):
            if n.startswith('seed-'):
                os.remove(os.path.join(d, n))
    stun_seeds()
    dcep_seeds()
    sdp_seeds()
    signaling_seeds()
    sctp_bundle_seeds()
