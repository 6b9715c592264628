// Times for the expression language: civil dates, time zones (fixed offsets and IANA TZif files),
// ISO-8601 and strptime/strftime-like text. A time is microseconds since the epoch, UTC.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ks::expr {

constexpr std::int64_t us_per_second = 1'000'000;

// Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms).
std::int64_t days_from_civil(std::int64_t year, int month, int day);
void civil_from_days(std::int64_t days, std::int64_t& year, int& month, int& day);
bool is_leap(std::int64_t year);
int days_in_month(std::int64_t year, int month);

// Floor division, for times before 1970.
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// A time broken down in some offset from UTC.
struct civil_time {
    std::int64_t year = 1970;
    int month = 1, day = 1, hour = 0, minute = 0, second = 0;
    int micros = 0;
    int weekday = 4;     // ISO: 1 Monday ... 7 Sunday (1970-01-01 was a Thursday)
    int yday = 1;        // 1 ... 366
    int offset = 0;      // seconds east of UTC
};

// A POSIX TZ rule (the footer of a TZif file): standard time, and daylight time between two dates.
struct tz_rule {
    struct date_rule {
        char kind = 'M';  // 'M' month.week.weekday, 'J' Julian day 1-365 without Feb 29, 'n' 0-365
        int month = 0, week = 0, weekday = 0, day = 0;
        std::int32_t time = 7200;  // seconds after local midnight (may be negative or > 24 h)
    };
    std::int32_t std_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    std::int32_t dst_offset = 0;
    date_rule start, end;

    [[nodiscard]] std::int32_t offset_at(std::int64_t utc_seconds) const;
};

// Parses a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3"); false when it is not one.
bool parse_tz_rule(std::string_view text, tz_rule& out);

class zone {
public:
    // A fixed offset (seconds east of UTC).
    static zone fixed(std::string name, std::int32_t offset);
    // The contents of a TZif file (version 2 or later): false when they are not one.
    static bool from_tzif(std::string name, std::string_view data, zone& out);

    [[nodiscard]] const std::string& name() const { return name_; }
    // The offset from UTC (seconds east) at a UTC instant.
    [[nodiscard]] std::int32_t offset_at(std::int64_t utc_seconds) const;
    // The UTC instant of a local wall-clock time. A time skipped by a forward change (a gap) is
    // moved forward by the length of the gap; a time that happens twice (an overlap) is the earlier
    // of the two instants (java.time's rules).
    [[nodiscard]] std::int64_t to_utc(std::int64_t local_seconds) const;

private:
    std::string name_;
    std::int32_t fixed_ = 0;
    bool is_fixed_ = true;
    std::vector<std::int64_t> transitions_;  // UTC seconds, ascending
    std::vector<std::uint8_t> types_;         // the local time type from each transition on
    std::vector<std::int32_t> offsets_;       // per local time type
    bool has_rule_ = false;
    tz_rule rule_;                            // after the last transition
};

// UTC.
const zone* utc_zone();
// "UTC", "Z", "+02:00", "-0530", "+02", or an IANA name read from /usr/share/zoneinfo (or $TZDIR).
// Loaded once and cached for the life of the process; nullptr when unknown.
const zone* find_zone(std::string_view name);

civil_time break_down(std::int64_t us, const zone* z);

// ISO-8601: "2026-01-02", "2026-01-02T03:04", "2026-01-02 03:04:05.123456", with an optional "Z"
// or offset ("+02:00", "+0200", "+02"). Without an offset the time is local to `z` (UTC if null).
bool parse_iso(std::string_view s, const zone* z, std::int64_t& us);

// Checks a format (strptime/strftime directives); false with the byte offset of the bad directive.
bool check_format(std::string_view format, std::size_t& bad_at);
// strptime-like: false when the text does not match the format (or names an impossible date).
// The format must have passed check_format.
bool parse_formatted(std::string_view s, std::string_view format, const zone* z, std::int64_t& us);

// Room that format_formatted may need for `format`.
std::size_t formatted_size(std::string_view format);
// strftime-like into `out` (formatted_size bytes); returns the length. check_format must have passed.
std::size_t format_formatted(char* out, std::int64_t us, std::string_view format, const zone* z);

constexpr std::size_t iso_size = 48;
// "2026-01-02T03:04:05Z", ".123" or ".123456" when there is a fraction; the zone's offset
// ("+02:00") instead of Z when a zone is given.
std::size_t format_iso(char* out, std::int64_t us, const zone* z);

}  // namespace ks::expr
