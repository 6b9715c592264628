// ks::expr: arithmetic, comparisons, logic, `in`, `case`, null semantics, type errors.
#include "expr_support.hpp"

using expr_test::eval_json;
using expr_test::fixture;
using ks::expr::kind;

TEST_CASE("expr arithmetic: integers stay exact int64", "[expr]") {
    fixture f;
    CHECK(f.json("1 + 2") == "3");
    CHECK(f.json("7 - 10") == "-3");
    CHECK(f.json("6 * 7") == "42");
    CHECK(f.type("6 * 7") == kind::integer);
    CHECK(f.json("9007199254740993 + 0") == "9007199254740993");
    CHECK(f.json("9007199254740992 + 1") == "9007199254740993");
    CHECK(f.json("9007199254740993 * 1") == "9007199254740993");
    CHECK(f.json("9007199254740993 - 1") == "9007199254740992");
    CHECK(f.json("3000000000 * 3000000000") == "9000000000000000000");
    CHECK(f.json("4611686018427387904 * -2") == "-9223372036854775808");
    CHECK(f.type("4611686018427387904 * -2") == kind::integer);
}

TEST_CASE("expr arithmetic: an integer overflow gives a float", "[expr]") {
    fixture f;
    CHECK(f.json("9223372036854775807 + 1") == "9.223372036854776e+18");
    CHECK(f.type("9223372036854775807 + 1") == kind::number);
    CHECK(f.json("-9223372036854775807 - 2") == "-9.223372036854776e+18");
    CHECK(f.json("4611686018427387904 * 2") == "9.223372036854776e+18");
    CHECK(f.json("4000000000 * 3000000000") == "1.2e+19");
    CHECK(f.json("-(-9223372036854775807 - 1)") == "9.223372036854776e+18");
}

TEST_CASE("expr arithmetic: integers with floats give floats", "[expr]") {
    fixture f;
    CHECK(f.json("1 + 0.5") == "1.5");
    CHECK(f.json("0.1 + 0.2") == "0.30000000000000004");
    CHECK(f.json("2 * 1.5") == "3");
    CHECK(f.type("2 * 1.5") == kind::number);
    CHECK(f.json("10 - 0.25") == "9.75");
}

TEST_CASE("expr arithmetic: / always gives a float; by zero gives null", "[expr]") {
    fixture f;
    CHECK(f.json("6 / 2") == "3");
    CHECK(f.type("6 / 2") == kind::number);
    CHECK(f.json("7 / 2") == "3.5");
    CHECK(f.json("-7 / 2") == "-3.5");
    CHECK(f.json("1 / 3") == "0.3333333333333333");
    CHECK(f.json("1 / 0") == "null");
    CHECK(f.json("1.5 / 0") == "null");
    CHECK(f.json("1 / 0.0") == "null");
    CHECK(f.json("0 / 0") == "null");
}

TEST_CASE("expr arithmetic: % truncates on integers (as C and Java), fmod on floats", "[expr]") {
    fixture f;
    CHECK(f.json("7 % 3") == "1");
    CHECK(f.json("-7 % 3") == "-1");
    CHECK(f.json("7 % -3") == "1");
    CHECK(f.json("-7 % -3") == "-1");
    CHECK(f.type("7 % 3") == kind::integer);
    CHECK(f.json("7.5 % 2") == "1.5");
    CHECK(f.json("-7.5 % 2") == "-1.5");
    CHECK(f.json("7 % 2.5") == "2");
    CHECK(f.json("7 % 0") == "null");
    CHECK(f.json("7.5 % 0") == "null");
    CHECK(f.json("7 % 0.0") == "null");
    CHECK(f.json("-9223372036854775808 % -1") == "0");
}

