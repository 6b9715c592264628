#pragma once

#include "ks/options.hpp"
#include "ks/expr.hpp"
#include "ks/session.hpp"
#include "ks/spec.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ks::kstream_filter {

struct options {
    common_options common;
    std::vector<std::string> inputs;  // -i
    std::string output = "-";
    std::string where;
    std::vector<std::string> select;  // 'name=EXPR, ...', repeatable
    std::vector<std::string> drop;    // f1,f2
    std::vector<std::string> set;     // 'name=EXPR', repeatable
    std::string lookup, on;
    bool inner = false;
    std::string key;
    delivery_options delivery;
};

// One output field: a name and the expression that computes it.
struct output_field {
    std::string name;
    expr::program program;
};

// What setup makes of the options: specs and compiled expressions, nothing opened.
struct plan {
    std::vector<io_spec> inputs;
    io_spec output;
    std::optional<expr::program> where, key, join_field;
    std::vector<output_field> select, set;
    std::vector<std::string> drop;
    std::string join_column;
};

void declare(CLI::App& app, options& o);
// Checks the options and compiles the expressions; opens nothing. Throws usage_error (a wrong
// expression is shown with a caret under the column).
plan setup(options& o);
int run(options& o, plan& p);

}  // namespace ks::kstream_filter
