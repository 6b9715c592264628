// JSON string writing for the encoders of this part (csv.cpp, json.cpp): the word-at-a-time copy
// tricks that keep them fast, private to lib/formats.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace ks::json {

// The most bytes write_string can write for a string of n bytes (quotes, every byte as \u00XX).
[[nodiscard]] constexpr size_t max_string_size(size_t n) { return 2 + 6 * n; }

// Whether any of 8 bytes is < 0x20, '"' or '\\' (a borrow may flag a byte above a real one, never
// a word without one).
[[nodiscard]] inline bool word_needs_escape(std::uint64_t w) {
    constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    const auto zero_byte = [&](std::uint64_t v) { return (v - ones) & ~v & highs; };
    const std::uint64_t control = (w - ones * 0x20) & ~w & highs;
    return (control | zero_byte(w ^ (ones * '"')) | zero_byte(w ^ (ones * '\\'))) != 0;
}

// Copies n bytes, 4 <= n <= 16, as two overlapping words (both loaded before either is stored):
// a few instructions inline instead of a call to memcpy.
inline void copy_4_to_16(char* to, const char* from, size_t n) {
    if (n >= 8) {
        std::uint64_t head, tail;
        std::memcpy(&head, from, 8);
        std::memcpy(&tail, from + n - 8, 8);
        std::memcpy(to, &head, 8);
        std::memcpy(to + n - 8, &tail, 8);
    } else {
        std::uint32_t head, tail;
        std::memcpy(&head, from, 4);
        std::memcpy(&tail, from + n - 4, 4);
        std::memcpy(to, &head, 4);
        std::memcpy(to + n - 4, &tail, 4);
    }
}

// Whether any of n bytes, 4 <= n <= 16, needs an escape in a JSON string (two overlapping words).
[[nodiscard]] inline bool short_needs_escape(const char* s, size_t n) {
    if (n >= 8) {
        std::uint64_t head, tail;
        std::memcpy(&head, s, 8);
        std::memcpy(&tail, s + n - 8, 8);
        return word_needs_escape(head) || word_needs_escape(tail);
    }
    std::uint32_t head, tail;
    std::memcpy(&head, s, 4);
    std::memcpy(&tail, s + n - 4, 4);
    return word_needs_escape(head | std::uint64_t{tail} << 32);
}

char* write_string_any(char* p, std::string_view s);  // write_string for any length
// append_string into memory with room for max_string_size(s.size()) bytes; returns the end.
// Strings of 4 to 16 bytes without an escape (most CSV text) are checked and copied inline.
inline char* write_string(char* p, std::string_view s) {
    const size_t n = s.size();
    if (n >= 4 && n <= 16 && !short_needs_escape(s.data(), n)) {
        p[0] = '"';
        copy_4_to_16(p + 1, s.data(), n);
        p[n + 1] = '"';
        return p + n + 2;
    }
    return write_string_any(p, s);
}

}  // namespace ks::json
