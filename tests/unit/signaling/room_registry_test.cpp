// RoomRegistry without a network: who may join, reconnect, leave; limits; sessions.
#include "signaling/room_registry.hpp"

#include <gtest/gtest.h>

#include "peerrtc/signaling_manager.hpp"

using namespace peerrtc;
using namespace peerrtc::signaling;

namespace {
int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e.status();
  }
  return 0;
}
}  // namespace

TEST(RoomRegistry, NewPeersReconnectsAndTokens) {
  RoomRegistry r(RegistryLimits{});
  EXPECT_EQ(r.admit("room", "alice", ""), nullptr);
  Member& a = r.add_peer("room", "alice", 7);
  EXPECT_EQ(a.token.size(), 32u);
  EXPECT_EQ(status_of([&] { r.admit("room", "alice", ""); }), 409) << "taken, no token";
  EXPECT_EQ(status_of([&] { r.admit("room", "alice", "wrong"); }), 403);
  EXPECT_EQ(r.admit("room", "alice", a.token), &a) << "the right token reconnects";
  EXPECT_EQ(r.replace_session("room", "alice", 8), 7u);
  EXPECT_FALSE(r.by_engine(7)) << "the old session no longer owns the slot";
  ASSERT_TRUE(r.by_engine(8));
  EXPECT_EQ(r.by_engine(8)->name, "alice");
  r.forget_session(7);
  EXPECT_EQ(r.sessions(), 1u);
  // Another room, same name: a different member.
  EXPECT_EQ(r.admit("other", "alice", ""), nullptr);
}

TEST(RoomRegistry, AuthorizeForLeaveAndCandidate) {
  RoomRegistry r(RegistryLimits{});
  Member& a = r.add_peer("room", "alice", 1);
  r.add_participant("room", "bot", nullptr);
  EXPECT_EQ(&r.authorize("room", "alice", a.token), &a);
  EXPECT_EQ(status_of([&] { r.authorize("room", "alice", ""); }), 403);
  EXPECT_EQ(status_of([&] { r.authorize("room", "alice", "x"); }), 403);
  // allow_missing (candidate; leave without require_leave_token): no token passes, a wrong one not.
  EXPECT_EQ(&r.authorize("room", "alice", "", true), &a);
  EXPECT_EQ(status_of([&] { r.authorize("room", "alice", "x", true); }), 403);
  EXPECT_EQ(status_of([&] { r.authorize("room", "nobody", "", true); }), 404);
  EXPECT_EQ(status_of([&] { r.authorize("room", "bot", "x"); }), 403);
  EXPECT_EQ(status_of([&] { r.authorize("room", "nobody", a.token); }), 404);
  EXPECT_EQ(status_of([&] { r.authorize("nowhere", "alice", a.token); }), 404);
  EXPECT_EQ(status_of([&] { r.admit("room", "bot", "x"); }), 409) << "a participant's name";
  EXPECT_EQ(status_of([&] { r.add_participant("room", "alice", nullptr); }), 409);
}

TEST(RoomRegistry, LimitsAndEmptyRoomsGo) {
  RegistryLimits l;
  l.max_rooms = 2;
  l.max_peers_per_room = 2;
  RoomRegistry r(l);
  r.add_peer("a", "p1", 1);
  r.add_peer("a", "p2", 2);
  EXPECT_EQ(status_of([&] { r.admit("a", "p3", ""); }), 503) << "room full";
  r.add_peer("b", "p1", 3);
  EXPECT_EQ(status_of([&] { r.admit("c", "p1", ""); }), 503) << "room limit";
  EXPECT_EQ(status_of([&] { r.add_participant("c", "bot", nullptr); }), 503);
  r.find("a", "p1")->joined = true;
  EXPECT_TRUE(r.remove("a", "p1")) << "was joined";
  EXPECT_FALSE(r.remove("a", "p2")) << "was never joined";
  EXPECT_EQ(r.room("a"), nullptr) << "an empty room goes";
  EXPECT_FALSE(r.by_engine(1));
  EXPECT_EQ(r.admit("c", "p1", ""), nullptr) << "room slots are free again";
  r.find("b", "p1")->joined = true;
  r.add_participant("b", "bot", nullptr);
  EXPECT_EQ(r.joined_names(*r.room("b")), std::vector<std::string>{"p1"});
  r.find("b", "bot")->joined = true;
  EXPECT_EQ(r.joined_names(*r.room("b"), "p1"), std::vector<std::string>{"bot"});
}
