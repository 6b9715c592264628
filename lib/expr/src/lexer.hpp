// Tokens of the expression language.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ks::expr {

enum class tok : std::uint8_t {
    end,
    identifier, quoted_name, string, integer, number, meta,
    kw_and, kw_or, kw_not, kw_in, kw_is, kw_case, kw_when, kw_then, kw_else, kw_end,
    kw_true, kw_false, kw_null,
    plus, minus, star, slash, percent, caret,
    equal, not_equal, less, less_equal, greater, greater_equal,
    left_paren, right_paren, left_bracket, right_bracket, comma, dot,
};

struct token {
    tok type = tok::end;
    std::uint32_t begin = 0, end = 0;  // bytes of the expression
    std::string text;                  // identifier, quoted name, string (unescaped), meta name
    std::int64_t integer = 0;
    double number = 0;
    bool integer_overflow = false;     // an integer literal beyond int64 (read as a float)
};

// The tokens of `text`, ending with tok::end. Throws syntax_error.
std::vector<token> tokenize(std::string_view text);

// True for tokens that can be a field name after '.' (identifiers and keywords).
bool is_word(tok t);

}  // namespace ks::expr
