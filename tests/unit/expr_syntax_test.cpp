// ks::expr: tokens, literals and syntax errors (message, column, display).
#include "expr_support.hpp"

#include <random>

using expr_test::eval_json;
using expr_test::fixture;
using expr_test::syntax_of;

TEST_CASE("expr literals: integers stay exact int64, beyond int64 they are floats", "[expr]") {
    fixture f;
    CHECK(f.json("0") == "0");
    CHECK(f.json("42") == "42");
    CHECK(f.type("42") == ks::expr::kind::integer);
    CHECK(f.json("9223372036854775807") == "9223372036854775807");
    CHECK(f.json("-9223372036854775808") == "-9223372036854775808");
    CHECK(f.type("-9223372036854775808") == ks::expr::kind::integer);
    CHECK(f.json("9223372036854775808") == "9.223372036854776e+18");
    CHECK(f.type("9223372036854775808") == ks::expr::kind::number);
    CHECK(f.json("18446744073709551616") == "1.8446744073709552e+19");
    CHECK(f.json("9007199254740993") == "9007199254740993");
}

TEST_CASE("expr literals: floats with a fraction, an exponent or both", "[expr]") {
    fixture f;
    CHECK(f.json("1.5") == "1.5");
    CHECK(f.type("1.5") == ks::expr::kind::number);
    CHECK(f.json("1e3") == "1000");
    CHECK(f.type("1e3") == ks::expr::kind::number);
    CHECK(f.json("2.5E-3") == "0.0025");
    CHECK(f.json("1E+2") == "100");
    CHECK(f.json("0.1") == "0.1");
    CHECK(f.json("3.0") == "3");
    CHECK(f.type("3.0") == ks::expr::kind::number);
}

