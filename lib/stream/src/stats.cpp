#include "ks/stats.hpp"

#include "ks/json.hpp"
#include "ks/log.hpp"

#include <unistd.h>

#include <fmt/core.h>

#include <cmath>
#include <cstdio>

namespace ks {

stats_report::stats_report(std::string_view tool) {
    body_ = "{\"tool\":";
    json::append_string(body_, tool);
}

stats_report& stats_report::add(std::string_view key, std::uint64_t value) {
    body_ += ',';
    json::append_string(body_, key);
    fmt::format_to(std::back_inserter(body_), ":{}", value);
    return *this;
}

stats_report& stats_report::add(std::string_view key, std::int64_t value) {
    body_ += ',';
    json::append_string(body_, key);
    fmt::format_to(std::back_inserter(body_), ":{}", value);
    return *this;
}

stats_report& stats_report::add(std::string_view key, double value) {
    body_ += ',';
    json::append_string(body_, key);
    if (std::isfinite(value)) fmt::format_to(std::back_inserter(body_), ":{:.3f}", value);
    else body_ += ":null";
    return *this;
}

stats_report& stats_report::add(std::string_view key, std::string_view value) {
    body_ += ',';
    json::append_string(body_, key);
    body_ += ':';
    json::append_string(body_, value);
    return *this;
}

void stats_report::print() const {
    std::string line = json() + "\n";
    (void)!::write(STDERR_FILENO, line.data(), line.size());
}

progress::progress(bool quiet, std::string_view unit) : enabled_(!quiet && ::isatty(STDERR_FILENO)), unit_(unit) {}

void progress::maybe_print(std::uint64_t count) {
    const double now = clock_.seconds();
    if (now - last_ < 1.0) return;
    last_ = now;
    printed_ = true;
    std::string line = fmt::format("\r{}: {} {}, {:.0f}/s   ", log::tool(), count, unit_, count / std::max(now, 1e-9));
    (void)!::write(STDERR_FILENO, line.data(), line.size());
}

void progress::finish() {
    if (!printed_) return;
    static constexpr char clear[] = "\r\033[K";
    (void)!::write(STDERR_FILENO, clear, sizeof clear - 1);
    printed_ = false;
}

}  // namespace ks
