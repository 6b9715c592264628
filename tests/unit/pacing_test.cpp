// ks pacing: event-time parsing, --rate spacing, --replay-time pacing, and --duration ending waits.
// The timed cases check behaviour with loose bounds; they are not benchmarks.
#include "ks/pacing.hpp"
#include "ks/signal.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

namespace {

double seconds_since(ks::steady::time_point start) {
    return std::chrono::duration<double>(ks::steady::now() - start).count();
}

// The parsed seconds, or -1 when the text is not a time (none of the valid inputs below is -1).
double seconds(std::string_view text) {
    auto t = ks::parse_event_time(text);
    return t ? t->seconds : -1;
}

bool is_time_of_day(std::string_view text) {
    auto t = ks::parse_event_time(text);
    REQUIRE(t);
    return t->time_of_day;
}

ks::event_time clock_time(std::string_view text) {
    auto t = ks::parse_event_time(text);
    REQUIRE(t);
    REQUIRE(t->time_of_day);
    return *t;
}

}  // namespace

TEST_CASE("parse_event_time: epoch seconds, milliseconds (>= 1e11) and fractions", "[pacing][time]") {
    CHECK(seconds("1700000000") == 1700000000.0);
    CHECK(seconds("1700000000123") == Approx(1700000000.123).epsilon(1e-12));
    CHECK(seconds("1700000000.5") == 1700000000.5);
    CHECK(seconds("99999999999") == 99999999999.0);   // just below 1e11: still seconds
    CHECK(seconds("100000000000") == 100000000.0);    // 1e11: milliseconds
    CHECK(seconds("0") == 0.0);
    CHECK(seconds(" 42 ") == 42.0);
    CHECK_FALSE(is_time_of_day("1700000000"));
}

TEST_CASE("parse_event_time: ISO-8601 dates and date-times, UTC unless an offset is given", "[pacing][time]") {
    CHECK(seconds("2024-01-15") == 1705276800.0);
    CHECK(seconds("2024-01-15T10:30:00Z") == 1705314600.0);
    CHECK(seconds("2024-01-15T10:30:00") == 1705314600.0);
    CHECK(seconds("2024-01-15t10:30:00z") == 1705314600.0);
    CHECK(seconds("2024-01-15 10:30:00") == 1705314600.0);
    CHECK(seconds("2024-01-15T10:30Z") == 1705314600.0);
    CHECK(seconds("2024-01-15T10:30:00+02:00") == 1705314600.0 - 7200);
    CHECK(seconds("2024-01-15T10:30:00+0200") == 1705314600.0 - 7200);
    CHECK(seconds("2024-01-15T10:30:00-0130") == 1705314600.0 + 5400);
    CHECK(seconds("2024-01-15T10:30:00-01:30") == 1705314600.0 + 5400);
    CHECK(seconds("2024-01-15T10:30:00.250Z") == 1705314600.25);
    CHECK(seconds("1970-01-01T00:00:00Z") == 0.0);
    CHECK_FALSE(is_time_of_day("2024-01-15T10:30:00Z"));
}

TEST_CASE("parse_event_time: malformed ISO-8601 is not a time", "[pacing][time]") {
    CHECK_FALSE(ks::parse_event_time("2024-13-01"));
    CHECK_FALSE(ks::parse_event_time("2024-01-32"));
    CHECK_FALSE(ks::parse_event_time("2024-01-15T24:00:00Z"));
    CHECK_FALSE(ks::parse_event_time("2024-01-15T10:30:00Q"));
    CHECK_FALSE(ks::parse_event_time("2024-01-15T10:30:00 +02:00"));
    CHECK_FALSE(ks::parse_event_time("2024-1-15T10:30:00"));
    CHECK_FALSE(ks::parse_event_time("2024-01-15X"));
}

TEST_CASE("parse_event_time: times of day, 12-hour and 24-hour", "[pacing][time]") {
    CHECK(seconds("12:00:00 AM") == 0.0);
    CHECK(seconds("12:15:00 AM") == 900.0);
    CHECK(seconds("12:00:00 PM") == 43200.0);
    CHECK(seconds("1:30:00 PM") == 48600.0);
    CHECK(seconds("1:30:00pm") == 48600.0);
    CHECK(seconds("11:45 PM") == 85500.0);
    CHECK(seconds("23:59") == 86340.0);
    CHECK(seconds("07:05:09") == 25509.0);
    CHECK(seconds("10:00:00.5") == 36000.5);
    CHECK(is_time_of_day("23:59"));
    CHECK(is_time_of_day("12:00:00 AM"));
}

TEST_CASE("parse_event_time: invalid input is nullopt", "[pacing][time]") {
    for (std::string_view bad : {"25:00", "13:00 PM", "0:30 AM", "12:60", "12:30:61", "12:30 XM", "12:30:", "1:3",
                                 "abc", "", "   ", "12abc", "1e999", "nan", "inf"})
        CHECK_FALSE(ks::parse_event_time(bad));
}

