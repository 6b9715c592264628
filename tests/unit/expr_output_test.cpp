// ks::expr: values as JSON and as text; evaluation does not allocate after warm-up; the arena
// never moves what it handed out.
#include "expr_support.hpp"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <limits>
#include <memory>
#include <new>

using expr_test::fixture;
using ks::expr::kind;
using ks::expr::value;

// Every heap allocation of the test binary is counted (and otherwise done with malloc). All the
// unaligned forms are replaced, so that each allocation is freed by its own kind (AddressSanitizer
// checks that).
namespace {
std::atomic<long> heap_allocations{0};
void* counted_malloc(std::size_t n) noexcept {
    heap_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n == 0 ? 1 : n);
}
}  // namespace
void* operator new(std::size_t n) {
    if (void* p = counted_malloc(n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    if (void* p = counted_malloc(n)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

std::string json_of(const value& v) {
    std::string out;
    ks::expr::append_json(out, v);
    return out;
}

std::string text_of(const value& v) {
    std::string out = "<";
    CHECK(ks::expr::append_text(out, v));
    return out + ">";
}

value list_of(std::span<const value> items) {
    value v;
    v.type = kind::list;
    v.list = items;
    return v;
}

}  // namespace

TEST_CASE("expr append_json: scalars", "[expr]") {
    CHECK(json_of(value::null()) == "null");
    CHECK(json_of(value::of_bool(true)) == "true");
    CHECK(json_of(value::of_bool(false)) == "false");
    CHECK(json_of(value::of_int(0)) == "0");
    CHECK(json_of(value::of_int(-42)) == "-42");
    CHECK(json_of(value::of_int(std::numeric_limits<std::int64_t>::max())) == "9223372036854775807");
    CHECK(json_of(value::of_int(std::numeric_limits<std::int64_t>::min())) == "-9223372036854775808");
    CHECK(json_of(value::of_int(9007199254740993)) == "9007199254740993");
}

TEST_CASE("expr append_json: floats in the shortest form that reads back exactly", "[expr]") {
    CHECK(json_of(value::of_number(0.1)) == "0.1");
    CHECK(json_of(value::of_number(3.0)) == "3");
    CHECK(json_of(value::of_number(-2.5)) == "-2.5");
    CHECK(json_of(value::of_number(0.1 + 0.2)) == "0.30000000000000004");
    CHECK(json_of(value::of_number(1e21)) == "1e+21");
    CHECK(json_of(value::of_number(1e-7)) == "1e-07");
    CHECK(json_of(value::of_number(123456789012.5)) == "123456789012.5");
    CHECK(json_of(value::of_number(9007199254740993.0)) == "9007199254740992");
    CHECK(json_of(value::of_number(5e-324)) == "5e-324");
    CHECK(json_of(value::of_number(1.7976931348623157e308)) == "1.7976931348623157e+308");
    CHECK(json_of(value::of_number(-0.0)) == "0");
    CHECK(json_of(value::of_number(std::nan(""))) == "null");
    CHECK(json_of(value::of_number(std::numeric_limits<double>::infinity())) == "null");
    CHECK(json_of(value::of_number(-std::numeric_limits<double>::infinity())) == "null");
}

TEST_CASE("expr append_json: strings escaped, valid UTF-8 kept, invalid bytes replaced", "[expr]") {
    CHECK(json_of(value::of_string("")) == R"("")");
    CHECK(json_of(value::of_string("plain")) == R"("plain")");
    CHECK(json_of(value::of_string("a\"b\\c\nd\te")) == R"("a\"b\\c\nd\te")");
    CHECK(json_of(value::of_string(std::string_view("\x01\x1f", 2))) == R"("\u0001\u001f")");
    CHECK(json_of(value::of_string("caf\xC3\xA9 \xF0\x9F\x9A\xB2")) == "\"caf\xC3\xA9 \xF0\x9F\x9A\xB2\"");
    CHECK(json_of(value::of_string("a\xFF" "b")) == "\"a\xEF\xBF\xBD" "b\"");
    CHECK(json_of(value::of_string("cut \xC3")) == "\"cut \xEF\xBF\xBD\"");
    CHECK(json_of(value::of_string("\xE2\x82" "x")) == "\"\xEF\xBF\xBD\xEF\xBF\xBD" "x\"");
}

TEST_CASE("expr append_json: times as ISO-8601 UTC strings", "[expr]") {
    CHECK(json_of(value::of_time_us(0)) == R"("1970-01-01T00:00:00Z")");
    CHECK(json_of(value::of_time_us(1'700'000'000'123'000)) == R"("2023-11-14T22:13:20.123Z")");
    CHECK(json_of(value::of_time_us(1'700'000'000'123'456)) == R"("2023-11-14T22:13:20.123456Z")");
    CHECK(json_of(value::of_time_us(1'700'000'000'000'010)) == R"("2023-11-14T22:13:20.000010Z")");
    CHECK(json_of(value::of_time_us(-1)) == R"("1969-12-31T23:59:59.999999Z")");
}

TEST_CASE("expr append_json: lists as arrays, json values minified as simdjson does", "[expr]") {
    const value inner_items[] = {value::of_int(2), value::of_string("a")};
    const value items[] = {value::of_int(1), list_of(inner_items), value::null(), value::of_number(0.5), value::of_time_us(0)};
    CHECK(json_of(list_of(items)) == R"([1,[2,"a"],null,0.5,"1970-01-01T00:00:00Z"])");
    CHECK(json_of(list_of({})) == "[]");

    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(std::string_view(R"( { "a" : [ 1, 2.5, "x\ty", {"b": null} ], "c": true, "d": 1.0, "e": {} } )")).get(doc) ==
            simdjson::SUCCESS);
    value v;
    v.type = kind::json;
    v.json = doc;
    CHECK(json_of(v) == simdjson::minify(doc));
    CHECK(json_of(v) == R"({"a":[1,2.5,"x\ty",{"b":null}],"c":true,"d":1.0,"e":{}})");
    const value holding[] = {v};
    CHECK(json_of(list_of(holding)) == "[" + simdjson::minify(doc) + "]");
}

TEST_CASE("expr append_json: appends to what is there", "[expr]") {
    std::string out = R"({"x":)";
    ks::expr::append_json(out, value::of_int(5));
    CHECK(out == R"({"x":5)");
}

TEST_CASE("expr append_text: strings as they are, others as JSON, false for null", "[expr]") {
    CHECK(text_of(value::of_string("a\"b c")) == "<a\"b c>");
    CHECK(text_of(value::of_string("")) == "<>");
    CHECK(text_of(value::of_int(42)) == "<42>");
    CHECK(text_of(value::of_number(2.5)) == "<2.5>");
    CHECK(text_of(value::of_number(3.0)) == "<3>");
    CHECK(text_of(value::of_bool(true)) == "<true>");
    CHECK(text_of(value::of_time_us(1'700'000'000'500'000)) == "<2023-11-14T22:13:20.500Z>");
    const value items[] = {value::of_int(1), value::of_string("a")};
    CHECK(text_of(list_of(items)) == R"(<[1,"a"]>)");
    fixture f(R"({"o": {"k": [1, "v"]}})");
    auto o = f.run("o");
    REQUIRE(o.ok);
    CHECK(text_of(o.v) == R"(<{"k":[1,"v"]}>)");

    std::string out = "unchanged";
    CHECK_FALSE(ks::expr::append_text(out, value::null()));
    CHECK(out == "unchanged");
}

TEST_CASE("expr evaluate: no heap allocation once warmed up", "[expr]") {
    const char* records[] = {
        R"({"Total": 51, "name": "Sensor-7", "city": "Paris", "price": 12.5, "qty": 3, "ts": 1700000000123,
            "tags": ["a", "b"], "weather": [{"main": "Rain"}, {"main": "Sun"}], "main": {"temp": 21.5}, "csv": "x,y,z"})",
        R"({"Total": 7, "name": "sensor-8", "city": "Lyon", "price": 3.25, "qty": 10, "ts": "2026-03-29T01:30:00Z",
            "tags": [], "weather": [{"main": "Snow"}], "main": {"temp": -3}, "csv": "p,q"})",
    };
    const char* expressions[] = {
        "Total > 50",
        "main.temp * 9 / 5 + 32",
        "round(price * qty * 1.2, 2)",
        "city in ['Paris', 'Nice', 'Lille', 'Lyon', 'Lens', 'Metz', 'Brest', 'Caen', 'Dijon', 'Tours']",
        "lower(name) = 'sensor-7' and not (qty % 2 = 0)",
        "concat(city, '-', Total, '-', price, '-', true)",
        "upper(city) + '/' + substr(name, -1)",
        "weather[*].main",
        "coalesce(weather[*].nope, weather[-1].main)",
        "split(csv, ',')[1]",
        "len(split(csv, ','))",
        "[Total, price, [city]]",
        "to_string(main)",
        "to_string(weather[*].main)",
        "replace(name, 'ensor', 'ENSOR')",
        "regex_match(name, '^sensor')",
        "contains(lower(name), 'sensor') or starts_with(city, 'P')",
        "format_time(ts)",
        "format_time(ts, '%Y-%m-%d %H:%M', 'Europe/Paris')",
        "hour(ts, 'Europe/Paris') + day_of_week(ts)",
        "date(ts)",
        "case when Total > 50 then 'high' when Total > 5 then 'mid' else 'low' end",
        "if(qty > 5, max(price, qty, tags), min([price, qty]))",
        "to_number('12.5') + to_number('7')",
        "9223372036854775807 + Total",
        "'b' in tags",
        "@key",
    };
    std::deque<fixture> fixtures;
    for (const char* r : records) fixtures.emplace_back(r);
    ks::expr::evaluator ev;
    std::vector<ks::expr::program> programs;
    for (const char* e : expressions) programs.push_back(ks::expr::program::compile(e));
    std::string error, out;
    out.reserve(1 << 16);
    error.reserve(1024);
    auto run_all = [&] {
        for (int round = 0; round < 10; ++round) {
            for (const fixture& f : fixtures) {
                ev.reset();
                for (const auto& p : programs) {
                    value v;
                    const ks::expr::context ctx{f.root()};
                    if (!ev.evaluate(p, ctx, v, error)) FAIL(p.text() << ": " << error);
                    out.clear();
                    ks::expr::append_json(out, v);
                }
            }
        }
    };
    run_all();  // warm-up: arena blocks, scratch space, the zone cache
    {
        const long counted = heap_allocations.load();
        auto probe = std::make_unique<long>(1);  // the counter does count
        CHECK(heap_allocations.load() == counted + 1);
    }
    const long before = heap_allocations.load();
    run_all();
    CHECK(heap_allocations.load() - before == 0);
}

TEST_CASE("expr evaluator: results stay where they are while the arena grows, until reset", "[expr]") {
    const std::string piece(5000, 'x');
    fixture f(R"({"s": ")" + piece + R"("})");
    auto p = ks::expr::program::compile("concat(s, s, s, s)");
    ks::expr::evaluator ev;
    const ks::expr::context ctx{f.root()};
    std::string error;
    for (int record = 0; record < 3; ++record) {
        ev.reset();
        std::vector<std::string_view> results;
        for (int i = 0; i < 40; ++i) {  // 800 KB in one record: the arena grows past its first blocks
            value v;
            REQUIRE(ev.evaluate(p, ctx, v, error));
            results.push_back(v.string);
        }
        const std::string expected = piece + piece + piece + piece;
        for (std::string_view r : results) CHECK(r == expected);
    }
    // Once grown, the blocks are kept: the same work allocates nothing.
    const long before = heap_allocations.load();
    ev.reset();
    for (int i = 0; i < 40; ++i) {
        value v;
        REQUIRE(ev.evaluate(p, ctx, v, error));
    }
    CHECK(heap_allocations.load() - before == 0);
}
