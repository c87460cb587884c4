// See leases.hpp.
#include "cluster/leases.hpp"

#include "cluster/registry.hpp"

namespace peerrtc::cluster {

namespace {

// Mints a token from the counter KEYS[1]: INCR, raised to Redis' clock in µs if below it.
#define PEERRTC_MINT                                                          \
  "local function mint()\n"                                                   \
  "  local t = redis.call('INCR', KEYS[1])\n"                                 \
  "  local tm = redis.call('TIME')\n"                                         \
  "  local floor = tonumber(tm[1]) * 1000000 + tonumber(tm[2])\n"             \
  "  if t < floor then t = floor; redis.call('SET', KEYS[1], string.format('%.0f', t)) end\n" \
  "  return string.format('%.0f', t)\n"                                       \
  "end\n"

// KEYS: counter, room, fence; ARGV: node, ttl ms, create ("1"/"0"). -> {holder or "", token or ""}
constexpr const char* kClaimScript = PEERRTC_MINT R"(local v = redis.call('GET', KEYS[2])
if v == false then
  if ARGV[3] ~= '1' then return {'', ''} end
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]); redis.call('DEL', KEYS[3]); v = ARGV[1]
end
if v ~= ARGV[1] then return {v, ''} end
local f = redis.call('GET', KEYS[3])
if f == false then f = mint(); redis.call('SET', KEYS[3], f, 'PX', ARGV[2])
else redis.call('PEXPIRE', KEYS[3], ARGV[2]) end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {v, f})";

// KEYS: room, fence; ARGV: target, ttl ms. -> the holder afterwards
constexpr const char* kPlaceScript = R"(if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('DEL', KEYS[2]); return ARGV[1]
end
return redis.call('GET', KEYS[1]) or '')";

// KEYS: counter, then room and fence per room; ARGV: node, ttl ms, then the token per room.
constexpr const char* kRenewScript = PEERRTC_MINT R"(local out = {}
local n = (#KEYS - 1) / 2
for i = 1, n do
  local rk, fk, tok = KEYS[2 * i], KEYS[2 * i + 1], ARGV[2 + i]
  local v = redis.call('GET', rk)
  if v == false then
    redis.call('SET', rk, ARGV[1], 'PX', ARGV[2])
    local t = mint(); redis.call('SET', fk, t, 'PX', ARGV[2]); out[i] = t
  elseif v == ARGV[1] then
    local f = redis.call('GET', fk)
    if f == false then
      f = mint(); redis.call('SET', fk, f, 'PX', ARGV[2]); redis.call('PEXPIRE', rk, ARGV[2]); out[i] = f
    elseif tok == '' or f == tok then
      redis.call('PEXPIRE', rk, ARGV[2]); redis.call('PEXPIRE', fk, ARGV[2]); out[i] = f
    else
      out[i] = '0'
    end
  else
    out[i] = '0'
  end
end
return out)";

// KEYS: room, fence; ARGV: owner.
constexpr const char* kReleaseScript = R"(if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2]); return 1
end
return 0)";

#undef PEERRTC_MINT

}  // namespace

Claim claim_room(Redis& redis, std::string_view prefix, const std::string& room, const std::string& node,
                 std::chrono::milliseconds ttl, bool create, std::chrono::milliseconds timeout) {
  Reply r = redis.command_sync({"EVAL", kClaimScript, "3", fence_counter_key(prefix), room_key(prefix, room),
                                fence_key(prefix, room), node, std::to_string(ttl.count()), create ? "1" : "0"},
                               timeout);
  Claim c;
  if (!r.ok()) {
    c.error = r.str;
    return c;
  }
  if (r.type != Reply::Type::Array || r.elements.size() != 2) {
    c.error = "unexpected reply to the lease claim";
    return c;
  }
  c.ok = true;
  c.holder = r.elements[0].str;
  c.token = r.elements[1].str;
  return c;
}

Claim place_room(Redis& redis, std::string_view prefix, const std::string& room, const std::string& target,
                 std::chrono::milliseconds ttl, std::chrono::milliseconds timeout) {
  Reply r = redis.command_sync(
      {"EVAL", kPlaceScript, "2", room_key(prefix, room), fence_key(prefix, room), target, std::to_string(ttl.count())},
      timeout);
  Claim c;
  if (!r.ok()) {
    c.error = r.str;
    return c;
  }
  c.ok = true;
  c.holder = r.str;
  return c;
}

