// The functions of the language (see docs/expressions.md, "Functions").
#include "ascii.hpp"
#include "ast.hpp"
#include "time.hpp"

#include "ks/json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

namespace ks::expr {

namespace dom = simdjson::dom;

namespace {

constexpr double two_63 = 9223372036854775808.0;

std::string arg_name(const frame& f, const node& call, std::size_t i) {
    return operand_name(f, *call.kids[i], fmt::format("argument {}", i + 1));
}

// "{function} needs {what}, but {argument} is ..."
bool need(frame& f, const node& call, std::size_t i, std::string_view what, const value& v) {
    return type_error(f, call.fn->name, what, arg_name(f, call, i), v);
}

bool ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::size_t code_points(std::string_view s) {
    std::size_t n = 0;
    for (char c : s) n += !continuation(c);
    return n;
}

// The byte offset of code point k (k <= code_points(s)).
std::size_t byte_of(std::string_view s, std::size_t k) {
    std::size_t i = 0;
    for (; i < s.size(); ++i) {
        if (!continuation(s[i])) {
            if (k == 0) return i;
            --k;
        }
    }
    return i;
}

value integer_or_number(double d) {
    if (d >= -two_63 && d < two_63) return value::of_int(static_cast<std::int64_t>(d));
    return number_or_null(d);
}

// ---- math ----

bool fn_abs(const node& call, frame& f, std::span<const value> a, value& out) {
    const value& x = a[0];
    if (x.type == kind::integer) {
        out = x.integer == std::numeric_limits<std::int64_t>::min() ? value::of_number(two_63)
                                                                     : value::of_int(x.integer < 0 ? -x.integer : x.integer);
    } else if (x.type == kind::number) {
        out = value::of_number(std::fabs(x.number));
    } else {
        return need(f, call, 0, "a number", x);
    }
    return true;
}

// Rounds the shortest decimal text of x (what the user sees) half away from zero at `digits`
// places after the point: round(2.675, 2) = 2.68, although the double 2.675 is a little less.
double round_decimal(double x, std::int64_t digits) {
    if (digits > 400) return x;
    const bool negative = x < 0;
    const double magnitude = std::fabs(x);
    // Fast path: away from a tie, rounding x * 10^digits gives the same digits as rounding the
    // text, and q / 10^digits is then the double nearest to the rounded decimal, as parsing it.
    static constexpr double powers[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (digits >= 0 && digits <= 22) {
        const double p = powers[digits];
        const double y = magnitude * p;
        if (y < 4.5e15) {
            const double whole = std::floor(y);
            const double fraction = y - whole;
            const double margin = 8 * (std::nextafter(y, HUGE_VAL) - y);
            if (std::fabs(fraction - 0.5) > margin) {
                const double r = (fraction > 0.5 ? whole + 1 : whole) / p;
                return negative ? -r : r;
            }
        }
    }
    char text[40];
    const std::size_t n = format_double(text, magnitude);
    char mantissa[48];
    int count = 0, point = -1, exponent = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = text[i];
        if (c >= '0' && c <= '9') mantissa[count++] = c;
        else if (c == '.') point = count;
        else if (c == 'e') {
            std::from_chars(text + i + 1 + (text[i + 1] == '+'), text + n, exponent);
            break;
        }
    }
    if (point < 0) point = count;
    std::int64_t whole_digits = point + exponent;  // x = 0.mantissa * 10^whole_digits
    const std::int64_t keep = whole_digits + digits;
    if (keep >= count) return x;
    if (keep < 0) return 0;
    const bool up = mantissa[keep] >= '5';
    count = static_cast<int>(keep);
    if (up) {
        int i = count - 1;
        while (i >= 0 && mantissa[i] == '9') mantissa[i--] = '0';
        if (i >= 0) {
            ++mantissa[i];
        } else {  // 9.96 -> 10.0: one more digit in front
            std::memmove(mantissa + 1, mantissa, static_cast<std::size_t>(count));
            mantissa[0] = '1';
            ++count;
            ++whole_digits;
        }
    }
    if (count == 0) return 0;
    char rebuilt[80];  // "0.<digits>e<exponent>", parsed back to the nearest double
    const auto written = fmt::format_to_n(rebuilt, sizeof rebuilt, "0.{}e{}", std::string_view(mantissa, static_cast<std::size_t>(count)),
                                          whole_digits);
    double result = 0;
    std::from_chars(rebuilt, rebuilt + written.size, result);
    return negative ? -result : result;
}

bool fn_round(const node& call, frame& f, std::span<const value> a, value& out) {
    const value& x = a[0];
    std::int64_t digits = 0;
    if (a.size() > 1) {
        if (a[1].type != kind::integer) return need(f, call, 1, "an integer number of digits", a[1]);
        digits = a[1].integer;
    }
    if (x.type == kind::integer) {
        if (digits >= 0) {
            out = x;
        } else if (digits < -19) {
            out = value::of_int(0);
        } else if (digits == -19) {  // 10^19 does not fit: only |x| >= 5e18 rounds away from 0
            out = x.integer >= 5'000'000'000'000'000'000 ? value::of_number(1e19)
                  : x.integer <= -5'000'000'000'000'000'000 ? value::of_number(-1e19)
                                                           : value::of_int(0);
        } else {
            std::int64_t p = 1;
            for (std::int64_t k = 0; k < -digits; ++k) p *= 10;
            std::int64_t q = x.integer / p;
            const std::int64_t r = x.integer % p;
            if ((r < 0 ? -r : r) * 2 >= p) q += x.integer < 0 ? -1 : 1;
            std::int64_t result;
            if (__builtin_mul_overflow(q, p, &result)) out = value::of_number(static_cast<double>(q) * static_cast<double>(p));
            else out = value::of_int(result);
        }
    } else if (x.type == kind::number) {
        out = number_or_null(round_decimal(x.number, digits));
    } else {
        return need(f, call, 0, "a number", x);
    }
    return true;
}

template <double (*Op)(double)>
bool fn_integral(const node& call, frame& f, std::span<const value> a, value& out) {
    const value& x = a[0];
    if (x.type == kind::integer) out = x;
    else if (x.type == kind::number) out = integer_or_number(Op(x.number));
    else return need(f, call, 0, "a number", x);
    return true;
}

double floor_of(double d) { return std::floor(d); }
double ceil_of(double d) { return std::ceil(d); }
double sqrt_of(double d) { return std::sqrt(d); }
double exp_of(double d) { return std::exp(d); }

template <double (*Op)(double)>
bool fn_float(const node& call, frame& f, std::span<const value> a, value& out) {
    if (!is_numeric(a[0])) return need(f, call, 0, "a number", a[0]);
    out = number_or_null(Op(as_double(a[0])));
    return true;
}

bool fn_pow(const node& call, frame& f, std::span<const value> a, value& out) {
    for (std::size_t i = 0; i < 2; ++i)
        if (!is_numeric(a[i])) return need(f, call, i, "numbers", a[i]);
    out = power(a[0], a[1]);
    return true;
}

bool fn_log(const node& call, frame& f, std::span<const value> a, value& out) {
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!is_numeric(a[i])) return need(f, call, i, "numbers", a[i]);
    double r = std::log(as_double(a[0]));
    if (a.size() > 1) r /= std::log(as_double(a[1]));
    out = number_or_null(r);
    return true;
}

// min and max: nulls skipped, lists and json arrays flattened (one level).
template <bool Max>
bool fn_extreme(const node& call, frame& f, std::span<const value> a, value& out) {
    bool have = false;
    value best;
    auto consider = [&](const value& v, std::size_t i, bool element) {
        if (v.is_null()) return true;
        if (!is_numeric(v)) {
            if (element) return type_error(f, call.fn->name, "numbers", "an element of " + arg_name(f, call, i), v);
            return need(f, call, i, "numbers", v);
        }
        const int c = have ? compare_numbers(v, best) : 0;
        if (!have || (Max ? c > 0 : c < 0)) {
            best = v;
            have = true;
        }
        return true;
    };
    for (std::size_t i = 0; i < a.size(); ++i) {
        const value& v = a[i];
        if (v.type == kind::list) {
            for (const value& item : v.list)
                if (!consider(item, i, true)) return false;
        } else if (v.type == kind::json && v.json.type() == dom::element_type::ARRAY) {
            const dom::array array = v.json.get_array().value_unsafe();
            for (dom::element e : array) {
                value item;
                from_element(e, item);
                if (!consider(item, i, true)) return false;
            }
        } else if (!consider(v, i, false)) {
            return false;
        }
    }
    out = have ? best : value::null();
    return true;
}

// ---- strings ----

template <bool Upper>
bool fn_case(const node& call, frame& f, std::span<const value> a, value& out) {
    const value& s = a[0];
    if (s.type != kind::string) return need(f, call, 0, "a string", s);
    auto changes = [](char c) { return Upper ? (c >= 'a' && c <= 'z') : (c >= 'A' && c <= 'Z'); };
    if (std::none_of(s.string.begin(), s.string.end(), changes)) {
        out = s;
        return true;
    }
    char* p = f.mem.allocate(s.string.size());
    for (std::size_t i = 0; i < s.string.size(); ++i) {
        const char c = s.string[i];
        p[i] = changes(c) ? static_cast<char>(Upper ? c - 32 : c + 32) : c;
    }
    out = value::of_string({p, s.string.size()});
    return true;
}

bool fn_len(const node& call, frame& f, std::span<const value> a, value& out) {
    const value& x = a[0];
    switch (x.type) {
        case kind::string: out = value::of_int(static_cast<std::int64_t>(code_points(x.string))); return true;
        case kind::list: out = value::of_int(static_cast<std::int64_t>(x.list.size())); return true;
        case kind::json: {
            dom::array array;
            if (x.json.get_array().get(array) == simdjson::SUCCESS) out = value::of_int(static_cast<std::int64_t>(array.size()));
            else out = value::of_int(static_cast<std::int64_t>(x.json.get_object().value_unsafe().size()));
            return true;
        }
        default: return need(f, call, 0, "a string, a list, an array or an object", x);
    }
}

// 1-based and in code points, as Spark's substring: a negative start counts from the end, and a
// start before the beginning still uses up the length.
bool fn_substr(const node& call, frame& f, std::span<const value> a, value& out) {
    const value& s = a[0];
    if (s.type != kind::string) return need(f, call, 0, "a string", s);
    for (std::size_t i = 1; i < a.size(); ++i)
        if (a[i].type != kind::integer) return need(f, call, i, "an integer", a[i]);
    const bool plain = ascii(s.string);
    const auto n = static_cast<std::int64_t>(plain ? s.string.size() : code_points(s.string));
    const std::int64_t start = a[1].integer;
    std::int64_t begin = start > 0 ? start - 1 : start < 0 ? n + start : 0;
    std::int64_t end = n;
    if (a.size() > 2) {
        const std::int64_t length = a[2].integer;
        if (length < 0) end = begin;
        else if (__builtin_add_overflow(begin, length, &end)) end = n;
    }
    begin = std::max<std::int64_t>(begin, 0);
    end = std::min(end, n);
    if (begin >= end) {
        out = value::of_string({});
        return true;
    }
    const auto b = static_cast<std::size_t>(begin), e = static_cast<std::size_t>(end);
    if (plain) {
        out = value::of_string(s.string.substr(b, e - b));
    } else {
        const std::size_t from = byte_of(s.string, b);
        out = value::of_string(s.string.substr(from, byte_of(s.string, e) - from));
    }
    return true;
}

bool fn_concat(const node&, frame& f, std::span<const value> a, value& out) {
    std::string_view small[8];
    std::string_view* parts = small;
    if (a.size() > 8) {
        parts = reinterpret_cast<std::string_view*>(f.mem.allocate(a.size() * sizeof(std::string_view)));
        for (std::size_t i = 0; i < a.size(); ++i) new (parts + i) std::string_view();
    }
    std::size_t total = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        text_of(f, a[i], parts[i]);
        total += parts[i].size();
    }
    char* p = f.mem.allocate(total);
    std::size_t at = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!parts[i].empty()) std::memcpy(p + at, parts[i].data(), parts[i].size());
        at += parts[i].size();
    }
    out = value::of_string({p, total});
    return true;
}