TEST_CASE("expr arithmetic: ^ is exact for integer powers that fit", "[expr]") {
    fixture f;
    CHECK(f.json("2 ^ 10") == "1024");
    CHECK(f.type("2 ^ 10") == kind::integer);
    CHECK(f.json("2 ^ 62") == "4611686018427387904");
    CHECK(f.json("3 ^ 39") == "4052555153018976267");
    CHECK(f.json("(-2) ^ 63") == "-9223372036854775808");
    CHECK(f.json("2 ^ 63") == "9.223372036854776e+18");
    CHECK(f.type("2 ^ 63") == kind::number);
    CHECK(f.json("3 ^ 40") == "1.2157665459056929e+19");
    CHECK(f.json("0 ^ 0") == "1");
    CHECK(f.json("1 ^ 1000000000000") == "1");
    CHECK(f.json("(-1) ^ 1000000000001") == "-1");
    CHECK(f.json("2 ^ -1") == "0.5");
    CHECK(f.json("2 ^ 0.5") == "1.4142135623730951");
    CHECK(f.json("1.5 ^ 2") == "2.25");
}

TEST_CASE("expr arithmetic: results that are not finite are null", "[expr]") {
    fixture f;
    CHECK(f.json("(-8) ^ (1 / 3)") == "null");
    CHECK(f.json("0 ^ -1") == "null");
    CHECK(f.json("10 ^ 400") == "null");
    CHECK(f.json("1e308 * 10") == "null");
    CHECK(f.json("-1e308 * 10") == "null");
    CHECK(f.json("1e308 + 1e308") == "null");
    CHECK(f.json("-1e308 - 1e308") == "null");
}

TEST_CASE("expr arithmetic: unary minus", "[expr]") {
    fixture f(R"({"low": -9223372036854775808, "x": 2.5})");
    CHECK(f.json("-5") == "-5");
    CHECK(f.json("--5") == "5");
    CHECK(f.json("-(-5)") == "5");
    CHECK(f.json("- x") == "-2.5");
    CHECK(f.json("-low") == "9.223372036854776e+18");
    CHECK(f.json("-low - 1") == "9.223372036854776e+18");
}

TEST_CASE("expr strings: + concatenates two strings", "[expr]") {
    fixture f(R"({"first": "Ada", "last": "Lovelace"})");
    CHECK(f.json("first + ' ' + last") == R"("Ada Lovelace")");
    CHECK(f.json("'' + ''") == R"("")");
    CHECK(f.json("'caf' + '\xC3\xA9'") == "\"caf\xC3\xA9\"");
}

TEST_CASE("expr precedence: or < and < not < comparisons < + - < * / % < unary minus < ^", "[expr]") {
    fixture f;
    CHECK(f.json("1 + 2 * 3") == "7");
    CHECK(f.json("(1 + 2) * 3") == "9");
    CHECK(f.json("2 + 3 % 2") == "3");
    CHECK(f.json("2 * 3 ^ 2") == "18");
    CHECK(f.json("2 ^ 2 * 3") == "12");
    CHECK(f.json("-2 ^ 2") == "-4");
    CHECK(f.json("(-2) ^ 2") == "4");
    CHECK(f.json("2 ^ -2") == "0.25");
    CHECK(f.json("-2 ^ -2") == "-0.25");
    CHECK(f.json("2 * -3") == "-6");
    CHECK(f.json("1 - -1") == "2");
    CHECK(f.json("1 + 1 = 2") == "true");
    CHECK(f.json("1 + 2 in [3]") == "true");
    CHECK(f.json("not 1 = 2") == "true");
    CHECK(f.json("not 1 > 2") == "true");
    CHECK(f.json("not true and false") == "false");
    CHECK(f.json("not (true and false)") == "true");
    CHECK(f.json("true or false and false") == "true");
    CHECK(f.json("(true or false) and false") == "false");
    CHECK(f.json("false and true or true") == "true");
    CHECK(f.json("not not true") == "true");
}

