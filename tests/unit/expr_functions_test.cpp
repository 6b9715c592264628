// ks::expr: math, string, conditional and conversion functions.
#include "expr_support.hpp"

#include <cstdlib>
#include <string>

using expr_test::fixture;
using ks::expr::kind;
using ks::expr::value;

namespace {

constexpr const char* record_text = R"({
    "Total": 12, "s": "text", "main": {"temp": 21.5, "feels": null}, "a": [10, 20, 30],
    "weather": [{"main": "Rain", "id": 1}, {"id": 2}, {"main": "Sun", "id": 3}],
    "p": "^t.x", "bad": "a(", "mixed": [1, "x"]
})";

}  // namespace

TEST_CASE("expr abs", "[expr]") {
    fixture f;
    CHECK(f.json("abs(-5)") == "5");
    CHECK(f.type("abs(-5)") == kind::integer);
    CHECK(f.json("abs(5)") == "5");
    CHECK(f.json("abs(-2.5)") == "2.5");
    CHECK(f.json("abs(-9223372036854775808)") == "9.223372036854776e+18");
    CHECK(f.json("abs(null)") == "null");
    CHECK(f.error("abs('x')") == R"(abs needs a number, but argument 1 is a string ("x") in: abs('x'))");
}

TEST_CASE("expr round: half away from zero, on the decimal text of floats", "[expr]") {
    fixture f;
    CHECK(f.json("round(2.5)") == "3");
    CHECK(f.type("round(2.5)") == kind::number);
    CHECK(f.json("round(-2.5)") == "-3");
    CHECK(f.json("round(0.5)") == "1");
    CHECK(f.json("round(1.4999)") == "1");
    CHECK(f.json("round(-0.4)") == "0");
    CHECK(f.json("round(99.5)") == "100");
    CHECK(f.json("round(2.5, 0)") == "3");
    CHECK(f.json("round(2.675, 2)") == "2.68");
    CHECK(f.json("round(1.005, 2)") == "1.01");
    CHECK(f.json("round(-1.005, 2)") == "-1.01");
    CHECK(f.json("round(0.125, 2)") == "0.13");
    CHECK(f.json("round(9.995, 2)") == "10");
    CHECK(f.json("round(1.23456789, 4)") == "1.2346");
    CHECK(f.json("round(0.001, 2)") == "0");
    CHECK(f.json("round(1e20, 2)") == "1e+20");
    CHECK(f.json("round(1.5e-7, 7)") == "2e-07");
    CHECK(f.json("round(1234.5678, -2)") == "1200");
    CHECK(f.json("round(1250.0, -2)") == "1300");
    CHECK(f.json("round(-1250.0, -2)") == "-1300");
    CHECK(f.json("round(0.3, -1)") == "0");
}

TEST_CASE("expr round: floats with five decimals, at 0 to 4 digits, as decimal arithmetic gives", "[expr]") {
    fixture f;
    long checked = 0;
    for (std::int64_t k = -30000; k <= 30000; k += 7) {
        for (int digits = 0; digits <= 4; ++digits) {
            // x = k / 10^5; rounded at `digits`: q / 10^digits with q rounded half away from zero.
            std::int64_t unit = 1;
            for (int i = digits; i < 5; ++i) unit *= 10;
            const std::int64_t magnitude = (std::llabs(k) + unit / 2) / unit;
            const std::int64_t q = k < 0 ? -magnitude : magnitude;
            const std::string expected_text = std::to_string(q) + "e-" + std::to_string(digits);
            std::string expected;
            ks::expr::append_json(expected, value::of_number(std::strtod(expected_text.c_str(), nullptr)));
            const std::string expression = "round(" + std::to_string(k) + "e-5, " + std::to_string(digits) + ")";
            INFO(expression);
            REQUIRE(f.json(expression) == expected);
            ++checked;
        }
    }
    CHECK(checked == 42860);
}

