// Helpers for the expression language's unit tests (expr_*_test.cpp): one record parsed with
// simdjson's DOM, expressions compiled and evaluated against it, results as JSON text.
#pragma once

#include "ks/expr.hpp"

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace expr_test {

using ks::expr::kind;
using ks::expr::value;

struct outcome {
    bool ok = false;
    value v;
    std::string error;
};

class fixture {
public:
    explicit fixture(std::string_view record = "{}") {
        simdjson::dom::element doc;
        REQUIRE(parser_.parse(record.data(), record.size()).get(doc) == simdjson::SUCCESS);
        REQUIRE(doc.get_object().get(root_) == simdjson::SUCCESS);
    }

    const ks::record* meta = nullptr;
    std::vector<std::string> names;  // bound locals
    std::vector<value> locals;       // their values

    // Compiles and evaluates; the program is kept so that literals stay valid.
    outcome run(std::string_view expression) {
        auto& p = programs_.emplace_back(ks::expr::program::compile(expression));
        if (!names.empty()) p.bind(names);
        ev_.reset();
        outcome o;
        ks::expr::context ctx{root_, meta, locals};
        o.ok = ev_.evaluate(p, ctx, o.v, o.error);
        return o;
    }

    // The value as JSON (append_json), or "error: <message>".
    std::string json(std::string_view expression) {
        outcome o = run(expression);
        if (!o.ok) return "error: " + o.error;
        std::string out;
        ks::expr::append_json(out, o.v);
        return out;
    }

    kind type(std::string_view expression) {
        outcome o = run(expression);
        REQUIRE(o.ok);
        return o.v.type;
    }

    // The runtime error's message ("" when there is none).
    std::string error(std::string_view expression) {
        outcome o = run(expression);
        return o.ok ? std::string() : o.error;
    }

    // evaluator::test: "keep", "drop", or "error: <message>".
    std::string test(std::string_view expression) {
        auto& p = programs_.emplace_back(ks::expr::program::compile(expression));
        ev_.reset();
        ks::expr::context ctx{root_, meta, locals};
        bool keep = false;
        std::string error;
        if (!ev_.test(p, ctx, keep, error)) return "error: " + error;
        return keep ? "keep" : "drop";
    }

    [[nodiscard]] simdjson::dom::object root() const { return root_; }

private:
    simdjson::dom::parser parser_;
    simdjson::dom::object root_;
    ks::expr::evaluator ev_;
    std::deque<ks::expr::program> programs_;
};

// The JSON of an expression over an empty record.
inline std::string eval_json(std::string_view expression) { return fixture().json(expression); }

struct syntax {
    std::string message;
    std::size_t column = 0;
    std::string display;
};

// The syntax error an expression raises (the test fails when it compiles).
inline syntax syntax_of(std::string_view expression) {
    try {
        ks::expr::program::compile(expression);
    } catch (const ks::expr::syntax_error& e) {
        return {e.what(), e.column(), e.display()};
    }
    FAIL("compiled without a syntax error: " << expression);
    return {};
}

}  // namespace expr_test