TEST_CASE("expr associativity: left for + - * / %, right for ^", "[expr]") {
    fixture f;
    CHECK(f.json("10 - 3 - 2") == "5");
    CHECK(f.json("100 / 10 / 5") == "2");
    CHECK(f.json("2 * 3 % 4") == "2");
    CHECK(f.json("17 % 5 * 2") == "4");
    CHECK(f.json("2 ^ 3 ^ 2") == "512");
    CHECK(f.json("(2 ^ 3) ^ 2") == "64");
}

TEST_CASE("expr comparisons: numbers, exactly across integers and floats", "[expr]") {
    fixture f;
    CHECK(f.json("1 < 2") == "true");
    CHECK(f.json("2 <= 2") == "true");
    CHECK(f.json("3 > 2") == "true");
    CHECK(f.json("2 >= 3") == "false");
    CHECK(f.json("1 = 1") == "true");
    CHECK(f.json("1 == 1") == "true");
    CHECK(f.json("1 != 2") == "true");
    CHECK(f.json("1 <> 1") == "false");
    CHECK(f.json("1 = 1.0") == "true");
    CHECK(f.json("2 < 2.5") == "true");
    CHECK(f.json("-1 > -1.5") == "true");
    CHECK(f.json("9007199254740993 > 9007199254740992.0") == "true");
    CHECK(f.json("9007199254740993 = 9007199254740992.0") == "false");
    CHECK(f.json("9007199254740992 = 9007199254740992.0") == "true");
    CHECK(f.json("9007199254740992.0 < 9007199254740993") == "true");
    CHECK(f.json("9223372036854775807 < 9223372036854775808.0") == "true");
    CHECK(f.json("-9223372036854775808 = -9223372036854775808.0") == "true");
    CHECK(f.json("-9223372036854775808 > -1e19") == "true");
}

TEST_CASE("expr comparisons: numbers from the record against literals", "[expr]") {
    fixture f(R"({"i": 51, "d": 50.5, "big": 9007199254740993, "u": 18446744073709551615})");
    CHECK(f.json("i > 50") == "true");
    CHECK(f.json("i > 51") == "false");
    CHECK(f.json("i >= 51") == "true");
    CHECK(f.json("i < 51.5") == "true");
    CHECK(f.json("i <= 50.9") == "false");
    CHECK(f.json("d > 50") == "true");
    CHECK(f.json("d < 50.6") == "true");
    CHECK(f.json("big > 9007199254740992.0") == "true");
    CHECK(f.json("big > 9007199254740992") == "true");
    CHECK(f.json("u > 9223372036854775807") == "true");
    CHECK(f.type("u") == kind::number);
}

TEST_CASE("expr comparisons: strings bytewise, booleans, times", "[expr]") {
    fixture f;
    CHECK(f.json("'abc' < 'abd'") == "true");
    CHECK(f.json("'B' < 'a'") == "true");
    CHECK(f.json("'a' < 'ab'") == "true");
    CHECK(f.json("'\xC3\xA9' > 'z'") == "true");
    CHECK(f.json("'abc' = 'abc'") == "true");
    CHECK(f.json("'abc' != 'ABC'") == "true");
    CHECK(f.json("false < true") == "true");
    CHECK(f.json("true = true") == "true");
    CHECK(f.json("from_unixtime(1) < from_unixtime(2)") == "true");
    CHECK(f.json("from_unixtime(5) = from_unixtime(5)") == "true");
    CHECK(f.json("from_unixtime(5) >= from_unixtime(6)") == "false");
}

TEST_CASE("expr equality: different kinds are never equal, and never an error", "[expr]") {
    fixture f(R"({"a": [1, 2], "b": [1, 2.0], "o": {"x": 1, "y": [true]}, "p": {"y": [true], "x": 1.0}, "q": {"x": 1}})");
    CHECK(f.json("1 = '1'") == "false");
    CHECK(f.json("1 != '1'") == "true");
    CHECK(f.json("true = 1") == "false");
    CHECK(f.json("'a' = [1]") == "false");
    CHECK(f.json("from_unixtime(0) = 0") == "false");
    CHECK(f.json("from_unixtime(0) <> '1970-01-01T00:00:00Z'") == "true");
    CHECK(f.json("o = 1") == "false");
    CHECK(f.json("a = o") == "false");
}