TEST_CASE("expr literals: strings in either quote with JSON escapes", "[expr]") {
    fixture f;
    CHECK(f.json(R"("double")") == R"("double")");
    CHECK(f.json(R"('single')") == R"("single")");
    CHECK(f.json(R"("say \"hi\"")") == R"("say \"hi\"")");
    CHECK(f.json(R"('it\'s')") == R"("it's")");
    CHECK(f.json(R"("a\\b\/c")") == R"("a\\b/c")");
    CHECK(f.json(R"("\b\f\n\r\t")") == R"("\b\f\n\r\t")");
    CHECK(f.json(R"("caf\u00e9")") == "\"caf\xC3\xA9\"");
    CHECK(f.json(R"("\u20AC")") == "\"\xE2\x82\xAC\"");
    CHECK(f.json(R"("\ud83d\udeb2")") == "\"\xF0\x9F\x9A\xB2\"");  // a surrogate pair: one code point
    CHECK(f.json(R"(len("\ud83d\udeb2"))") == "1");
    CHECK(f.json(R"('')") == R"("")");
    CHECK(f.json("'caf\xC3\xA9'") == "\"caf\xC3\xA9\"");
}

TEST_CASE("expr literals: true false null are lowercase; keywords are not case-sensitive", "[expr]") {
    fixture f(R"({"TRUE": "a field", "x": 5})");
    CHECK(f.json("true") == "true");
    CHECK(f.json("false") == "false");
    CHECK(f.json("null") == "null");
    CHECK(f.json("TRUE") == R"("a field")");
    CHECK(f.json("True") == "null");  // a missing field
    CHECK(f.json("x > 1 AND x < 9") == "true");
    CHECK(f.json("x > 9 Or NOT x < 1") == "true");
    CHECK(f.json("x IN [5]") == "true");
    CHECK(f.json("x Is Not null") == "true");
    CHECK(f.json("CASE WHEN x = 5 THEN 'five' ELSE 'other' END") == R"("five")");
}

TEST_CASE("expr lexing: whitespace anywhere between tokens, none needed", "[expr]") {
    fixture f(R"({"a": {"b": [10, 20]}})");
    CHECK(f.json("1+2*3") == "7");
    CHECK(f.json(" \t1 +\n2\r\n* 3 ") == "7");
    CHECK(f.json("a . b [ 1 ]") == "20");
    CHECK(f.json("a.b[0]>5") == "true");
    CHECK(f.json("max ( 1 , 2 )") == "2");
}

TEST_CASE("expr syntax: field names in backquotes, a doubled backquote inside is one", "[expr]") {
    fixture f(R"({"Day of the week": "Monday", "a`b": 1, "and": 2, "x": {"weird name": 3}})");
    CHECK(f.json("`Day of the week`") == R"("Monday")");
    CHECK(f.json("`a``b`") == "1");
    CHECK(f.json("`and`") == "2");
    CHECK(f.json("x.`weird name`") == "3");
    CHECK(f.json(R"(x["weird name"])") == "3");
}

TEST_CASE("expr syntax errors: unexpected tokens and the end of the expression", "[expr]") {
    auto e = syntax_of("Total >");
    CHECK(e.message == "unexpected end of expression");
    CHECK(e.column == 7);
    CHECK(e.display == "unexpected end of expression\n  Total >\n         ^");

    e = syntax_of("Total > > 5");
    CHECK(e.message == "unexpected '>'");
    CHECK(e.column == 8);

    e = syntax_of("Total 5");
    CHECK(e.message == "unexpected '5'");
    CHECK(e.column == 6);

    e = syntax_of("1 + then");
    CHECK(e.message == "unexpected 'then'");
    CHECK(e.column == 4);

    e = syntax_of("a = 1 $ 2");
    CHECK(e.message == "unexpected character '$'");
    CHECK(e.column == 6);

    e = syntax_of("x = \xE2\x82\xAC");
    CHECK(e.message == "unexpected character '\xE2\x82\xAC'");
    CHECK(e.column == 4);

    e = syntax_of("x = '\\\xC3\xA9'");
    CHECK(e.message == "bad escape '\\\xC3\xA9' in string");
    CHECK(e.column == 5);

    e = syntax_of("a ! b");
    CHECK(e.message == "unexpected character '!'");
    CHECK(e.column == 2);

    e = syntax_of("a.");
    CHECK(e.message == "expected a field name after '.' but found end of expression");
    CHECK(e.column == 2);

    e = syntax_of("a.5");
    CHECK(e.message == "expected a field name after '.' but found '5'");
    CHECK(e.column == 2);

    e = syntax_of("a[]");
    CHECK(e.message == "expected an index or a name between '[' and ']'");
    CHECK(e.column == 2);

    e = syntax_of("a[1.5]");
    CHECK(e.message == "an index must be an integer or a string");
    CHECK(e.column == 2);

    e = syntax_of("x is 5");
    CHECK(e.message == "expected 'null' after 'is' but found '5'");
    CHECK(e.column == 5);

    e = syntax_of("x is not true");
    CHECK(e.message == "expected 'null' after 'is not' but found 'true'");
    CHECK(e.column == 9);
}

TEST_CASE("expr syntax errors: null is lowercase, also after is", "[expr]") {
    auto e = syntax_of("x is NULL");
    CHECK(e.message == "expected 'null' after 'is' but found 'NULL'");
    CHECK(e.column == 5);
}

TEST_CASE("expr syntax errors: quotes are not doubled inside strings (SQL style)", "[expr]") {
    auto e = syntax_of("'it''s'");
    CHECK(e.message == "unexpected ''s''");
    CHECK(e.column == 4);
}

TEST_CASE("expr syntax errors: the empty expression", "[expr]") {
    for (const char* text : {"", "   ", "\t\n"}) {
        auto e = syntax_of(text);
        CHECK(e.message == "empty expression");
        CHECK(e.column == 0);
    }
}

TEST_CASE("expr syntax errors: unbalanced brackets point at the bracket", "[expr]") {
    auto e = syntax_of("(1 + 2");
    CHECK(e.message == "unclosed '('");
    CHECK(e.column == 0);

    e = syntax_of("1 + 2)");
    CHECK(e.message == "')' without a matching '('");
    CHECK(e.column == 5);

    e = syntax_of("a[0");
    CHECK(e.message == "unclosed '['");
    CHECK(e.column == 1);

    e = syntax_of("x in [1, 2");
    CHECK(e.message == "unclosed '['");
    CHECK(e.column == 5);

    e = syntax_of("[1, 2]]");
    CHECK(e.message == "']' without a matching '['");
    CHECK(e.column == 6);

    e = syntax_of("max(1, 2");
    CHECK(e.message == "unclosed '('");
    CHECK(e.column == 3);

    e = syntax_of("(1 + 2]");
    CHECK(e.message == "expected ')' but found ']'");
    CHECK(e.column == 6);

    e = syntax_of("a[0)");
    CHECK(e.message == "expected ']' but found ')'");
    CHECK(e.column == 3);

    e = syntax_of("case when x then 1");
    CHECK(e.message == "'case' without 'end'");
    CHECK(e.column == 0);

    e = syntax_of("case when x 1 end");
    CHECK(e.message == "expected 'then' but found '1'");
    CHECK(e.column == 12);

    e = syntax_of("case x end");
    CHECK(e.message == "expected 'when' but found 'end'");
    CHECK(e.column == 7);
}

TEST_CASE("expr syntax errors: unterminated strings and names, bad escapes, bad numbers", "[expr]") {
    auto e = syntax_of("name = 'abc");
    CHECK(e.message == "unterminated string");
    CHECK(e.column == 7);

    e = syntax_of(R"(name = "abc\")");
    CHECK(e.message == "unterminated string");
    CHECK(e.column == 7);

    e = syntax_of("`Day of week = 1");
    CHECK(e.message == "unterminated `name`");
    CHECK(e.column == 0);

    e = syntax_of(R"(x = "a\qb")");
    CHECK(e.message == R"(bad escape '\q' in string)");
    CHECK(e.column == 6);

    e = syntax_of(R"(x = "\u12G4")");
    CHECK(e.message == R"(bad escape: \u needs four hex digits)");
    CHECK(e.column == 5);

    e = syntax_of(R"(x = "\ud83d")");
    CHECK(e.message == R"(bad escape: a high surrogate \ud83d without its low half)");
    CHECK(e.column == 5);

    e = syntax_of(R"(x = "\udeb2")");
    CHECK(e.message == R"(bad escape: a lone low surrogate \udeb2)");
    CHECK(e.column == 5);

    e = syntax_of("x > 1e");
    CHECK(e.message == "bad number '1e'");
    CHECK(e.column == 4);

    e = syntax_of("x > 12abc");
    CHECK(e.message == "bad number '12abc'");
    CHECK(e.column == 4);

    e = syntax_of("x > 1.");
    CHECK(e.message == "bad number '1.'");
    CHECK(e.column == 4);

    e = syntax_of("x > 1e999");
    CHECK(e.message == "number out of range '1e999'");
    CHECK(e.column == 4);
}

TEST_CASE("expr syntax errors: unknown functions and wrong argument counts point at the name", "[expr]") {
    auto e = syntax_of("x + frobnicate(1)");
    CHECK(e.message == "unknown function 'frobnicate'");
    CHECK(e.column == 4);

    e = syntax_of("1 + lower()");
    CHECK(e.message == "lower takes 1 argument, got 0");
    CHECK(e.column == 4);

    e = syntax_of("lower('a', 'b')");
    CHECK(e.message == "lower takes 1 argument, got 2");
    CHECK(e.column == 0);

    e = syntax_of("x = substr('abc')");
    CHECK(e.message == "substr takes 2 or 3 arguments, got 1");
    CHECK(e.column == 4);

    e = syntax_of("parse_time('a', 'b', 'c', 'd')");
    CHECK(e.message == "parse_time takes 1 to 3 arguments, got 4");
    CHECK(e.column == 0);

    e = syntax_of("min()");
    CHECK(e.message == "min takes at least 1 argument, got 0");
    CHECK(e.column == 0);

    e = syntax_of("now(1)");
    CHECK(e.message == "now takes 0 arguments, got 1");

    e = syntax_of("if(x, 1)");
    CHECK(e.message == "if takes 3 arguments, got 2");

    // Names are not case-sensitive; the message uses the function's own spelling.
    e = syntax_of("LOWER()");
    CHECK(e.message == "lower takes 1 argument, got 0");
}

TEST_CASE("expr syntax errors: unknown metadata", "[expr]") {
    auto e = syntax_of("x = 1 and @partishun = 2");
    CHECK(e.message == "unknown metadata '@partishun' (known: @key, @topic, @partition, @offset, @timestamp, @headers.NAME)");
    CHECK(e.column == 10);

    e = syntax_of("@headers = 'a'");
    CHECK(e.message == R"(@headers needs a header name: @headers.NAME or @headers["NAME"])");
    CHECK(e.column == 0);

    e = syntax_of("x = @");
    CHECK(e.message == "expected a metadata name after '@' (@key, @topic, @partition, @offset, @timestamp, @headers.NAME)");
    CHECK(e.column == 4);
}

TEST_CASE("expr syntax errors: literal regexes, zones and time formats are checked at compile time", "[expr]") {
    auto e = syntax_of("regex_match(name, 'a(b')");
    CHECK(e.message.rfind("bad regex: ", 0) == 0);
    CHECK(e.column == 18);

    e = syntax_of("hour(ts, 'Mars/Olympus_Mons')");
    CHECK(e.message == "unknown time zone 'Mars/Olympus_Mons'");
    CHECK(e.column == 9);

    e = syntax_of("format_time(ts, '%Y', '+25:00')");
    CHECK(e.message == "unknown time zone '+25:00'");
    CHECK(e.column == 22);

    e = syntax_of("format_time(ts, '%Y-%Q')");
    CHECK(e.message == "bad time format: unknown directive '%Q'");
    CHECK(e.column == 16);

    e = syntax_of("parse_time(s, 'at %')");
    CHECK(e.message == "bad time format: unknown directive '%'");
    CHECK(e.column == 14);
}

TEST_CASE("expr syntax errors: comparisons do not chain", "[expr]") {
    auto e = syntax_of("1 < x < 5");
    CHECK(e.message == "comparisons do not chain: join them with 'and' (a < b and b < c)");
    CHECK(e.column == 6);

    e = syntax_of("x = 1 = true");
    CHECK(e.column == 6);

    e = syntax_of("x is null is null");
    CHECK(e.column == 10);

    e = syntax_of("x in [1] not in [2]");
    CHECK(e.column == 9);

    // Parentheses make it explicit.
    CHECK(eval_json("(1 < 2) = true") == "true");
}

TEST_CASE("expr syntax errors: nesting is bounded", "[expr]") {
    CHECK(eval_json(std::string(100, '(') + "1" + std::string(100, ')')) == "1");
    CHECK(eval_json(std::string(100, '-') + "1") == "1");
    auto e = syntax_of(std::string(300, '(') + "1" + std::string(300, ')'));
    CHECK(e.message == "expression nested too deeply");
    CHECK(e.column < 300);
    e = syntax_of(std::string(1000, '[') + std::string(1000, ']'));
    CHECK(e.message == "expression nested too deeply");
    e = syntax_of("x = " + std::string(100000, '-') + "1");
    CHECK(e.message == "expression nested too deeply");
    std::string calls;
    for (int i = 0; i < 300; ++i) calls += "abs(";
    e = syntax_of(calls + "1" + std::string(300, ')'));
    CHECK(e.message == "expression nested too deeply");
    std::string nots;
    for (int i = 0; i < 1000; ++i) nots += "not ";
    e = syntax_of(nots + "true");
    CHECK(e.message == "expression nested too deeply");
}

TEST_CASE("expr syntax errors: columns count characters, not bytes", "[expr]") {
    auto e = syntax_of("'caf\xC3\xA9' = )");
    CHECK(e.message == "unexpected ')'");
    CHECK(e.column == 9);
    CHECK(e.display == "unexpected ')'\n  'caf\xC3\xA9' = )\n           ^");
}

TEST_CASE("expr syntax errors: a multi-line expression is shown on one line", "[expr]") {
    auto e = syntax_of("a > 1 and\n\tb >");
    CHECK(e.column == 14);
    CHECK(e.display == "unexpected end of expression\n  a > 1 and  b >\n                ^");
}

TEST_CASE("expr syntax_error: the message, the expression and the column are kept", "[expr]") {
    try {
        ks::expr::program::compile("a +");
        FAIL("no syntax error");
    } catch (const ks::expr::syntax_error& e) {
        CHECK(std::string(e.what()) == "unexpected end of expression");
        CHECK(e.expression() == "a +");
        CHECK(e.column() == 3);
    }
}

TEST_CASE("expr program: text, moves, and a moved-from program", "[expr]") {
    auto p = ks::expr::program::compile("1 + 2");
    CHECK(p.text() == "1 + 2");
    ks::expr::program q = std::move(p);
    CHECK(q.text() == "1 + 2");
    fixture f;
    ks::expr::evaluator ev;
    ks::expr::value v;
    std::string error;
    ks::expr::context ctx{f.root()};
    REQUIRE(ev.evaluate(q, ctx, v, error));
    CHECK(v.integer == 3);
    CHECK_FALSE(ev.evaluate(p, ctx, v, error));  // NOLINT(bugprone-use-after-move): moved-from is refused, not a crash
    CHECK(error == "no expression (the program was moved from)");
}

TEST_CASE("expr robustness: token soup compiles or fails cleanly, and evaluates or reports an error", "[expr]") {
    static const char* pieces[] = {
        "Total", "main.temp", "a[0]", "a[-1]", "a[*]", "w[*].x", "@key", "@headers.h", "`odd name`", "1", "-2", "2.5", "1e3",
        "9223372036854775807", "'s'", "\"t\"", "true", "null", "[", "]", "(", ")", ",", ".", "+", "-", "*", "/", "%", "^",
        "=", "!=", "<", ">=", "and", "or", "not", "in", "is", "case", "when", "then", "else", "end", "abs(", "round(", "min(",
        "concat(", "substr(", "split(", "coalesce(", "if(", "regex_match(", "parse_time(", "format_time(", "hour(", "len(", "'Europe/Paris'",
        "'%Y'", "'^a'", "'2026-01-02'", "@", "`", "'", "\\u", "[*]",
    };
    std::mt19937 random(12345);
    fixture f(R"({"Total": 5, "main": {"temp": 1.5}, "a": [1, 2], "w": [{"x": 1}, {}], "odd name": "v"})");
    ks::record r;
    f.meta = &r;
    int compiled = 0, refused = 0;
    for (int i = 0; i < 3000; ++i) {
        std::string text;
        const int count = 1 + static_cast<int>(random() % 12);
        for (int k = 0; k < count; ++k) {
            text += pieces[random() % std::size(pieces)];
            if (random() % 2) text += ' ';
        }
        INFO(text);
        try {
            auto o = f.run(text);
            CHECK((o.ok || !o.error.empty()));
            ++compiled;
        } catch (const ks::expr::syntax_error& e) {
            CHECK(e.column() <= text.size());
            CHECK_FALSE(std::string(e.what()).empty());
            ++refused;
        }
    }
    CHECK(compiled > 100);
    CHECK(refused > 100);
}