TEST_CASE("expr round: integers stay integers", "[expr]") {
    fixture f;
    CHECK(f.json("round(5)") == "5");
    CHECK(f.type("round(5)") == kind::integer);
    CHECK(f.json("round(5, 2)") == "5");
    CHECK(f.json("round(1234, -2)") == "1200");
    CHECK(f.type("round(1234, -2)") == kind::integer);
    CHECK(f.json("round(1250, -2)") == "1300");
    CHECK(f.json("round(-1250, -2)") == "-1300");
    CHECK(f.json("round(-1249, -2)") == "-1200");
    CHECK(f.json("round(15, -1)") == "20");
    CHECK(f.json("round(-15, -1)") == "-20");
    CHECK(f.json("round(9223372036854775807, -1)") == "9.223372036854776e+18");
    CHECK(f.json("round(5000000000000000000, -19)") == "1e+19");
    CHECK(f.json("round(4999999999999999999, -19)") == "0");
    CHECK(f.json("round(123, -25)") == "0");
}

TEST_CASE("expr round: nulls and wrong arguments", "[expr]") {
    fixture f;
    CHECK(f.json("round(null)") == "null");
    CHECK(f.json("round(1.5, null)") == "null");
    CHECK(f.error("round(1.5, 1.5)") == "round needs an integer number of digits, but argument 2 is a number (1.5) in: round(1.5, 1.5)");
    CHECK(f.error("round('a')") == R"(round needs a number, but argument 1 is a string ("a") in: round('a'))");
}

TEST_CASE("expr floor and ceil: integers when they fit", "[expr]") {
    fixture f;
    CHECK(f.json("floor(2.7)") == "2");
    CHECK(f.type("floor(2.7)") == kind::integer);
    CHECK(f.json("floor(-2.7)") == "-3");
    CHECK(f.json("ceil(2.1)") == "3");
    CHECK(f.type("ceil(2.1)") == kind::integer);
    CHECK(f.json("ceil(-2.1)") == "-2");
    CHECK(f.json("floor(5)") == "5");
    CHECK(f.json("ceil(-5)") == "-5");
    CHECK(f.json("floor(1e20)") == "1e+20");
    CHECK(f.type("floor(1e20)") == kind::number);
    CHECK(f.json("ceil(null)") == "null");
    CHECK(f.error("floor(true)") == "floor needs a number, but argument 1 is a boolean (true) in: floor(true)");
}

TEST_CASE("expr sqrt, exp, log, pow", "[expr]") {
    fixture f;
    CHECK(f.json("sqrt(16)") == "4");
    CHECK(f.type("sqrt(16)") == kind::number);
    CHECK(f.json("sqrt(2)") == "1.4142135623730951");
    CHECK(f.json("sqrt(0)") == "0");
    CHECK(f.json("sqrt(-1)") == "null");
    CHECK(f.json("exp(0)") == "1");
    CHECK(f.json("exp(1)") == "2.718281828459045");
    CHECK(f.json("exp(1000)") == "null");
    CHECK(f.json("log(1)") == "0");
    CHECK(f.json("log(exp(2))") == "2");
    CHECK(f.json("log(100, 10)") == "2");
    CHECK(f.json("log(8, 2)") == "3");
    CHECK(f.json("log(0)") == "null");
    CHECK(f.json("log(-1)") == "null");
    CHECK(f.json("log(10, 1)") == "null");
    CHECK(f.json("log(null, 2)") == "null");
    CHECK(f.json("pow(2, 10)") == "1024");
    CHECK(f.type("pow(2, 10)") == kind::integer);
    CHECK(f.json("pow(2, 63)") == "9.223372036854776e+18");
    CHECK(f.json("pow(2, 0.5)") == "1.4142135623730951");
    CHECK(f.json("pow(2, -2)") == "0.25");
    CHECK(f.json("pow(0, -1)") == "null");
    CHECK(f.error("pow('a', 1)") == R"(pow needs numbers, but argument 1 is a string ("a") in: pow('a', 1))");
    CHECK(f.error("log(1, 'e')") == R"(log needs numbers, but argument 2 is a string ("e") in: log(1, 'e'))");
    CHECK(f.error("sqrt('4')") == R"(sqrt needs a number, but argument 1 is a string ("4") in: sqrt('4'))");
}

