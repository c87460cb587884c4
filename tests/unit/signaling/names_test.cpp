// The name rule (src/signaling/names.hpp, docs/protocol.md "Names"): what is accepted, what is
// refused and why, how an error quotes the name, and that frames and requests use the same rule.
#include "signaling/names.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "signaling/frames.hpp"
#include "signaling/requests.hpp"

using namespace peerrtc;
using namespace peerrtc::signaling;
using Issue = NameCheck::Issue;

namespace {

// u8"" literals are char8_t in C++20; names travel as bytes in std::string.
std::string u8s(std::u8string_view s) { return std::string(s.begin(), s.end()); }

std::string why(std::string_view name) {
  auto r = check_name("room", name);
  return r ? std::string() : r.error();
}

}  // namespace

TEST(Names, AcceptsUnicodeNames) {
  for (const std::string& name : {
           std::string("alice"), std::string("A-z_0.9:@"),
           u8s(u8"général"), u8s(u8"José"), u8s(u8"josé"),  // Latin with accents (NFC)
           u8s(u8"Jose\u0301"),                             // the same in NFD: also a valid name
           u8s(u8"Москва"), u8s(u8"Привет мир"),            // Cyrillic
           u8s(u8"北京"), u8s(u8"会议室 3"),                  // Chinese
           u8s(u8"مرحبا"), u8s(u8"غرفة الاجتماعات"),         // Arabic (right to left)
           u8s(u8"🦊"), u8s(u8"🦊 fox"), u8s(u8"👩‍💻 dev"),   // emoji, a ZWJ sequence
           std::string("my room"), std::string("a  b"),      // spaces inside
           u8s(u8"a\u00a0b"), u8s(u8"x\u3000y"),            // other spaces inside
           std::string("a/b"), std::string("a\"b"), std::string("O'Brien"), std::string("100%"),
           std::string("x"), std::string(64, 'x'),
       }) {
    EXPECT_TRUE(valid_name(name)) << name << ": " << why(name);
    EXPECT_TRUE(check_name("room", name)) << name;
    EXPECT_TRUE(check_name("peer_id", name, true)) << name;
  }
}

TEST(Names, LengthIsInBytes) {
  // 64 bytes of two-, three- and four-byte characters: accepted; one byte more: refused.
  std::string two, three, four;
  for (int i = 0; i < 32; ++i) two += u8s(u8"é");
  for (int i = 0; i < 21; ++i) three += u8s(u8"北");
  three += "x";
  for (int i = 0; i < 16; ++i) four += u8s(u8"🦊");
  for (const auto* s : {&two, &three, &four}) {
    ASSERT_EQ(s->size(), 64u);
    EXPECT_TRUE(valid_name(*s)) << *s << ": " << why(*s);
    EXPECT_EQ(inspect_name(*s + "x").issue, Issue::TooLong) << *s;
  }
  // 22 Chinese characters are 66 bytes: too long though only 22 characters.
  std::string cjk;
  for (int i = 0; i < 22; ++i) cjk += u8s(u8"北");
  EXPECT_EQ(inspect_name(cjk).issue, Issue::TooLong);
  EXPECT_EQ(inspect_name(std::string(65, 'a')).issue, Issue::TooLong);
  EXPECT_EQ(inspect_name("").issue, Issue::Empty);
}