TEST_CASE("expr equality: lists and json compare structurally", "[expr]") {
    fixture f(R"({"a": [1, 2], "b": [1, 2.0], "o": {"x": 1, "y": [true]}, "p": {"y": [true], "x": 1.0}, "q": {"x": 1}, "n": [null]})");
    CHECK(f.json("[1, 2] = [1, 2]") == "true");
    CHECK(f.json("[1, 2] = [1, 2.0]") == "true");
    CHECK(f.json("[1, [2]] = [1, [2]]") == "true");
    CHECK(f.json("[1] = [1, 2]") == "false");
    CHECK(f.json("[1, null] = [1, null]") == "true");
    CHECK(f.json("a = b") == "true");
    CHECK(f.json("a = [1, 2]") == "true");
    CHECK(f.json("[1, 2] = a") == "true");
    CHECK(f.json("a = [2, 1]") == "false");
    CHECK(f.json("n = [null]") == "true");
    CHECK(f.json("o = p") == "true");
    CHECK(f.json("o != p") == "false");
    CHECK(f.json("o = q") == "false");
}

TEST_CASE("expr nulls: arithmetic and comparisons with a null operand give null", "[expr]") {
    fixture f(R"({"x": null, "n": 1})");
    for (const char* e : {"null + 1", "1 - null", "null * 2", "null / 2", "2 / null", "null % 2", "null ^ 2", "-null", "null + 'a'",
                          "null = null", "null = 1", "1 != null", "null < 1", "'a' > null", "null <= null", "missing + 1",
                          "x * 2", "n >= missing", "x = x"}) {
        INFO(e);
        CHECK(f.json(e) == "null");
    }
}

TEST_CASE("expr nulls: and, or and not are three-valued", "[expr]") {
    fixture f;
    // and
    CHECK(f.json("true and true") == "true");
    CHECK(f.json("true and false") == "false");
    CHECK(f.json("true and null") == "null");
    CHECK(f.json("false and true") == "false");
    CHECK(f.json("false and false") == "false");
    CHECK(f.json("false and null") == "false");
    CHECK(f.json("null and true") == "null");
    CHECK(f.json("null and false") == "false");
    CHECK(f.json("null and null") == "null");
    // or
    CHECK(f.json("true or true") == "true");
    CHECK(f.json("true or false") == "true");
    CHECK(f.json("true or null") == "true");
    CHECK(f.json("false or true") == "true");
    CHECK(f.json("false or false") == "false");
    CHECK(f.json("false or null") == "null");
    CHECK(f.json("null or true") == "true");
    CHECK(f.json("null or false") == "null");
    CHECK(f.json("null or null") == "null");
    // not
    CHECK(f.json("not true") == "false");
    CHECK(f.json("not false") == "true");
    CHECK(f.json("not null") == "null");
}

TEST_CASE("expr nulls: and/or stop at a deciding left operand", "[expr]") {
    fixture f(R"({"s": "text"})");
    CHECK(f.json("false and s > 1") == "false");
    CHECK(f.json("true or s > 1") == "true");
    CHECK(f.json("true and s > 1").rfind("error: > needs numbers", 0) == 0);
}

TEST_CASE("expr nulls: is null and is not null are always true or false", "[expr]") {
    fixture f(R"({"x": null, "e": [], "z": 0, "s": ""})");
    CHECK(f.json("null is null") == "true");
    CHECK(f.json("1 is null") == "false");
    CHECK(f.json("null is not null") == "false");
    CHECK(f.json("1 is not null") == "true");
    CHECK(f.json("x is null") == "true");
    CHECK(f.json("missing is null") == "true");
    CHECK(f.json("e is null") == "false");
    CHECK(f.json("z is null") == "false");
    CHECK(f.json("s is not null") == "true");
    CHECK(f.json("1 / 0 is null") == "true");
}

