// ks record: the JSON record, its parser (validation, one wording for bad records), the field
// reader (exact text) and find (a path's exact text).
#include "ks/record.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

namespace {

// The record's fields as (key, raw) pairs, or the error text.
std::vector<std::pair<std::string, std::string>> fields_of(std::string_view json, bool unescape = false,
                                                           std::string* error = nullptr) {
    ks::field_reader reader;
    std::vector<std::pair<std::string, std::string>> out;
    const auto status = reader.read(json, false, unescape, [&](const ks::raw_field& f) {
        out.emplace_back(std::string(f.key), std::string(unescape ? f.text : f.raw));
    });
    if (status != ks::json_status::ok) {
        if (error) *error = reader.error_text();
        out.clear();
    }
    return out;
}

std::string find_text(std::string_view json, std::vector<ks::path_step> path) {
    ks::field_reader reader;
    auto raw = reader.find(json, false, path);
    return raw ? std::string(*raw) : "<none>";
}

ks::path_step name(std::string n) { return {std::move(n), -1}; }
ks::path_step index(std::int64_t i) { return {{}, i}; }

}  // namespace

TEST_CASE("record: describe names a file and line or a topic, partition and offset", "[record]") {
    ks::record file;
    file.source = "in.jsonl";
    file.line = 7;
    CHECK(file.describe() == "in.jsonl:7");
    ks::record message;
    message.from_kafka = true;
    message.source = "events";
    message.partition = 2;
    message.offset = 41;
    CHECK(message.describe() == "events [2] at offset 41");
}

TEST_CASE("json_parser: objects parse, other JSON and non-JSON are bad with one wording", "[record]") {
    ks::json_parser p;
    REQUIRE(p.parse(R"({"a":1,"b":{"c":[1,2]}})", false) == ks::json_status::ok);
    int64_t a = 0;
    REQUIRE(p.object()["a"].get_int64().get(a) == simdjson::SUCCESS);
    CHECK(a == 1);

    CHECK(p.parse("[1,2]", false) == ks::json_status::not_object);
    CHECK(p.error_text() == "not a JSON object");
    CHECK(p.parse("42", false) == ks::json_status::not_object);
    CHECK(p.parse("not json", false) == ks::json_status::invalid);
    CHECK(p.error_text().starts_with("invalid JSON: "));
    CHECK(p.parse(R"({"a":1} trailing)", false) == ks::json_status::invalid);
    CHECK(p.parse(R"({"a":)", false) == ks::json_status::invalid);
    CHECK(p.parse("", false) == ks::json_status::invalid);
    // A good record after bad ones: the parser is reused.
    REQUIRE(p.parse(R"({"z":true})", false) == ks::json_status::ok);
    CHECK(p.object().size() == 1);
}

TEST_CASE("json_parser: padded records parse in place, with the same result", "[record]") {
    std::string buffer = R"({"x":"in place"})";
    const size_t length = buffer.size();
    buffer.append(simdjson::SIMDJSON_PADDING, ' ');
    ks::json_parser p;
    REQUIRE(p.parse(std::string_view(buffer.data(), length), true) == ks::json_status::ok);
    std::string_view x;
    REQUIRE(p.object()["x"].get_string().get(x) == simdjson::SUCCESS);
    CHECK(x == "in place");
    CHECK(x.data() != buffer.data() + 6);  // the DOM's own copy: valid after the input changes
}

TEST_CASE("field_reader: top-level fields in order with their exact text", "[record]") {
    const auto f = fields_of(R"({"big":9007199254740993, "f":0.10, "e":1E+2, "s":"a\"b", "n":null, "t":true,)"
                             R"( "o":{"k": [1, 2.50]}, "a":[ ]})");
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"big", "9007199254740993"}, {"f", "0.10"}, {"e", "1E+2"},        {"s", R"("a\"b")"},
        {"n", "null"},               {"t", "true"}, {"o", R"({"k": [1, 2.50]})"}, {"a", "[ ]"}};
    CHECK(f == expected);
}

TEST_CASE("field_reader: strings unescaped on request, keys always", "[record]") {
    const auto f = fields_of(R"({"k\u00e9y":"line\nbreak","plain":"x"})", true);
    REQUIRE(f.size() == 2);
    CHECK(f[0].first == "k\xc3\xa9y");
    CHECK(f[0].second == "line\nbreak");
    CHECK(f[1].second == "x");
}

TEST_CASE("field_reader: bad records say why, in the parser's words", "[record]") {
    std::string error;
    CHECK(fields_of("[1]", false, &error).empty());
    CHECK(error == "not a JSON object");
    CHECK(fields_of("not json", false, &error).empty());
    CHECK(error.starts_with("invalid JSON: "));
    CHECK(fields_of(R"({"a":1} x)", false, &error).empty());
    CHECK(error.starts_with("invalid JSON: "));
    CHECK(fields_of(R"({"a":tru})", false, &error).empty());
    CHECK(error.starts_with("invalid JSON: "));
}