TEST(Names, RefusesInvalidUtf8) {
  struct Case {
    const char* what;
    std::string name;
    size_t at;
  };
  const Case cases[] = {
      {"Latin-1 byte", "g\xe9n\xe9ral", 1},
      {"lone continuation byte", "a\x80", 1},
      {"truncated two-byte sequence at the end", "ab\xc3", 2},
      {"truncated three-byte sequence", "\xe5\x8c" "x", 0},
      {"truncated four-byte sequence", "x\xf0\x9f\xa6", 1},
      {"overlong '/' (C0 AF)", "a\xc0\xaf", 1},
      {"overlong NUL (C0 80)", "\xc0\x80", 0},
      {"overlong C1 byte", "\xc1\xbf", 0},
      {"overlong three-byte (E0 80 AF)", "\xe0\x80\xaf", 0},
      {"overlong four-byte (F0 80 80 AF)", "\xf0\x80\x80\xaf", 0},
      {"surrogate U+D800 (CESU)", "a\xed\xa0\x80", 1},
      {"surrogate U+DFFF", "\xed\xbf\xbf", 0},
      {"surrogate pair as two sequences", "\xed\xa0\xbd\xed\xb8\x80", 0},
      {"above U+10FFFF (F4 90 80 80)", "\xf4\x90\x80\x80", 0},
      {"F5 lead byte", "\xf5\x80\x80\x80", 0},
      {"FE byte", "ab\xfe", 2},
      {"FF byte", "\xff", 0},
      {"second byte not a continuation", "\xc3(", 0},
      {"third byte not a continuation", "\xe2\x82(", 0},
  };
  for (const auto& c : cases) {
    auto r = inspect_name(c.name);
    EXPECT_EQ(r.issue, Issue::InvalidUtf8) << c.what;
    EXPECT_EQ(r.at, c.at) << c.what;
    EXPECT_EQ(invalid_utf8_at(c.name), c.at) << c.what;
  }
  // The edges that are valid.
  for (const char* ok : {"\xc2\x80x" /* U+0080 is C1: checked below */, "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
                         "\xee\x80\x80", "\xef\xbf\xbd", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_EQ(invalid_utf8_at(ok), std::string_view::npos) << ok;
  }
  EXPECT_TRUE(valid_name("\xdf\xbf"));          // U+07FF
  EXPECT_TRUE(valid_name("\xe0\xa0\x80"));      // U+0800
  EXPECT_TRUE(valid_name("\xed\x9f\xbf"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(valid_name("\xef\xbf\xbd"));      // U+FFFD
  EXPECT_TRUE(valid_name("\xf0\x90\x80\x80"));  // U+10000
  EXPECT_TRUE(valid_name("\xf4\x8f\xbf\xbf"));  // U+10FFFF
}

TEST(Names, RefusesControlCharacters) {
  struct Case {
    std::string name;
    size_t at;
    char32_t cp;
  };
  const Case cases[] = {
      {"a\nb", 1, 0x0a},          {std::string("a\0b", 3), 1, 0x00}, {"\tx", 0, 0x09},
      {"x\r", 1, 0x0d},           {"a\x1f", 1, 0x1f},                 {"a\x7f" "b", 1, 0x7f},
      {u8s(u8"a\u0080b"), 1, 0x80}, {u8s(u8"é\u0085"), 2, 0x85},      {u8s(u8"\u009f"), 0, 0x9f},
      {"line\nbreak", 4, 0x0a},
  };
  for (const auto& c : cases) {
    auto r = inspect_name(c.name);
    EXPECT_EQ(r.issue, Issue::Control) << c.name;
    EXPECT_EQ(r.at, c.at) << c.name;
    EXPECT_EQ(r.code_point, c.cp) << c.name;
  }
  // Not controls: the first character after C1, format characters (ZWJ, RLM).
  EXPECT_TRUE(valid_name(u8s(u8"a\u00a1")));
  EXPECT_TRUE(valid_name(u8s(u8"a\u200db")));
  EXPECT_TRUE(valid_name(u8s(u8"a\u200fb")));
}

TEST(Names, RefusesLeadingAndTrailingWhitespace) {
  for (const std::string& sp : {std::string(" "), u8s(u8"\u00a0"), u8s(u8"\u1680"), u8s(u8"\u2000"), u8s(u8"\u200a"),
                                u8s(u8"\u2028"), u8s(u8"\u2029"), u8s(u8"\u202f"), u8s(u8"\u205f"), u8s(u8"\u3000")}) {
    EXPECT_EQ(inspect_name(sp + "bob").issue, Issue::LeadingSpace) << sp;
    EXPECT_EQ(inspect_name("bob" + sp).issue, Issue::TrailingSpace) << sp;
    EXPECT_EQ(inspect_name("bob" + sp).at, 3u) << sp;
    EXPECT_TRUE(valid_name("bo" + sp + "b")) << sp;
    EXPECT_EQ(inspect_name(sp).issue, Issue::LeadingSpace) << sp;
  }
  // White_Space that is also a control character is reported as the control.
  EXPECT_EQ(inspect_name("bob\n").issue, Issue::Control);
  EXPECT_EQ(inspect_name(u8s(u8"\u0085bob")).issue, Issue::Control);
  // Not White_Space: zero-width space, BOM (format characters).
  EXPECT_TRUE(valid_name(u8s(u8"\u200bbob")));
  EXPECT_TRUE(valid_name(u8s(u8"bob\ufeff")));
}

TEST(Names, ComparedAsBytes) {
  // Case and normalisation forms are distinct names; the rule does not change a name.
  EXPECT_NE(u8s(u8"José"), u8s(u8"josé"));
  EXPECT_NE(u8s(u8"Jos\u00e9"), u8s(u8"Jose\u0301"));
  EXPECT_TRUE(valid_name(u8s(u8"Jos\u00e9")));
  EXPECT_TRUE(valid_name(u8s(u8"Jose\u0301")));
}

TEST(Names, ErrorsQuoteTheNameAsSentAndSayWhatIsWrong) {
  EXPECT_EQ(why(std::string(65, 'a')),
            "invalid room \"" + std::string(65, 'a') + "\": too long: 65 bytes (at most 64 bytes of UTF-8)");
  EXPECT_EQ(why(u8s(u8"g\u00e9n\u00e9ral\n")), u8s(u8"invalid room \"général\\n\": control character U+000A at byte 9"));
  EXPECT_EQ(why("g\xe9n\xe9ral"), "invalid room \"g\\xE9n\\xE9ral\": invalid UTF-8 at byte 1");
  EXPECT_EQ(why(" lobby"), "invalid room \" lobby\": leading whitespace (U+0020)");
  EXPECT_EQ(why(u8s(u8"José\u3000")), u8s(u8"invalid room \"José\u3000\": trailing whitespace (U+3000 at byte 5)"));
  EXPECT_EQ(why(""), "invalid room \"\": empty (a name is 1 to 64 bytes of UTF-8)");
  EXPECT_EQ(why(std::string("a\0b", 3)), "invalid room \"a\\u0000b\": control character U+0000 at byte 1");
  EXPECT_EQ(why(u8s(u8"a\u0085")), "invalid room \"a\\u0085\": control character U+0085 at byte 1");
  auto reserved = check_name("peer_id", "server", true);
  ASSERT_FALSE(reserved);
  EXPECT_EQ(reserved.error(), "peer_id \"server\" is reserved");
  EXPECT_TRUE(check_name("room", "server"));  // only peer ids are reserved
}

TEST(Names, QuoteIsJsonEscapedValidUtf8) {
  EXPECT_EQ(quote_name(u8s(u8"général")), u8s(u8"\"général\""));  // never \u00e9, never '?'
  EXPECT_EQ(quote_name(u8s(u8"🦊")), u8s(u8"\"🦊\""));
  EXPECT_EQ(quote_name("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(quote_name("\b\f\n\r\t\x01\x7f"), "\"\\b\\f\\n\\r\\t\\u0001\\u007f\"");
  EXPECT_EQ(quote_name("\xed\xa0\x80x"), "\"\\xED\\xA0\\x80x\"");  // a surrogate's bytes
  // Long input: the first max_bytes, cut at a character, then "..." outside the quotes.
  EXPECT_EQ(quote_name(std::string(300, 'a')), "\"" + std::string(100, 'a') + "\"...");
  std::string foxes;
  for (int i = 0; i < 30; ++i) foxes += u8s(u8"🦊");  // 120 bytes: 25 foxes fit in 100
  std::string shown;
  for (int i = 0; i < 25; ++i) shown += u8s(u8"🦊");
  EXPECT_EQ(quote_name(foxes), "\"" + shown + "\"...");
  // A quoted name inside a JSON string: the result is valid UTF-8 and dumps strictly.
  for (const std::string& raw : {std::string("\xff\xfe"), std::string("\xc3"), u8s(u8"ok é"), std::string("a\0b", 3)}) {
    const std::string q = quote_name(raw);
    EXPECT_EQ(invalid_utf8_at(q), std::string_view::npos) << q;
    const nlohmann::json body = {{"error", why(raw)}};
    EXPECT_NO_THROW((void)body.dump()) << q;
  }
}

TEST(Names, JsonBodiesCarryUnicodeNames) {
  auto body = [](const std::string& room, const std::string& peer) {
    return nlohmann::json{{"room", room}, {"peer_id", peer}, {"token", "t"}}.dump();
  };
  auto r = parse_request("leave", body(u8s(u8"général"), u8s(u8"José")));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->room, u8s(u8"général"));
  EXPECT_EQ(r->peer_id, u8s(u8"José"));
  // \u escapes in the JSON are the same names.
  r = parse_request("leave", R"({"room":"g\u00e9n\u00e9ral","peer_id":"\ud83e\udd8a","token":"t"})");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->room, u8s(u8"général"));
  EXPECT_EQ(r->peer_id, u8s(u8"🦊"));
  // A bad name: the error quotes it as sent.
  r = parse_request("leave", body(u8s(u8"général"), " José"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), u8s(u8"invalid peer_id \" José\": leading whitespace (U+0020)"));
  r = parse_request("leave", R"({"room":"a\nb","peer_id":"p","token":"t"})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "invalid room \"a\\nb\": control character U+000A at byte 1");
  // A body that is not UTF-8 is not JSON (RFC 8259): the error says where.
  r = parse_request("leave", "{\"room\":\"g\xe9n\",\"peer_id\":\"p\",\"token\":\"t\"}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "body is not valid JSON: invalid UTF-8 at byte 10");
  // An escaped lone surrogate has no UTF-8 form either.
  r = parse_request("leave", R"({"room":"a\ud800","peer_id":"p","token":"t"})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "body is not valid JSON");
}

TEST(Names, DirectMessageTargetsUseTheSameRule) {
  for (const std::string& to : {u8s(u8"José"), u8s(u8"🦊"), u8s(u8"会议室 3"), std::string(64, 'x')}) {
    auto d = client_text_frame(as_bytes("hi"), to);
    auto p = parse_client_frame(as_bytes(d), false);
    ASSERT_TRUE(p) << to;
    EXPECT_EQ(*p->to, to);
    auto b = client_binary_frame(as_bytes("hi"), to);
    p = parse_client_frame(as_bytes(b), true);
    ASSERT_TRUE(p) << to;
    EXPECT_EQ(*p->to, to);
    EXPECT_EQ(as_chars(p->payload), "hi");
  }
  FrameError e{};
  for (const std::string& to : {std::string("g\xe9n"), std::string(" bob"), std::string("bob "), std::string("a\x7f"),
                                std::string(65, 'x'), std::string("\xed\xa0\x80")}) {
    EXPECT_FALSE(parse_client_frame(as_bytes(client_text_frame(as_bytes("hi"), to)), false, &e)) << to;
    EXPECT_EQ(e, FrameError::BadTarget);
    EXPECT_FALSE(parse_client_frame(as_bytes(client_binary_frame(as_bytes("hi"), to)), true, &e)) << to;
    EXPECT_EQ(e, FrameError::BadTarget);
  }
}
