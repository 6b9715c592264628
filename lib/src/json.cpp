#include "ks/json.hpp"

#include <cstring>

namespace ks::json {

namespace {
constexpr char hex_digits[] = "0123456789abcdef";

inline bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

void append_escape(std::string& out, unsigned char c) {
    switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            out += "\\u00";
            out += hex_digits[c >> 4];
            out += hex_digits[c & 0xf];
    }
}
}  // namespace

void append_string(std::string& out, std::string_view s) {
    out.push_back('"');
    const char* p = s.data();
    const char* end = p + s.size();
    const char* run = p;
    for (; p != end; ++p) {
        auto c = static_cast<unsigned char>(*p);
        if (needs_escape(c)) {
            out.append(run, static_cast<size_t>(p - run));
            append_escape(out, c);
            run = p + 1;
        }
    }
    out.append(run, static_cast<size_t>(end - run));
    out.push_back('"');
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

}  // namespace ks::json
