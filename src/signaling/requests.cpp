#include "signaling/requests.hpp"

#include "signaling/names.hpp"

namespace peerrtc::signaling {

using json = nlohmann::json;

Result<bool> check_name(std::string_view what, std::string_view value, bool peer) {
  if (auto c = inspect_name(value); !c.ok())
    return Error{"invalid " + std::string(what) + " " + quote_name(value) + ": " + describe(c, value.size())};
  if (peer && value == "server") return Error{std::string(what) + " \"server\" is reserved"};
  return true;
}

Result<std::string> check_offer(const json& offer) {
  if (!offer.is_object()) return Error{"'offer' must be an object {sdp, type}"};
  auto sdp = offer.find("sdp");
  if (sdp == offer.end() || !sdp->is_string() || sdp->get_ref<const std::string&>().empty())
    return Error{"'offer.sdp' must be a non-empty string"};
  auto type = offer.find("type");
  if (type == offer.end() || !(type->is_string() && *type == "offer"))
    return Error{"'offer.type' must be \"offer\""};
  return sdp->get<std::string>();
}

Result<bool> check_candidate(const json& c) {
  // RTCIceCandidateInit, or null / {candidate: ""} for end-of-candidates.
  if (c.is_null()) return true;
  if (!c.is_object()) return Error{"'candidate' must be an object or null"};
  auto cand = c.find("candidate");
  if (cand == c.end()) return Error{"'candidate' has no 'candidate' field"};
  if (!cand->is_string()) return Error{"'candidate.candidate' must be a string"};
  const auto& s = cand->get_ref<const std::string&>();
  if (s.size() > 1024) return Error{"'candidate.candidate' is too long"};
  if (!s.empty() && s.rfind("candidate:", 0) != 0)
    return Error{"'candidate.candidate' must start with \"candidate:\""};
  auto mid = c.find("sdpMid");
  if (mid != c.end() && !mid->is_string() && !mid->is_null()) return Error{"'candidate.sdpMid' must be a string"};
  auto idx = c.find("sdpMLineIndex");
  if (idx != c.end() && !idx->is_number_unsigned() && !idx->is_null())
    return Error{"'candidate.sdpMLineIndex' must be a non-negative integer"};
  return true;
}

Result<bool> parse_offer_v2(const json& j, Request& r) {
  if (auto p = j.find("protocol"); p != j.end() && !p->is_null()) {
    if (!p->is_number_integer() || p->get<int64_t>() < 1)
      return Error{"field 'protocol' must be a positive integer (1 or 2; a higher one gets 2)"};
    r.protocol = p->get<int64_t>() >= 2 ? 2 : 1;
  }
  if (auto res = j.find("resume"); res != j.end() && !res->is_null()) {
    if (r.protocol < 2) return Error{"field 'resume' needs \"protocol\": 2"};
    if (!res->is_object()) return Error{"field 'resume' must be an object {epoch, seq}"};
    auto e = res->find("epoch");
    if (e == res->end() || !e->is_string() || e->get_ref<const std::string&>().empty() ||
        e->get_ref<const std::string&>().size() > 64)
      return Error{"field 'resume.epoch' must be a string of 1 to 64 bytes"};
    auto q = res->find("seq");
    if (q == res->end() || !q->is_number_unsigned() || q->get<uint64_t>() > (uint64_t{1} << 53) - 1)
      return Error{"field 'resume.seq' must be an integer from 0 to 2^53 - 1"};
    r.has_resume = true;
    r.resume_epoch = e->get<std::string>();
    r.resume_seq = q->get<uint64_t>();
  }
  if (auto rs = j.find("restart"); rs != j.end() && !rs->is_null()) {
    if (!rs->is_boolean()) return Error{"field 'restart' must be a boolean"};
    r.restart = rs->get<bool>();
  }
  return true;
}

Result<Request> parse_request(std::string_view action, std::string_view body) {
  Request r;
  if (action == "offer") r.kind = Request::Kind::Offer;
  else if (action == "candidate") r.kind = Request::Kind::Candidate;
  else if (action == "leave") r.kind = Request::Kind::Leave;
  else return Error{"unknown action '" + std::string(action.substr(0, 32)) + "'"};

  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    // JSON text is UTF-8 (RFC 8259): say where it is not, the likeliest mistake with names.
    if (auto at = invalid_utf8_at(body); at != std::string_view::npos)
      return Error{"body is not valid JSON: invalid UTF-8 at byte " + std::to_string(at)};
    return Error{"body is not valid JSON"};
  }
  if (!j.is_object()) return Error{"body must be a JSON object"};
  auto str = [&](const char* key, bool required, std::string& out) -> std::optional<Error> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) return Error{std::string("missing field '") + key + "'"};
      return std::nullopt;
    }
    if (!it->is_string()) return Error{std::string("field '") + key + "' must be a string"};
    out = it->get<std::string>();
    return std::nullopt;
  };
  if (auto e = str("room", true, r.room)) return *e;
  if (auto e = str("peer_id", true, r.peer_id)) return *e;
  if (auto e = str("token", false, r.token)) return *e;
  if (r.token.size() > 128) return Error{"field 'token' is too long"};
  if (r.kind == Request::Kind::Offer) {
    if (auto e = str("join_token", false, r.join_token)) return *e;
    if (r.join_token.size() > 4096) return Error{"field 'join_token' is too long"};
  }
  if (auto ok = check_name("room", r.room); !ok) return Error{ok.error()};
  if (auto ok = check_name("peer_id", r.peer_id, r.kind == Request::Kind::Offer); !ok) return Error{ok.error()};
  switch (r.kind) {
    case Request::Kind::Offer: {
      auto it = j.find("offer");
      if (it == j.end()) return Error{"missing field 'offer'"};
      auto sdp = check_offer(*it);
      if (!sdp) return Error{sdp.error()};
      r.sdp = std::move(*sdp);
      if (auto ok = parse_offer_v2(j, r); !ok) return Error{ok.error()};
      break;
    }
    case Request::Kind::Candidate: {
      auto it = j.find("candidate");
      if (it == j.end()) return Error{"missing field 'candidate'"};
      if (auto ok = check_candidate(*it); !ok) return Error{ok.error()};
      r.candidate = *it;
      break;
    }
    case Request::Kind::Leave:
      break;
  }
  return r;
}

}  // namespace peerrtc::signaling