TEST_CASE("sleep_until: returns false when --duration (the stop flag) comes first", "[pacing]") {
    const auto start = ks::steady::now();
    CHECK(ks::sleep_until(start + std::chrono::milliseconds(20)));
    CHECK(seconds_since(start) >= 0.02);

    const auto again = ks::steady::now();
    ks::signals::stop_after(0.05);
    CHECK_FALSE(ks::sleep_until(again + std::chrono::seconds(10)));
    CHECK(seconds_since(again) < 5.0);  // not the 10 s asked for
    ks::signals::stop_after(0);  // no deadline again
    CHECK_FALSE(ks::signals::stop_requested());
}

TEST_CASE("rate_limiter: 200 records at 1000/s take about 0.2 s", "[pacing]") {
    ks::rate_limiter rate(1000);
    const auto start = ks::steady::now();
    int released = 0;
    for (int i = 0; i < 200; ++i) released += rate.wait() ? 1 : 0;
    CHECK(released == 200);
    const double took = seconds_since(start);
    CHECK(took >= 0.15);
    CHECK(took <= 5.0);  // a busy machine may be slow; a wrong rate would not be this close
}

TEST_CASE("rate_limiter: rate 0 does not wait and --duration stops it", "[pacing]") {
    ks::rate_limiter unlimited(0);
    const auto start = ks::steady::now();
    int released = 0;
    for (int i = 0; i < 100000; ++i) released += unlimited.wait() ? 1 : 0;
    CHECK(released == 100000);
    CHECK(seconds_since(start) < 5.0);

    ks::rate_limiter slow(0.1);  // the second record is due 10 s after the first
    ks::signals::stop_after(0.05);
    CHECK(slow.wait());
    const auto second = ks::steady::now();
    CHECK_FALSE(slow.wait());
    CHECK(seconds_since(second) < 5.0);
    ks::signals::stop_after(0);
}

TEST_CASE("replay_clock: a time of day that goes past midnight rolls over to the next day", "[pacing]") {
    // 11:45 PM then 12:00 AM is 15 minutes later, not 23 h 45 min earlier (and not a day later):
    // at speed 1000 that is 0.9 s.
    ks::replay_clock replay(1000);
    const auto start = ks::steady::now();
    REQUIRE(replay.wait(clock_time("11:45:00 PM")));
    REQUIRE(replay.wait(clock_time("12:00:00 AM")));
    const double took = seconds_since(start);
    CHECK(took >= 0.8);
    CHECK(took < 20.0);  // a day off would be 85 s
}

TEST_CASE("replay_clock: rows are spaced by their time difference divided by the speed", "[pacing]") {
    ks::replay_clock replay(100);
    const auto start = ks::steady::now();
    REQUIRE(replay.wait(*ks::parse_event_time("1700000000")));
    CHECK(seconds_since(start) < 5.0);  // the first row anchors the clock (unanchored, it would wait for years)
    REQUIRE(replay.wait(*ks::parse_event_time("1700000010")));
    REQUIRE(replay.wait(*ks::parse_event_time("1700000005")));  // earlier row: at once
    const double took = seconds_since(start);
    CHECK(took >= 0.09);
    CHECK(took < 5.0);  // at speed 1 it would be 10 s
}

TEST_CASE("replay_clock: --duration stops a long wait", "[pacing]") {
    ks::replay_clock replay(1);
    ks::signals::stop_after(0.05);
    REQUIRE(replay.wait(*ks::parse_event_time("1700000000")));
    const auto start = ks::steady::now();
    CHECK_FALSE(replay.wait(*ks::parse_event_time("1700003600")));
    CHECK(seconds_since(start) < 5.0);  // not the hour asked for
    ks::signals::stop_after(0);
}

TEST_CASE("parse_event_time: signs inside hours, minutes, seconds or offsets are not a time",
          "[pacing][time]") {
    CHECK_FALSE(ks::parse_event_time("-1:00"));
    CHECK_FALSE(ks::parse_event_time("1:-5"));
    CHECK_FALSE(ks::parse_event_time("12:-1 PM"));
    CHECK_FALSE(ks::parse_event_time("2024-01-15T-1:00:00Z"));
    CHECK_FALSE(ks::parse_event_time("2024-01-15T10:-5:00Z"));
    CHECK_FALSE(ks::parse_event_time("2024-01-15T10:30:00+-2:00"));
}

TEST_CASE("parse_event_time: a day that does not exist in its month is not a time", "[pacing][time]") {
    CHECK(seconds("2024-02-29") == 1709164800.0);  // leap day: valid
    CHECK_FALSE(ks::parse_event_time("2023-02-29"));
    CHECK_FALSE(ks::parse_event_time("2024-02-30"));
    CHECK_FALSE(ks::parse_event_time("2024-04-31T10:00:00Z"));
}