std::optional<std::vector<std::string>> renew_rooms(Redis& redis, std::string_view prefix, const std::string& node,
                                                    std::chrono::milliseconds ttl,
                                                    const std::vector<std::pair<std::string, std::string>>& rooms,
                                                    std::chrono::milliseconds timeout) {
  std::vector<std::string> out;
  constexpr size_t kBatch = 500;
  for (size_t i = 0; i < rooms.size(); i += kBatch) {
    const size_t n = std::min(kBatch, rooms.size() - i);
    std::vector<std::string> argv{"EVAL", kRenewScript, std::to_string(1 + 2 * n), fence_counter_key(prefix)};
    for (size_t k = 0; k < n; ++k) {
      argv.push_back(room_key(prefix, rooms[i + k].first));
      argv.push_back(fence_key(prefix, rooms[i + k].first));
    }
    argv.push_back(node);
    argv.push_back(std::to_string(ttl.count()));
    for (size_t k = 0; k < n; ++k) argv.push_back(rooms[i + k].second);
    Reply r = redis.command_sync(std::move(argv), timeout);
    if (!r.ok() || r.type != Reply::Type::Array || r.elements.size() != n) return std::nullopt;
    for (auto& e : r.elements) out.push_back(e.str);
  }
  return out;
}

bool release_room(Redis& redis, std::string_view prefix, const std::string& room, const std::string& owner,
                  std::chrono::milliseconds timeout) {
  Reply r = redis.command_sync(
      {"EVAL", kReleaseScript, "2", room_key(prefix, room), fence_key(prefix, room), owner}, timeout);
  return r.ok() && r.integer == 1;
}

// ---------------------------------------------------------------------------------------------

void LeaseTable::proven_by_request(const std::string& room, const std::string& token, Clock::time_point sent) {
  std::lock_guard lock(m_);
  auto& l = leases_[room];
  if (l.token != token) {
    l.token = token;
    l.proven = sent;
  } else {
    l.proven = std::max(l.proven, sent);
  }
  l.touched = Clock::now();
  evicted_.erase(room);
}

bool LeaseTable::proven_by_renewal(const std::string& room, const std::string& sent_token, const std::string& token,
                                   Clock::time_point sent) {
  std::lock_guard lock(m_);
  auto it = leases_.find(room);
  if (sent_token.empty()) {
    if (it != leases_.end()) return false;  // a request put it here meanwhile: its claim counts
    leases_[room] = Lease{token, sent, Clock::time_point{}};
    return true;
  }
  if (it == leases_.end() || it->second.token != sent_token) return false;
  it->second.token = token;
  it->second.proven = std::max(it->second.proven, sent);
  return true;
}

std::optional<std::string> LeaseTable::token(const std::string& room, Clock::time_point now) const {
  std::lock_guard lock(m_);
  auto it = leases_.find(room);
  if (it == leases_.end() || now - it->second.proven >= validity_) return std::nullopt;
  return it->second.token;
}

std::vector<std::string> LeaseTable::take_expired(Clock::time_point now) {
  std::lock_guard lock(m_);
  std::vector<std::string> out;
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (now - it->second.proven >= validity_) {
      out.push_back(it->first);
      it = leases_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

bool LeaseTable::remove(const std::string& room, const std::string& token) {
  std::lock_guard lock(m_);
  auto it = leases_.find(room);
  if (it == leases_.end() || (!token.empty() && it->second.token != token)) return false;
  leases_.erase(it);
  return true;
}

std::map<std::string, LeaseTable::Lease> LeaseTable::all() const {
  std::lock_guard lock(m_);
  return leases_;
}

size_t LeaseTable::size() const {
  std::lock_guard lock(m_);
  return leases_.size();
}

void LeaseTable::mark_evicted(const std::string& room, Clock::time_point now) {
  std::lock_guard lock(m_);
  evicted_[room] = now;
}

bool LeaseTable::recently_evicted(const std::string& room, Clock::time_point now, std::chrono::milliseconds d) {
  std::lock_guard lock(m_);
  for (auto it = evicted_.begin(); it != evicted_.end();) {  // forget the old ones as we go
    if (now - it->second > d) it = evicted_.erase(it);
    else ++it;
  }
  return evicted_.count(room) > 0;
}

}  // namespace peerrtc::cluster
