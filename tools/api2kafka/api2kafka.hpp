// api2kafka: polls HTTP JSON APIs and publishes the records of each response (docs/api2kafka.md).
#pragma once

#include "ks/options.hpp"
#include "ks/expr.hpp"
#include "ks/http.hpp"
#include "ks/spec.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ks::api2kafka {

struct options {
    common_options common;
    std::vector<std::string> urls;
    std::string output = "-";
    std::string interval = "60s";
    std::string records;                // --records data.stations
    std::string where, key, dedupe;
    std::string dedupe_state;           // --dedupe-state FILE
    std::vector<std::string> add;       // 'name=EXPR'
    std::vector<std::string> headers;   // 'Name: value'
    std::vector<std::string> params;    // 'name=v1,v2'
    double timeout_s = 30;              // --timeout: one HTTP request
    double connect_timeout_s = 10;
    int retries = 3;
    std::string backoff = "1s";
    std::uint64_t polls = 0;            // 0 = no limit
    bool fail_fast = false;
};

// One URL to poll, after --param and ${ENV} expansion.
struct target {
    std::string url;    // what is requested
    std::string shown;  // what is printed: secrets replaced by ***
};

struct named_program {
    std::string name;
    expr::program program;
};

struct plan {
    std::vector<target> targets;
    std::vector<std::string> headers;
    http::redactor redact;
    std::int64_t interval_ms = 60000, backoff_ms = 1000;
    std::vector<std::string> records_path;  // empty: the whole response
    std::optional<expr::program> where, key, dedupe;
    std::vector<named_program> add;
    io_spec output;
};

void declare(CLI::App& app, options& o);
// Checks the options, expands --param and ${ENV}; opens nothing. Throws usage_error.
plan setup(options& o);
int run(options& o, plan& p);

}  // namespace ks::api2kafka