TEST_CASE("expr in: SQL semantics for short literal lists", "[expr]") {
    fixture f;
    CHECK(f.json("1 in [1, 2]") == "true");
    CHECK(f.json("3 in [1, 2]") == "false");
    CHECK(f.json("3 in [1, null]") == "null");
    CHECK(f.json("1 in [1, null]") == "true");
    CHECK(f.json("null in [1]") == "null");
    CHECK(f.json("null in []") == "null");
    CHECK(f.json("1 in []") == "false");
    CHECK(f.json("3 not in [1, 2]") == "true");
    CHECK(f.json("1 not in [1]") == "false");
    CHECK(f.json("3 not in [1, null]") == "null");
    CHECK(f.json("null not in [1]") == "null");
    CHECK(f.json("2 in [1.0, 2.0]") == "true");
    CHECK(f.json("2.0 in [1, 2]") == "true");
    CHECK(f.json("'a' in ['A']") == "false");
    CHECK(f.json("'b' in ['a', 'b']") == "true");
    CHECK(f.json("[1] in [[1], 2]") == "true");
}

TEST_CASE("expr in: long literal lists are hashed, with the same answers", "[expr]") {
    fixture f;
    const std::string digits = "[1, 2, 3, 4, 5, 6, 7, 8, 9]";
    const std::string letters = "['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'k']";
    CHECK(f.json("5 in " + digits) == "true");
    CHECK(f.json("10 in " + digits) == "false");
    CHECK(f.json("5.0 in " + digits) == "true");
    CHECK(f.json("5.5 in " + digits) == "false");
    CHECK(f.json("'5' in " + digits) == "false");
    CHECK(f.json("10 not in " + digits) == "true");
    CHECK(f.json("'k' in " + letters) == "true");
    CHECK(f.json("'z' in " + letters) == "false");
    CHECK(f.json("'z' in ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', null]") == "null");
    CHECK(f.json("'a' in ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', null]") == "true");
    CHECK(f.json("'z' not in ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', null]") == "null");
    CHECK(f.json("2.5 in [1, 2, 3, 4, 5, 6, 7, 8, 9, 2.5]") == "true");
    CHECK(f.json("2 in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]") == "true");
    CHECK(f.json("true in [1, 2, 3, 4, 5, 6, 7, 8, 9, true]") == "true");
    CHECK(f.json("false in [1, 2, 3, 4, 5, 6, 7, 8, 9, true]") == "false");
    CHECK(f.json("9007199254740993 in [9007199254740992.0, 1, 2, 3, 4, 5, 6, 7, 8]") == "false");
    CHECK(f.json("9007199254740992 in [9007199254740992.0, 1, 2, 3, 4, 5, 6, 7, 8]") == "true");
    CHECK(f.json("[1] in [[1], 2, 3, 4, 5, 6, 7, 8, 9]") == "true");
    CHECK(f.json("null in " + digits) == "null");
}

TEST_CASE("expr in: lists from the record and computed lists", "[expr]") {
    fixture f(R"({"tags": ["a", "b", null], "n": 5, "list": [1, 2, 3]})");
    CHECK(f.json("'a' in tags") == "true");
    CHECK(f.json("'c' in tags") == "null");
    CHECK(f.json("n in list") == "false");
    CHECK(f.json("2 in list") == "true");
    CHECK(f.json("2.0 not in list") == "false");
    CHECK(f.json("n in [n, 1]") == "true");
    CHECK(f.json("'b' in split('a,b', ',')") == "true");
    CHECK(f.json("1 in missing") == "null");
    CHECK(f.json("1 in n") == "error: in needs a list, but n is a number (5) in: 1 in n");
    CHECK(f.json("1 not in 'abc'") == "error: not in needs a list, but the right operand is a string (\"abc\") in: 1 not in 'abc'");
}

