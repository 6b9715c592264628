// kstream-agg: event-time windowed group-by aggregations (the stateful half of Spark Structured
// Streaming). docs/kstream-agg.md has the semantics: windows, watermarks, emission, state.
#pragma once

#include "aggregates.hpp"

#include "ks/options.hpp"
#include "ks/expr.hpp"
#include "ks/session.hpp"
#include "ks/spec.hpp"


#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ks::kstream_agg {

struct options {
    common_options common;
    std::vector<std::string> inputs;  // -i
    std::string output = "-";
    std::vector<std::string> group_by;  // 'EXPR [as name], ...' (repeatable)
    std::vector<std::string> aggs;      // 'name=FUNC(EXPR), ...' (repeatable)
    std::string window = "none";
    std::string time_field;  // --time-field FIELD
    std::string time;        // --time EXPR (@timestamp by default)
    std::string grace = "0";
    std::string emit = "final";
    double idle_close = 0;
    std::string having;
    std::uint64_t max_keys = 1'000'000;
    std::string changelog;  // default GROUP-changelog
    bool no_key_check = false;
    delivery_options delivery;
};

enum class window_kind : std::uint8_t { none, tumbling, hopping, session };

struct window_spec {
    window_kind kind = window_kind::none;
    std::int64_t size_ms = 0;     // tumbling, hopping
    std::int64_t advance_ms = 0;  // hopping
    std::int64_t gap_ms = 0;      // session
};

// "tumbling:5m", "hopping:10m,5m", "session:30m", "none". Throws usage_error.
window_spec parse_window(std::string_view text);
// The windows [start, end) holding event time t (ms): one for tumbling, size/advance for hopping.
// Not for session or none.
void windows_of(const window_spec& w, std::int64_t t, std::vector<std::pair<std::int64_t, std::int64_t>>& out);

struct group_field {
    std::string name;
    expr::program program;
};

// What setup makes of the options: specs and compiled expressions, nothing opened.
struct plan {
    std::vector<io_spec> inputs;
    io_spec output;
    std::vector<group_field> group;
    std::vector<agg::spec> aggs;
    window_spec window;
    std::int64_t grace_ms = 0;
    bool emit_final = true;
    std::optional<expr::program> having;
    std::optional<expr::program> time;  // nullopt: @timestamp (the Kafka timestamp, or arrival)
    std::string changelog;              // Kafka input: the state's changelog topic
};

void declare(CLI::App& app, options& o);
// Checks the options and compiles the expressions; opens nothing. Throws usage_error.
plan setup(options& o);
int run(options& o, plan& p);

// "EXPR [as name]" -> name and EXPR; a bare field path names itself by its last step.
std::pair<std::string, std::string> split_group_item(std::string_view item);

}  // namespace ks::kstream_agg
