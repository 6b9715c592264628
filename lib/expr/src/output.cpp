// Values as JSON and as text, and the wording of runtime errors.
#include "ascii.hpp"
#include "ast.hpp"
#include "time.hpp"

#include "ks/json.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>

namespace ks::expr {

namespace dom = simdjson::dom;

std::size_t format_double(char* out, double d) {
    if (d == 0) d = 0;  // -0.0 is written 0
    return static_cast<std::size_t>(fmt::format_to(out, FMT_COMPILE("{}"), d) - out);
}

void append_minified_element(std::string& out, dom::element e) { json::append_element(out, e); }

namespace {

// Valid UTF-8 as it is; each byte of an invalid sequence becomes U+FFFD.
void append_json_string(std::string& out, std::string_view s) {
    if (json::valid_utf8(s)) {
        json::append_string(out, s);
        return;
    }
    std::string fixed;
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        if (n > 0 && i + n <= s.size() && simdjson::validate_utf8(s.data() + i, n)) {
            fixed.append(s.substr(i, n));
            i += n;
        } else {
            fixed.append("\xEF\xBF\xBD");
            i += 1;
        }
    }
    json::append_string(out, fixed);
}

}  // namespace

void append_json(std::string& out, const value& v) {
    switch (v.type) {
        case kind::null: out.append("null"); return;
        case kind::boolean: out.append(v.boolean ? "true" : "false"); return;
        case kind::integer: {
            const fmt::format_int digits(v.integer);
            out.append(digits.data(), digits.size());
            return;
        }
        case kind::number: {
            if (!std::isfinite(v.number)) {
                out.append("null");
                return;
            }
            char buffer[32];
            out.append(buffer, format_double(buffer, v.number));
            return;
        }
        case kind::string: append_json_string(out, v.string); return;
        case kind::time: {
            char buffer[iso_size];
            out += '"';
            out.append(buffer, format_iso(buffer, v.integer, nullptr));
            out += '"';
            return;
        }
        case kind::list:
            out += '[';
            for (std::size_t i = 0; i < v.list.size(); ++i) {
                if (i > 0) out += ',';
                append_json(out, v.list[i]);
            }
            out += ']';
            return;
        case kind::json: append_minified_element(out, v.json); return;
    }
}

bool append_text(std::string& out, const value& v) {
    switch (v.type) {
        case kind::null: return false;
        case kind::string: out.append(v.string); return true;
        case kind::time: {
            char buffer[iso_size];
            out.append(buffer, format_iso(buffer, v.integer, nullptr));
            return true;
        }
        default: append_json(out, v); return true;
    }
}

bool text_of(frame& f, const value& v, std::string_view& out) {
    switch (v.type) {
        case kind::null: return false;
        case kind::string: out = v.string; return true;
        case kind::boolean: out = v.boolean ? "true" : "false"; return true;
        case kind::integer: {
            const fmt::format_int digits(v.integer);
            out = f.mem.copy({digits.data(), digits.size()});
            return true;
        }
        case kind::number: {
            char* p = f.mem.allocate(32);
            const std::size_t n = std::isfinite(v.number) ? format_double(p, v.number) : 4;
            if (!std::isfinite(v.number)) std::memcpy(p, "null", 4);
            f.mem.shrink_last(p, n);
            out = {p, n};
            return true;
        }
        case kind::time: {
            char* p = f.mem.allocate(iso_size);
            const std::size_t n = format_iso(p, v.integer, nullptr);
            f.mem.shrink_last(p, n);
            out = {p, n};
            return true;
        }
        default:
            f.text.clear();
            append_json(f.text, v);
            out = f.mem.copy(f.text);
            return true;
    }
}

std::string_view kind_name(const value& v) {
    switch (v.type) {
        case kind::null: return "null";
        case kind::boolean: return "a boolean";
        case kind::integer:
        case kind::number: return "a number";
        case kind::string: return "a string";
        case kind::time: return "a time";
        case kind::list: return "a list";
        case kind::json: return v.json.type() == dom::element_type::ARRAY ? "an array" : "an object";
    }
    return "a value";
}

std::string_view kind_plural(const value& v) {
    switch (v.type) {
        case kind::null: return "values";
        case kind::boolean: return "booleans";
        case kind::integer:
        case kind::number: return "numbers";
        case kind::string: return "strings";
        case kind::time: return "times";
        case kind::list: return "lists";
        case kind::json: return v.json.type() == dom::element_type::ARRAY ? "arrays" : "objects";
    }
    return "values";
}

std::string short_text(const value& v) {
    constexpr std::size_t longest = 40;
    std::string text;
    if (v.type == kind::string && v.string.size() > longest) {
        std::size_t cut = longest;
        while (cut > 0 && continuation(v.string[cut])) --cut;  // whole characters
        append_json(text, value::of_string(v.string.substr(0, cut)));
        text.insert(text.size() - 1, "...");
    } else {
        append_json(text, v);
        if (text.size() > longest + 2) {
            std::size_t cut = longest;
            while (cut > 0 && continuation(text[cut])) --cut;
            text.resize(cut);
            text += "...";
        }
    }
    return text;
}

std::string describe_value(const value& v) {
    if (v.is_null()) return "null";
    return fmt::format("{} ({})", kind_name(v), short_text(v));
}

std::string operand_name(const frame& f, const node& operand, std::string_view fallback) {
    if (operand.is_field_path()) return std::string(source(f, operand));
    return std::string(fallback);
}

bool type_error(frame& f, std::string_view what, std::string_view need, std::string_view who, const value& v) {
    *f.error = fmt::format("{} needs {}, but {} is {} in: {}", what, need, who, describe_value(v), f.expression);
    return false;
}

bool runtime_error(frame& f, std::string_view message) {
    *f.error = fmt::format("{} in: {}", message, f.expression);
    return false;
}

}  // namespace ks::expr
