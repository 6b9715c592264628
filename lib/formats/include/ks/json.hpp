// JSON out (escaping into a reused std::string) and in (simdjson through one reused padded buffer).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ks::json {

// Appends s as a JSON string literal (quotes included). Bytes >= 0x80 pass through unchanged:
// callers validate UTF-8 where the input may not be (see valid_utf8).
void append_string(std::string& out, std::string_view s);

// Appends bytes as base64 (RFC 4648, padded), for bytes that are not valid UTF-8.
void append_base64(std::string& out, std::string_view bytes);

// ASCII is checked inline, eight bytes a step: on short records simdjson's dispatch costs more
// than the check.
[[nodiscard]] inline bool valid_utf8(std::string_view s) {
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t word;
        std::memcpy(&word, s.data() + i, 8);
        if (word & 0x8080808080808080ULL) return simdjson::validate_utf8(s.data(), s.size());
    }
    for (; i < s.size(); ++i)
        if (static_cast<unsigned char>(s[i]) >= 0x80) return simdjson::validate_utf8(s.data(), s.size());
    return true;
}

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
[[nodiscard]] bool is_number(std::string_view s);
// The integer subset of is_number, and only when the value is exact in a double (|v| <= 2^53),
// so that every JSON reader gets the same number back.
[[nodiscard]] bool is_safe_integer(std::string_view s);

// Copies unpadded bytes (a Kafka payload, a line) into one reused buffer with simdjson's padding.
class padded_buffer {
public:
    simdjson::padded_string_view load(std::string_view bytes);

private:
    std::string storage_;
};

// Appends a parsed value as compact JSON: strings escaped as append_string does, numbers in their
// shortest exact form (integers as integers, doubles with a point or an exponent: 1.0). Faster than simdjson's own writer (no byte-at-a-time
// buffer), into the caller's reused string.
void append_element(std::string& out, simdjson::dom::element e);

// Appends the compact form of one JSON document (whitespace outside strings removed).
// The text must already have been parsed as valid JSON: minifying does not validate.
// Returns false (out unchanged) only when it cannot be minified (an unterminated string).
bool append_minified(std::string& out, std::string_view text);

}  // namespace ks::json