TEST_CASE("expr min and max: nulls skipped, lists flattened, exact comparisons", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("min(3, 1, 2)") == "1");
    CHECK(f.json("max(3, 1, 2)") == "3");
    CHECK(f.json("min(1, 1.5)") == "1");
    CHECK(f.type("min(1, 1.5)") == kind::integer);
    CHECK(f.json("max(1, 1.5)") == "1.5");
    CHECK(f.json("min(7)") == "7");
    CHECK(f.json("min(null, 3, null)") == "3");
    CHECK(f.json("min(null)") == "null");
    CHECK(f.json("max(missing)") == "null");
    CHECK(f.json("min([3, 1], 2)") == "1");
    CHECK(f.json("max(a)") == "30");
    CHECK(f.json("max(a, 31)") == "31");
    CHECK(f.json("min(weather[*].id)") == "1");
    CHECK(f.json("max([])") == "null");
    CHECK(f.json("max([null, 2])") == "2");
    CHECK(f.json("max(9007199254740993, 9007199254740992.0)") == "9007199254740993");
    CHECK(f.json("min(-9007199254740993, -9007199254740992.0)") == "-9007199254740993");
    CHECK(f.error("min('a', 1)") == R"(min needs numbers, but argument 1 is a string ("a") in: min('a', 1))");
    CHECK(f.error("max(mixed)") == R"(max needs numbers, but an element of mixed is a string ("x") in: max(mixed))");
    CHECK(f.error("min(1, [2, 'x'])") == R"(min needs numbers, but an element of argument 2 is a string ("x") in: min(1, [2, 'x']))");
}

TEST_CASE("expr lower and upper: ASCII letters only", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("lower('AbC')") == R"("abc")");
    CHECK(f.json("upper('abc-1')") == R"("ABC-1")");
    CHECK(f.json("lower('\xC3\x89" "A')") == "\"\xC3\x89" "a\"");
    CHECK(f.json("upper('caf\xC3\xA9')") == "\"CAF\xC3\xA9\"");
    CHECK(f.json("lower('already')") == R"("already")");
    CHECK(f.json("upper(s)") == R"("TEXT")");
    CHECK(f.json("lower(null)") == "null");
    CHECK(f.error("lower(5)") == "lower needs a string, but argument 1 is a number (5) in: lower(5)");
    CHECK(f.error("upper(Total)") == "upper needs a string, but Total is a number (12) in: upper(Total)");
}

TEST_CASE("expr len: code points, list elements, json size", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("len('h\xC3\xA9llo')") == "5");
    CHECK(f.json("len('')") == "0");
    CHECK(f.json("len('\xF0\x9F\x9A\xB2')") == "1");
    CHECK(f.json("len(s)") == "4");
    CHECK(f.json("len(a)") == "3");
    CHECK(f.json("len(main)") == "2");
    CHECK(f.json("len(split('a,b', ','))") == "2");
    CHECK(f.json("len([])") == "0");
    CHECK(f.json("len(null)") == "null");
    CHECK(f.json("len(missing)") == "null");
    CHECK(f.error("len(5)") == "len needs a string, a list, an array or an object, but argument 1 is a number (5) in: len(5)");
}

