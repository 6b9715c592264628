// Character helpers shared by the lexer, the parser, the functions and time text: keywords, names
// and time formats are ASCII (other bytes are left alone); text is UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace ks::expr {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
    return true;
}

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lower_ascii(c);
    return out;
}

// A UTF-8 continuation byte (10xxxxxx): not the start of a character.
inline bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The bytes of the character at s[i] (as its lead byte says), to quote it whole in a message.
inline std::string_view character_at(std::string_view s, std::size_t i) {
    const auto b = static_cast<unsigned char>(s[i]);
    return s.substr(i, b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1);
}

}  // namespace ks::expr
