// ks::expr: field paths, wildcards, metadata, locals, field_path().
#include "expr_support.hpp"

#include <optional>

using expr_test::fixture;
using ks::expr::kind;
using ks::expr::value;

namespace {

constexpr const char* record_text = R"({
    "Total": 12, "main": {"temp": 21.5, "feels": null},
    "weather": [{"main": "Rain", "id": 1}, {"id": 2}, {"main": "Sun", "id": 3}, {"main": null}],
    "a": [10, 20, 30], "m": [[1, 2], [3], []], "key with spaces": 1, "o": {"x y": {"z": 5}},
    "big": 18446744073709551615, "deep": {"l": [{"v": [1, 2]}, {"v": [3]}]}, "s": "text", "e": {}, "arr": [],
    "half": 0.5, "t": true
})";

// "a/0/b" for a path, "none" when there is none.
std::string steps_of(std::string_view expression, std::span<const std::string> locals = {}) {
    auto p = ks::expr::program::compile(expression);
    if (!locals.empty()) p.bind(locals);
    auto steps = p.field_path();
    if (!steps) return "none";
    std::string out;
    for (const auto& s : *steps) {
        if (!out.empty()) out += '/';
        out += s.index >= 0 ? std::to_string(s.index) : s.name;
    }
    return out;
}

}  // namespace

TEST_CASE("expr paths: fields, nested fields and array indexes", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("Total") == "12");
    CHECK(f.json("main.temp") == "21.5");
    CHECK(f.json("weather[0].main") == R"("Rain")");
    CHECK(f.json("weather[2].id") == "3");
    CHECK(f.json("a[0]") == "10");
    CHECK(f.json("a[-1]") == "30");
    CHECK(f.json("a[-3]") == "10");
    CHECK(f.json("m[0][1]") == "2");
    CHECK(f.json("m[-3][-1]") == "2");
    CHECK(f.json("deep.l[1].v[0]") == "3");
    CHECK(f.json("`key with spaces`") == "1");
    CHECK(f.json(R"(o["x y"].z)") == "5");
    CHECK(f.json("o.`x y`.z") == "5");
    CHECK(f.json(R"(o['x y']["z"])") == "5");
    CHECK(f.json("s") == R"("text")");
    CHECK(f.json("t") == "true");
}

TEST_CASE("expr paths: one program over records whose fields move around", "[expr]") {
    // Lookups start where the field was in the previous record: a record of another layout
    // must still find it, or find it missing.
    const char* records[] = {R"({"a": 1, "b": 2, "o": {"x": 1, "y": 2}})", R"({"b": 3, "a": 4, "o": {"y": 5}})", R"({"a": 5, "o": 1})",
                             R"({"x": 0, "y": 0, "z": 0, "b": 6, "o": {"p": 0, "q": 0, "y": 7}})", R"({"b": 8, "o": {"y": 9, "x": 0}})"};
    const char* expected[] = {"[2,2]", "[3,5]", "[null,null]", "[6,7]", "[8,9]"};
    auto p = ks::expr::program::compile("[b, o.y]");
    ks::expr::evaluator ev;
    std::string error;
    for (std::size_t i = 0; i < std::size(records); ++i) {
        fixture f(records[i]);
        value v;
        ev.reset();
        REQUIRE(ev.evaluate(p, {f.root()}, v, error));
        std::string out;
        ks::expr::append_json(out, v);
        CHECK(out == expected[i]);
    }
}

TEST_CASE("expr paths: the record's values keep their kinds", "[expr]") {
    fixture f(record_text);
    CHECK(f.type("Total") == kind::integer);
    CHECK(f.type("half") == kind::number);
    CHECK(f.type("big") == kind::number);  // beyond int64
    CHECK(f.json("big") == "1.8446744073709552e+19");
    CHECK(f.type("s") == kind::string);
    CHECK(f.type("t") == kind::boolean);
    CHECK(f.type("main") == kind::json);
    CHECK(f.type("a") == kind::json);
    CHECK(f.json("e") == "{}");
    CHECK(f.json("arr") == "[]");
    CHECK(f.json("main") == R"({"temp":21.5,"feels":null})");
    CHECK(f.type("main.feels") == kind::null);
}

TEST_CASE("expr paths: what is not there is null, never an error", "[expr]") {
    fixture f(record_text);
    for (const char* e : {"missing", "missing.x", "missing[0]", "main.missing", "main.feels.x", "weather[1].main", "weather[9].main",
                          "a[3]", "a[-4]", "a[100000]", "s.x", "s[0]", "Total.x", "Total[0]", "a.x", "main[0]", "e.x", "arr[0]", "arr[-1]",
                          "t.x"}) {
        INFO(e);
        CHECK(f.json(e) == "null");
    }
}