TEST_CASE("expr case: searched and simple forms", "[expr]") {
    fixture f(R"({"n": 5, "s": "b", "x": null})");
    CHECK(f.json("case when n > 3 then 'big' else 'small' end") == R"("big")");
    CHECK(f.json("case when n > 9 then 'big' when n > 4 then 'mid' else 'small' end") == R"("mid")");
    CHECK(f.json("case when n > 9 then 'big' end") == "null");
    CHECK(f.json("case when x then 1 else 2 end") == "2");  // a null condition is not true
    CHECK(f.json("case s when 'a' then 1 when 'b' then 2 else 3 end") == "2");
    CHECK(f.json("case s when 'z' then 1 end") == "null");
    CHECK(f.json("case n when 5.0 then 'five' end") == R"("five")");
    CHECK(f.json("case x when null then 'null matched' else 'no match' end") == R"("no match")");
    CHECK(f.json("case n + 1 when 6 then n * 2 end") == "10");
    CHECK(f.json("case when n = 5 then case when s = 'b' then 'both' end end") == R"("both")");
    CHECK(f.json("case when n then 1 end") == "error: case needs a boolean after 'when', but n is a number (5) in: case when n then 1 end");
}

TEST_CASE("expr lists: literals hold any expressions", "[expr]") {
    fixture f(R"({"n": 5, "o": {"a": 1}})");
    CHECK(f.json("[]") == "[]");
    CHECK(f.json("[1, 'a', true, null, 2.5]") == R"([1,"a",true,null,2.5])");
    CHECK(f.json("[n, n * 2, [n]]") == "[5,10,[5]]");
    CHECK(f.json("[o, missing]") == R"([{"a":1},null])");
    CHECK(f.type("[n]") == kind::list);
}

TEST_CASE("expr test: true keeps, false and null drop, other kinds are errors", "[expr]") {
    fixture f(R"({"Total": 51, "s": "x"})");
    CHECK(f.test("Total > 50") == "keep");
    CHECK(f.test("Total > 60") == "drop");
    CHECK(f.test("missing > 60") == "drop");
    CHECK(f.test("null") == "drop");
    CHECK(f.test("true") == "keep");
    CHECK(f.test("Total + 1") == "error: --where must give true or false, got a number (52) in: Total + 1");
    CHECK(f.test("s") == "error: --where must give true or false, got a string (\"x\") in: s");
    CHECK(f.test("[true]") == "error: --where must give true or false, got a list ([true]) in: [true]");
    CHECK(f.test("s > 1") == "error: > needs numbers, but s is a string (\"x\") in: s > 1");
}

