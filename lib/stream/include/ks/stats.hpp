// --stats (a JSON summary on stderr at exit) and progress on a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace ks {

class stopwatch {
public:
    [[nodiscard]] double seconds() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }

private:
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// A flat JSON object, fields in the order added.
class stats_report {
public:
    explicit stats_report(std::string_view tool);
    stats_report& add(std::string_view key, std::uint64_t value);
    stats_report& add(std::string_view key, std::int64_t value);
    stats_report& add(std::string_view key, double value);
    stats_report& add(std::string_view key, std::string_view value);
    [[nodiscard]] std::string json() const { return body_ + "}"; }
    void print() const;  // to stderr, one line

private:
    std::string body_;
};

// "\rtool: 12345 records, 4567/s" at most once a second, only when stderr is a terminal.
class progress {
public:
    progress(bool quiet, std::string_view unit);
    void update(std::uint64_t count) {  // cheap unless stderr is a terminal
        if (enabled_) maybe_print(count);
    }
    void finish();

private:
    void maybe_print(std::uint64_t count);
    bool enabled_;
    bool printed_ = false;
    std::string unit_;
    stopwatch clock_;
    double last_ = 0;
};

}  // namespace ks