TEST_CASE("expr substr: 1-based, negative from the end, in code points", "[expr]") {
    fixture f;
    CHECK(f.json("substr('hello', 1)") == R"("hello")");
    CHECK(f.json("substr('hello', 2)") == R"("ello")");
    CHECK(f.json("substr('hello', 2, 3)") == R"("ell")");
    CHECK(f.json("substr('hello', 0, 2)") == R"("he")");
    CHECK(f.json("substr('hello', -3)") == R"("llo")");
    CHECK(f.json("substr('hello', -3, 2)") == R"("ll")");
    CHECK(f.json("substr('hello', -7, 3)") == R"("h")");
    CHECK(f.json("substr('hello', -7)") == R"("hello")");
    CHECK(f.json("substr('hello', 10)") == R"("")");
    CHECK(f.json("substr('hello', 2, 0)") == R"("")");
    CHECK(f.json("substr('hello', 2, -1)") == R"("")");
    CHECK(f.json("substr('hello', 5, 100)") == R"("o")");
    CHECK(f.json("substr('hello', 2, 9223372036854775807)") == R"("ello")");
    CHECK(f.json("substr('h\xC3\xA9llo', 2, 2)") == "\"\xC3\xA9l\"");
    CHECK(f.json("substr('\xF0\x9F\x9A\xB2" "ab', 1, 1)") == "\"\xF0\x9F\x9A\xB2\"");
    CHECK(f.json("substr('a\xF0\x9F\x9A\xB2" "b', -2)") == "\"\xF0\x9F\x9A\xB2" "b\"");
    CHECK(f.json("substr(null, 1)") == "null");
    CHECK(f.json("substr('abc', null)") == "null");
    CHECK(f.error("substr(5, 1)") == "substr needs a string, but argument 1 is a number (5) in: substr(5, 1)");
    CHECK(f.error("substr('a', '1')") == R"(substr needs an integer, but argument 2 is a string ("1") in: substr('a', '1'))");
    CHECK(f.error("substr('a', 1, 1.0)") == "substr needs an integer, but argument 3 is a number (1) in: substr('a', 1, 1.0)");
}

TEST_CASE("expr concat: text of every argument, null if any is null", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("concat('a', 'b', 'c')") == R"("abc")");
    CHECK(f.json("concat('n=', 5)") == R"("n=5")");
    CHECK(f.json("concat(1.5, true, false)") == R"("1.5truefalse")");
    CHECK(f.json("concat(2.0)") == R"("2")");
    CHECK(f.json("concat(9007199254740993)") == R"("9007199254740993")");
    CHECK(f.json("concat('x', null)") == "null");
    CHECK(f.json("concat('x', missing)") == "null");
    CHECK(f.json("concat(from_unixtime(0))") == R"("1970-01-01T00:00:00Z")");
    CHECK(f.json("concat('list ', [1, 'a'])") == R"("list [1,\"a\"]")");
    CHECK(f.json("concat(main)") == R"("{\"temp\":21.5,\"feels\":null}")");
    CHECK(f.json("concat(s, '-', Total)") == R"("text-12")");
    CHECK(f.json("concat('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j')") == R"("abcdefghij")");
    CHECK(f.json("concat('')") == R"("")");
}

TEST_CASE("expr contains, starts_with, ends_with", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("contains('hello', 'ell')") == "true");
    CHECK(f.json("contains('hello', 'xyz')") == "false");
    CHECK(f.json("contains('hello', '')") == "true");
    CHECK(f.json("starts_with('hello', 'he')") == "true");
    CHECK(f.json("starts_with('hello', 'lo')") == "false");
    CHECK(f.json("ends_with('hello', 'lo')") == "true");
    CHECK(f.json("ends_with('hello', 'he')") == "false");
    CHECK(f.json("ends_with('lo', 'hello')") == "false");
    CHECK(f.json("contains('a', null)") == "null");
    CHECK(f.error("contains(5, '5')") == "contains needs a string, but argument 1 is a number (5) in: contains(5, '5')");
    CHECK(f.error("starts_with(s, 1)") == "starts_with needs a string, but argument 2 is a number (1) in: starts_with(s, 1)");
}

