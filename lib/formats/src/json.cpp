#include "ks/json.hpp"

#include "json_write.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace ks::json {

namespace {
constexpr char hex_digits[] = "0123456789abcdef";

inline bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

char* write_escape(char* p, unsigned char c) {
    *p++ = '\\';
    switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        default:
            std::memcpy(p, "u00", 3);
            p[3] = hex_digits[c >> 4];
            p[4] = hex_digits[c & 0xf];
            p += 5;
    }
    return p;
}
}  // namespace

char* write_string_any(char* p, std::string_view s) {
    *p++ = '"';
    const char* in = s.data();
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        for (; i + 8 <= n; i += 8, p += 8) {  // clean words are copied whole
            std::uint64_t w;
            std::memcpy(&w, in + i, 8);
            if (word_needs_escape(w)) break;
            std::memcpy(p, &w, 8);
        }
        for (const size_t stop = std::min(n, i + 8); i < stop; ++i) {  // a word with an escape, or the tail
            const auto c = static_cast<unsigned char>(in[i]);
            if (needs_escape(c)) p = write_escape(p, c);
            else *p++ = static_cast<char>(c);
        }
    }
    *p++ = '"';
    return p;
}

void append_string(std::string& out, std::string_view s) {
    const size_t at = out.size();
    out.resize(at + max_string_size(s.size()));
    out.resize(static_cast<size_t>(write_string(out.data() + at, s) - out.data()));
}

void append_base64(std::string& out, std::string_view bytes) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    const auto byte = [&](size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[k])); };
    for (; i + 3 <= bytes.size(); i += 3) {
        unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (size_t rest = bytes.size() - i; rest > 0) {
        unsigned v = byte(i) << 16;
        if (rest == 2) v |= byte(i + 1) << 8;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
}

bool is_number(std::string_view s) {
    size_t i = 0, n = s.size();
    if (i < n && s[i] == '-') ++i;
    if (i >= n) return false;
    if (s[i] == '0') {
        ++i;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        ++i;
        size_t digits = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
        if (i == digits) return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
        size_t digits = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
        if (i == digits) return false;
    }
    return i == n;
}

bool is_safe_integer(std::string_view s) {
    std::string_view digits = s;
    if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
    if (digits.empty() || digits.size() > 16) return false;
    if (digits.size() > 1 && digits.front() == '0') return false;
    for (char c : digits)
        if (c < '0' || c > '9') return false;
    if (digits.size() < 16) return true;
    return digits <= std::string_view("9007199254740992");  // 2^53, same width: lexical order is numeric
}

simdjson::padded_string_view padded_buffer::load(std::string_view bytes) {
    const size_t need = bytes.size() + simdjson::SIMDJSON_PADDING;
    if (storage_.size() < need) storage_.resize(need);
    std::memcpy(storage_.data(), bytes.data(), bytes.size());
    std::memset(storage_.data() + bytes.size(), 0, simdjson::SIMDJSON_PADDING);
    return simdjson::padded_string_view(storage_.data(), bytes.size(), storage_.size());
}

bool append_minified(std::string& out, std::string_view text) {
    const size_t start = out.size();
    out.resize(start + text.size() + simdjson::SIMDJSON_PADDING);  // minify may write ahead
    size_t written = 0;
    if (simdjson::minify(text.data(), text.size(), out.data() + start, written) != simdjson::SUCCESS) {
        out.resize(start);
        return false;
    }
    out.resize(start + written);
    return true;
}

void append_element(std::string& out, simdjson::dom::element e) {
    using type = simdjson::dom::element_type;
    char digits[32];
    switch (e.type()) {
        case type::OBJECT: {
            out.push_back('{');
            bool first = true;
            simdjson::dom::object object;
            if (e.get_object().get(object) != simdjson::SUCCESS) return;  // never: the type said so
            for (auto field : object) {
                if (!first) out.push_back(',');
                first = false;
                append_string(out, field.key);
                out.push_back(':');
                append_element(out, field.value);
            }
            out.push_back('}');
            return;
        }
        case type::ARRAY: {
            out.push_back('[');
            bool first = true;
            simdjson::dom::array array;
            if (e.get_array().get(array) != simdjson::SUCCESS) return;
            for (auto item : array) {
                if (!first) out.push_back(',');
                first = false;
                append_element(out, item);
            }
            out.push_back(']');
            return;
        }
        case type::STRING: append_string(out, e.get_string().value_unsafe()); return;
        case type::INT64:
            out.append(digits, fmt::format_to(digits, FMT_COMPILE("{}"), e.get_int64().value_unsafe()));
            return;
        case type::UINT64:
            out.append(digits, fmt::format_to(digits, FMT_COMPILE("{}"), e.get_uint64().value_unsafe()));
            return;
        case type::DOUBLE: {
            double d = e.get_double().value_unsafe();
            if (d == 0) d = 0;  // -0.0 is written 0
            char* end = fmt::format_to(digits, FMT_COMPILE("{}"), d);
            out.append(digits, end);
            // A double stays a double, as simdjson writes it: 1.0, not 1.
            if (std::none_of(static_cast<char*>(digits), end, [](char c) { return c == '.' || c == 'e' || c == 'n'; })) out.append(".0");
            return;
        }
        case type::BOOL: out.append(e.get_bool().value_unsafe() ? "true" : "false"); return;
        case type::NULL_VALUE: out.append("null"); return;
    }
}

}  // namespace ks::json
