// See stream.hpp.
#include "cluster/stream.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace peerrtc::cluster {

namespace {
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

std::string stream_key(std::string_view prefix, std::string_view room) {
  return std::string(prefix) + "stream:" + std::string(room);
}

namespace {
// The entry's fields and values, after the command's own arguments.
void append_fields(std::vector<std::string>& argv, const Message& m, int64_t ts_ms) {
  argv.insert(argv.end(), {"room", m.room, "sender", m.sender, "data", m.data, "binary", m.binary ? "1" : "0", "ts",
                           std::to_string(ts_ms)});
  if (m.to) argv.insert(argv.end(), {"to", *m.to});
  // Protocol v2: what another node needs to resume the room (docs/protocol.md "Cluster resume").
  if (m.seq) argv.insert(argv.end(), {"seq", std::to_string(m.seq), "epoch", m.epoch});
  if (m.cmid) argv.insert(argv.end(), {"cmid", std::to_string(m.cmid)});
}
}  // namespace

std::vector<std::string> xadd_argv(std::string_view prefix, size_t maxlen, const Message& m, int64_t ts_ms) {
  std::vector<std::string> argv{"XADD", stream_key(prefix, m.room), "MAXLEN", "~", std::to_string(maxlen), "*"};
  append_fields(argv, m, ts_ms);
  return argv;
}

namespace {
// KEYS: fence, stream; ARGV: token, maxlen, ttl ms, then the entry's fields and values.
constexpr const char* kFencedXadd = R"(if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('STALE fencing token ' .. ARGV[1] .. ' is not the room\'s current one')
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 4))
if ARGV[3] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return id)";
}  // namespace

std::vector<std::string> fenced_xadd_argv(std::string_view prefix, size_t maxlen, const Message& m, int64_t ts_ms,
                                          const std::string& token, int64_t ttl_ms) {
  std::vector<std::string> argv{"EVAL", kFencedXadd, "2", std::string(prefix) + "fence:" + m.room,
                                stream_key(prefix, m.room), token, std::to_string(maxlen), std::to_string(ttl_ms)};
  append_fields(argv, m, ts_ms);
  return argv;
}