TEST_CASE("expr regex_match: ECMAScript, anywhere in the text", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("regex_match('hello', 'l+')") == "true");
    CHECK(f.json("regex_match('hello', 'z+')") == "false");
    CHECK(f.json("regex_match('hello', '^h')") == "true");
    CHECK(f.json("regex_match('hello', '^e')") == "false");
    CHECK(f.json("regex_match('hello', 'lo$')") == "true");
    CHECK(f.json("regex_match('hello', 'he$')") == "false");
    CHECK(f.json("regex_match('hello', '^hello$')") == "true");
    CHECK(f.json("regex_match('hello!', '^hello$')") == "false");
    CHECK(f.json("regex_match('hello', 'ell')") == "true");
    CHECK(f.json(R"(regex_match('a.b', 'a\\.b'))") == "true");
    CHECK(f.json(R"(regex_match('axb', 'a\\.b'))") == "false");
    CHECK(f.json("regex_match('axb', 'a.b')") == "true");
    CHECK(f.json("regex_match('Hello', '[a-z]+')") == "true");
    CHECK(f.json("regex_match('123', '^[0-9]+$')") == "true");
    CHECK(f.json("regex_match('12a', '^[0-9]+$')") == "false");
    CHECK(f.json(R"(regex_match('cost: $5', '\\$5$'))") == "true");
    CHECK(f.json("regex_match(s, p)") == "true");
    CHECK(f.json("regex_match('atax', p)") == "false");
    CHECK(f.json("regex_match(missing, 'a')") == "null");
    CHECK(f.error("regex_match('x', bad)").rfind(R"(regex_match: bad regex "a(": )", 0) == 0);
    CHECK(f.error("regex_match(5, 'a')") == "regex_match needs a string, but argument 1 is a number (5) in: regex_match(5, 'a')");
}

TEST_CASE("expr replace: plain text, every occurrence", "[expr]") {
    fixture f;
    CHECK(f.json("replace('a-b-c', '-', '+')") == R"("a+b+c")");
    CHECK(f.json("replace('aaa', 'aa', 'b')") == R"("ba")");
    CHECK(f.json("replace('abc', '', 'x')") == R"("abc")");
    CHECK(f.json("replace('abc', 'z', 'y')") == R"("abc")");
    CHECK(f.json("replace('abc', 'b', '')") == R"("ac")");
    CHECK(f.json("replace('a.c', '.', 'b')") == R"("abc")");
    CHECK(f.json("replace('h\xC3\xA9llo', '\xC3\xA9', 'e')") == R"("hello")");
    CHECK(f.json("replace('ab', 'ab', 'xyz')") == R"("xyz")");
    CHECK(f.json("replace(null, 'a', 'b')") == "null");
    CHECK(f.error("replace('a', 1, 'b')") == "replace needs a string, but argument 2 is a number (1) in: replace('a', 1, 'b')");
}

TEST_CASE("expr split: plain text separators, a list of strings", "[expr]") {
    fixture f;
    CHECK(f.json("split('a,b,,c', ',')") == R"(["a","b","","c"])");
    CHECK(f.type("split('a,b', ',')") == kind::list);
    CHECK(f.json("split('abc', ',')") == R"(["abc"])");
    CHECK(f.json("split('', ',')") == R"([""])");
    CHECK(f.json("split('a::b', '::')") == R"(["a","b"])");
    CHECK(f.json("split(',a,', ',')") == R"(["","a",""])");
    CHECK(f.json("split('a.b', '.')") == R"(["a","b"])");
    CHECK(f.json("split('h\xC3\xA9l', '')") == "[\"h\",\"\xC3\xA9\",\"l\"]");
    CHECK(f.json("split(null, ',')") == "null");
    CHECK(f.error("split(5, ',')") == "split needs a string, but argument 1 is a number (5) in: split(5, ',')");
}

TEST_CASE("expr if: null conditions choose the else branch; only the chosen branch runs", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("if(true, 1, 2)") == "1");
    CHECK(f.json("if(false, 1, 2)") == "2");
    CHECK(f.json("if(null, 1, 2)") == "2");
    CHECK(f.json("if(Total > 10, 'big', 'small')") == R"("big")");
    CHECK(f.json("if(missing > 10, 'big', 'small')") == R"("small")");
    CHECK(f.json("if(true, 1, s * 2)") == "1");
    CHECK(f.json("if(false, s * 2, 3)") == "3");
    CHECK(f.error("if(5, 1, 2)") == "if needs a boolean condition, but argument 1 is a number (5) in: if(5, 1, 2)");
    CHECK(f.error("if(s, 1, 2)") == R"(if needs a boolean condition, but s is a string ("text") in: if(s, 1, 2))");
}

