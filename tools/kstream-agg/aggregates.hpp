// kstream-agg's aggregate functions: what --agg 'name=FUNC(EXPR)' keeps per group and window, how
// two states merge (session windows), how a state is written to the changelog and read back, and
// what it gives as output. docs/kstream-agg.md has the definitions and the quantiles' error bound.
#pragma once

#include "ks/expr.hpp"

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace ks::agg {

enum class fn : std::uint8_t { count, sum, avg, min, max, first, last, count_distinct, stddev, p50, p95, p99 };

// "count" -> fn::count ...; nullopt for an unknown name.
std::optional<fn> fn_named(std::string_view name);
std::string_view name_of(fn f);

// One --agg item: `name=FUNC(EXPR)`; count() and count(*) have no argument.
struct spec {
    std::string name;
    fn function = fn::count;
    std::optional<expr::program> argument;
};

// Parses 'name=FUNC(EXPR)' (or 'FUNC(EXPR)', named FUNC_field). Throws usage_error.
spec parse_spec(std::string_view item);

// The input of one aggregate for one record, made once per record (before any state changes, so
// that a bad record changes nothing). `json` is the value's JSON text (min, max, first, last,
// count_distinct); numbers are in `number` (and `integer` when exact).
struct input {
    bool present = false;  // false: null or missing (SQL: ignored, count(EXPR) does not count it)
    bool is_integer = false;
    std::int64_t integer = 0;
    double number = 0;
    std::uint8_t rank = 0;  // order of kinds for min/max: numbers, then strings, then the rest
    std::string_view json;  // JSON text (min/max: a string's own text); in `buffer` or the caller's bytes
    std::string buffer;
};

// Turns an expression's value into the input of `f`. false: a value the function cannot take
// (sum of a string), with the reason in `why`.
bool make_input(fn f, const expr::value& v, input& in, std::string& why);

// Relative-error quantile sketch (DDSketch): every value lands in a bucket of width 2% around it
// (gamma = 1.02/0.98), so the value returned for a rank is within 1% of the exact value of that
// rank. Buckets are sparse; a stream over 1e-9..1e12 uses at most about 1,200 of them.
class sketch {
public:
    void add(double v, std::int64_t n = 1);
    void merge(const sketch& other);
    [[nodiscard]] std::optional<double> quantile(double q) const;
    [[nodiscard]] std::int64_t count() const { return count_; }
    void write(std::string& out) const;
    bool read(std::string_view& in);

private:
    std::map<std::int32_t, std::int64_t> positive_, negative_;
    std::int64_t zeros_ = 0, count_ = 0;
};

// The state of one aggregate of one group and window.
struct state {
    // count, sum and avg use the first 32 bytes alone: one cache line per state in the window store.
    std::int64_t n = 0;       // values counted
    std::int64_t isum = 0;    // sum of integers (exact while all_integer)
    double sum = 0;           // sum as a double; stddev: the mean
    bool all_integer = true;  // sum: every value an integer, no overflow
    std::uint8_t rank = 0;    // min/max: the kind order of `json`
    double m2 = 0;            // stddev: sum of squared differences from the mean (Welford)
    std::int64_t time = 0;    // first/last: the event time of `json`
    std::string json;         // min/max/first/last: the value's JSON text
    std::unique_ptr<std::unordered_set<std::uint64_t>> distinct;  // count_distinct: hashes
    std::unique_ptr<sketch> quantiles;                            // p50/p95/p99

    state() = default;
    state(const state& o);
    state& operator=(const state& o);
    state(state&&) noexcept = default;
    state& operator=(state&&) noexcept = default;
};

// Adds one record's input (event time `t`, for first/last; ties keep the earlier record for
// first and the later one for last).
void add(fn f, state& s, const input& in, std::int64_t t);
// Folds `from` into `into` (two session windows that became one). Equal to adding from's records.
void merge(fn f, state& into, const state& from);
// Appends the result as JSON: count as an integer, sum as an integer when every value was one,
// avg/stddev/quantiles as numbers, null when there was nothing (stddev needs two values).
void result(fn f, const state& s, std::string& out);

// Changelog encoding of a state (little-endian binary, see docs/kstream-agg.md).
void write_state(fn f, const state& s, std::string& out);
bool read_state(fn f, state& s, std::string_view& in);

// Binary helpers shared with the window store's encoding (inline: they run per record).
inline void put_i64(std::string& out, std::int64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
inline void put_f64(std::string& out, double v) { out.append(reinterpret_cast<const char*>(&v), 8); }
inline void put_str(std::string& out, std::string_view s) {
    put_i64(out, static_cast<std::int64_t>(s.size()));
    out.append(s);
}
inline bool get_i64(std::string_view& in, std::int64_t& v) {
    if (in.size() < 8) return false;
    std::memcpy(&v, in.data(), 8);
    in.remove_prefix(8);
    return true;
}
inline bool get_f64(std::string_view& in, double& v) {
    if (in.size() < 8) return false;
    std::memcpy(&v, in.data(), 8);
    in.remove_prefix(8);
    return true;
}
bool get_str(std::string_view& in, std::string& s);

}  // namespace ks::agg
