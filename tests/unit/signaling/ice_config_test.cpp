// The GET /config body and the check of Config's ICE/TURN settings (signaling/ice_config).
#include "signaling/ice_config.hpp"

#include <gtest/gtest.h>

#include "turn/turn.hpp"

namespace peerrtc::signaling {
namespace {

using nlohmann::json;

Config with_secret() {
  Config c;
  c.turn_urls = {"turn:turn.example.org:3478?transport=udp",
                 "turns:turn.example.org:443?transport=tcp"};
  c.turn_secret = "s3cret";
  return c;
}

TEST(IceConfig, DefaultIsNoIceServers) {
  Config c;
  ASSERT_TRUE(check_ice_config(c));
  EXPECT_EQ(ice_config_body(c, "alice", 1000), json::parse(R"({"iceServers": []})"));
}

TEST(IceConfig, StunServersInOneEntry) {
  Config c;
  c.ice_servers = {"stun:stun.example.org:3478", "stun:[2001:db8::1]"};
  ASSERT_TRUE(check_ice_config(c));
  EXPECT_EQ(
      ice_config_body(c, "alice", 1000),
      json::parse(
          R"({"iceServers": [{"urls": ["stun:stun.example.org:3478", "stun:[2001:db8::1]"]}]})"));
}

TEST(IceConfig, SecretMintsRestCredentialsForTheUserWithTtl) {
  Config c = with_secret();
  ASSERT_TRUE(check_ice_config(c));
  // expiry = now + ttl = 1795963836 + 86400 = 1796050236; credential from
  //   printf '%s' '1796050236:probe' | openssl dgst -sha1 -hmac 's3cret' -binary | base64
  json body = ice_config_body(c, "probe", 1795963836);
  EXPECT_EQ(body,
            json::parse(R"({"iceServers": [{"urls": ["turn:turn.example.org:3478?transport=udp",
      "turns:turn.example.org:443?transport=tcp"], "username": "1796050236:probe",
      "credential": "DYySmvIN0TCRdEu31LYmAIAzQqY="}], "ttl": 86400})"));
}

TEST(IceConfig, TtlMovesTheExpiry) {
  Config c = with_secret();
  c.turn_ttl = std::chrono::seconds(600);
  json t = ice_config_body(c, "bob", 1000)["iceServers"][0];
  EXPECT_EQ(t["username"], "1600:bob");
  EXPECT_EQ(t["credential"], turn::rest_credential("s3cret", "1600:bob"));
  EXPECT_EQ(ice_config_body(c, "bob", 1000)["ttl"], 600);
}

TEST(IceConfig, StaticCredentialsAndStunTogetherWithoutTtl) {
  Config c;
  c.ice_servers = {"stun:stun.example.org"};
  c.turn_urls = {"turn:127.0.0.1:3478"};
  c.turn_username = "user";
  c.turn_password = "pass";
  ASSERT_TRUE(check_ice_config(c));
  EXPECT_EQ(ice_config_body(c, "ignored", 1000),
            json::parse(R"({"iceServers": [{"urls": ["stun:stun.example.org"]},
      {"urls": ["turn:127.0.0.1:3478"], "username": "user", "credential": "pass"}]})"));
}

TEST(IceConfig, BadSettingsNameTheFieldAndSayWhatToDo) {
  auto err = [](const Config& c) {
    auto r = check_ice_config(c);
    return r ? std::string("(accepted)") : r.error();
  };
  Config c;
  c.ice_servers = {"turn:turn.example.org"};
  EXPECT_NE(err(c).find("turn_urls"), std::string::npos)
      << err(c);  // today's bug: TURN without credentials
  c.ice_servers = {"stun://x"};
  EXPECT_NE(err(c).find("ice_servers"), std::string::npos) << err(c);

  c = Config{};
  c.turn_urls = {"turn:turn.example.org"};
  EXPECT_NE(err(c).find("need credentials"), std::string::npos) << err(c);
  c.turn_urls = {"stun:stun.example.org"};
  c.turn_secret = "s";
  EXPECT_NE(err(c).find("not a turn:/turns: URL"), std::string::npos) << err(c);
  c.turn_urls = {"turn:bad host"};
  EXPECT_NE(err(c).find("turn_urls"), std::string::npos) << err(c);

  c = with_secret();
  c.turn_username = "u";
  c.turn_password = "p";
  EXPECT_NE(err(c).find("exclude"), std::string::npos) << err(c);
  c = with_secret();
  c.turn_secret.clear();
  c.turn_username = "u";
  EXPECT_NE(err(c).find("go together"), std::string::npos) << err(c);
  c = Config{};
  c.turn_secret = "s";
  EXPECT_NE(err(c).find("without turn_urls"), std::string::npos) << err(c);
  c = with_secret();
  c.turn_ttl = std::chrono::seconds(59);
  EXPECT_NE(err(c).find("turn_ttl"), std::string::npos) << err(c);
  c.turn_ttl = std::chrono::seconds(kMaxTurnTtl + 1);
  EXPECT_NE(err(c).find("turn_ttl"), std::string::npos) << err(c);
  c.turn_ttl = std::chrono::seconds(kMaxTurnTtl);
  EXPECT_TRUE(check_ice_config(c));
}

}  // namespace
}  // namespace peerrtc::signaling