TEST_CASE("expr coalesce: the first non-null, lists flattened", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("coalesce(null, 1)") == "1");
    CHECK(f.json("coalesce(missing, main.feels, 'x')") == R"("x")");
    CHECK(f.json("coalesce(null, null)") == "null");
    CHECK(f.json("coalesce(weather[*].main)") == R"("Rain")");
    CHECK(f.json("coalesce(weather[*].nope, 'none')") == R"("none")");
    CHECK(f.json("coalesce([null, 2], 3)") == "2");
    CHECK(f.json("coalesce(a, 1)") == "[10,20,30]");  // a json array is a value, not a list of candidates
    CHECK(f.json("coalesce(1, s * 2)") == "1");
    CHECK(f.json("COALESCE(null, 'upper case name')") == R"("upper case name")");
}

TEST_CASE("expr is_null", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("is_null(null)") == "true");
    CHECK(f.json("is_null(1)") == "false");
    CHECK(f.json("is_null(missing)") == "true");
    CHECK(f.json("is_null(main.feels)") == "true");
    CHECK(f.json("is_null('')") == "false");
}

TEST_CASE("expr to_number: JSON number text, booleans, times", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("to_number('42')") == "42");
    CHECK(f.type("to_number('42')") == kind::integer);
    CHECK(f.json("to_number('-7')") == "-7");
    CHECK(f.json("to_number('-0')") == "0");
    CHECK(f.json("to_number('1.5')") == "1.5");
    CHECK(f.json("to_number('1e3')") == "1000");
    CHECK(f.type("to_number('1e3')") == kind::number);
    CHECK(f.json("to_number('9007199254740993')") == "9007199254740993");
    CHECK(f.json("to_number('9223372036854775808')") == "9.223372036854776e+18");
    CHECK(f.json("to_number('1e-400')") == "0");
    CHECK(f.json("to_number('1e400')") == "null");
    for (const char* e : {"to_number('abc')", "to_number(' 42')", "to_number('')", "to_number('0x10')", "to_number('01')",
                          "to_number('1.')", "to_number('+1')", "to_number(null)"}) {
        INFO(e);
        CHECK(f.json(e) == "null");
    }
    CHECK(f.json("to_number(true)") == "1");
    CHECK(f.json("to_number(false)") == "0");
    CHECK(f.json("to_number(2.5)") == "2.5");
    CHECK(f.json("to_number(Total)") == "12");
    CHECK(f.json("to_number(from_unixtime(1700000000))") == "1700000000");
    CHECK(f.json("to_number(from_unixtime(1.5))") == "1.5");
    CHECK(f.error("to_number(a)") == "to_number needs a string, a number or a boolean, but a is an array ([10,20,30]) in: to_number(a)");
}

TEST_CASE("expr to_string: the text of append_text", "[expr]") {
    fixture f(record_text);
    CHECK(f.json("to_string(5)") == R"("5")");
    CHECK(f.json("to_string(2.50)") == R"("2.5")");
    CHECK(f.json("to_string(3.0)") == R"("3")");
    CHECK(f.json("to_string(0.1)") == R"("0.1")");
    CHECK(f.json("to_string(1e21)") == R"("1e+21")");
    CHECK(f.json("to_string(9007199254740993)") == R"("9007199254740993")");
    CHECK(f.json("to_string(true)") == R"("true")");
    CHECK(f.json("to_string('x')") == R"("x")");
    CHECK(f.json("to_string(null)") == "null");
    CHECK(f.json("to_string(from_unixtime(0))") == R"("1970-01-01T00:00:00Z")");
    CHECK(f.json("to_string(main)") == R"("{\"temp\":21.5,\"feels\":null}")");
    CHECK(f.json("to_string([1, 'a'])") == R"("[1,\"a\"]")");
    CHECK(f.json("to_string(Total) + '!'") == R"("12!")");
}

TEST_CASE("expr functions: names are not case-sensitive", "[expr]") {
    fixture f;
    CHECK(f.json("UPPER('a')") == R"("A")");
    CHECK(f.json("Max(1, 2)") == "2");
    CHECK(f.json("To_Number('3')") == "3");
}