std::vector<SignalingManager::HistoryItem> history_from_xrevrange(const Reply& reply) {
  std::vector<SignalingManager::HistoryItem> out;
  if (reply.type != Reply::Type::Array) return out;
  for (const auto& entry : reply.elements) {  // [id, [field, value, ...]], newest first
    if (entry.type != Reply::Type::Array || entry.elements.size() != 2) continue;
    const Reply& fields = entry.elements[1];
    if (fields.type != Reply::Type::Array || fields.elements.size() % 2 != 0) continue;
    SignalingManager::HistoryItem item;
    bool has_sender = false, has_data = false, direct = false;
    for (size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
      const std::string& k = fields.elements[i].str;
      const std::string& v = fields.elements[i + 1].str;
      if (k == "sender") {
        item.sender = v;
        has_sender = true;
      } else if (k == "data") {
        item.data = v;
        has_data = true;
      } else if (k == "binary") {
        item.binary = v == "1";
      } else if (k == "ts") {
        try {
          item.ts_ms = std::stoll(v);
        } catch (...) {
          item.ts_ms = 0;
        }
      } else if (k == "to") {
        direct = true;
      }
    }
    if (!has_sender || !has_data || direct) continue;
    out.push_back(std::move(item));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<Message> resume_items_from_xrevrange(const Reply& reply, int64_t min_ts_ms) {
  std::vector<Message> out;  // newest first until the end
  if (reply.type != Reply::Type::Array) return out;
  for (const auto& entry : reply.elements) {
    if (entry.type != Reply::Type::Array || entry.elements.size() != 2) continue;
    const Reply& fields = entry.elements[1];
    if (fields.type != Reply::Type::Array || fields.elements.size() % 2 != 0) continue;
    Message m;
    int64_t ts = 0;
    bool has_sender = false, has_data = false, ok = true;
    for (size_t i = 0; i + 1 < fields.elements.size() && ok; i += 2) {
      const std::string& k = fields.elements[i].str;
      const std::string& v = fields.elements[i + 1].str;
      try {
        if (k == "room") m.room = v;
        else if (k == "sender") has_sender = (m.sender = v, true);
        else if (k == "data") has_data = (m.data = v, true);
        else if (k == "binary") m.binary = v == "1";
        else if (k == "to") m.to = v;
        else if (k == "epoch") m.epoch = v;
        else if (k == "ts") ts = std::stoll(v);
        else if (k == "seq") m.seq = std::stoull(v);
        else if (k == "cmid") m.cmid = std::stoull(v);
      } catch (...) {
        ok = false;  // not a number: malformed
      }
    }
    if (!ok || !has_sender || !has_data || m.seq == 0 || m.epoch.empty()) continue;
    if (ts < min_ts_ms) break;  // older than the window, and so is the rest
    if (!out.empty() && m.epoch != out.front().epoch) break;  // an earlier life of the room
    out.push_back(std::move(m));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

RedisStream::RedisStream(Redis& redis, SignalingManager& manager, StreamOptions options)
    : redis_(redis), manager_(manager), opts_(std::move(options)) {
  // On the hook thread: one async XADD per message, in relay order (one hook thread by default,
  // and the Redis client sends commands in the order they were issued).
  handler_ = manager_.on_relayed([&redis = redis_, prefix = opts_.prefix, maxlen = opts_.maxlen,
                                   ttl = opts_.ttl.count(), c = counters_](const Message& m) {
    FenceSource fence;
    {
      std::lock_guard lock(c->m);
      fence = c->fence;
    }
    std::vector<std::string> argv;
    if (fence) {
      auto token = fence(m.room);
      if (!token) {  // this node holds no proven lease on the room (any more): not written
        c->refused_stale.fetch_add(1);
        return;
      }
      argv = fenced_xadd_argv(prefix, maxlen, m, now_ms(), *token, ttl);
    } else {
      argv = xadd_argv(prefix, maxlen, m, now_ms());  // (no fence, no ttl: the library's plain use)
    }
    redis.command(std::move(argv), [c, room = m.room](const Reply& r) {
      if (r.ok()) {
        c->appended.fetch_add(1);
        if (c->failing.exchange(false)) log().info("stream: appending to Redis works again");
        return;
      }
      if (r.str.rfind("STALE", 0) == 0) {
        c->refused_stale.fetch_add(1);
        log().debug("stream: append for room '{}' refused: {}", room, r.str);
        return;
      }
      c->failed.fetch_add(1);
      if (!c->failing.exchange(true)) log().warn("stream: XADD for room '{}' failed: {} (logged once)", room, r.str);
    });
  });
}

void RedisStream::set_fence(FenceSource source) {
  std::lock_guard lock(counters_->m);
  counters_->fence = std::move(source);
}

RedisStream::~RedisStream() { manager_.remove_handler(handler_); }

void RedisStream::seed(const std::string& room) {
  if (opts_.history == 0 && opts_.resume == 0) return;
  try {
    manager_.room_peers(room);
    return;  // here already: it has its own history
  } catch (const ApiError& e) {
    if (e.status() != 404) return;
  } catch (const std::exception&) {
    return;
  }
  if (opts_.resume > 0) {
    Reply r = redis_.command_sync(
        {"XREVRANGE", stream_key(opts_.prefix, room), "+", "-", "COUNT", std::to_string(opts_.resume)}, opts_.timeout);
    if (!r.ok()) {
      log().warn("stream: cannot read room '{}' back from Redis for resumes: {}", room, r.str);
    } else if (auto items = resume_items_from_xrevrange(r, now_ms() - opts_.resume_window.count()); !items.empty()) {
      try {
        log().debug("stream: room '{}' carries {} messages of epoch {} from Redis", room, items.size(),
                    items.back().epoch);
        manager_.seed_resume(room, std::move(items));
      } catch (const std::exception& e) {
        log().warn("stream: seeding room '{}' for resumes failed: {}", room, e.what());
      }
    }
  }
  if (opts_.history == 0) return;
  // Newest first, a page of `history` entries at a time: direct messages are in the Stream but
  // not in the history, so a page may hold fewer than needed (at most 8 pages are read).
  std::vector<SignalingManager::HistoryItem> items;  // oldest first
  std::string end = "+";
  for (int page = 0; page < 8 && items.size() < opts_.history; ++page) {
    Reply r = redis_.command_sync({"XREVRANGE", stream_key(opts_.prefix, room), end, "-", "COUNT",
                                   std::to_string(opts_.history)},
                                  opts_.timeout);
    if (!r.ok()) {
      log().warn("stream: cannot read the history of room '{}' from Redis: {}", room, r.str);
      break;
    }
    if (r.type != Reply::Type::Array || r.elements.empty()) break;
    auto older = history_from_xrevrange(r);
    items.insert(items.begin(), std::make_move_iterator(older.begin()), std::make_move_iterator(older.end()));
    const Reply& oldest = r.elements.back();
    if (r.elements.size() < opts_.history || oldest.type != Reply::Type::Array || oldest.elements.empty()) break;
    end = "(" + oldest.elements[0].str;  // exclusive: the entries before it
  }
  if (items.size() > opts_.history) items.erase(items.begin(), items.begin() + static_cast<long>(items.size() - opts_.history));
  if (items.empty()) return;
  try {
    log().debug("stream: room '{}' seeded with {} messages from Redis", room, items.size());
    manager_.seed_history(room, std::move(items));
  } catch (const std::exception& e) {
    log().warn("stream: seeding room '{}' failed: {}", room, e.what());
  }
}

}  // namespace peerrtc::cluster
