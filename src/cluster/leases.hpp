// Fenced room leases (docs/architecture.md, "Cluster", "Fenced leases").
//
//   <prefix>room:<room>   the holder's node id, PX ttl
//   <prefix>fence:<room>  the holder's fencing token, PX ttl (set and renewed with the lease)
//   <prefix>fence         the counter tokens come from: INCR, but never below Redis' clock in
//                         µs, so tokens keep growing even after Redis restarted empty
//
// A token is minted whenever a node takes a lease that was free (or finds its lease without
// one); it never changes while the same node keeps renewing. A holder proves its lease by
// renewing with its token: the renewal answers "0" when the lease names another node or
// carries another token, and the holder steps down at once. Stream appends carry the token and
// Redis refuses them unless it is the room's current one (stream.hpp), so a holder that was
// paused past its lease cannot write into the room's history after another node took it.
//
// LeaseTable is the node's own view: per room, its token and when a renewal that proved it was
// sent. A lease proven at `sent` lasts until at least sent + ttl on Redis' side; the node treats
// it as lost once sent + ttl has passed (checked every heartbeat, ttl / 3, and first thing after
// a pause), and steps down. Between the lease's expiry in Redis and that check (at most one
// heartbeat) another node may take the room: the renewal then answers "0" and this node steps
// down too, and its stream appends are refused by their token meanwhile.
#pragma once
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/redis.hpp"

namespace peerrtc::cluster {

using Clock = std::chrono::steady_clock;

// One room's lease as Redis has it after a claim.
struct Claim {
  bool ok = false;      // Redis answered
  std::string error;    // when not ok
  std::string holder;   // "" = nobody
  std::string token;    // the fencing token when holder is the claiming node
};
// The router's one round trip: the room's holder; when it is `node`, the lease is renewed and
// its token returned (minted if it had none). `create`: a free room is taken for `node`.
Claim claim_room(Redis& redis, std::string_view prefix, const std::string& room, const std::string& node,
                 std::chrono::milliseconds ttl, bool create, std::chrono::milliseconds timeout);
// Places a free room on `target` (another node: it mints the token when it claims it). Returns
// the holder afterwards ("" with ok=false if Redis did not answer).
Claim place_room(Redis& redis, std::string_view prefix, const std::string& room, const std::string& target,
                 std::chrono::milliseconds ttl, std::chrono::milliseconds timeout);
// The heartbeat's renewal of many rooms: per room the token it holds ("" = adopt the lease if it
// names this node, or take it if it is free). Per room the token afterwards, "0" = lost (another
// node, or another token). nullopt: Redis did not answer.
std::optional<std::vector<std::string>> renew_rooms(Redis& redis, std::string_view prefix, const std::string& node,
                                                    std::chrono::milliseconds ttl,
                                                    const std::vector<std::pair<std::string, std::string>>& rooms,
                                                    std::chrono::milliseconds timeout);
// Deletes the lease (and token) of `room` if it still names `owner`. True if it did.
bool release_room(Redis& redis, std::string_view prefix, const std::string& room, const std::string& owner,
                  std::chrono::milliseconds timeout);

class LeaseTable {
 public:
  struct Lease {
    std::string token;
    Clock::time_point proven;   // when the last renewal that proved it was sent
    Clock::time_point touched;  // when a request last brought it here
  };
  explicit LeaseTable(std::chrono::milliseconds validity) : validity_(validity) {}

  // A claim sent at `sent` proved the lease with `token` (a request is about to use it).
  void proven_by_request(const std::string& room, const std::string& token, Clock::time_point sent);
  // A heartbeat renewal sent at `sent` with `sent_token` answered `token`: applied only if the
  // table still has `sent_token` for the room ("" = the room was not in the table), since a
  // request may have changed it meanwhile. Returns false if it was not applied.
  bool proven_by_renewal(const std::string& room, const std::string& sent_token, const std::string& token,
                         Clock::time_point sent);
  // The token while the lease is valid at `now`.
  std::optional<std::string> token(const std::string& room, Clock::time_point now) const;
  bool valid(const std::string& room, Clock::time_point now) const { return token(room, now).has_value(); }
  // Removes and returns the rooms whose lease is no longer proven at `now`.
  std::vector<std::string> take_expired(Clock::time_point now);
  // Removes `room` if its token is still `token` ("" = whatever it is). True if removed.
  bool remove(const std::string& room, const std::string& token = {});
  std::map<std::string, Lease> all() const;
  size_t size() const;

  // Rooms this node stepped down from, until their eviction is old news (their peers may still
  // show in a stale snapshot: they are not claimed again from it).
  void mark_evicted(const std::string& room, Clock::time_point now);
  bool recently_evicted(const std::string& room, Clock::time_point now, std::chrono::milliseconds for_how_long);

 private:
  std::chrono::milliseconds validity_;
  mutable std::mutex m_;
  std::map<std::string, Lease> leases_;
  std::map<std::string, Clock::time_point> evicted_;
};

}  // namespace peerrtc::cluster