bool strings(const node& call, frame& f, std::span<const value> a) {
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].type != kind::string) return need(f, call, i, "a string", a[i]);
    return true;
}

bool fn_contains(const node& call, frame& f, std::span<const value> a, value& out) {
    if (!strings(call, f, a)) return false;
    out = value::of_bool(a[0].string.find(a[1].string) != std::string_view::npos);
    return true;
}

bool fn_starts_with(const node& call, frame& f, std::span<const value> a, value& out) {
    if (!strings(call, f, a)) return false;
    out = value::of_bool(a[0].string.starts_with(a[1].string));
    return true;
}

bool fn_ends_with(const node& call, frame& f, std::span<const value> a, value& out) {
    if (!strings(call, f, a)) return false;
    out = value::of_bool(a[0].string.ends_with(a[1].string));
    return true;
}

bool matches(const regex_matcher& m, std::string_view s) {
    switch (m.how) {
        case regex_matcher::mode::contains: return s.find(m.literal) != std::string_view::npos;
        case regex_matcher::mode::starts_with: return s.starts_with(m.literal);
        case regex_matcher::mode::ends_with: return s.ends_with(m.literal);
        case regex_matcher::mode::equals: return s == m.literal;
        default: return std::regex_search(s.data(), s.data() + s.size(), m.re);
    }
}

