// ks::json: string escaping, the number grammar, base64, the padded buffer for simdjson, minify.
#include "ks/json.hpp"
#include "json_write.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

namespace {

std::string quoted(std::string_view s) {
    std::string out;
    ks::json::append_string(out, s);
    return out;
}

std::string base64(std::string_view s) {
    std::string out;
    ks::json::append_base64(out, s);
    return out;
}

}  // namespace

TEST_CASE("json append_string: quotes, backslashes and control characters are escaped", "[json]") {
    CHECK(quoted("") == R"("")");
    CHECK(quoted("plain text / slash") == R"("plain text / slash")");
    CHECK(quoted("say \"hi\"") == R"("say \"hi\"")");
    CHECK(quoted("C:\\dir\\") == R"("C:\\dir\\")");
    CHECK(quoted("a\nb\tc\rd") == R"("a\nb\tc\rd")");
    CHECK(quoted("\b\f") == R"("\b\f")");
    CHECK(quoted(std::string_view("\x00\x01\x1f", 3)) == R"("\u0000\u0001\u001f")");
    CHECK(quoted("\x7f") == "\"\x7f\"");  // DEL needs no escape in JSON
}

TEST_CASE("json append_string: UTF-8 and other high bytes pass through untouched", "[json]") {
    CHECK(quoted("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\xB2") == "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\xB2\"");
    CHECK(quoted("\xff\xfe") == "\"\xff\xfe\"");
}

TEST_CASE("json append_string: every byte value at every place in a word, against a byte-by-byte escaper", "[json]") {
    // write_string copies clean 8-byte words whole (and strings of 4 to 16 bytes as two overlapping
    // words); a byte to escape in any position of a word,
    // next to high bytes or another escape, must come out the same as escaping byte by byte.
    const auto reference = [](std::string_view s) {
        std::string out = "\"";
        for (unsigned char c : s) {
            if (c == '"') out += "\\\"";
            else if (c == '\\') out += "\\\\";
            else if (c == '\n') out += "\\n";
            else if (c == '\r') out += "\\r";
            else if (c == '\t') out += "\\t";
            else if (c == '\b') out += "\\b";
            else if (c == '\f') out += "\\f";
            else if (c < 0x20) {
                out += "\\u00";
                out += "0123456789abcdef"[c >> 4];
                out += "0123456789abcdef"[c & 0xf];
            } else out += static_cast<char>(c);
        }
        return out + "\"";
    };
    for (int c = 0; c < 256; ++c) {
        // Every length up to 20 (the two-word paths of 4-7 and 8-16 bytes, their edges), then longer.
        for (size_t length : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 30, 64}) {
            for (size_t at = 0; at < length; ++at) {
                std::string s(length, 'a');
                s[at] = static_cast<char>(c);
                if (at + 1 < length) s[at + 1] = static_cast<char>(0xC3);  // a high byte beside it
                REQUIRE(::quoted(s) == reference(s));
            }
        }
    }
    const std::string all_escapes(40, '\x01');
    CHECK(::quoted(all_escapes).size() == ks::json::max_string_size(all_escapes.size()));
    CHECK(::quoted(all_escapes) == reference(all_escapes));
}

TEST_CASE("json append_string appends to what the buffer holds", "[json]") {
    std::string out = "{\"k\":";
    ks::json::append_string(out, "v");
    CHECK(out == R"({"k":"v")");
}

TEST_CASE("json is_number: the RFC 8259 number grammar", "[json]") {
    for (std::string_view yes : {"0", "-0", "7", "-12", "0.5", "-0.0", "1.50", "1e5", "1E+5", "2.5e-3", "1e999",
                                 "123456789012345678901234567890"})
        CHECK(ks::json::is_number(yes));
    for (std::string_view no : {"", "-", "+1", "01", "-01", "1.", ".5", "1e", "1e+", "1.e5", "0x10", " 1", "1 ",
                                "--1", "1.5.5", "NaN", "Infinity", "1,5", "1_000"})
        CHECK_FALSE(ks::json::is_number(no));
}

TEST_CASE("json is_safe_integer: integers exact in a double (|v| <= 2^53)", "[json]") {
    for (std::string_view yes : {"0", "-0", "1", "-1", "999999999999999", "9007199254740991", "9007199254740992",
                                 "-9007199254740992"})
        CHECK(ks::json::is_safe_integer(yes));
    for (std::string_view no : {"", "-", "+1", "01", "00", "1.0", "1e3", "9007199254740993", "-9007199254740993",
                                "9999999999999999", "10000000000000000", "12345678901234567890", " 1", "1a"})
        CHECK_FALSE(ks::json::is_safe_integer(no));
}

