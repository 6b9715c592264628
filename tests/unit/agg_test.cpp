// kstream-agg's pieces without a broker: window assignment, --window and duration parsing, every
// aggregate function (add, merge, result, changelog encoding), the quantile sketch's error bound,
// and setup's usage errors through argument vectors.
#include "kstream-agg/aggregates.hpp"
#include "kstream-agg/kstream_agg.hpp"

#include "ks/cli.hpp"
#include "ks/error.hpp"
#include "ks/log.hpp"

#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace agg = ks::agg;
using agg::fn;
using ks::expr::value;
using ks::kstream_agg::window_kind;
using ks::kstream_agg::window_spec;
using window_list = std::vector<std::pair<std::int64_t, std::int64_t>>;

constexpr std::int64_t s_ms = 1000, m_ms = 60'000, h_ms = 3'600'000, d_ms = 86'400'000;

const std::vector<fn> all_functions = {fn::count, fn::sum,  fn::avg,            fn::min,    fn::max, fn::first,
                                       fn::last,  fn::count_distinct, fn::stddev, fn::p50, fn::p95, fn::p99};

window_spec tumbling(std::int64_t size) { return {window_kind::tumbling, size, size, 0}; }
window_spec hopping(std::int64_t size, std::int64_t advance) { return {window_kind::hopping, size, advance, 0}; }

window_list windows(const window_spec& w, std::int64_t t) {
    window_list out;
    ks::kstream_agg::windows_of(w, t, out);
    return out;
}

// Every window of `size` starting at a multiple of `advance` that holds t, by brute force.
window_list expected_windows(std::int64_t size, std::int64_t advance, std::int64_t t) {
    window_list out;
    const std::int64_t lowest = t - size - advance;
    std::int64_t start = lowest - (((lowest % advance) + advance) % advance);  // a multiple at or below lowest
    for (; start <= t; start += advance)
        if (start <= t && t < start + size) out.emplace_back(start, start + size);
    return out;
}

std::string usage_message(const std::function<void()>& f) {
    try {
        f();
    } catch (const ks::usage_error& e) {
        return e.what();
    }
    return "";
}

// --- aggregates ------------------------------------------------------------------------------

// The input of `f` for one value; count()'s input is "a record" (present, no argument).
agg::input input_of(fn f, const value& v) {
    agg::input in;
    std::string why;
    const bool ok = agg::make_input(f, v, in, why);
    INFO(why);
    REQUIRE(ok);
    return in;
}

agg::input a_record() {
    agg::input in;
    in.present = true;
    return in;
}

void add(fn f, agg::state& s, const value& v, std::int64_t t = 0) { agg::add(f, s, input_of(f, v), t); }

std::string result(fn f, const agg::state& s) {
    std::string out;
    agg::result(f, s, out);
    return out;
}

std::string result_of(fn f, const std::vector<value>& values) {
    agg::state s;
    for (const auto& v : values) add(f, s, v);
    return result(f, s);
}

double number_of(const std::string& json) {
    INFO(json);
    REQUIRE(json != "null");
    size_t used = 0;
    const double d = std::stod(json, &used);
    REQUIRE(used == json.size());
    return d;
}

std::set<std::uint64_t> hashes_of(const agg::state& s) {
    return s.distinct ? std::set<std::uint64_t>(s.distinct->begin(), s.distinct->end()) : std::set<std::uint64_t>{};
}

bool is_integer_text(const std::string& json) {
    return !json.empty() && json.find_first_not_of("-0123456789") == std::string::npos;
}

value i(std::int64_t n) { return value::of_int(n); }
value d(double x) { return value::of_number(x); }
value str(std::string_view s) { return value::of_string(s); }
const value null_value = value::null();

// Sample standard deviation by two passes in long double (the reference).
double two_pass_stddev(const std::vector<double>& xs) {
    long double sum = 0;
    for (double x : xs) sum += x;
    const long double mean = sum / static_cast<long double>(xs.size());
    long double squares = 0;
    for (double x : xs) squares += (x - mean) * (x - mean);
    return static_cast<double>(std::sqrt(squares / static_cast<long double>(xs.size() - 1)));
}

// The exact quantile the sketch approximates: the value at 0-based rank floor(q * (n - 1)).
double exact_quantile(std::vector<double> xs, double q) {
    std::sort(xs.begin(), xs.end());
    const auto rank = static_cast<size_t>(std::floor(q * static_cast<double>(xs.size() - 1)));
    return xs[rank];
}

// Within the documented bound: at most 1% of the exact value (0 exactly for 0).
void check_quantile_bound(double estimate, double exact, const std::string& what) {
    INFO(what << ": estimate " << estimate << ", exact " << exact);
    if (exact == 0) CHECK(estimate == 0);
    else CHECK(std::abs(estimate - exact) <= 0.01 * std::abs(exact));
}

// Random values of every kind for min/max/first/last/count_distinct (strings kept alive here).
struct value_source {
    std::mt19937_64 rng;
    std::deque<std::string> strings;
    explicit value_source(std::uint64_t seed) : rng(seed) {}

    std::int64_t uniform(std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); }
    double real(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }

    value any() {
        switch (uniform(0, 5)) {
            case 0: return null_value;
            case 1: return i(uniform(-20, 20));
            case 2: return d(static_cast<double>(uniform(-80, 80)) / 4);  // ties with the integers too
            case 3: strings.push_back(std::string(1, static_cast<char>('a' + uniform(0, 5)))); return str(strings.back());
            default: return i(uniform(-5, 5));
        }
    }
    value number(bool integers_only) {
        if (uniform(0, 9) == 0) return null_value;
        if (integers_only) return i(uniform(-1000, 1000));
        return d(real(-1000, 1000));
    }
    value for_function(fn f) {
        switch (f) {
            case fn::sum:
            case fn::avg: return number(uniform(0, 1) == 0);
            case fn::stddev:
            case fn::p50:
            case fn::p95:
            case fn::p99: return number(false);
            default: return any();
        }
    }
};

// Results of two states that must be equal: exact, except float sums, averages and deviations
// (their additions come in another order).
void check_same_result(fn f, const agg::state& a, const agg::state& b, const std::string& what) {
    const auto ra = result(f, a), rb = result(f, b);
    INFO(what << ": " << agg::name_of(f) << " " << ra << " vs " << rb);
    const bool approximate = (f == fn::stddev || ((f == fn::sum || f == fn::avg) && !is_integer_text(ra)));
    if (approximate && ra != "null" && rb != "null") {
        const double x = number_of(ra), y = number_of(rb);
        CHECK(std::abs(x - y) <= 1e-9 * std::max({1.0, std::abs(x), std::abs(y)}));
        CHECK(is_integer_text(ra) == is_integer_text(rb));
    } else {
        CHECK(ra == rb);
    }
}