TEST_CASE("expr paths: [*] gives a list of what each element gives, missing ones skipped", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("weather[*].main") == R"(["Rain","Sun",null])");
    CHECK(f.json("weather[*].id") == "[1,2,3]");
    CHECK(f.json("a[*]") == "[10,20,30]");
    CHECK(f.type("a[*]") == kind::list);
    CHECK(f.json("m[*]") == "[[1,2],[3],[]]");
    CHECK(f.json("m[*][0]") == "[1,3]");
    CHECK(f.json("m[*][-1]") == "[2,3]");
    CHECK(f.json("arr[*]") == "[]");
    CHECK(f.json("a[*].x") == "[]");
    CHECK(f.json("main[*]") == "[21.5,null]");  // over an object: its values
    CHECK(f.json("missing[*]") == "null");
    CHECK(f.json("s[*]") == "null");
    CHECK(f.json("len(weather[*].main)") == "3");
    CHECK(f.json("weather[*]") == R"([{"main":"Rain","id":1},{"id":2},{"main":"Sun","id":3},{"main":null}])");
}

TEST_CASE("expr paths: a wildcard after a wildcard flattens", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("m[*][*]") == "[1,2,3]");
    CHECK(f.json("deep.l[*].v[*]") == "[1,2,3]");
    CHECK(f.json("deep.l[*].v") == "[[1,2],[3]]");
    CHECK(f.json("deep[*][*].v[*]") == "[1,2,3]");
}

TEST_CASE("expr paths: computed indexes and names", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("a[Total - 11]") == "20");
    CHECK(f.json("a[len(a) - 1]") == "30");
    CHECK(f.json("a[0 - Total]") == "null");
    CHECK(f.json("o[concat('x', ' y')].z") == "5");
    CHECK(f.json("a[missing]") == "null");
    CHECK(f.error("a[half]") == "[] needs an integer index or a string name, but half is a number (0.5) in: a[half]");
}

TEST_CASE("expr paths: steps after computed values", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("split('x,y', ',')[1]") == R"("y")");
    CHECK(f.json("split('x,y', ',')[-1]") == R"("y")");
    CHECK(f.json("split('x,y', ',')[2]") == "null");
    CHECK(f.json("[1, 2, 3][-1]") == "3");
    CHECK(f.json("(weather)[2].main") == R"("Sun")");
    CHECK(f.json("(weather[*].id)[1]") == "2");
    CHECK(f.json("coalesce(missing, main).temp") == "21.5");
    CHECK(f.json("if(t, a, null)[0]") == "10");
    CHECK(f.json("[main, o][1]['x y'].z") == "5");
    CHECK(f.json("[main][*].temp") == "[21.5]");
    CHECK(f.json("'text'.x") == "null");
    CHECK(f.json("(1 + 2)[0]") == "null");
}

TEST_CASE("expr metadata: from a Kafka record", "[expr]") {
    const ks::header headers[] = {{"x-id", "abc"}, {"trace", std::nullopt}, {"x-id", "second"}, {"empty", ""}};
    ks::record r;
    r.key = "k1";
    r.headers = headers;
    r.source = "orders";
    r.from_kafka = true;
    r.partition = 2;
    r.offset = 17;
    r.timestamp_ms = 1700000000123;
    fixture f(record_text);
    f.meta = &r;
    CHECK(f.json("@key") == R"("k1")");
    CHECK(f.json("@topic") == R"("orders")");
    CHECK(f.json("@partition") == "2");
    CHECK(f.type("@partition") == kind::integer);
    CHECK(f.json("@offset") == "17");
    CHECK(f.json("@timestamp") == "1700000000123");
    CHECK(f.type("@timestamp") == kind::integer);
    CHECK(f.json(R"(@headers["x-id"])") == R"("second")");  // the last one, as Kafka's lastHeader
    CHECK(f.json("@headers.`x-id`") == R"("second")");
    CHECK(f.json("@headers.trace") == "null");
    CHECK(f.json("@headers.empty") == R"("")");
    CHECK(f.json("@headers.nope") == "null");
    CHECK(f.json("@KEY") == R"("k1")");
    CHECK(f.json("@key + '!'") == R"("k1!")");
    CHECK(f.json("@key.x") == "null");
    CHECK(f.json("format_time(@timestamp)") == R"("2023-11-14T22:13:20.123Z")");
    CHECK(f.json("@offset > 10 and @topic = 'orders'") == "true");
}

TEST_CASE("expr metadata: a Kafka record with a null key and no timestamp", "[expr]") {
    ks::record r;
    r.source = "orders";
    r.from_kafka = true;
    r.partition = 0;
    r.offset = 0;
    fixture f;
    f.meta = &r;
    CHECK(f.json("@key") == "null");
    CHECK(f.json("@key is null") == "true");
    CHECK(f.json("@partition") == "0");
    CHECK(f.json("@offset") == "0");
    CHECK(f.json("@timestamp") == "null");
    CHECK(f.json("@headers.a") == "null");
}

