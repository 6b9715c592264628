// Time: --rate spacing, --replay-time pacing, and event-time parsing. Every wait sleeps in steps
// of at most 100 ms so that signals and --duration (the stop flag) are seen promptly.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ks {

using steady = std::chrono::steady_clock;

// Sleeps until `when`. Returns false when a stop came first (a signal, --duration: both are the
// stop flag of signal.hpp, so no wait outlives them).
bool sleep_until(steady::time_point when);

// Record i is released at start + i / rate: evenly spaced, no bursts, no drift.
class rate_limiter {
public:
    explicit rate_limiter(double per_second);  // 0 = unlimited
    bool wait();  // false: a stop came first

private:
    double rate_;
    std::uint64_t count_ = 0;
    steady::time_point start_{};
};

struct event_time {
    double seconds;    // since the epoch, or since midnight when time_of_day
    bool time_of_day;  // "12:15:00 AM", "17:30": a clock time without a date
};
// Epoch seconds or milliseconds (numbers above 1e11 are ms), ISO-8601 dates and date-times (UTC
// unless an offset is given), or a time of day (H:MM[:SS][.fff] with optional AM/PM).
std::optional<event_time> parse_event_time(std::string_view text);

// --replay-time: row times are replayed `speed` times faster than they were recorded, anchored at
// the first row. Times of day that go backwards roll over to the next day.
class replay_clock {
public:
    explicit replay_clock(double speed) : speed_(speed) {}
    bool wait(const event_time& t);  // false: a stop came first
    void restart() {  // a new pass over the input (--loop)
        anchored_ = false;
        day_offset_ = 0;
    }

private:
    double speed_;
    bool anchored_ = false;
    double first_ = 0, last_ = 0, day_offset_ = 0;
    steady::time_point wall_start_{};
};

}  // namespace ks
