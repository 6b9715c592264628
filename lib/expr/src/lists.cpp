// Lists of expressions in options: "a=x+1, b, `c d`=upper(e)" (see expr.hpp).
#include "ks/expr.hpp"

#include "ks/error.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>

namespace ks::expr {

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> items;
    int depth = 0;
    char quote = 0;
    size_t start = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quote) {
            if (c == '\\' && quote != '`') ++i;
            else if (c == quote) quote = 0;
            continue;
        }
        if (c == '"' || c == '\'' || c == '`') quote = c;
        else if (c == '(' || c == '[' || c == '{') ++depth;
        else if (c == ')' || c == ']' || c == '}') --depth;
        else if (c == ',' && depth == 0) {
            items.emplace_back(text.substr(start, i - start));
            start = i + 1;
        }
    }
    items.emplace_back(text.substr(start));
    for (auto& item : items) {
        const auto b = item.find_first_not_of(" \t\n");
        const auto e = item.find_last_not_of(" \t\n");
        item = b == std::string::npos ? std::string() : item.substr(b, e - b + 1);
    }
    return items;
}

namespace {

bool is_identifier(std::string_view s) {
    if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// A leading NAME or `NAME` at the start of text; its length in `used` (0 when there is none).
std::string leading_name(std::string_view text, size_t& used) {
    used = 0;
    if (!text.empty() && text[0] == '`') {
        std::string name;
        for (size_t i = 1; i < text.size(); ++i) {
            if (text[i] == '`') {
                if (i + 1 < text.size() && text[i + 1] == '`') {
                    name.push_back('`');
                    ++i;
                    continue;
                }
                used = i + 1;
                return name;
            }
            name.push_back(text[i]);
        }
        return {};
    }
    size_t i = 0;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) ++i;
    if (!is_identifier(text.substr(0, i))) return {};
    used = i;
    return std::string(text.substr(0, i));
}

}  // namespace

program compile_option(std::string_view text, std::string_view option) {
    try {
        return program::compile(text);
    } catch (const syntax_error& e) {
        throw ks::usage_error(fmt::format("{}: {}", option, e.display()));
    }
}

std::pair<std::string, std::string> split_named(std::string_view item, std::string_view option) {
    if (item.empty()) throw ks::usage_error(fmt::format("{}: an empty item", option));
    size_t used = 0;
    std::string name = leading_name(item, used);
    if (used > 0) {
        size_t i = used;
        while (i < item.size() && (item[i] == ' ' || item[i] == '\t')) ++i;
        // NAME = EXPR (a single '=': '==' would be a comparison)
        if (i < item.size() && item[i] == '=' && (i + 1 >= item.size() || item[i + 1] != '=')) {
            std::string_view rest = item.substr(i + 1);
            while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
            if (rest.empty()) throw ks::usage_error(fmt::format("{}: '{}' has no expression after '='", option, item));
            return {name, std::string(rest)};
        }
    }
    // No name: a field path names itself by its last step.
    const auto p = compile_option(item, option);
    if (auto path = p.field_path(); path && !path->empty()) {
        for (auto it = path->rbegin(); it != path->rend(); ++it)
            if (it->index < 0) return {it->name, std::string(item)};
    }
    throw ks::usage_error(fmt::format("{}: '{}' needs a name: write NAME=EXPR", option, item));
}

}  // namespace ks::expr
