// Splits an expression into tokens (see docs/expressions.md, "Lexical structure").
#include "lexer.hpp"

#include "ascii.hpp"
#include "ast.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace ks::expr {

namespace {

bool is_ident_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
tok word_type(std::string_view w) {
    struct keyword {
        std::string_view name;
        tok type;
    };
    static constexpr keyword keywords[] = {
        {"and", tok::kw_and},   {"or", tok::kw_or},     {"not", tok::kw_not},   {"in", tok::kw_in},
        {"is", tok::kw_is},     {"case", tok::kw_case}, {"when", tok::kw_when}, {"then", tok::kw_then},
        {"else", tok::kw_else}, {"end", tok::kw_end},
    };
    for (const keyword& k : keywords)
        if (iequal(w, k.name)) return k.type;
    if (w == "true") return tok::kw_true;
    if (w == "false") return tok::kw_false;
    if (w == "null") return tok::kw_null;
    return tok::identifier;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

bool read_hex4(std::string_view s, std::size_t at, std::uint32_t& v) {
    if (at + 4 > s.size()) return false;
    v = 0;
    for (std::size_t k = at; k < at + 4; ++k) {
        const char c = s[k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
        else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
        else return false;
    }
    return true;
}

class lexer {
public:
    explicit lexer(std::string_view text) : s_(text) {}

    std::vector<token> run() {
        std::vector<token> out;
        for (;;) {
            while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
            token t;
            t.begin = static_cast<std::uint32_t>(i_);
            if (i_ >= s_.size()) {
                t.type = tok::end;
                t.end = t.begin;
                out.push_back(std::move(t));
                return out;
            }
            read(t);
            t.end = static_cast<std::uint32_t>(i_);
            out.push_back(std::move(t));
        }
    }

private:
    void read(token& t) {
        const char c = s_[i_];
        if (is_ident_start(c)) {
            const std::size_t start = i_;
            while (i_ < s_.size() && is_ident_char(s_[i_])) ++i_;
            t.text = std::string(s_.substr(start, i_ - start));
            t.type = word_type(t.text);
            return;
        }
        if (is_digit(c)) return read_number(t);
        switch (c) {
            case '"':
            case '\'': return read_string(t, c);
            case '`': return read_quoted_name(t);
            case '@': {
                const std::size_t start = ++i_;
                while (i_ < s_.size() && is_ident_char(s_[i_])) ++i_;
                if (i_ == start) fail_syntax(s_, start - 1, "expected a metadata name after '@' (@key, @topic, @partition, @offset, @timestamp, @headers.NAME)");
                t.type = tok::meta;
                t.text = std::string(s_.substr(start, i_ - start));
                return;
            }
            case '+': return single(t, tok::plus);
            case '-': return single(t, tok::minus);
            case '*': return single(t, tok::star);
            case '/': return single(t, tok::slash);
            case '%': return single(t, tok::percent);
            case '^': return single(t, tok::caret);
            case '(': return single(t, tok::left_paren);
            case ')': return single(t, tok::right_paren);
            case '[': return single(t, tok::left_bracket);
            case ']': return single(t, tok::right_bracket);
            case ',': return single(t, tok::comma);
            case '.': return single(t, tok::dot);
            case '=':
                t.type = tok::equal;
                i_ += next_is('=') ? 2 : 1;
                return;
            case '!':
                if (next_is('=')) {
                    t.type = tok::not_equal;
                    i_ += 2;
                    return;
                }
                break;
            case '<':
                if (next_is('=')) t.type = tok::less_equal, i_ += 2;
                else if (next_is('>')) t.type = tok::not_equal, i_ += 2;
                else t.type = tok::less, i_ += 1;
                return;
            case '>':
                if (next_is('=')) t.type = tok::greater_equal, i_ += 2;
                else t.type = tok::greater, i_ += 1;
                return;
            default: break;
        }
        fail_syntax(s_, i_, "unexpected character '" + std::string(character_at(s_, i_)) + "'");
    }

    bool next_is(char c) const { return i_ + 1 < s_.size() && s_[i_ + 1] == c; }
    void single(token& t, tok type) {
        t.type = type;
        ++i_;
    }

    void read_number(token& t) {
        const std::size_t start = i_;
        bool is_float = false;
        while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
        if (i_ < s_.size() && s_[i_] == '.' && i_ + 1 < s_.size() && is_digit(s_[i_ + 1])) {
            is_float = true;
            ++i_;
            while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
        } else if (i_ < s_.size() && s_[i_] == '.' && !(i_ + 1 < s_.size() && is_ident_start(s_[i_ + 1]))) {
            ++i_;
            bad_number(start);
        }
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
            is_float = true;
            ++i_;
            if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
            if (i_ >= s_.size() || !is_digit(s_[i_])) bad_number(start);
            while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
        }
        if (i_ < s_.size() && is_ident_char(s_[i_])) bad_number(start);
        const std::string_view digits = s_.substr(start, i_ - start);
        if (!is_float) {
            auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), t.integer);
            if (ec == std::errc() && end == digits.data() + digits.size()) {
                t.type = tok::integer;
                return;
            }
            t.integer_overflow = true;
        }
        const std::string copy(digits);
        t.number = std::strtod(copy.c_str(), nullptr);
        if (!std::isfinite(t.number)) fail_syntax(s_, start, "number out of range '" + copy + "'");
        t.type = tok::number;
    }

