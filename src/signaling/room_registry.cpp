#include "signaling/room_registry.hpp"

#include "common/bytes.hpp"
#include "signaling/names.hpp"
#include "peerrtc/signaling_manager.hpp"  // ApiError

namespace peerrtc::signaling {

namespace {
// Names in messages: quoted the way every error quotes them (JSON-style, docs/protocol.md).
std::string q(const std::string& name) { return quote_name(name); }

std::string new_token() {
  uint8_t raw[16];
  random_bytes(raw);
  return to_hex(raw);
}
Room& make(std::unordered_map<std::string, Room>& rooms, const std::string& name) {
  Room& r = rooms[name];
  if (r.epoch.empty()) r.epoch = new_epoch();
  return r;
}
}  // namespace

const std::string& boot_id() {
  static const std::string id = [] {
    uint8_t raw[4];
    random_bytes(raw);
    return to_hex(raw);
  }();
  return id;
}

std::string new_epoch() {
  uint8_t raw[4];
  random_bytes(raw);
  return boot_id() + "." + to_hex(raw);
}

Member* RoomRegistry::admit(const std::string& room, const std::string& peer_id, const std::string& token) {
  auto rit = rooms_.find(room);
  if (rit != rooms_.end()) {
    auto mit = rit->second.members.find(peer_id);
    if (mit != rit->second.members.end()) {
      Member& m = mit->second;
      if (m.is_participant())
        throw ApiError(409, "peer_id " + q(peer_id) + " is taken by a server-side participant");
      if (token.empty())
        throw ApiError(409, "peer_id " + q(peer_id) + " is already connected in room " + q(room) +
                                " (a reconnect must send its token)");
      if (token != m.token) throw ApiError(403, "wrong token for peer_id " + q(peer_id));
      return &m;
    }
    if (rit->second.members.size() >= limits_.max_peers_per_room)
      throw ApiError(503, "room " + q(room) + " is full (" + std::to_string(limits_.max_peers_per_room) + " peers)");
    return nullptr;
  }
  if (rooms_.size() >= limits_.max_rooms)
    throw ApiError(503, "room limit reached (" + std::to_string(limits_.max_rooms) + ")");
  return nullptr;
}

Member& RoomRegistry::add_peer(const std::string& room, const std::string& peer_id, PeerId engine_id, int protocol) {
  Room& r = make(rooms_, room);
  Member& m = r.members[peer_id];
  m.protocol = protocol;
  if (protocol >= 2) ++r.v2_members;
  m.engine_id = engine_id;
  m.token = new_token();
  m.message_rate = TokenBucket(limits_.message_rate, limits_.message_burst);
  m.byte_rate = TokenBucket(limits_.byte_rate, limits_.byte_burst);
  sessions_[engine_id] = Session{room, peer_id};
  return m;
}

PeerId RoomRegistry::replace_session(const std::string& room, const std::string& peer_id, PeerId engine_id) {
  Member* m = find(room, peer_id);
  if (!m || m->is_participant()) throw std::logic_error("replace_session: no such peer member");
  const PeerId old = m->engine_id;
  m->engine_id = engine_id;
  m->stream = 0xFFFF;
  m->volatile_stream = 0xFFFF;
  sessions_[engine_id] = Session{room, peer_id};
  return old;
}

Member& RoomRegistry::add_participant(const std::string& room, const std::string& name,
                                      std::shared_ptr<ParticipantInbox> inbox) {
  auto rit = rooms_.find(room);
  if (rit == rooms_.end() && rooms_.size() >= limits_.max_rooms) throw ApiError(503, "room limit reached");
  if (rit != rooms_.end() && rit->second.members.count(name))
    throw ApiError(409, q(name) + " is already in room " + q(room));
  Member& m = make(rooms_, room).members[name];
  m.inbox = std::move(inbox);
  return m;
}

Member& RoomRegistry::authorize(const std::string& room, const std::string& peer_id, const std::string& token,
                                bool allow_missing) {
  auto rit = rooms_.find(room);
  if (rit == rooms_.end()) throw ApiError(404, "no room " + q(room));
  auto mit = rit->second.members.find(peer_id);
  if (mit == rit->second.members.end()) throw ApiError(404, "no peer " + q(peer_id) + " in room " + q(room));
  if (mit->second.is_participant()) throw ApiError(403, "peer " + q(peer_id) + " is a server-side participant");
  if (token.empty()) {
    if (allow_missing) return mit->second;
    throw ApiError(403, "missing token for peer " + q(peer_id));
  }
  if (token != mit->second.token) throw ApiError(403, "wrong token for peer " + q(peer_id));
  return mit->second;
}

Room* RoomRegistry::room(const std::string& name) {
  auto it = rooms_.find(name);
  return it == rooms_.end() ? nullptr : &it->second;
}

Member* RoomRegistry::find(const std::string& room, const std::string& name) {
  Room* r = this->room(room);
  if (!r) return nullptr;
  auto it = r->members.find(name);
  return it == r->members.end() ? nullptr : &it->second;
}

std::optional<RoomRegistry::Ref> RoomRegistry::by_engine(PeerId id) {
  auto s = sessions_.find(id);
  if (s == sessions_.end()) return std::nullopt;
  Member* m = find(s->second.room, s->second.name);
  if (!m || m->engine_id != id) return std::nullopt;  // replaced by a reconnect, or gone
  return Ref{s->second.room, s->second.name, m};
}

void RoomRegistry::forget_session(PeerId id) { sessions_.erase(id); }

bool RoomRegistry::remove(const std::string& room, const std::string& name) {
  auto rit = rooms_.find(room);
  if (rit == rooms_.end()) return false;
  auto mit = rit->second.members.find(name);
  if (mit == rit->second.members.end()) return false;
  const bool joined = mit->second.joined;
  if (mit->second.protocol >= 2 && rit->second.v2_members > 0) --rit->second.v2_members;
  if (!mit->second.is_participant()) {
    auto s = sessions_.find(mit->second.engine_id);
    if (s != sessions_.end() && s->second.room == room && s->second.name == name) sessions_.erase(s);
  }
  rit->second.members.erase(mit);
  if (rit->second.members.empty()) rooms_.erase(rit);
  return joined;
}

std::vector<std::string> RoomRegistry::joined_names(const Room& room, const std::string& except) const {
  std::vector<std::string> out;
  for (auto& [id, m] : room.members)
    if (m.joined && id != except) out.push_back(id);
  return out;
}

}  // namespace peerrtc::signaling