// --- setup -------------------------------------------------------------------------------------

// Parses args as kstream-agg's command line and runs its setup; returns the usage error's message
// ("parse: ..." for CLI11's), or "" when setup accepted them (then `inspect` sees the plan).
std::string agg_setup(const std::vector<std::string>& args,
                      const std::function<void(const ks::kstream_agg::options&, const ks::kstream_agg::plan&)>& inspect = {}) {
    ks::kstream_agg::options o;
    CLI::App app;
    ks::kstream_agg::declare(app, o);
    const auto level = ks::log::current_level();
    std::string error;
    try {
        ks::parse_args(app, args, o.common);
        const auto p = ks::kstream_agg::setup(o);
        if (inspect) inspect(o, p);
    } catch (const ks::usage_error& e) {
        error = e.what();
    } catch (const CLI::ParseError& e) {
        error = std::string("parse: ") + e.what();
    }
    ks::log::set_level(level);
    return error;
}

}  // namespace

// ===============================================================================================
// Windows

TEST_CASE("windows_of: tumbling windows at their boundaries", "[agg]") {
    const auto w = tumbling(10 * s_ms);
    CHECK(windows(w, 0) == window_list{{0, 10'000}});
    CHECK(windows(w, 9'999) == window_list{{0, 10'000}});
    CHECK(windows(w, 10'000) == window_list{{10'000, 20'000}});  // the end belongs to the next window
    CHECK(windows(w, 10'001) == window_list{{10'000, 20'000}});
    CHECK(windows(w, 1'700'000'000'000) == window_list{{1'700'000'000'000, 1'700'000'010'000}});
    CHECK(windows(w, 1'700'000'009'999) == window_list{{1'700'000'000'000, 1'700'000'010'000}});
    // One window per record, of the size, aligned to the epoch.
    const auto five = tumbling(5 * m_ms);
    CHECK(windows(five, 1'700'000'123'456) == window_list{{1'700'000'100'000, 1'700'000'400'000}});
    const auto day = tumbling(d_ms);
    CHECK(windows(day, 1'700'000'000'000) == window_list{{1'699'920'000'000, 1'700'006'400'000}});
}

TEST_CASE("windows_of: tumbling windows before the epoch are floored, not truncated", "[agg]") {
    const auto w = tumbling(10 * s_ms);
    CHECK(windows(w, -1) == window_list{{-10'000, 0}});
    CHECK(windows(w, -9'999) == window_list{{-10'000, 0}});
    CHECK(windows(w, -10'000) == window_list{{-10'000, 0}});
    CHECK(windows(w, -10'001) == window_list{{-20'000, -10'000}});
    CHECK(windows(tumbling(h_ms), -86'400'000'000) == window_list{{-86'400'000'000, -86'396'400'000}});
    CHECK(windows(tumbling(7), -15) == window_list{{-21, -14}});
}

TEST_CASE("windows_of: hopping windows overlap size/advance times, ordered by start", "[agg]") {
    const auto w = hopping(10 * s_ms, 5 * s_ms);
    CHECK(windows(w, 0) == window_list{{-5'000, 5'000}, {0, 10'000}});
    CHECK(windows(w, 4'999) == window_list{{-5'000, 5'000}, {0, 10'000}});
    CHECK(windows(w, 5'000) == window_list{{0, 10'000}, {5'000, 15'000}});
    CHECK(windows(w, 9'999) == window_list{{0, 10'000}, {5'000, 15'000}});
    CHECK(windows(w, 10'000) == window_list{{5'000, 15'000}, {10'000, 20'000}});
    CHECK(windows(w, -1) == window_list{{-10'000, 0}, {-5'000, 5'000}});
    CHECK(windows(w, -5'000) == window_list{{-10'000, 0}, {-5'000, 5'000}});
    CHECK(windows(w, -5'001) == window_list{{-15'000, -5'000}, {-10'000, 0}});

    // An hour advancing by 15 minutes: 4 windows for every time, each holding it.
    const auto hour = hopping(h_ms, 15 * m_ms);
    const std::vector<std::int64_t> times = {0, 1, 15 * m_ms - 1, 15 * m_ms, h_ms, -1, -h_ms, -h_ms - 1, 1'700'000'000'000,
                                             1'700'000'000'001};
    for (std::int64_t t : times) {
        const auto ws = windows(hour, t);
        INFO("t = " << t);
        REQUIRE(ws.size() == 4);
        for (const auto& [start, end] : ws) {
            CHECK(start <= t);
            CHECK(t < end);
            CHECK(end - start == h_ms);
            CHECK(((start % (15 * m_ms)) + 15 * m_ms) % (15 * m_ms) == 0);
        }
        CHECK(ws == expected_windows(h_ms, 15 * m_ms, t));
    }
    // advance = size is tumbling.
    CHECK(windows(hopping(10'000, 10'000), 12'345) == window_list{{10'000, 20'000}});
}

TEST_CASE("windows_of: hopping windows, every size and advance, against brute force", "[agg]") {
    for (std::int64_t size : {1, 2, 3, 7, 10, 12, 60}) {
        for (std::int64_t advance = 1; advance <= size; ++advance) {
            const auto w = hopping(size, advance);
            for (std::int64_t t = -130; t <= 130; ++t) {
                INFO("size " << size << ", advance " << advance << ", t " << t);
                const auto ws = windows(w, t);
                CHECK(ws == expected_windows(size, advance, t));
                if (size % advance == 0) CHECK(ws.size() == static_cast<size_t>(size / advance));
            }
        }
    }
}

TEST_CASE("windows_of: --window none is one running total", "[agg]") {
    CHECK(windows(window_spec{}, 0) == window_list{{0, 0}});
    CHECK(windows(window_spec{}, -123'456) == window_list{{0, 0}});
    CHECK(windows(window_spec{}, 1'700'000'000'000) == window_list{{0, 0}});
}

TEST_CASE("parse_window: the four kinds and their sizes", "[agg]") {
    using ks::kstream_agg::parse_window;
    auto w = parse_window("tumbling:5m");
    CHECK(w.kind == window_kind::tumbling);
    CHECK(w.size_ms == 5 * m_ms);
    CHECK(w.advance_ms == 5 * m_ms);
    CHECK(parse_window("tumbling:500ms").size_ms == 500);
    CHECK(parse_window("tumbling:2").size_ms == 2 * s_ms);  // bare seconds
    CHECK(parse_window("tumbling:1d").size_ms == d_ms);
    w = parse_window("hopping:10m,5m");
    CHECK(w.kind == window_kind::hopping);
    CHECK(w.size_ms == 10 * m_ms);
    CHECK(w.advance_ms == 5 * m_ms);
    w = parse_window("hopping:1h,1h");
    CHECK(w.size_ms == h_ms);
    CHECK(w.advance_ms == h_ms);
    w = parse_window("session:30m");
    CHECK(w.kind == window_kind::session);
    CHECK(w.gap_ms == 30 * m_ms);
    w = parse_window("none");
    CHECK(w.kind == window_kind::none);
}

TEST_CASE("parse_window: errors name the option and the text", "[agg]") {
    const auto error = [](std::string_view text) {
        return usage_message([&] { ks::kstream_agg::parse_window(text); });
    };
    const std::string kinds = "--window: expected tumbling:SIZE, hopping:SIZE,ADVANCE, session:GAP or none, got ";
    CHECK(error("tumbling") == kinds + "'tumbling'");
    CHECK(error("tumbling:") == kinds + "'tumbling:'");
    CHECK(error("session:") == kinds + "'session:'");
    CHECK(error("sliding:5m") == kinds + "'sliding:5m'");
    CHECK(error("none:5m") == kinds + "'none:5m'");
    CHECK(error("") == kinds + "''");
    CHECK(error("Tumbling:5m") == kinds + "'Tumbling:5m'");
    CHECK(error("tumbling:0") == "--window tumbling: '0' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)");
    CHECK(error("tumbling:-5m") == "--window tumbling: '-5m' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)");
    CHECK(error("tumbling:5x") == "--window tumbling: '5x' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)");
    CHECK(error("hopping:10m") == "--window: hopping needs a size and an advance: hopping:10m,5m (got 'hopping:10m')");
    CHECK(error("hopping:5m,10m") == "--window: the advance of a hopping window must not exceed its size ('hopping:5m,10m')");
    CHECK(error("hopping:10m,") == "--window hopping advance: '' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)");
    CHECK(error("hopping:,5m") == "--window hopping size: '' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)");
    CHECK(error("session:0s") == "--window session gap: '0s' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)");
}

TEST_CASE("parse_duration_ms: units, bare seconds and errors", "[agg]") {
    using ks::parse_duration_ms;
    CHECK(parse_duration_ms("500ms", "--grace") == 500);
    CHECK(parse_duration_ms("30s", "--grace") == 30 * s_ms);
    CHECK(parse_duration_ms("5m", "--grace") == 5 * m_ms);
    CHECK(parse_duration_ms("2h", "--grace") == 2 * h_ms);
    CHECK(parse_duration_ms("1d", "--grace") == d_ms);
    CHECK(parse_duration_ms("90", "--grace") == 90 * s_ms);
    CHECK(parse_duration_ms("1.5", "--grace") == 1'500);
    CHECK(parse_duration_ms("0.25s", "--grace") == 250);
    CHECK(parse_duration_ms("1ms", "--grace") == 1);
    const auto error = [](std::string_view text) {
        return usage_message([&] { ks::parse_duration_ms(text, "--grace"); });
    };
    for (const char* bad : {"", "0", "0ms", "-1s", "-5", "5 m", "5mm", "5M", "m", "abc", "inf", "nan", "1e16", "0.4ms", "10y"}) {
        INFO("'" << bad << "'");
        CHECK(error(bad) == fmt::format("--grace: '{}' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)", bad));
    }
}

// ===============================================================================================
// Aggregate functions, one record at a time

TEST_CASE("agg: function names", "[agg]") {
    for (fn f : all_functions) CHECK(agg::fn_named(agg::name_of(f)) == f);
    CHECK_FALSE(agg::fn_named("median"));
    CHECK_FALSE(agg::fn_named("COUNT"));
    CHECK_FALSE(agg::fn_named(""));
}

TEST_CASE("agg: count() counts records, count(EXPR) non-null values", "[agg]") {
    agg::state records;
    CHECK(result(fn::count, records) == "0");
    for (int k = 0; k < 5; ++k) agg::add(fn::count, records, a_record(), k);
    CHECK(result(fn::count, records) == "5");
    CHECK(result_of(fn::count, {i(1), null_value, str("x"), d(2.5), null_value, i(0)}) == "4");
    CHECK(result_of(fn::count, {null_value, null_value}) == "0");
    CHECK(result_of(fn::count, {}) == "0");
}

TEST_CASE("agg: sum of integers stays an integer, exact to 64 bits", "[agg]") {
    CHECK(result_of(fn::sum, {i(1), i(2), i(3)}) == "6");
    CHECK(result_of(fn::sum, {i(-7), null_value, i(3)}) == "-4");  // nulls ignored
    CHECK(result_of(fn::sum, {i(0)}) == "0");
    CHECK(result_of(fn::sum, {}) == "null");
    CHECK(result_of(fn::sum, {null_value, null_value}) == "null");
    // Beyond 2^53 a double would round: the integer sum does not.
    CHECK(result_of(fn::sum, {i(9'007'199'254'740'993), i(2)}) == "9007199254740995");
    CHECK(result_of(fn::sum, {i(4'611'686'018'427'387'904), i(4'611'686'018'427'387'903)}) == "9223372036854775807");
    CHECK(result_of(fn::sum, {i(std::numeric_limits<std::int64_t>::min()), i(0)}) == "-9223372036854775808");
}

TEST_CASE("agg: sum turns to a number on a float or an int64 overflow", "[agg]") {
    CHECK(result_of(fn::sum, {i(1), d(0.5), i(2)}) == "3.5");
    CHECK(result_of(fn::sum, {d(0.1), d(0.2)}) == "0.30000000000000004");
    CHECK(result_of(fn::sum, {d(1.5), d(1.5)}) == "3");  // a number, written in its shortest form
    const auto max = std::numeric_limits<std::int64_t>::max();
    const auto over = result_of(fn::sum, {i(max), i(1)});
    CHECK_FALSE(is_integer_text(over));
    CHECK(number_of(over) == 9.223372036854775808e18);
    const auto under = result_of(fn::sum, {i(std::numeric_limits<std::int64_t>::min()), i(-1)});
    CHECK_FALSE(is_integer_text(under));
    CHECK(number_of(under) == -9.223372036854775809e18);
    // Once over, it stays a number even when later values bring it back into range.
    const auto back = result_of(fn::sum, {i(max), i(max), i(-max), i(-max), d(0.5)});
    CHECK(back == "0.5");
    CHECK(result_of(fn::sum, {i(max), i(max), i(-max), i(-max), i(-3)}) == "-3");
}

TEST_CASE("agg: avg is a number; nulls ignored", "[agg]") {
    CHECK(result_of(fn::avg, {i(1), i(2)}) == "1.5");
    CHECK(result_of(fn::avg, {i(1), i(2), i(4)}) == "2.3333333333333335");
    CHECK(result_of(fn::avg, {i(2), null_value, i(4)}) == "3");
    CHECK(result_of(fn::avg, {d(0.5), i(1)}) == "0.75");
    CHECK(result_of(fn::avg, {i(-3)}) == "-3");
    CHECK(result_of(fn::avg, {}) == "null");
    CHECK(result_of(fn::avg, {null_value}) == "null");
    // Large integers: the average of the exact sum.
    CHECK(result_of(fn::avg, {i(9'007'199'254'740'993), i(9'007'199'254'740'995)}) == "9007199254740994");
    const auto max = std::numeric_limits<std::int64_t>::max();
    CHECK(number_of(result_of(fn::avg, {i(max), i(max)})) == static_cast<double>(max));
}

TEST_CASE("agg: stddev is the sample deviation, as a two-pass computation gives it", "[agg]") {
    CHECK(result_of(fn::stddev, {}) == "null");
    CHECK(result_of(fn::stddev, {i(5)}) == "null");  // needs two values
    CHECK(result_of(fn::stddev, {i(5), null_value}) == "null");
    CHECK(result_of(fn::stddev, {i(3), i(3), i(3)}) == "0");
    CHECK(number_of(result_of(fn::stddev, {i(1), i(3)})) == Approx(std::sqrt(2.0)).epsilon(1e-15));
    CHECK(number_of(result_of(fn::stddev, {i(2), i(4), i(4), i(4), i(5), i(5), i(7), i(9)})) ==
          Approx(std::sqrt(32.0 / 7)).epsilon(1e-15));

    std::mt19937_64 rng(20240610);
    struct distribution {
        const char* name;
        std::function<double()> draw;
        double tolerance;  // relative
    };
    std::normal_distribution<double> normal(50, 10);
    std::exponential_distribution<double> exponential(0.01);
    std::uniform_real_distribution<double> uniform(-1e6, 1e6);
    std::normal_distribution<double> narrow(0, 1e-3);
    const std::vector<distribution> distributions = {
        {"normal", [&] { return normal(rng); }, 1e-9},
        {"exponential", [&] { return exponential(rng); }, 1e-9},
        {"uniform", [&] { return uniform(rng); }, 1e-9},
        // Where a one-pass sum of squares gives nonsense (the squares are 1e18, the variance 1e-6):
        // a running mean in a double is off by its rounding (1e-7), so 1e-4 of the spread is fair.
        {"large offset, small spread", [&] { return 1e9 + narrow(rng); }, 1e-3},
    };
    for (const auto& dist : distributions) {
        for (size_t n : {2u, 3u, 10u, 1000u, 20000u}) {
            std::vector<double> xs;
            agg::state s;
            for (size_t k = 0; k < n; ++k) {
                xs.push_back(dist.draw());
                add(fn::stddev, s, d(xs.back()));
            }
            INFO(dist.name << ", n = " << n);
            const double expected = two_pass_stddev(xs);
            CHECK(std::abs(number_of(result(fn::stddev, s)) - expected) <= dist.tolerance * expected);
        }
    }
}

TEST_CASE("agg: first and last by event time; ties keep the first and the last arrived", "[agg]") {
    struct row {
        std::int64_t t;
        value v;
    };
    const std::vector<row> rows = {{50, str("a")}, {30, str("b")}, {30, str("c")}, {70, str("d")},
                                   {70, str("e")}, {10, null_value}, {90, null_value}, {60, i(6)}};
    agg::state first, last;
    for (const auto& r : rows) {
        add(fn::first, first, r.v, r.t);
        add(fn::last, last, r.v, r.t);
    }
    CHECK(result(fn::first, first) == R"("b")");  // 30: b arrived before c; the null at 10 is ignored
    CHECK(result(fn::last, last) == R"("e")");    // 70: e arrived after d; the null at 90 is ignored

    // Values keep their JSON form; times before the epoch order too.
    agg::state f2, l2;
    for (const auto& [t, v] : std::vector<std::pair<std::int64_t, value>>{{-5, d(2.5)}, {-10, i(-1)}, {0, value::of_bool(true)}}) {
        add(fn::first, f2, v, t);
        add(fn::last, l2, v, t);
    }
    CHECK(result(fn::first, f2) == "-1");
    CHECK(result(fn::last, l2) == "true");

    // All at one time: first is the first arrived, last the last arrived.
    agg::state f3, l3;
    for (int k = 0; k < 5; ++k) {
        add(fn::first, f3, i(k), 1000);
        add(fn::last, l3, i(k), 1000);
    }
    CHECK(result(fn::first, f3) == "0");
    CHECK(result(fn::last, l3) == "4");
    CHECK(result_of(fn::first, {}) == "null");
    CHECK(result_of(fn::last, {null_value}) == "null");
}

TEST_CASE("agg: min and max over numbers, strings and both", "[agg]") {
    CHECK(result_of(fn::min, {i(3), i(-2), d(3.5), i(10), d(-2.5)}) == "-2.5");
    CHECK(result_of(fn::max, {i(3), i(-2), d(3.5), i(10), d(-2.5)}) == "10");
    CHECK(result_of(fn::min, {d(0.1), i(0), d(-0.1)}) == "-0.1");
    CHECK(result_of(fn::max, {i(-5), null_value, i(-3)}) == "-3");
    CHECK(result_of(fn::min, {str("pear"), str("apple"), str("plum")}) == R"("apple")");
    CHECK(result_of(fn::max, {str("pear"), str("apple"), str("plum")}) == R"("plum")");
    CHECK(result_of(fn::min, {str("b"), str("B"), str("a")}) == R"("B")");  // byte order
    // Numbers before strings.
    CHECK(result_of(fn::min, {str("a"), i(100), str("0")}) == "100");
    CHECK(result_of(fn::max, {str("a"), i(100), str("0")}) == R"("a")");
    CHECK(result_of(fn::min, {}) == "null");
    CHECK(result_of(fn::max, {null_value, null_value}) == "null");
    // Integers compare as numbers, not as text.
    CHECK(result_of(fn::max, {i(9), i(10), i(100)}) == "100");
    CHECK(result_of(fn::min, {i(-9), i(-10), i(-100)}) == "-100");
}

TEST_CASE("agg: min and max order strings as strings and large integers exactly", "[agg]") {
    // A prefix is smaller than the longer string ("a" < "a "), and a quote is the byte 0x22, smaller
    // than 'Z' (0x5A): comparing the JSON texts ("a" vs "a ", "a\"" vs "aZ") gets both wrong.
    CHECK(result_of(fn::min, {str("a "), str("a")}) == R"("a")");
    CHECK(result_of(fn::max, {str("a"), str("a ")}) == R"("a ")");
    CHECK(result_of(fn::min, {str("a!"), str("a")}) == R"("a")");
    CHECK(result_of(fn::min, {str("aZ"), str("a\"")}) == R"("a\"")");
    CHECK(result_of(fn::max, {str("a\""), str("aZ")}) == R"("aZ")");
    // Integers beyond 2^53 are exact in the input (and in sum): so is their order.
    CHECK(result_of(fn::min, {i(9'007'199'254'740'993), i(9'007'199'254'740'992)}) == "9007199254740992");
    CHECK(result_of(fn::max, {i(9'007'199'254'740'992), i(9'007'199'254'740'993)}) == "9007199254740993");
}

TEST_CASE("agg: count_distinct counts distinct JSON values exactly; nulls ignored", "[agg]") {
    CHECK(result_of(fn::count_distinct, {i(1), i(1), str("1"), i(2), null_value, str("a"), str("a"), d(2.5)}) == "5");
    CHECK(result_of(fn::count_distinct, {}) == "0");
    CHECK(result_of(fn::count_distinct, {null_value}) == "0");
    CHECK(result_of(fn::count_distinct, {value::of_bool(true), value::of_bool(false), value::of_bool(true)}) == "2");
    // Many values: exact, not an estimate.
    agg::state s;
    for (std::int64_t k = 0; k < 100'000; ++k) add(fn::count_distinct, s, i(k % 77'777));
    CHECK(result(fn::count_distinct, s) == "77777");
}

TEST_CASE("agg: a value a function cannot take is refused with the reason", "[agg]") {
    agg::input in;
    std::string why;
    for (fn f : {fn::sum, fn::avg, fn::stddev, fn::p50, fn::p95, fn::p99}) {
        why.clear();
        CHECK_FALSE(agg::make_input(f, str("many"), in, why));
        CHECK(why == fmt::format("{}() needs a number, got \"many\"", agg::name_of(f)));
        CHECK_FALSE(agg::make_input(f, value::of_bool(true), in, why));
    }
    // The rest take anything; null is not present.
    for (fn f : {fn::count, fn::min, fn::max, fn::first, fn::last, fn::count_distinct}) {
        CHECK(agg::make_input(f, str("many"), in, why));
        CHECK(in.present);
    }
    for (fn f : all_functions) {
        CHECK(agg::make_input(f, null_value, in, why));
        CHECK_FALSE(in.present);
    }
}

// ===============================================================================================
// Quantiles

TEST_CASE("agg: quantile sketch within 1% of the exact quantile on several distributions", "[agg]") {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> uniform(0, 1000);
    std::exponential_distribution<double> exponential(1.0 / 50);
    std::uniform_real_distribution<double> symmetric(-1000, 1000);
    std::lognormal_distribution<double> lognormal(0, 4);  // spans many orders of magnitude
    std::uniform_int_distribution<int> coin(0, 2);
    struct distribution {
        const char* name;
        std::function<double()> draw;
    };
    const std::vector<distribution> distributions = {
        {"uniform", [&] { return uniform(rng); }},
        {"exponential", [&] { return exponential(rng); }},
        {"negatives and positives", [&] { return symmetric(rng); }},
        {"negatives only", [&] { return -exponential(rng); }},
        {"a third zeros", [&] { return coin(rng) == 0 ? 0.0 : symmetric(rng); }},
        {"lognormal", [&] { return lognormal(rng); }},
        {"integers 1..10", [&] { return static_cast<double>(1 + coin(rng) * 4 + coin(rng)); }},
    };
    const std::vector<double> qs = {0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1};
    for (const auto& dist : distributions) {
        for (size_t n : {1u, 2u, 3u, 10u, 101u, 5000u}) {
            std::vector<double> xs;
            agg::sketch sk;
            for (size_t k = 0; k < n; ++k) {
                xs.push_back(dist.draw());
                sk.add(xs.back());
            }
            CHECK(sk.count() == static_cast<std::int64_t>(n));
            for (double q : qs) {
                const auto estimate = sk.quantile(q);
                REQUIRE(estimate);
                check_quantile_bound(*estimate, exact_quantile(xs, q), fmt::format("{}, n = {}, q = {}", dist.name, n, q));
            }
        }
    }
    // Through the aggregates p50, p95 and p99.
    for (const auto& dist : distributions) {
        std::vector<double> xs;
        agg::state s50, s95, s99;
        for (int k = 0; k < 2000; ++k) {
            xs.push_back(dist.draw());
            add(fn::p50, s50, d(xs.back()));
            add(fn::p95, s95, d(xs.back()));
            add(fn::p99, s99, d(xs.back()));
            if (k % 7 == 0) {  // nulls ignored
                add(fn::p50, s50, null_value);
                add(fn::p95, s95, null_value);
                add(fn::p99, s99, null_value);
            }
        }
        check_quantile_bound(number_of(result(fn::p50, s50)), exact_quantile(xs, 0.5), fmt::format("{} p50", dist.name));
        check_quantile_bound(number_of(result(fn::p95, s95)), exact_quantile(xs, 0.95), fmt::format("{} p95", dist.name));
        check_quantile_bound(number_of(result(fn::p99, s99)), exact_quantile(xs, 0.99), fmt::format("{} p99", dist.name));
    }
}

TEST_CASE("agg: quantiles of one value, of zeros, of integers, and of nothing", "[agg]") {
    for (double x : {1.0, -1.0, 42.0, 1e-9, 1e12, -3.75, 0.1, 1e-200, 1e300}) {
        for (fn f : {fn::p50, fn::p95, fn::p99}) {
            agg::state s;
            add(f, s, d(x));
            check_quantile_bound(number_of(result(f, s)), x, fmt::format("one value {} {}", x, agg::name_of(f)));
        }
    }
    for (fn f : {fn::p50, fn::p95, fn::p99}) {
        CHECK(result_of(f, {i(0), i(0), d(0.0)}) == "0");
        CHECK(result_of(f, {}) == "null");
        CHECK(result_of(f, {null_value}) == "null");
        // Integers: p50 of 1..100 is the value at rank floor(0.5 * 99) = 49, i.e. 50.
        agg::state s;
        for (int k = 1; k <= 100; ++k) add(f, s, i(k));
        const double exact = f == fn::p50 ? 50 : f == fn::p95 ? 95 : 99;  // ranks 49, 94, 98
        check_quantile_bound(number_of(result(f, s)), exact, fmt::format("1..100 {}", agg::name_of(f)));
    }
    agg::sketch empty;
    CHECK_FALSE(empty.quantile(0.5));
}

// ===============================================================================================
// merge: equal to adding the records into one state

TEST_CASE("agg: merge equals adding every record into one state, for every function", "[agg]") {
    value_source src(424242);
    for (fn f : all_functions) {
        for (int trial = 0; trial < 300; ++trial) {
            const auto n = static_cast<size_t>(src.uniform(0, 40));
            std::vector<std::pair<value, std::int64_t>> rows;
            for (size_t k = 0; k < n; ++k) rows.emplace_back(src.for_function(f), src.uniform(-3, 3));  // times with ties
            // One state for all, and contiguous parts (some empty) in arrival order.
            agg::state whole;
            const auto parts_count = static_cast<size_t>(src.uniform(1, 5));
            std::vector<size_t> cuts;
            for (size_t c = 1; c < parts_count; ++c) cuts.push_back(static_cast<size_t>(src.uniform(0, static_cast<std::int64_t>(n))));
            std::sort(cuts.begin(), cuts.end());
            cuts.push_back(n);
            std::vector<agg::state> parts(parts_count);
            size_t part = 0;
            for (size_t k = 0; k < n; ++k) {
                while (k >= cuts[part]) ++part;
                const auto in = f == fn::count && src.uniform(0, 1) == 0 ? a_record() : input_of(f, rows[k].first);
                agg::add(f, whole, in, rows[k].second);
                agg::add(f, parts[part], in, rows[k].second);
            }
            agg::state merged = parts[0];
            for (size_t p = 1; p < parts.size(); ++p) agg::merge(f, merged, parts[p]);
            check_same_result(f, merged, whole, fmt::format("trial {}, {} rows in {} parts", trial, n, parts_count));
            CHECK(merged.n == whole.n);
            if (f == fn::p50 || f == fn::p95 || f == fn::p99) {  // the sketches are equal, so every quantile is
                for (double q : {0.0, 0.3, 0.5, 0.8, 0.95, 0.99, 1.0}) {
                    const auto a = merged.quantiles ? merged.quantiles->quantile(q) : std::nullopt;
                    const auto b = whole.quantiles ? whole.quantiles->quantile(q) : std::nullopt;
                    CHECK(a == b);
                }
            }
        }
    }
}

TEST_CASE("agg: merge keeps the tie rules of first and last (the merged-in state arrived later)", "[agg]") {
    agg::state early_first, late_first, early_last, late_last;
    add(fn::first, early_first, str("early"), 100);
    add(fn::first, late_first, str("late"), 100);
    add(fn::last, early_last, str("early"), 100);
    add(fn::last, late_last, str("late"), 100);
    agg::merge(fn::first, early_first, late_first);
    agg::merge(fn::last, early_last, late_last);
    CHECK(result(fn::first, early_first) == R"("early")");
    CHECK(result(fn::last, early_last) == R"("late")");
}

TEST_CASE("agg: sum merge overflows to a number like adding does", "[agg]") {
    const auto max = std::numeric_limits<std::int64_t>::max();
    agg::state a, b;
    add(fn::sum, a, i(max));
    add(fn::sum, b, i(max));
    agg::merge(fn::sum, a, b);
    const auto r = result(fn::sum, a);
    CHECK_FALSE(is_integer_text(r));
    CHECK(number_of(r) == 2 * static_cast<double>(max));
    agg::state c, e;
    add(fn::sum, c, i(5));
    add(fn::sum, e, d(0.5));
    agg::merge(fn::sum, c, e);
    CHECK(result(fn::sum, c) == "5.5");
}

// ===============================================================================================
// Changelog encoding

TEST_CASE("agg: write_state/read_state round trip for every function", "[agg]") {
    value_source src(99);
    for (fn f : all_functions) {
        for (int trial = 0; trial < 60; ++trial) {
            agg::state s;
            const auto n = trial == 0 ? 0 : src.uniform(0, 50);
            for (std::int64_t k = 0; k < n; ++k) agg::add(f, s, input_of(f, src.for_function(f)), src.uniform(-1000, 1000));
            if (f == fn::sum && trial == 1) {  // an overflowed sum
                add(f, s, i(std::numeric_limits<std::int64_t>::max()));
                add(f, s, i(std::numeric_limits<std::int64_t>::max()));
            }
            std::string encoded;
            agg::write_state(f, s, encoded);
            INFO(agg::name_of(f) << ", trial " << trial << ", " << encoded.size() << " bytes");

            agg::state back;
            std::string_view in = encoded;
            REQUIRE(agg::read_state(f, back, in));
            CHECK(in.empty());  // exactly its bytes
            CHECK(result(f, back) == result(f, s));
            CHECK(back.n == s.n);
            std::string again;
            agg::write_state(f, back, again);
            CHECK(again.size() == encoded.size());
            if (f != fn::count_distinct) CHECK(again == encoded);  // hash sets iterate in any order
            else CHECK(hashes_of(s) == hashes_of(back));

            // The state goes on as the original would: the same records added to both.
            for (int k = 0; k < 5; ++k) {
                const auto v = src.for_function(f);
                const auto t = src.uniform(-1000, 1000);
                agg::add(f, s, input_of(f, v), t);
                agg::add(f, back, input_of(f, v), t);
            }
            CHECK(result(f, back) == result(f, s));

            // Trailing bytes are left for the caller (the store's records hold several states).
            std::string two = encoded + encoded;
            std::string_view both = two;
            agg::state first, second;
            REQUIRE(agg::read_state(f, first, both));
            REQUIRE(agg::read_state(f, second, both));
            CHECK(both.empty());
        }
    }
}

TEST_CASE("agg: read_state rejects truncated input and a negative count", "[agg]") {
    value_source src(5);
    for (fn f : all_functions) {
        agg::state s;
        for (int k = 0; k < 20; ++k) agg::add(f, s, input_of(f, src.for_function(f)), k);
        if (f == fn::count) agg::add(f, s, a_record(), 0);
        std::string encoded;
        agg::write_state(f, s, encoded);
        for (size_t size = 0; size < encoded.size(); ++size) {
            INFO(agg::name_of(f) << ": the first " << size << " of " << encoded.size() << " bytes");
            std::string_view in(encoded.data(), size);
            agg::state back;
            CHECK_FALSE(agg::read_state(f, back, in));
        }
        // Also an empty state's encoding, cut.
        std::string empty;
        agg::write_state(f, agg::state{}, empty);
        for (size_t size = 0; size < empty.size(); ++size) {
            std::string_view in(empty.data(), size);
            agg::state back;
            CHECK_FALSE(agg::read_state(f, back, in));
        }
        std::string negative = encoded;
        const std::int64_t minus_one = -1;
        std::memcpy(negative.data(), &minus_one, 8);
        std::string_view in = negative;
        agg::state back;
        CHECK_FALSE(agg::read_state(f, back, in));
    }
}

// ===============================================================================================
// setup: usage errors from argument vectors, nothing opened

TEST_CASE("setup: kstream-agg accepts files and stdin, and fills the plan", "[agg]") {
    CHECK(agg_setup({"--agg", "n=count()"}, [](const auto&, const auto& p) {
              REQUIRE(p.inputs.size() == 1);
              CHECK(p.inputs[0].is_stdio());
              CHECK(p.output.is_stdio());
              CHECK(p.window.kind == window_kind::none);
              CHECK(p.grace_ms == 0);
              CHECK(p.emit_final);
              CHECK_FALSE(p.time);
              CHECK_FALSE(p.having);
              REQUIRE(p.aggs.size() == 1);
              CHECK(p.aggs[0].name == "n");
              CHECK(p.aggs[0].function == fn::count);
              CHECK_FALSE(p.aggs[0].argument);
          }) == "");
    CHECK(agg_setup({"-i", "a.jsonl", "-i", "b/*.jsonl", "-o", "out.jsonl", "--group-by", "city, lower(kind) as k",
                     "--group-by", "`Day of the week`", "--agg", "n=count(*), s=sum(v)", "--agg", "p=p99(v * 2)", "--window",
                     "hopping:10m,5m", "--grace", "2m", "--emit", "update", "--time-field", "ts", "--having", "n > 1"},
                    [](const auto&, const auto& p) {
                        CHECK(p.inputs.size() == 2);
                        REQUIRE(p.group.size() == 3);
                        CHECK(p.group[0].name == "city");
                        CHECK(p.group[1].name == "k");
                        CHECK(p.group[2].name == "Day of the week");
                        REQUIRE(p.aggs.size() == 3);
                        CHECK(p.aggs[1].function == fn::sum);
                        CHECK(p.aggs[2].name == "p");
                        CHECK(p.aggs[2].function == fn::p99);
                        CHECK(p.window.kind == window_kind::hopping);
                        CHECK(p.window.size_ms == 10 * m_ms);
                        CHECK(p.window.advance_ms == 5 * m_ms);
                        CHECK(p.grace_ms == 2 * m_ms);
                        CHECK_FALSE(p.emit_final);
                        CHECK(p.time);
                        CHECK(p.having);
                    }) == "");
    CHECK(agg_setup({"--agg", "n=count()", "--time", "@timestamp"}, [](const auto&, const auto& p) { CHECK_FALSE(p.time); }) == "");
    CHECK(agg_setup({"--agg", "n=count()", "--time", "from_unixtime(t / 1000)", "--window", "session:30m",
                     "--idle-close", "5"},
                    [](const auto&, const auto& p) {
                        CHECK(p.time);
                        CHECK(p.window.gap_ms == 30 * m_ms);
                    }) == "");
    CHECK(agg_setup({"-i", "kafka:in", "-g", "grp", "-o", "kafka:out", "--agg", "n=count()"}, [](const auto&, const auto& p) {
              CHECK(p.changelog == "grp-changelog");
          }) == "");
    CHECK(agg_setup({"-i", "kafka:in", "-g", "grp", "--changelog", "state", "--agg", "n=count()"},
                    [](const auto&, const auto& p) { CHECK(p.changelog == "state"); }) == "");
}

TEST_CASE("setup: kstream-agg's aggregates: required, known, well formed, named once", "[agg]") {
    CHECK(agg_setup({}) == "parse: --agg is required");
    CHECK(agg_setup({"--group-by", "g"}) == "parse: --agg is required");
    CHECK(agg_setup({"--agg", ""}) == "--agg: an empty item");
    const std::string functions = "(functions: count, sum, avg, min, max, first, last, count_distinct, stddev, p50, p95, p99)";
    CHECK(agg_setup({"--agg", "m=median(v)"}) == "--agg: unknown function 'median' " + functions);
    CHECK(agg_setup({"--agg", "n=COUNT()"}) == "--agg: unknown function 'COUNT' " + functions);
    CHECK(agg_setup({"--agg", "n=count(v"}) == "--agg: 'count(v' is not FUNC(EXPR) " + functions);
    CHECK(agg_setup({"--agg", "n=v"}) == "--agg: 'v' is not FUNC(EXPR) " + functions);
    CHECK(agg_setup({"--agg", "s=sum()"}) == "--agg: sum() needs an expression: sum(EXPR)");
    CHECK(agg_setup({"--agg", "s=sum(*)"}) == "--agg: sum() needs an expression: sum(EXPR)");
    CHECK(agg_setup({"--agg", "n="}) == "--agg: 'n=' has no expression after '='");
    // A bad expression: the message, the expression, a caret under the column.
    CHECK(agg_setup({"--agg", "s=sum(v +)"}) == "--agg s: unexpected end of expression\n  v +\n     ^");
    CHECK(agg_setup({"--agg", "n=count(), s=avg(nosuch(v))"}).starts_with("--agg s: unknown function 'nosuch'"));
    // Duplicate output names, among aggregates, group fields and the window fields.
    CHECK(agg_setup({"--agg", "n=count(), n=sum(v)"}) == "--agg: the output field 'n' twice");
    CHECK(agg_setup({"--agg", "n=count()", "--agg", "n=sum(v)"}) == "--agg: the output field 'n' twice");
    CHECK(agg_setup({"--group-by", "g", "--agg", "g=count()"}) == "--agg: the output field 'g' twice");
    CHECK(agg_setup({"--group-by", "g, x as g", "--agg", "n=count()"}) == "--group-by: the output field 'g' twice");
    CHECK(agg_setup({"--group-by", "a.g, b.g", "--agg", "n=count()"}) == "--group-by: the output field 'g' twice");
    CHECK(agg_setup({"--group-by", "x as window_end", "--agg", "n=count()"}) == "--group-by: the output field 'window_end' twice");
    CHECK(agg_setup({"--agg", "window_start=count()"}) == "--agg: the output field 'window_start' twice");
    // Other expressions: --group-by and --having show the caret too.
    CHECK(agg_setup({"--group-by", "a +", "--agg", "n=count()"}) == "--group-by: unexpected end of expression\n  a +\n     ^");
    CHECK(agg_setup({"--having", "n >", "--agg", "n=count()"}) == "--having: unexpected end of expression\n  n >\n     ^");
    CHECK(agg_setup({"--group-by", "x as", "--agg", "n=count()"}).starts_with("--group-by: "));
}

TEST_CASE("setup: kstream-agg names an unnamed FUNC(EXPR) FUNC_FIELD, or FUNC", "[agg]") {
    // Never "unknown function 'sum'" (sum is no expression function, but it is an aggregate).
    const auto names = [](const std::vector<std::string>& aggs) {
        std::vector<std::string> args, out;
        for (const auto& a : aggs) {
            args.push_back("--agg");
            args.push_back(a);
        }
        const auto error = agg_setup(args, [&](const auto&, const auto& p) {
            for (const auto& a : p.aggs) out.push_back(a.name);
        });
        if (!error.empty()) out.push_back("error: " + error);
        return out;
    };
    CHECK(names({"sum(v)"}) == std::vector<std::string>{"sum_v"});
    CHECK(names({"count()"}) == std::vector<std::string>{"count"});
    CHECK(names({"count(*), avg(price), max(station.capacity), p95(items[0].cost)"}) ==
          std::vector<std::string>{"count", "avg_price", "max_capacity", "p95_cost"});
    CHECK(names({"sum(v * 2)", "n=count()"}) == std::vector<std::string>{"sum", "n"});
    CHECK(names({"sum(a), sum(b)"}) == std::vector<std::string>{"sum_a", "sum_b"});
    CHECK(names({"sum(a * 1), sum(b * 1)"}) == std::vector<std::string>{"error: --agg: the output field 'sum' twice"});
    CHECK(names({"sum(v)", "sum_v=count()"}) == std::vector<std::string>{"error: --agg: the output field 'sum_v' twice"});
    CHECK(names({"median(v)"}).at(0).starts_with("error: --agg: unknown function 'median'"));
    CHECK(names({"sum(v +)"}) == std::vector<std::string>{"error: --agg sum: unexpected end of expression\n  v +\n     ^"});
}

TEST_CASE("setup: kstream-agg's windows, times and --idle-close", "[agg]") {
    CHECK(agg_setup({"--agg", "n=count()", "--window", "tumbling"}) ==
          "--window: expected tumbling:SIZE, hopping:SIZE,ADVANCE, session:GAP or none, got 'tumbling'");
    CHECK(agg_setup({"--agg", "n=count()", "--window", "hopping:5m,10m"}) ==
          "--window: the advance of a hopping window must not exceed its size ('hopping:5m,10m')");
    CHECK(agg_setup({"--agg", "n=count()", "--window", "tumbling:soon"}) ==
          "--window tumbling: 'soon' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)");
    CHECK(agg_setup({"--agg", "n=count()", "--window", "tumbling:1m", "--grace", "later"}) ==
          "--grace: 'later' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)");
    CHECK(agg_setup({"--agg", "n=count()", "--window", "tumbling:1m", "--grace", "-1m"}) ==
          "--grace: '-1m' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)");
    CHECK(agg_setup({"--agg", "n=count()", "--emit", "sometimes"}).starts_with("parse: --emit"));
    CHECK(agg_setup({"--agg", "n=count()", "--idle-close", "5"}) ==
          "--idle-close closes windows: it needs --window tumbling, hopping or session");
    CHECK(agg_setup({"--agg", "n=count()", "--window", "none", "--idle-close", "0.5"}) ==
          "--idle-close closes windows: it needs --window tumbling, hopping or session");
    CHECK(agg_setup({"--agg", "n=count()", "--window", "tumbling:1m", "--idle-close", "-1"}).starts_with("parse: --idle-close"));
    CHECK(agg_setup({"--agg", "n=count()", "--time", "ts", "--time-field", "ts"}) == "--time-field and --time exclude each other");
    CHECK(agg_setup({"--agg", "n=count()", "--time", "ts +"}) == "--time: unexpected end of expression\n  ts +\n      ^");
    CHECK(agg_setup({"--agg", "n=count()", "--max-keys", "0"}).starts_with("parse: --max-keys"));
}

TEST_CASE("setup: kstream-agg takes a zero --grace in any unit", "[agg]") {
    // --grace 0 is the default; 0s and 0ms say the same and must not be "not a duration".
    for (const char* zero : {"0", "0s", "0ms", "0m"}) {
        INFO(zero);
        CHECK(agg_setup({"--agg", "n=count()", "--window", "tumbling:1m", "--grace", zero},
                        [](const auto&, const auto& p) { CHECK(p.grace_ms == 0); }) == "");
    }
}

TEST_CASE("setup: kstream-agg's inputs: one topic with a group; --changelog only for a topic", "[agg]") {
    CHECK(agg_setup({"--agg", "n=count()", "--changelog", "c"}) ==
          "--changelog is for a Kafka input (from files and stdin the state is in memory)");
    CHECK(agg_setup({"-i", "in.jsonl", "--agg", "n=count()", "--changelog", "c"}) ==
          "--changelog is for a Kafka input (from files and stdin the state is in memory)");
    CHECK(agg_setup({"-i", "kafka:a", "-i", "kafka:b", "-g", "g", "--agg", "n=count()"}) ==
          "kstream-agg reads one topic (its state is kept per partition of that topic)");
    CHECK(agg_setup({"-i", "kafka:a", "-i", "x.jsonl", "-g", "g", "--agg", "n=count()"}) ==
          "kstream-agg reads one topic (its state is kept per partition of that topic)");
    CHECK(agg_setup({"-i", "kafka:a", "--agg", "n=count()"}) == "a consumer group is needed to read a topic: -g GROUP");
    CHECK(agg_setup({"-i", "kafka:a", "-g", "g", "--changelog", "a", "--agg", "n=count()"}) ==
          "--changelog: 'a' is the input or the output topic");
    CHECK(agg_setup({"-i", "kafka:a", "-g", "g", "-o", "kafka:out", "--changelog", "out", "--agg", "n=count()"}) ==
          "--changelog: 'out' is the input or the output topic");
    CHECK(agg_setup({"-i", "kafka:a", "-g", "g", "-o", "kafka://elsewhere:9092/u", "--agg", "n=count()"}) ==
          "kafka://elsewhere:9092/u: exactly-once needs the output on the input's cluster (one transaction); use "
          "--guarantee at-least-once to write to another cluster");
    CHECK(agg_setup({"-i", "kafka:a", "-g", "g", "-o", "kafka://elsewhere:9092/u", "--guarantee", "at-least-once", "--agg",
                     "n=count()"}) == "");
    CHECK(agg_setup({"--agg", "n=count()", "--on-error", "dead-letter"}).find("--dead-letter") != std::string::npos);
    CHECK(agg_setup({"--agg", "n=count()", "--guarantee", "twice"}).starts_with("parse: --guarantee"));
}