    [[noreturn]] void bad_number(std::size_t start) {
        while (i_ < s_.size() && (is_ident_char(s_[i_]) || s_[i_] == '.')) ++i_;
        fail_syntax(s_, start, "bad number '" + std::string(s_.substr(start, i_ - start)) + "'");
    }

    void read_string(token& t, char quote) {
        const std::size_t start = i_++;
        t.type = tok::string;
        for (;;) {
            if (i_ >= s_.size()) fail_syntax(s_, start, "unterminated string");
            const char c = s_[i_];
            if (c == quote) {
                ++i_;
                return;
            }
            if (c != '\\') {
                t.text += c;
                ++i_;
                continue;
            }
            const std::size_t escape = i_;
            if (i_ + 1 >= s_.size()) fail_syntax(s_, start, "unterminated string");
            const char e = s_[i_ + 1];
            i_ += 2;
            switch (e) {
                case '"': t.text += '"'; break;
                case '\'': t.text += '\''; break;
                case '\\': t.text += '\\'; break;
                case '/': t.text += '/'; break;
                case 'b': t.text += '\b'; break;
                case 'f': t.text += '\f'; break;
                case 'n': t.text += '\n'; break;
                case 'r': t.text += '\r'; break;
                case 't': t.text += '\t'; break;
                case 'u': {
                    std::uint32_t cp = 0;
                    if (!read_hex4(s_, i_, cp)) fail_syntax(s_, escape, "bad escape: \\u needs four hex digits");
                    i_ += 4;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) fail_syntax(s_, escape, "bad escape: a lone low surrogate \\u" + std::string(s_.substr(escape + 2, 4)));
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        std::uint32_t low = 0;
                        if (i_ + 1 >= s_.size() || s_[i_] != '\\' || s_[i_ + 1] != 'u' || !read_hex4(s_, i_ + 2, low) || low < 0xDC00 ||
                            low > 0xDFFF)
                            fail_syntax(s_, escape, "bad escape: a high surrogate \\u" + std::string(s_.substr(escape + 2, 4)) + " without its low half");
                        i_ += 6;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    }
                    append_utf8(t.text, cp);
                    break;
                }
                default: fail_syntax(s_, escape, "bad escape '\\" + std::string(character_at(s_, escape + 1)) + "' in string");
            }
        }
    }

    void read_quoted_name(token& t) {
        const std::size_t start = i_++;
        t.type = tok::quoted_name;
        for (;;) {
            if (i_ >= s_.size()) fail_syntax(s_, start, "unterminated `name`");
            if (s_[i_] == '`') {
                if (i_ + 1 < s_.size() && s_[i_ + 1] == '`') {
                    t.text += '`';
                    i_ += 2;
                    continue;
                }
                ++i_;
                return;
            }
            t.text += s_[i_++];
        }
    }

    std::string_view s_;
    std::size_t i_ = 0;
};

}  // namespace

std::vector<token> tokenize(std::string_view text) { return lexer(text).run(); }

bool is_word(tok t) {
    return t == tok::identifier || (t >= tok::kw_and && t <= tok::kw_null);
}

}  // namespace ks::expr