TEST_CASE("expr type errors: name the operator, the field or operand, the value, the expression", "[expr]") {
    fixture f(R"({"Total": "abc", "n": 5, "flag": true, "list": [1], "obj": {"a": 1}})");
    CHECK(f.error("Total > 50") == R"(> needs numbers, but Total is a string ("abc") in: Total > 50)");
    CHECK(f.error("50 < Total") == R"(< needs numbers, but Total is a string ("abc") in: 50 < Total)");
    CHECK(f.error("n >= Total") == R"(>= needs numbers, but Total is a string ("abc") in: n >= Total)");
    CHECK(f.error("Total <= n") == R"(<= needs strings, but n is a number (5) in: Total <= n)");
    CHECK(f.error("flag < 1") == R"(< needs numbers, but flag is a boolean (true) in: flag < 1)");
    CHECK(f.error("list < 1") == R"(< needs numbers, strings, times or booleans, but list is an array ([1]) in: list < 1)");
    CHECK(f.error("1 > obj") == R"(> needs numbers, strings, times or booleans, but obj is an object ({"a":1}) in: 1 > obj)");
    CHECK(f.error("Total + 1") == R"(+ needs numbers, but Total is a string ("abc") in: Total + 1)");
    CHECK(f.error("n + Total") == R"(+ needs numbers, but Total is a string ("abc") in: n + Total)");
    CHECK(f.error("flag + 1") == R"(+ needs numbers or strings, but flag is a boolean (true) in: flag + 1)");
    CHECK(f.error("n - 'x'") == R"(- needs numbers, but the right operand is a string ("x") in: n - 'x')");
    CHECK(f.error("Total * 2") == R"(* needs numbers, but Total is a string ("abc") in: Total * 2)");
    CHECK(f.error("n / flag") == R"(/ needs numbers, but flag is a boolean (true) in: n / flag)");
    CHECK(f.error("n % list") == R"(% needs numbers, but list is an array ([1]) in: n % list)");
    CHECK(f.error("obj ^ 2") == R"(^ needs numbers, but obj is an object ({"a":1}) in: obj ^ 2)");
    CHECK(f.error("(n + 1) ^ 'x'") == R"(^ needs numbers, but the right operand is a string ("x") in: (n + 1) ^ 'x')");
    CHECK(f.error("-Total") == R"(- needs a number, but Total is a string ("abc") in: -Total)");
    CHECK(f.error("-(flag)") == R"(- needs a number, but flag is a boolean (true) in: -(flag))");
    CHECK(f.error("n and true") == R"(and needs booleans, but n is a number (5) in: n and true)");
    CHECK(f.error("false OR 'x'") == R"(or needs booleans, but the right operand is a string ("x") in: false OR 'x')");
    CHECK(f.error("not n") == R"(not needs a boolean, but n is a number (5) in: not n)");
    CHECK(f.error("list[flag]") == R"([] needs an integer index or a string name, but flag is a boolean (true) in: list[flag])");
    CHECK(f.error("from_unixtime(n) > 1") == R"(> needs numbers, but the left operand is a time ("1970-01-01T00:00:05Z") in: from_unixtime(n) > 1)");
    // Constant parts are computed at compile time; when both sides are constant the right one is named.
    CHECK(f.error("from_unixtime(1) > 1") == R"(> needs times, but the right operand is a number (1) in: from_unixtime(1) > 1)");
}

TEST_CASE("expr type errors: times have no arithmetic and order only with times", "[expr]") {
    fixture f(R"({"n": 1700000000, "ts": "2026-01-02T03:04:05Z"})");
    CHECK(f.error("from_unixtime(n) + 60") ==
          R"(+ needs numbers or strings, but the left operand is a time ("2023-11-14T22:13:20Z") in: from_unixtime(n) + 60)");
    CHECK(f.error("from_unixtime(n) - from_unixtime(0)") ==
          R"(- needs numbers, but the left operand is a time ("2023-11-14T22:13:20Z") in: from_unixtime(n) - from_unixtime(0))");
    CHECK(f.error("from_unixtime(n) < ts") == R"(< needs times, but ts is a string ("2026-01-02T03:04:05Z") in: from_unixtime(n) < ts)");
    CHECK(f.json("from_unixtime(n) < parse_time(ts)") == "true");
    CHECK(f.json("to_number(parse_time(ts)) - to_number(from_unixtime(n))") == "67323045");
}

TEST_CASE("expr type errors: a constant part that fails is left to fail at run time", "[expr]") {
    fixture f(R"({"n": 1})");
    CHECK(f.error("'a' + 1") == R"(+ needs strings, but the right operand is a number (1) in: 'a' + 1)");
    CHECK(f.json("if(n > 0, 1, 'a' + 1)") == "1");
}

TEST_CASE("expr type errors: long values are shortened", "[expr]") {
    const std::string long_text(60, 'a');
    fixture f(R"({"long": ")" + long_text + R"(", "arr": [1111111111, 2222222222, 3333333333, 4444444444, 5555555555]})");
    CHECK(f.error("long > 1") == "> needs numbers, but long is a string (\"" + std::string(40, 'a') + "...\") in: long > 1");
    CHECK(f.error("arr > 1") ==
          "> needs numbers, strings, times or booleans, but arr is an array ([1111111111,2222222222,3333333333,444444...) in: arr > 1");
}
