// Bundling of outgoing SCTP packets of one association (RFC 9260 §6.10), after usrsctp has built
// them. Pure: bytes in, bytes out, never throws.
//
// Why after the fact: usrsctp sends the first message of a burst at once when nothing is in
// flight (Nagle only holds data while some is unacknowledged), and the SACK for a peer's DATA
// leaves as soon as the DATA is read. The engine holds every packet of a loop turn until the
// turn's end anyway, so an association's SACK, its first message and the rest of the turn's
// messages can share one packet: one DTLS record, one datagram and one SACK back from the peer
// instead of two or three. With 8 wrtc peers chatting, each receiver got two packets per
// burst (1 DATA + 6 DATA) before this.
#pragma once
#include <cstddef>

#include "common/bytes.hpp"

namespace peerrtc::sctp {

// Appends `next` to `held` when both are packets of one association (same ports and
// verification tag) made only of DATA and SACK chunks, well formed, and the result is at most
// `limit` bytes. The result is the common header, then the SACK (next's when it has one: a
// later SACK supersedes an earlier one, its cumulative TSN and gap blocks being newer), then
// held's DATA chunks, then next's, in order (control chunks before DATA, as §6.10 requires).
// The checksum field of the result is zero: the caller computes it before sending.
// Returns false (held unchanged) for anything else: INIT, COOKIE, HEARTBEAT, SHUTDOWN, ABORT,
// FORWARD-TSN, RE-CONFIG... leave as usrsctp built them.
bool bundle_packets(Bytes& held, ByteView next, size_t limit);

}  // namespace peerrtc::sctp
