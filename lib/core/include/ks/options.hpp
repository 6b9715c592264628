// The common options every tool shares (DESIGN.md "Inputs and outputs"), without CLI11: what the
// library reads of them. ks/cli.hpp declares them on a command line.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace ks {

enum class on_error_mode { fail, skip, dead_letter };
enum class start_from { committed, earliest, latest };

struct common_options {
    // Kafka connection
    std::string brokers;                  // -b; resolved from $KAFKA_BROKERS, else localhost:9092
    std::vector<std::string> properties;  // -X prop=value, in order
    std::vector<std::string> property_files;  // -F FILE
    double timeout_s = 60;                // --timeout: how long the broker may stay unreachable
    // Consuming
    std::string group;                    // -g
    std::string from_text = "committed";  // --from
    start_from from = start_from::committed;
    bool exit_at_end = false;             // -e
    // Bounding: --duration is part of the stop flag (signals::stop_after, armed by run_tool), so
    // every wait ends on time; --limit is counted by the loop that reads (one check, limit_reached).
    double duration_s = 0;                // --duration, 0 = unbounded
    std::uint64_t limit = 0;              // --limit, 0 = unbounded
    double rate = 0;                      // --rate records/s, 0 = as fast as possible
    // Bad records
    std::string on_error_text = "fail";
    on_error_mode on_error = on_error_mode::fail;
    std::string dead_letter;              // --dead-letter SPEC
    // Reporting
    int verbose = 0;
    bool quiet = false;
    bool stats = false;

    [[nodiscard]] bool limit_reached(std::uint64_t count) const { return limit > 0 && count >= limit; }
};

// Which groups of common options a tool takes.
enum option_group : unsigned {
    opts_kafka = 1u << 0,    // -b -X -F --timeout
    opts_consume = 1u << 1,  // -g --from -e
    opts_bound = 1u << 2,    // --duration --limit
    opts_rate = 1u << 3,     // --rate
    opts_errors = 1u << 4,   // --on-error --dead-letter
    opts_report = 1u << 5,   // -v -q --stats
    opts_no_timeout = 1u << 6,  // with opts_kafka: no --timeout (the tool names the broker's bound itself)
};

// "500ms", "30s", "5m", "2h", "1d", or a bare number of seconds -> milliseconds (> 0). Throws
// usage_error naming `option` (a negative, zero, non-finite or unknown-unit duration).
// allow_zero: 0 (in any unit) is a valid answer too.
std::int64_t parse_duration_ms(std::string_view text, std::string_view option, bool allow_zero = false);

// An option's seconds as a span of the steady clock. Anything beyond 1e9 s (31 years) counts as
// 1e9 s: a very large --duration or --idle-timeout means "no limit" and never overflows.
std::chrono::steady_clock::duration seconds_span(double seconds);

}  // namespace ks
