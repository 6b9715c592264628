#include "aggregates.hpp"

#include "ks/error.hpp"
#include "ks/json.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <tuple>

namespace ks::agg {

namespace {

constexpr std::array<std::string_view, 12> names = {"count", "sum",   "avg",            "min",    "max", "first",
                                                    "last",  "count_distinct", "stddev", "p50", "p95", "p99"};

constexpr double alpha = 0.01;
const double gamma_ = (1 + alpha) / (1 - alpha);
const double log_gamma = std::log(gamma_);

void append_number(std::string& out, double d) {
    if (!std::isfinite(d)) {
        out += "null";
        return;
    }
    expr::append_json(out, expr::value::of_number(d));
}

bool uses_number(fn f) {
    return f == fn::sum || f == fn::avg || f == fn::stddev || f == fn::p50 || f == fn::p95 || f == fn::p99;
}
bool uses_json(fn f) {
    return f == fn::min || f == fn::max || f == fn::first || f == fn::last || f == fn::count_distinct;
}

// min/max order: a < b? Numbers by value (two integers exactly), strings by their text (min/max
// keep a string's unescaped text), other kinds by their JSON text.
bool less(std::uint8_t rank_a, bool int_a, std::int64_t i_a, double num_a, std::string_view json_a, std::uint8_t rank_b,
          bool int_b, std::int64_t i_b, double num_b, std::string_view json_b) {
    if (rank_a != rank_b) return rank_a < rank_b;
    if (rank_a == 0) return int_a && int_b ? i_a < i_b : num_a < num_b;
    return json_a < json_b;
}

}  // namespace

std::optional<fn> fn_named(std::string_view name) {
    for (size_t i = 0; i < names.size(); ++i)
        if (names[i] == name) return static_cast<fn>(i);
    return std::nullopt;
}

std::string_view name_of(fn f) { return names[static_cast<size_t>(f)]; }

spec parse_spec(std::string_view item) {
    // NAME=FUNC(EXPR), or FUNC(EXPR) named FUNC_FIELD (FUNC for count() or an expression).
    if (item.empty()) throw usage_error("--agg: an empty item");
    std::string name, text;
    const auto paren = item.find('(');
    const auto eq = item.find('=');
    if (eq != std::string_view::npos && (paren == std::string_view::npos || eq < paren) &&
        (eq + 1 >= item.size() || item[eq + 1] != '=')) {
        std::tie(name, text) = expr::split_named(item, "--agg");
    } else {
        text = std::string(item);
    }
    spec s;
    std::string_view t = text;
    const auto open = t.find('(');
    if (open == std::string_view::npos || t.back() != ')')
        throw usage_error(fmt::format("--agg: '{}' is not FUNC(EXPR) (functions: count, sum, avg, min, max, first, last, "
                                      "count_distinct, stddev, p50, p95, p99)",
                                      text));
    std::string_view fname = t.substr(0, open);
    while (!fname.empty() && fname.back() == ' ') fname.remove_suffix(1);
    const auto f = fn_named(fname);
    if (!f)
        throw usage_error(fmt::format("--agg: unknown function '{}' (functions: count, sum, avg, min, max, first, last, "
                                      "count_distinct, stddev, p50, p95, p99)",
                                      fname));
    s.function = *f;
    std::string_view arg = t.substr(open + 1, t.size() - open - 2);
    while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
    while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
    s.name = name;
    if (s.name.empty()) {
        s.name = std::string(fname);
        try {
            if (auto path = expr::program::compile(arg).field_path(); path && !path->empty())
                for (auto it = path->rbegin(); it != path->rend(); ++it)
                    if (it->index < 0) {
                        s.name += "_" + it->name;
                        break;
                    }
        } catch (const expr::syntax_error&) {
        }
    }
    if (arg.empty() || arg == "*") {
        if (s.function != fn::count) throw usage_error(fmt::format("--agg: {}() needs an expression: {}(EXPR)", fname, fname));
        return s;
    }
    s.argument = expr::compile_option(arg, fmt::format("--agg {}", s.name));
    return s;
}

bool make_input(fn f, const expr::value& v, input& in, std::string& why) {
    in.present = !v.is_null();
    if (!in.present) return true;
    in.is_integer = false;
    in.json = {};
    using expr::kind;
    if (uses_number(f)) {
        if (v.type == kind::integer) {
            in.is_integer = true;
            in.integer = v.integer;
            in.number = static_cast<double>(v.integer);
        } else if (v.type == kind::number) {
            in.number = v.number;
            if (!std::isfinite(in.number)) {
                in.present = false;  // NaN/inf: as null (JSON cannot carry them)
                return true;
            }
        } else {
            std::string text;
            expr::append_json(text, v);
            why = fmt::format("{}() needs a number, got {}", name_of(f), text.size() > 40 ? text.substr(0, 40) + "..." : text);
            return false;
        }
        return true;
    }
    if (uses_json(f)) {
        in.buffer.clear();
        if ((f == fn::min || f == fn::max) && v.type == kind::string) in.buffer.assign(v.string);  // compared as text
        else expr::append_json(in.buffer, v);
        in.json = in.buffer;
        in.is_integer = v.type == kind::integer;
        in.integer = v.integer;
        in.rank = v.type == kind::integer || v.type == kind::number ? 0 : v.type == kind::string ? 1 : v.type == kind::time ? 2 : 3;
        in.number = v.type == kind::integer ? static_cast<double>(v.integer) : v.type == kind::number ? v.number : 0;
        if (v.type == kind::time) in.number = static_cast<double>(v.integer);
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// sketch

void sketch::add(double v, std::int64_t n) {
    count_ += n;
    if (v == 0 || std::abs(v) < 1e-300) {
        zeros_ += n;
        return;
    }
    const auto index = static_cast<std::int32_t>(std::ceil(std::log(std::abs(v)) / log_gamma));
    (v > 0 ? positive_ : negative_)[index] += n;
}

void sketch::merge(const sketch& other) {
    for (const auto& [i, n] : other.positive_) positive_[i] += n;
    for (const auto& [i, n] : other.negative_) negative_[i] += n;
    zeros_ += other.zeros_;
    count_ += other.count_;
}

std::optional<double> sketch::quantile(double q) const {
    if (count_ == 0) return std::nullopt;
    const auto rank = static_cast<std::int64_t>(std::floor(q * static_cast<double>(count_ - 1)));
    const auto value_of = [](std::int32_t i) { return 2 * std::pow(gamma_, i) / (gamma_ + 1); };
    std::int64_t seen = 0;
    for (auto it = negative_.rbegin(); it != negative_.rend(); ++it) {  // most negative first
        seen += it->second;
        if (seen > rank) return -value_of(it->first);
    }
    seen += zeros_;
    if (seen > rank) return 0.0;
    for (const auto& [i, n] : positive_) {
        seen += n;
        if (seen > rank) return value_of(i);
    }
    return value_of(positive_.rbegin()->first);
}

void sketch::write(std::string& out) const {
    put_i64(out, zeros_);
    for (const auto* m : {&positive_, &negative_}) {
        put_i64(out, static_cast<std::int64_t>(m->size()));
        for (const auto& [i, n] : *m) {
            put_i64(out, i);
            put_i64(out, n);
        }
    }
}

bool sketch::read(std::string_view& in) {
    positive_.clear();
    negative_.clear();
    if (!get_i64(in, zeros_)) return false;
    count_ = zeros_;
    for (auto* m : {&positive_, &negative_}) {
        std::int64_t size = 0;
        if (!get_i64(in, size) || size < 0 || static_cast<std::uint64_t>(size) > in.size() / 16) return false;
        for (std::int64_t k = 0; k < size; ++k) {
            std::int64_t i = 0, n = 0;
            if (!get_i64(in, i) || !get_i64(in, n)) return false;
            (*m)[static_cast<std::int32_t>(i)] = n;
            count_ += n;
        }
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// state

state::state(const state& o)
    : n(o.n), isum(o.isum), sum(o.sum), all_integer(o.all_integer), rank(o.rank), m2(o.m2), time(o.time), json(o.json) {
    if (o.distinct) distinct = std::make_unique<std::unordered_set<std::uint64_t>>(*o.distinct);
    if (o.quantiles) quantiles = std::make_unique<sketch>(*o.quantiles);
}

state& state::operator=(const state& o) {
    if (this != &o) *this = state(o);
    return *this;
}

void add(fn f, state& s, const input& in, std::int64_t t) {
    if (f == fn::count) {
        if (in.present) ++s.n;
        return;
    }
    if (!in.present) return;
    switch (f) {
        case fn::count: break;
        case fn::sum:
        case fn::avg:
            if (s.all_integer && in.is_integer) {
                if (__builtin_add_overflow(s.isum, in.integer, &s.isum)) s.all_integer = false;
            } else {
                s.all_integer = false;
            }
            s.sum += in.number;
            break;
        case fn::stddev: {
            const double delta = in.number - s.sum;
            s.sum += delta / static_cast<double>(s.n + 1);
            s.m2 += delta * (in.number - s.sum);
            break;
        }
        case fn::min:
        case fn::max:
            if (s.n == 0 || (f == fn::min ? less(in.rank, in.is_integer, in.integer, in.number, in.json, s.rank,
                                                 s.all_integer, s.isum, s.sum, s.json)
                                          : less(s.rank, s.all_integer, s.isum, s.sum, s.json, in.rank, in.is_integer,
                                                 in.integer, in.number, in.json))) {
                s.json = in.json;
                s.rank = in.rank;
                s.sum = in.number;
                s.isum = in.integer;
                s.all_integer = in.is_integer;
            }
            break;
        case fn::first:
            if (s.n == 0 || t < s.time) {
                s.json = in.json;
                s.time = t;
            }
            break;
        case fn::last:
            if (s.n == 0 || t >= s.time) {
                s.json = in.json;
                s.time = t;
            }
            break;
        case fn::count_distinct:
            if (!s.distinct) s.distinct = std::make_unique<std::unordered_set<std::uint64_t>>();
            s.distinct->insert(std::hash<std::string_view>{}(in.json));
            break;
        case fn::p50:
        case fn::p95:
        case fn::p99:
            if (!s.quantiles) s.quantiles = std::make_unique<sketch>();
            s.quantiles->add(in.number);
            break;
    }
    ++s.n;
}

void merge(fn f, state& into, const state& from) {
    if (from.n == 0) return;
    if (into.n == 0 && f != fn::count) {
        into = from;
        return;
    }
    switch (f) {
        case fn::count: break;
        case fn::sum:
        case fn::avg:
            if (into.all_integer && from.all_integer) {
                if (__builtin_add_overflow(into.isum, from.isum, &into.isum)) into.all_integer = false;
            } else {
                into.all_integer = false;
            }
            into.sum += from.sum;
            break;
        case fn::stddev: {  // Chan et al.'s parallel variance
            const double na = static_cast<double>(into.n), nb = static_cast<double>(from.n);
            const double delta = from.sum - into.sum;
            into.sum += delta * nb / (na + nb);
            into.m2 += from.m2 + delta * delta * na * nb / (na + nb);
            break;
        }
        case fn::min:
        case fn::max:
            if (f == fn::min ? less(from.rank, from.all_integer, from.isum, from.sum, from.json, into.rank,
                                    into.all_integer, into.isum, into.sum, into.json)
                             : less(into.rank, into.all_integer, into.isum, into.sum, into.json, from.rank,
                                    from.all_integer, from.isum, from.sum, from.json)) {
                into.json = from.json;
                into.rank = from.rank;
                into.sum = from.sum;
                into.isum = from.isum;
                into.all_integer = from.all_integer;
            }
            break;
        case fn::first:
            if (from.time < into.time) {
                into.json = from.json;
                into.time = from.time;
            }
            break;
        case fn::last:
            if (from.time >= into.time) {
                into.json = from.json;
                into.time = from.time;
            }
            break;
        case fn::count_distinct:
            if (from.distinct) {
                if (!into.distinct) into.distinct = std::make_unique<std::unordered_set<std::uint64_t>>();
                into.distinct->insert(from.distinct->begin(), from.distinct->end());
            }
            break;
        case fn::p50:
        case fn::p95:
        case fn::p99:
            if (from.quantiles) {
                if (!into.quantiles) into.quantiles = std::make_unique<sketch>();
                into.quantiles->merge(*from.quantiles);
            }
            break;
    }
    into.n += from.n;
}

void result(fn f, const state& s, std::string& out) {
    switch (f) {
        case fn::count: fmt::format_to(std::back_inserter(out), "{}", s.n); return;
        case fn::sum:
            if (s.n == 0) out += "null";
            else if (s.all_integer) fmt::format_to(std::back_inserter(out), "{}", s.isum);
            else append_number(out, s.sum);
            return;
        case fn::avg:
            if (s.n == 0) out += "null";
            else if (s.all_integer) append_number(out, static_cast<double>(static_cast<long double>(s.isum) / s.n));
            else append_number(out, s.sum / static_cast<double>(s.n));
            return;
        case fn::stddev:
            if (s.n < 2) out += "null";
            else append_number(out, std::sqrt(s.m2 / static_cast<double>(s.n - 1)));
            return;
        case fn::min:
        case fn::max:
            if (s.n == 0) out += "null";
            else if (s.rank == 1) json::append_string(out, s.json);
            else out += s.json;
            return;
        case fn::first:
        case fn::last: out += s.n == 0 ? std::string_view("null") : std::string_view(s.json); return;
        case fn::count_distinct:
            fmt::format_to(std::back_inserter(out), "{}", s.distinct ? s.distinct->size() : 0);
            return;
        case fn::p50:
        case fn::p95:
        case fn::p99: {
            const double q = f == fn::p50 ? 0.5 : f == fn::p95 ? 0.95 : 0.99;
            const auto v = s.quantiles ? s.quantiles->quantile(q) : std::nullopt;
            if (v) append_number(out, *v);
            else out += "null";
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// encoding

bool get_str(std::string_view& in, std::string& s) {
    std::int64_t n = 0;
    if (!get_i64(in, n) || n < 0 || static_cast<std::uint64_t>(n) > in.size()) return false;
    s.assign(in.data(), static_cast<size_t>(n));
    in.remove_prefix(static_cast<size_t>(n));
    return true;
}

void write_state(fn f, const state& s, std::string& out) {
    put_i64(out, s.n);
    switch (f) {
        case fn::count: break;
        case fn::sum:
        case fn::avg:
            put_i64(out, s.all_integer ? s.isum : 0);
            out.push_back(s.all_integer ? 1 : 0);
            put_f64(out, s.sum);
            break;
        case fn::stddev:
            put_f64(out, s.sum);
            put_f64(out, s.m2);
            break;
        case fn::min:
        case fn::max:
            out.push_back(static_cast<char>(s.rank | (s.all_integer ? 0x80 : 0)));
            put_f64(out, s.sum);
            put_i64(out, s.isum);
            put_str(out, s.json);
            break;
        case fn::first:
        case fn::last:
            put_i64(out, s.time);
            put_str(out, s.json);
            break;
        case fn::count_distinct:
            put_i64(out, s.distinct ? static_cast<std::int64_t>(s.distinct->size()) : 0);
            if (s.distinct)
                for (auto h : *s.distinct) put_i64(out, static_cast<std::int64_t>(h));
            break;
        case fn::p50:
        case fn::p95:
        case fn::p99:
            if (s.quantiles) s.quantiles->write(out);
            else sketch{}.write(out);
            break;
    }
}

bool read_state(fn f, state& s, std::string_view& in) {
    s = state{};
    if (!get_i64(in, s.n) || s.n < 0) return false;
    switch (f) {
        case fn::count: return true;
        case fn::sum:
        case fn::avg:
            if (!get_i64(in, s.isum) || in.empty()) return false;
            s.all_integer = in.front() == 1;
            in.remove_prefix(1);
            return get_f64(in, s.sum);
        case fn::stddev: return get_f64(in, s.sum) && get_f64(in, s.m2);
        case fn::min:
        case fn::max:
            if (in.empty()) return false;
            s.rank = static_cast<std::uint8_t>(in.front()) & 0x7f;
            s.all_integer = (static_cast<std::uint8_t>(in.front()) & 0x80) != 0;
            in.remove_prefix(1);
            return get_f64(in, s.sum) && get_i64(in, s.isum) && get_str(in, s.json);
        case fn::first:
        case fn::last: return get_i64(in, s.time) && get_str(in, s.json);
        case fn::count_distinct: {
            std::int64_t size = 0;
            if (!get_i64(in, size) || size < 0 || static_cast<std::uint64_t>(size) > in.size() / 8) return false;
            s.distinct = std::make_unique<std::unordered_set<std::uint64_t>>();
            s.distinct->reserve(static_cast<size_t>(size));
            for (std::int64_t i = 0; i < size; ++i) {
                std::int64_t h = 0;
                get_i64(in, h);
                s.distinct->insert(static_cast<std::uint64_t>(h));
            }
            return true;
        }
        case fn::p50:
        case fn::p95:
        case fn::p99:
            s.quantiles = std::make_unique<sketch>();
            return s.quantiles->read(in);
    }
    return false;
}

}  // namespace ks::agg