TEST_CASE("expr metadata: records not from Kafka, and no record at all", "[expr]") {
    ks::record from_file;
    from_file.source = "data.jsonl";
    from_file.line = 3;
    fixture f;
    f.meta = &from_file;
    for (const char* e : {"@key", "@topic", "@partition", "@offset", "@timestamp", "@headers.x"}) {
        INFO(e);
        CHECK(f.json(e) == "null");
    }
    from_file.timestamp_ms = 0;  // a record may carry a timestamp without Kafka
    CHECK(f.json("@timestamp") == "0");

    fixture none;
    for (const char* e : {"@key", "@topic", "@partition", "@offset", "@timestamp", "@headers.x"}) {
        INFO(e);
        CHECK(none.json(e) == "null");
    }
}

TEST_CASE("expr locals: bound names read the caller's values", "[expr]") {
    simdjson::dom::parser table;
    simdjson::dom::element row;
    REQUIRE(table.parse(std::string_view(R"({"city": "Paris", "pop": [1, 2]})")).get(row) == simdjson::SUCCESS);
    value row_value;
    row_value.type = kind::json;
    row_value.json = row;
    const value items[] = {value::of_int(7), value::of_string("b")};
    value list;
    list.type = kind::list;
    list.list = items;

    fixture f(record_text);
    f.names = {"price", "tbl", "lst", "Total", "unit price"};
    f.locals = {value::of_number(2.5), row_value, list, value::of_int(99), value::of_int(3)};
    CHECK(f.json("price * 2") == "5");
    CHECK(f.json("tbl.city") == R"("Paris")");
    CHECK(f.json("tbl.pop[1]") == "2");
    CHECK(f.json("tbl.pop[*]") == "[1,2]");
    CHECK(f.json("tbl.missing") == "null");
    CHECK(f.json("lst[1]") == R"("b")");
    CHECK(f.json("lst[*]") == R"([7,"b"])");
    CHECK(f.json("len(lst)") == "2");
    CHECK(f.json("Total") == "99");  // a local hides the record's field
    CHECK(f.json("`unit price` * 2") == "6");
    CHECK(f.json("main.temp") == "21.5");  // unbound names still read the record
    CHECK(f.json("price.x") == "null");
}

TEST_CASE("expr locals: rebinding replaces the names; values missing from the context are null", "[expr]") {
    fixture f(record_text);
    auto p = ks::expr::program::compile("Total + 1");
    ks::expr::evaluator ev;
    std::string error;
    value v;
    const std::string first[] = {"Total"};
    const value one[] = {value::of_int(100)};
    p.bind(first);
    REQUIRE(ev.evaluate(p, {f.root(), nullptr, one}, v, error));
    CHECK(v.integer == 101);
    REQUIRE(ev.evaluate(p, {f.root(), nullptr, {}}, v, error));
    CHECK(v.is_null());
    const std::string other[] = {"other"};
    p.bind(other);
    REQUIRE(ev.evaluate(p, {f.root(), nullptr, one}, v, error));
    CHECK(v.integer == 13);
    p.bind({});
    REQUIRE(ev.evaluate(p, {f.root(), nullptr, {}}, v, error));
    CHECK(v.integer == 13);
}

TEST_CASE("expr field_path: only a bare path into the record", "[expr]") {
    CHECK(steps_of("Total") == "Total");
    CHECK(steps_of("main.temp") == "main/temp");
    CHECK(steps_of("weather[0].main") == "weather/0/main");
    CHECK(steps_of(R"(o["x y"].z)") == "o/x y/z");
    CHECK(steps_of("`key with spaces`") == "key with spaces");
    CHECK(steps_of("(Total)") == "Total");
    CHECK(steps_of("a[-1]") == "none");
    CHECK(steps_of("a[*]") == "none");
    CHECK(steps_of("a[*].b") == "none");
    CHECK(steps_of("a[i]") == "none");
    CHECK(steps_of("@key") == "none");
    CHECK(steps_of("@headers.x") == "none");
    CHECK(steps_of("Total + 0") == "none");
    CHECK(steps_of("lower(s)") == "none");
    CHECK(steps_of("split(s, ',')[0]") == "none");
    CHECK(steps_of("1") == "none");
    CHECK(steps_of("'Total'") == "none");
    const std::string names[] = {"price"};
    CHECK(steps_of("price", names) == "none");
    CHECK(steps_of("price.x", names) == "none");
    CHECK(steps_of("Total", names) == "Total");

    auto p = ks::expr::program::compile("price");
    p.bind(names);
    CHECK_FALSE(p.field_path());
    p.bind({});
    REQUIRE(p.field_path());
    CHECK(p.field_path()->at(0).name == "price");
    CHECK(p.field_path()->at(0).index == -1);
}