TEST_CASE("field_reader::find: a path's exact text, or none", "[record]") {
    const std::string json = R"({"main":{"temp":12.50,"feels":null},"weather":[{"main":"Rain"},{"main":"Mist"}],"n":1e3})";
    CHECK(find_text(json, {name("n")}) == "1e3");
    CHECK(find_text(json, {name("main"), name("temp")}) == "12.50");
    CHECK(find_text(json, {name("main"), name("feels")}) == "null");
    CHECK(find_text(json, {name("main")}) == R"({"temp":12.50,"feels":null})");
    CHECK(find_text(json, {name("weather"), index(1), name("main")}) == R"("Mist")");
    CHECK(find_text(json, {name("weather"), index(2)}) == "<none>");
    CHECK(find_text(json, {name("missing")}) == "<none>");
    CHECK(find_text(json, {name("n"), name("deeper")}) == "<none>");
    CHECK(find_text(json, {name("weather"), name("main")}) == "<none>");  // an array has no names
}

TEST_CASE("trim_token: the whitespace simdjson leaves after a scalar goes", "[record]") {
    CHECK(ks::trim_token("12 \n\t") == "12");
    CHECK(ks::trim_token("true") == "true");
    CHECK(ks::trim_token("") == "");
}

TEST_CASE("object_writer: copies keep the record's text, added fields are escaped", "[record]") {
    const std::string in = R"({"big":9007199254740993,"f":0.10,"k\u00e9y":"a\"b","drop":1,"o":{"x":[1, 2.50]},"r":1})";
    ks::record r;
    r.value = in;
    ks::field_reader reader;
    ks::object_writer w;
    w.begin();
    const auto status = ks::copy_fields(reader, r, w, [&](const ks::raw_field& f) {
        if (f.key == "drop") return true;  // dropped
        if (f.key == "r") {                 // replaced where it stands
            w.field("r").append("2");
            return true;
        }
        return false;
    });
    REQUIRE(status == ks::json_status::ok);
    w.field("new \"one\"\n", "[true]");
    w.field("n").append("null");
    CHECK(w.end() == R"({"big":9007199254740993,"f":0.10,"k\u00e9y":"a\"b","o":{"x":[1, 2.50]},"r":2,"new \"one\"\n":[true],"n":null})");
    // The buffer is reused: a new object starts empty.
    w.begin();
    CHECK(w.end() == "{}");
}

TEST_CASE("object_writer: a record that cannot be read is reported, not half copied into a good object", "[record]") {
    ks::record r;
    r.value = R"({"a":1,"b":tru})";
    ks::field_reader reader;
    ks::object_writer w;
    w.begin();
    CHECK(ks::copy_fields(reader, r, w, [](const ks::raw_field&) { return false; }) == ks::json_status::invalid);
    CHECK(reader.error_text().starts_with("invalid JSON: "));
}

namespace {

// batch_parser over records laid out as a work batch lays them out: each followed by a newline,
// padding after all. Returns the first key of each object it gave, in order.
std::vector<std::string> batch_keys(const std::vector<std::string>& records) {
    std::string text;
    std::vector<std::pair<size_t, size_t>> at;
    for (const auto& r : records) {
        at.emplace_back(text.size(), r.size());
        text += r;
        text += '\n';
    }
    const size_t used = text.size();
    text.append(simdjson::SIMDJSON_PADDING, ' ');
    ks::batch_parser parser;
    std::vector<std::string> keys;
    const size_t n = parser.parse(
        std::string_view(text.data(), used), records.size(), [&](size_t i) { return at[i].first; },
        [&](size_t i) { return at[i].second; },
        [&](size_t i, const simdjson::dom::object& object) {
            CHECK(i == keys.size());
            keys.emplace_back(object.begin().key());
        });
    CHECK(n == keys.size());
    return keys;
}

}  // namespace

TEST_CASE("batch_parser: records that are exactly one object each parse as one batch", "[record]") {
    CHECK(batch_keys({R"({"a":1})", R"(  {"b":[1,{"x":"}"}]}  )", "\t{\"c\":\"\\u00e9\"}\r"}) ==
          std::vector<std::string>{"a", "b", "c"});
    CHECK(batch_keys({}).empty());
}

TEST_CASE("batch_parser: stops at the first record that is not exactly one object", "[record]") {
    using keys = std::vector<std::string>;
    // One document over two records: not taken (alone, each of them is invalid).
    CHECK(batch_keys({R"({"a":)", R"(1})", R"({"b":2})"}).empty());
    CHECK(batch_keys({R"({"z":0})", R"({"a":)", R"(1} {"b":2})"}) == keys{"z"});
    // Two documents on one line, or text after the object.
    CHECK(batch_keys({R"({"a":1} {"b":2})", R"({"c":3})"}).empty());
    CHECK(batch_keys({R"({"a":1})", R"({"b":2} x)", R"({"c":3})"}) == keys{"a"});
    // Not an object, invalid JSON, a blank record.
    CHECK(batch_keys({R"({"a":1})", "[1]", R"({"c":3})"}) == keys{"a"});
    CHECK(batch_keys({R"({"a":1})", "7", R"({"c":3})"}) == keys{"a"});
    CHECK(batch_keys({R"({"a":1})", R"({"b":})", R"({"c":3})"}) == keys{"a"});
    CHECK(batch_keys({R"({"a":1})", "", R"({"c":3})"}) == keys{"a"});
    // An unclosed string changes what every later quote means: nothing after it is taken.
    const auto unclosed = batch_keys({R"({"a":1})", R"({"b":"x})", R"({"c":"y"})", R"({"d":"}")"});
    CHECK(unclosed.size() <= 1);
    // Invalid UTF-8 anywhere fails the whole batch: each record is then parsed alone.
    CHECK(batch_keys({R"({"a":1})", "{\"b\":\"\xff\"}", R"({"c":3})"}).empty());
}