// A pattern without special characters (but maybe ^ and $ at its ends) is plain text to look for.
bool reduce_to_text(std::string_view pattern, regex_matcher& m) {
    constexpr std::string_view special = "\\^$.|?*+()[]{}";
    bool at_start = false, at_end = false;
    if (!pattern.empty() && pattern.front() == '^') {
        at_start = true;
        pattern.remove_prefix(1);
    }
    if (!pattern.empty() && pattern.back() == '$' && !(pattern.size() >= 2 && pattern[pattern.size() - 2] == '\\')) {
        at_end = true;
        pattern.remove_suffix(1);
    }
    std::string text;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\') {
            if (i + 1 < pattern.size() && special.find(pattern[i + 1]) != std::string_view::npos) {
                text += pattern[++i];
                continue;
            }
            return false;
        }
        if (special.find(c) != std::string_view::npos) return false;
        text += c;
    }
    m.literal = std::move(text);
    m.how = at_start && at_end ? regex_matcher::mode::equals
            : at_start        ? regex_matcher::mode::starts_with
            : at_end          ? regex_matcher::mode::ends_with
                              : regex_matcher::mode::contains;
    return true;
}

void prepare_regex(node& call, const compile_info& info) {
    const node& pattern = *call.kids[1];
    if (!pattern.is_literal() || pattern.constant.type != kind::string) return;
    auto m = std::make_unique<regex_matcher>();
    if (!reduce_to_text(pattern.constant.string, *m)) {
        try {
            m->re = std::regex(pattern.constant.string.begin(), pattern.constant.string.end(), std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            fail_syntax(info.text, pattern.begin, fmt::format("bad regex: {}", e.what()));
        }
    }
    call.regex = std::move(m);
}

bool fn_regex_match(const node& call, frame& f, std::span<const value> a, value& out) {
    if (!strings(call, f, a)) return false;
    if (call.regex) {
        out = value::of_bool(matches(*call.regex, a[0].string));
        return true;
    }
    regex_matcher m;
    try {
        m.re = std::regex(a[1].string.begin(), a[1].string.end(), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        return runtime_error(f, fmt::format("regex_match: bad regex {}: {}", short_text(a[1]), e.what()));
    }
    out = value::of_bool(matches(m, a[0].string));
    return true;
}

bool fn_replace(const node& call, frame& f, std::span<const value> a, value& out) {
    if (!strings(call, f, a)) return false;
    const std::string_view s = a[0].string, from = a[1].string, to = a[2].string;
    std::size_t count = 0;
    if (!from.empty())
        for (std::size_t at = s.find(from); at != std::string_view::npos; at = s.find(from, at + from.size())) ++count;
    if (count == 0) {
        out = a[0];
        return true;
    }
    const std::size_t size = s.size() - count * from.size() + count * to.size();
    char* p = f.mem.allocate(size);
    char* w = p;
    std::size_t last = 0;
    for (std::size_t at = s.find(from); at != std::string_view::npos; at = s.find(from, at + from.size())) {
        std::memcpy(w, s.data() + last, at - last);
        w += at - last;
        if (!to.empty()) std::memcpy(w, to.data(), to.size());
        w += to.size();
        last = at + from.size();
    }
    std::memcpy(w, s.data() + last, s.size() - last);
    out = value::of_string({p, size});
    return true;
}

bool fn_split(const node& call, frame& f, std::span<const value> a, value& out) {
    if (!strings(call, f, a)) return false;
    const std::string_view s = a[0].string, separator = a[1].string;
    const std::size_t start = f.scratch.size();
    if (separator.empty()) {  // each character
        for (std::size_t i = 0; i < s.size();) {
            std::size_t j = i + 1;
            while (j < s.size() && continuation(s[j])) ++j;
            f.scratch.push_back(value::of_string(s.substr(i, j - i)));
            i = j;
        }
    } else {
        std::size_t last = 0;
        for (std::size_t at = s.find(separator); at != std::string_view::npos; at = s.find(separator, last)) {
            f.scratch.push_back(value::of_string(s.substr(last, at - last)));
            last = at + separator.size();
        }
        f.scratch.push_back(value::of_string(s.substr(last)));
    }
    out = finish_list(f, start);
    return true;
}

// ---- conditionals ----

bool fn_if(const node& call, frame& f, value& out) {
    value c;
    if (!call.kids[0]->eval(*call.kids[0], f, c)) return false;
    if (c.type != kind::boolean && !c.is_null()) return need(f, call, 0, "a boolean condition", c);
    const node& chosen = (c.type == kind::boolean && c.boolean) ? *call.kids[1] : *call.kids[2];
    return chosen.eval(chosen, f, out);
}

bool fn_coalesce(const node& call, frame& f, value& out) {
    for (const auto& k : call.kids) {
        value v;
        if (!k->eval(*k, f, v)) return false;
        if (v.type == kind::list) {
            for (const value& item : v.list) {
                if (!item.is_null()) {
                    out = item;
                    return true;
                }
            }
        } else if (!v.is_null()) {
            out = v;
            return true;
        }
    }
    out = value::null();
    return true;
}

bool fn_is_null(const node& call, frame& f, value& out) {
    value v;
    if (!call.kids[0]->eval(*call.kids[0], f, v)) return false;
    out = value::of_bool(v.is_null());
    return true;
}

// ---- conversion ----

bool fn_to_number(const node& call, frame& f, std::span<const value> a, value& out) {
    const value& x = a[0];
    switch (x.type) {
        case kind::integer:
        case kind::number: out = x; return true;
        case kind::boolean: out = value::of_int(x.boolean ? 1 : 0); return true;
        case kind::time:
            if (x.integer % us_per_second == 0) out = value::of_int(x.integer / us_per_second);
            else out = value::of_number(static_cast<double>(x.integer) / 1e6);
            return true;
        case kind::string: {
            const std::string_view s = x.string;
            out = value::null();
            if (!json::is_number(s)) return true;
            const char* end = s.data() + s.size();
            if (s.find_first_of(".eE") == std::string_view::npos) {
                std::int64_t i = 0;
                auto r = std::from_chars(s.data(), end, i);
                if (r.ec == std::errc() && r.ptr == end) {
                    out = value::of_int(i);
                    return true;
                }
            }
            f.text.assign(s);  // strtod: overflow gives inf (then null), underflow 0
            out = number_or_null(std::strtod(f.text.c_str(), nullptr));
            return true;
        }
        default: return need(f, call, 0, "a string, a number or a boolean", x);
    }
}

bool fn_to_string(const node&, frame& f, std::span<const value> a, value& out) {
    std::string_view text;
    text_of(f, a[0], text);
    out = value::of_string(text);
    return true;
}

// ---- time ----

// The zone argument (a[i]), when there is one: nullptr means UTC, written with a Z.
bool zone_arg(const node& call, frame& f, std::span<const value> a, std::size_t i, const zone*& z) {
    z = nullptr;
    if (a.size() <= i) return true;
    if (call.literal_zone) {
        z = call.literal_zone;
        return true;
    }
    if (a[i].type != kind::string) return need(f, call, i, "a time zone name", a[i]);
    z = find_zone(a[i].string);
    if (!z) return runtime_error(f, fmt::format("{}: unknown time zone {}", call.fn->name, short_text(a[i])));
    return true;
}

// The format argument (a[i]) when there is one; empty means ISO-8601.
bool format_arg(const node& call, frame& f, std::span<const value> a, std::size_t i, std::string_view& format) {
    format = {};
    if (a.size() <= i) return true;
    if (a[i].type != kind::string) return need(f, call, i, "a format string", a[i]);
    format = a[i].string;
    std::size_t bad = 0;
    if (!call.kids[i]->is_literal() && !check_format(format, bad))
        return runtime_error(f, fmt::format("{}: bad time format {}: unknown directive '{}'", call.fn->name,
                                            short_text(a[i]), format.substr(bad, 2)));
    return true;
}

bool fn_now(const node&, frame&, std::span<const value>, value& out) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    out = value::of_time_us(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
    return true;
}

bool out_of_range(const node& call, frame& f, std::size_t i, const value& v) {
    return need(f, call, i, "a time within 290,000 years of 1970", v);
}

bool fn_from_unixtime(const node& call, frame& f, std::span<const value> a, value& out) {
    const value& x = a[0];
    if (x.type == kind::integer) {
        std::int64_t us;
        if (__builtin_mul_overflow(x.integer, us_per_second, &us)) return out_of_range(call, f, 0, x);
        out = value::of_time_us(us);
    } else if (x.type == kind::number) {
        const double us = x.number * 1e6;
        if (!(std::fabs(us) < 9.2e18)) return out_of_range(call, f, 0, x);
        out = value::of_time_us(std::llround(us));
    } else {
        return need(f, call, 0, "a number of seconds", x);
    }
    return true;
}

bool fn_parse_time(const node& call, frame& f, std::span<const value> a, value& out) {
    if (a[0].type != kind::string) return need(f, call, 0, "a string", a[0]);
    std::string_view format;
    const zone* z = nullptr;
    if (!format_arg(call, f, a, 1, format) || !zone_arg(call, f, a, 2, z)) return false;
    std::int64_t us = 0;
    const bool ok = format.empty() ? parse_iso(a[0].string, z, us) : parse_formatted(a[0].string, format, z, us);
    out = ok ? value::of_time_us(us) : value::null();
    return true;
}

bool fn_format_time(const node& call, frame& f, std::span<const value> a, value& out) {
    std::int64_t us = 0;
    std::string_view format;
    const zone* z = nullptr;
    if (!to_time(f, call, 0, a[0], us) || !format_arg(call, f, a, 1, format) || !zone_arg(call, f, a, 2, z)) return false;
    const std::size_t room = format.empty() ? iso_size : formatted_size(format);
    char* p = f.mem.allocate(room);
    const std::size_t n = format.empty() ? format_iso(p, us, z) : format_formatted(p, us, format, z);
    f.mem.shrink_last(p, n);
    out = value::of_string({p, n});
    return true;
}

enum class part { year, month, day, hour, minute, second, day_of_week, date };

template <part P>
bool fn_part(const node& call, frame& f, std::span<const value> a, value& out) {
    std::int64_t us = 0;
    const zone* z = nullptr;
    if (!to_time(f, call, 0, a[0], us) || !zone_arg(call, f, a, 1, z)) return false;
    const civil_time t = break_down(us, z);
    switch (P) {
        case part::year: out = value::of_int(t.year); break;
        case part::month: out = value::of_int(t.month); break;
        case part::day: out = value::of_int(t.day); break;
        case part::hour: out = value::of_int(t.hour); break;
        case part::minute: out = value::of_int(t.minute); break;
        case part::second: out = value::of_int(t.second); break;
        case part::day_of_week: out = value::of_int(t.weekday); break;
        case part::date: {
            char* p = f.mem.allocate(32);
            const std::size_t n = format_formatted(p, us, "%Y-%m-%d", z);
            f.mem.shrink_last(p, n);
            out = value::of_string({p, n});
            break;
        }
    }
    return true;
}

void check_zone_literal(node& call, std::size_t i, const compile_info& info) {
    if (call.kids.size() <= i) return;
    const node& arg = *call.kids[i];
    if (!arg.is_literal() || arg.constant.type != kind::string) return;
    call.literal_zone = find_zone(arg.constant.string);
    if (!call.literal_zone) fail_syntax(info.text, arg.begin, fmt::format("unknown time zone '{}'", arg.constant.string));
}

void check_format_literal(node& call, std::size_t i, const compile_info& info) {
    if (call.kids.size() <= i) return;
    const node& arg = *call.kids[i];
    if (!arg.is_literal() || arg.constant.type != kind::string) return;
    std::size_t bad = 0;
    if (!check_format(arg.constant.string, bad))
        fail_syntax(info.text, arg.begin, fmt::format("bad time format: unknown directive '{}'", arg.constant.string.substr(bad, 2)));
}

void prepare_format_and_zone(node& call, const compile_info& info) {
    check_format_literal(call, 1, info);
    check_zone_literal(call, 2, info);
}

void prepare_zone(node& call, const compile_info& info) { check_zone_literal(call, 1, info); }

// Grouped as in the documentation; looked up by name once per call, at compile time.
constexpr function_def functions[] = {
    // math
    {"abs", 1, 1, true, true, fn_abs, nullptr, nullptr},
    {"round", 1, 2, true, true, fn_round, nullptr, nullptr},
    {"floor", 1, 1, true, true, fn_integral<floor_of>, nullptr, nullptr},
    {"ceil", 1, 1, true, true, fn_integral<ceil_of>, nullptr, nullptr},
    {"sqrt", 1, 1, true, true, fn_float<sqrt_of>, nullptr, nullptr},
    {"pow", 2, 2, true, true, fn_pow, nullptr, nullptr},
    {"exp", 1, 1, true, true, fn_float<exp_of>, nullptr, nullptr},
    {"log", 1, 2, true, true, fn_log, nullptr, nullptr},
    {"min", 1, variadic, true, false, fn_extreme<false>, nullptr, nullptr},
    {"max", 1, variadic, true, false, fn_extreme<true>, nullptr, nullptr},
    // strings
    {"lower", 1, 1, true, true, fn_case<false>, nullptr, nullptr},
    {"upper", 1, 1, true, true, fn_case<true>, nullptr, nullptr},
    {"len", 1, 1, true, true, fn_len, nullptr, nullptr},
    {"substr", 2, 3, true, true, fn_substr, nullptr, nullptr},
    {"concat", 1, variadic, true, true, fn_concat, nullptr, nullptr},
    {"contains", 2, 2, true, true, fn_contains, nullptr, nullptr},
    {"starts_with", 2, 2, true, true, fn_starts_with, nullptr, nullptr},
    {"ends_with", 2, 2, true, true, fn_ends_with, nullptr, nullptr},
    {"regex_match", 2, 2, true, true, fn_regex_match, nullptr, prepare_regex},
    {"replace", 3, 3, true, true, fn_replace, nullptr, nullptr},
    {"split", 2, 2, true, true, fn_split, nullptr, nullptr},
    // conditionals
    {"if", 3, 3, true, false, nullptr, fn_if, nullptr},
    {"coalesce", 1, variadic, true, false, nullptr, fn_coalesce, nullptr},
    {"is_null", 1, 1, true, false, nullptr, fn_is_null, nullptr},
    // conversion
    {"to_number", 1, 1, true, true, fn_to_number, nullptr, nullptr},
    {"to_string", 1, 1, true, true, fn_to_string, nullptr, nullptr},
    // time
    {"now", 0, 0, false, true, fn_now, nullptr, nullptr},
    {"from_unixtime", 1, 1, true, true, fn_from_unixtime, nullptr, nullptr},
    {"parse_time", 1, 3, true, true, fn_parse_time, nullptr, prepare_format_and_zone},
    {"format_time", 1, 3, true, true, fn_format_time, nullptr, prepare_format_and_zone},
    {"year", 1, 2, true, true, fn_part<part::year>, nullptr, prepare_zone},
    {"month", 1, 2, true, true, fn_part<part::month>, nullptr, prepare_zone},
    {"day", 1, 2, true, true, fn_part<part::day>, nullptr, prepare_zone},
    {"hour", 1, 2, true, true, fn_part<part::hour>, nullptr, prepare_zone},
    {"minute", 1, 2, true, true, fn_part<part::minute>, nullptr, prepare_zone},
    {"second", 1, 2, true, true, fn_part<part::second>, nullptr, prepare_zone},
    {"day_of_week", 1, 2, true, true, fn_part<part::day_of_week>, nullptr, prepare_zone},
    {"date", 1, 2, true, true, fn_part<part::date>, nullptr, prepare_zone},
};

}  // namespace

const function_def* find_function(std::string_view name) {
    for (const function_def& fn : functions)
        if (iequal(fn.name, name)) return &fn;
    return nullptr;
}

bool eval_call(const node& n, frame& f, value& out) {
    const function_def& fn = *n.fn;
    if (fn.lazy) return fn.lazy(n, f, out);
    const std::size_t count = n.kids.size();
    value small[4];
    value* args = small;
    if (count > 4) {
        args = reinterpret_cast<value*>(f.mem.allocate(count * sizeof(value)));
        for (std::size_t i = 0; i < count; ++i) new (args + i) value();
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (!n.kids[i]->eval(*n.kids[i], f, args[i])) return false;
        if (fn.null_in_null_out && args[i].is_null()) {
            out = value::null();
            return true;
        }
    }
    return fn.call(n, f, {args, count}, out);
}

bool to_time(frame& f, const node& call, std::size_t i, const value& v, std::int64_t& us) {
    switch (v.type) {
        case kind::time: us = v.integer; return true;
        case kind::integer: {
            const bool millis = v.integer >= 100'000'000'000 || v.integer <= -100'000'000'000;
            if (__builtin_mul_overflow(v.integer, millis ? 1000 : us_per_second, &us)) return out_of_range(call, f, i, v);
            return true;
        }
        case kind::number: {
            const double scaled = v.number * (std::fabs(v.number) >= 1e11 ? 1e3 : 1e6);
            if (!(std::fabs(scaled) < 9.2e18)) return out_of_range(call, f, i, v);
            us = std::llround(scaled);
            return true;
        }
        case kind::string:
            if (parse_iso(v.string, nullptr, us)) return true;
            return need(f, call, i, "a time (ISO-8601 text, or epoch seconds or milliseconds)", v);
        default: return need(f, call, i, "a time", v);
    }
}

}  // namespace ks::expr