TEST_CASE("json append_base64: RFC 4648 test vectors", "[json]") {
    CHECK(base64("") == "");
    CHECK(base64("f") == "Zg==");
    CHECK(base64("fo") == "Zm8=");
    CHECK(base64("foo") == "Zm9v");
    CHECK(base64("foob") == "Zm9vYg==");
    CHECK(base64("fooba") == "Zm9vYmE=");
    CHECK(base64("foobar") == "Zm9vYmFy");
}

TEST_CASE("json append_base64: high bytes and NUL use the whole alphabet", "[json]") {
    CHECK(base64("\xff\xfe") == "//4=");
    CHECK(base64(std::string_view("\xfb\xff\x00", 3)) == "+/8A");
    CHECK(base64(std::string_view("\x00", 1)) == "AA==");
}

TEST_CASE("json valid_utf8", "[json]") {
    CHECK(ks::json::valid_utf8("caf\xC3\xA9"));
    CHECK(ks::json::valid_utf8(""));
    CHECK_FALSE(ks::json::valid_utf8("\xff"));
    CHECK_FALSE(ks::json::valid_utf8("caf\xC3"));  // truncated sequence
}

TEST_CASE("json padded_buffer: simdjson parses a view of unpadded bytes, buffer reused", "[json]") {
    // The document is a prefix of a larger string: simdjson must not see the bytes after it.
    const std::string backing = R"({"a":1,"b":"x"}{"junk":)";
    const std::string_view doc = std::string_view(backing).substr(0, 15);
    ks::json::padded_buffer buffer;
    simdjson::dom::parser parser;

    simdjson::dom::element e;
    REQUIRE(parser.parse(buffer.load(doc)).get(e) == simdjson::SUCCESS);
    int64_t a = 0;
    std::string_view b;
    REQUIRE(e["a"].get(a) == simdjson::SUCCESS);
    REQUIRE(e["b"].get(b) == simdjson::SUCCESS);
    CHECK(a == 1);
    CHECK(b == "x");

    auto padded = buffer.load("[2]");
    CHECK(padded.length() == 3);
    CHECK(padded.padding() >= simdjson::SIMDJSON_PADDING);
    REQUIRE(parser.parse(padded).get(e) == simdjson::SUCCESS);
    CHECK(simdjson::minify(e) == "[2]");

    CHECK(parser.parse(buffer.load(R"({"a":)")).error() != simdjson::SUCCESS);
}

TEST_CASE("json append_minified: pretty JSON becomes compact, strings keep their spaces", "[json]") {
    std::string out = "> ";
    REQUIRE(ks::json::append_minified(out, "{\n  \"a\" : [1, 2.50,\r\n\ttrue],\n  \"b c\": \"x  y\\n\" }\n"));
    CHECK(out == R"(> {"a":[1,2.50,true],"b c":"x  y\n"})");
}

TEST_CASE("json append_minified: an unterminated string fails and leaves the buffer as it was", "[json]") {
    std::string out = "kept";
    CHECK_FALSE(ks::json::append_minified(out, "{\"a\": \"open"));
    CHECK(out == "kept");
}

TEST_CASE("json append_element: a parsed value back to compact JSON", "[json]") {
    simdjson::dom::parser parser;
    const auto back = [&](const std::string& text) {
        simdjson::dom::element e;
        REQUIRE(parser.parse(text).get(e) == simdjson::SUCCESS);
        std::string out = "prefix:";
        ks::json::append_element(out, e);
        return out.substr(7);
    };
    CHECK(back(R"( { "a" : [ 1 , -2 , 2.5 , "x\ty\"\\\u0001é" , { "b" : null } ] , "c" : true , "d" : false } )") ==
          R"({"a":[1,-2,2.5,"x\ty\"\\\u0001é",{"b":null}],"c":true,"d":false})");
    CHECK(back("1.0") == "1.0");  // a double stays a double
    CHECK(back("-0.0") == "0.0");
    CHECK(back("1e300") == "1e+300");
    CHECK(back("0.1") == "0.1");
    CHECK(back("18446744073709551615") == "18446744073709551615");
    CHECK(back("-9223372036854775808") == "-9223372036854775808");
    CHECK(back("[]") == "[]");
    CHECK(back("{}") == "{}");
    CHECK(back(R"("\ud83d\ude00")") == "\"\xF0\x9F\x98\x80\"");
    // What it writes parses back to the same value.
    const std::string text = R"({"k":[0.30000000000000004,123456789012345678,"\n"]})";
    CHECK(back(back(text)) == back(text));
}
