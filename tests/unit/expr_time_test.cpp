// ks::expr: times, zones (fixed offsets, IANA with DST, the TZif footer rule), parse and format.
#include "expr_support.hpp"

using expr_test::fixture;
using ks::expr::kind;

TEST_CASE("expr from_unixtime: seconds (with a fraction) to a time", "[expr]") {
    fixture f;
    CHECK(f.type("from_unixtime(0)") == kind::time);
    CHECK(f.json("from_unixtime(0)") == R"("1970-01-01T00:00:00Z")");
    CHECK(f.json("from_unixtime(1700000000)") == R"("2023-11-14T22:13:20Z")");
    CHECK(f.json("from_unixtime(1.5)") == R"("1970-01-01T00:00:01.500Z")");
    CHECK(f.json("from_unixtime(0.000001)") == R"("1970-01-01T00:00:00.000001Z")");
    CHECK(f.json("from_unixtime(-1)") == R"("1969-12-31T23:59:59Z")");
    CHECK(f.json("from_unixtime(100000000000)") == R"("5138-11-16T09:46:40Z")");  // always seconds
    CHECK(f.json("from_unixtime(null)") == "null");
    CHECK(f.error("from_unixtime('1')") == R"(from_unixtime needs a number of seconds, but argument 1 is a string ("1") in: from_unixtime('1'))");
    CHECK(f.error("from_unixtime(9223372036854775807)") ==
          "from_unixtime needs a time within 290,000 years of 1970, but argument 1 is a number (9223372036854775807) in: "
          "from_unixtime(9223372036854775807)");
}

TEST_CASE("expr times: numbers are epoch seconds, or milliseconds from 1e11 on", "[expr]") {
    fixture f(R"({"s": 1700000000, "ms": 1700000000123, "f": 1700000000.5})");
    CHECK(f.json("format_time(s)") == R"("2023-11-14T22:13:20Z")");
    CHECK(f.json("format_time(ms)") == R"("2023-11-14T22:13:20.123Z")");
    CHECK(f.json("format_time(f)") == R"("2023-11-14T22:13:20.500Z")");
    CHECK(f.json("format_time(99999999999)") == R"("5138-11-16T09:46:39Z")");
    CHECK(f.json("format_time(100000000000)") == R"("1973-03-03T09:46:40Z")");
    CHECK(f.json("format_time(-99999999999)") == R"("-1199-02-15T14:13:21Z")");
    CHECK(f.json("format_time(-100000000000)") == R"("1966-10-31T14:13:20Z")");
    CHECK(f.json("format_time(1.7e12)") == R"("2023-11-14T22:13:20Z")");
    CHECK(f.json("hour(ms)") == "22");
    CHECK(f.json("hour(s) = hour(ms)") == "true");
}

TEST_CASE("expr times: the extremes of the microsecond range", "[expr]") {
    fixture f;
    CHECK(f.json("format_time(9223372036854775)") == R"("294247-01-10T04:00:54.775Z")");
    CHECK(f.json("format_time(-9223372036854775)") == R"("-290308-12-21T19:59:05.225Z")");
    CHECK(f.json("date(9223372036854775, 'Europe/Paris')") == R"("294247-01-10")");
    CHECK(f.error("format_time(9223372036854776)") ==
          "format_time needs a time within 290,000 years of 1970, but argument 1 is a number (9223372036854776) in: "
          "format_time(9223372036854776)");
    CHECK(f.error("hour(1e300)") == "hour needs a time within 290,000 years of 1970, but argument 1 is a number (1e+300) in: hour(1e300)");
}

TEST_CASE("expr times: text where a time is expected is read as ISO-8601", "[expr]") {
    fixture f(R"({"ts": "2026-01-02T03:04:05+02:00", "bad": "yesterday"})");
    CHECK(f.json("format_time('2026-01-02T03:04:05Z')") == R"("2026-01-02T03:04:05Z")");
    CHECK(f.json("format_time('2026-01-02')") == R"("2026-01-02T00:00:00Z")");
    CHECK(f.json("hour(ts)") == "1");
    CHECK(f.json("date(ts)") == R"("2026-01-02")");
    CHECK(f.error("hour(bad)") ==
          R"(hour needs a time (ISO-8601 text, or epoch seconds or milliseconds), but bad is a string ("yesterday") in: hour(bad))");
    CHECK(f.error("format_time(true)") == "format_time needs a time, but argument 1 is a boolean (true) in: format_time(true)");
    CHECK(f.json("hour(null)") == "null");
    CHECK(f.json("format_time(missing)") == "null");
}

TEST_CASE("expr parse_time: ISO-8601 dates and date-times", "[expr]") {
    fixture f;
    CHECK(f.type("parse_time('2026-01-02')") == kind::time);
    CHECK(f.json("parse_time('2026-01-02')") == R"("2026-01-02T00:00:00Z")");
    CHECK(f.json("parse_time('2026-01-02T03:04')") == R"("2026-01-02T03:04:00Z")");
    CHECK(f.json("parse_time('2026-01-02T03:04:05')") == R"("2026-01-02T03:04:05Z")");
    CHECK(f.json("parse_time('2026-01-02 03:04:05')") == R"("2026-01-02T03:04:05Z")");
    CHECK(f.json("parse_time('2026-01-02t03:04:05z')") == R"("2026-01-02T03:04:05Z")");
    CHECK(f.json("parse_time('2026-01-02T03:04:05.250Z')") == R"("2026-01-02T03:04:05.250Z")");
    CHECK(f.json("parse_time('2026-01-02T03:04:05.5Z')") == R"("2026-01-02T03:04:05.500Z")");
    CHECK(f.json("parse_time('2026-01-02T03:04:05,5Z')") == R"("2026-01-02T03:04:05.500Z")");
    CHECK(f.json("parse_time('2026-01-02T03:04:05.123456Z')") == R"("2026-01-02T03:04:05.123456Z")");
    CHECK(f.json("parse_time('2026-01-02T03:04:05.123456789Z')") == R"("2026-01-02T03:04:05.123456Z")");
    CHECK(f.json("parse_time('2026-01-02T03:04:05+02:00')") == R"("2026-01-02T01:04:05Z")");
    CHECK(f.json("parse_time('2026-01-02T03:04:05+0530')") == R"("2026-01-01T21:34:05Z")");
    CHECK(f.json("parse_time('2026-01-02T03:04:05-08')") == R"("2026-01-02T11:04:05Z")");
    CHECK(f.json("parse_time('2024-02-29')") == R"("2024-02-29T00:00:00Z")");
    CHECK(f.json("parse_time('1969-07-20T20:17:40Z')") == R"("1969-07-20T20:17:40Z")");
    CHECK(f.json("parse_time('1800-01-01T00:09:21+00:09:21')") == R"("1800-01-01T00:00:00Z")");
    CHECK(f.json("parse_time('1800-01-01T00:09:21+000921')") == R"("1800-01-01T00:00:00Z")");
}

TEST_CASE("expr parse_time: text that is not ISO-8601 gives null", "[expr]") {
    fixture f;
    for (const char* e : {"parse_time('2026-13-01')", "parse_time('2026-02-30')", "parse_time('2023-02-29')", "parse_time('2026-00-10')",
                          "parse_time('2026-01-02T24:00:00')", "parse_time('2026-01-02T03:60')", "parse_time('2026-01-02T03:04:61')",
                          "parse_time('26-01-02')", "parse_time('2026-1-2')", "parse_time('2026-01-02T03:04:05 ')", "parse_time('abc')",
                          "parse_time('')", "parse_time('2026-01-02T03')", "parse_time('2026-01-02T03:04:05+25:00')",
                          "parse_time('2026-01-02T03:04:05.Z')", "parse_time(null)"}) {
        INFO(e);
        CHECK(f.json(e) == "null");
    }
    CHECK(f.error("parse_time(5)") == "parse_time needs a string, but argument 1 is a number (5) in: parse_time(5)");
}

TEST_CASE("expr parse_time: strptime-like formats", "[expr]") {
    fixture f;
    CHECK(f.json("parse_time('02/01/2026 15:04', '%d/%m/%Y %H:%M')") == R"("2026-01-02T15:04:00Z")");
    CHECK(f.json("parse_time('2026-01-02 3:04:05 PM', '%Y-%m-%d %I:%M:%S %p')") == R"("2026-01-02T15:04:05Z")");
    CHECK(f.json("parse_time('12:30 am', '%I:%M %p')") == R"("1970-01-01T00:30:00Z")");
    CHECK(f.json("parse_time('12:30 PM', '%I:%M %p')") == R"("1970-01-01T12:30:00Z")");
    CHECK(f.json("parse_time('Jan 5 2026', '%b %e %Y')") == R"("2026-01-05T00:00:00Z")");
    CHECK(f.json("parse_time('January  5 2026', '%B %e %Y')") == R"("2026-01-05T00:00:00Z")");
    CHECK(f.json("parse_time('Monday, 05 January 2026', '%A, %d %B %Y')") == R"("2026-01-05T00:00:00Z")");
    CHECK(f.json("parse_time('Mon 05-jan-26', '%a %d-%b-%y')") == R"("2026-01-05T00:00:00Z")");
    CHECK(f.json("parse_time('99', '%y')") == R"("1999-01-01T00:00:00Z")");
    CHECK(f.json("parse_time('68', '%y')") == R"("2068-01-01T00:00:00Z")");
    CHECK(f.json("parse_time('2026-032', '%Y-%j')") == R"("2026-02-01T00:00:00Z")");
    CHECK(f.json("parse_time('2024-366', '%Y-%j')") == R"("2024-12-31T00:00:00Z")");
    CHECK(f.json("parse_time('2026-01-02T03:04:05.123+0200', '%Y-%m-%dT%H:%M:%S.%f%z')") == R"("2026-01-02T01:04:05.123Z")");
    CHECK(f.json("parse_time('2026-01-02 03:04:05Z', '%F %T%z')") == R"("2026-01-02T03:04:05Z")");
    CHECK(f.json("parse_time('2026-01-02 03:04:05 -05:00', '%F %T %z')") == R"("2026-01-02T08:04:05Z")");
    CHECK(f.json("parse_time('01/02/26', '%D')") == R"("2026-01-02T00:00:00Z")");
    CHECK(f.json("parse_time('10%', '%H%%')") == R"("1970-01-01T10:00:00Z")");
    CHECK(f.json("parse_time('12:30', '%H:%M')") == R"("1970-01-01T12:30:00Z")");
    CHECK(f.json("parse_time('20260102', '%Y%m%d')") == R"("2026-01-02T00:00:00Z")");
    CHECK(f.json("parse_time(' 2026-01-02 ', ' %F ')") == R"("2026-01-02T00:00:00Z")");
    CHECK(f.json("parse_time('2026-01-02', '')") == R"("2026-01-02T00:00:00Z")");  // an empty format is ISO-8601
}

TEST_CASE("expr parse_time: text that does not match the format gives null", "[expr]") {
    fixture f(R"({"fmt": "%Q", "format": "%d.%m.%Y"})");
    for (const char* e : {"parse_time('2026/01/02', '%Y-%m-%d')", "parse_time('2026-01-02x', '%Y-%m-%d')", "parse_time('2026-01', '%Y-%m-%d')",
                          "parse_time('2026-02-30', '%Y-%m-%d')", "parse_time('13:00 PM', '%I:%M %p')", "parse_time('Foo 5 2026', '%b %e %Y')",
                          "parse_time('2025-366', '%Y-%j')", "parse_time('x', '%H')", "parse_time('2026-01-02', null)"}) {
        INFO(e);
        CHECK(f.json(e) == "null");
    }
    CHECK(f.json("parse_time('02.01.2026', format)") == R"("2026-01-02T00:00:00Z")");
    CHECK(f.error("parse_time('x', fmt)") == R"(parse_time: bad time format "%Q": unknown directive '%Q' in: parse_time('x', fmt))");
}

TEST_CASE("expr parse_time: a zone for text without an offset", "[expr]") {
    fixture f;
    CHECK(f.json("parse_time('2026-07-01T12:00:00', '', 'Europe/Paris')") == R"("2026-07-01T10:00:00Z")");
    CHECK(f.json("parse_time('2026-01-01T12:00:00', '', 'Europe/Paris')") == R"("2026-01-01T11:00:00Z")");
    CHECK(f.json("parse_time('2026-07-01T12:00:00Z', '', 'Europe/Paris')") == R"("2026-07-01T12:00:00Z")");
    CHECK(f.json("parse_time('2026-01-02', '%Y-%m-%d', 'Europe/Paris')") == R"("2026-01-01T23:00:00Z")");
    CHECK(f.json("parse_time('2026-01-02 12:00 +01:00', '%Y-%m-%d %H:%M %z', 'Asia/Tokyo')") == R"("2026-01-02T11:00:00Z")");
    CHECK(f.json("parse_time('2026-01-02T12:00:00', '', '+05:30')") == R"("2026-01-02T06:30:00Z")");
    CHECK(f.json("parse_time('2026-01-02T12:00:00', '', 'UTC')") == R"("2026-01-02T12:00:00Z")");
}

TEST_CASE("expr parse_time: local times in a DST gap move forward, in an overlap take the earlier", "[expr]") {
    fixture f;
    // Europe/Paris, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
    CHECK(f.json("parse_time('2026-03-29T01:59:59', '', 'Europe/Paris')") == R"("2026-03-29T00:59:59Z")");
    CHECK(f.json("parse_time('2026-03-29T02:30:00', '', 'Europe/Paris')") == R"("2026-03-29T01:30:00Z")");
    CHECK(f.json("format_time(parse_time('2026-03-29T02:30:00', '', 'Europe/Paris'), '', 'Europe/Paris')") ==
          R"("2026-03-29T03:30:00+02:00")");
    CHECK(f.json("parse_time('2026-03-29T03:00:00', '', 'Europe/Paris')") == R"("2026-03-29T01:00:00Z")");
    // 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 happens twice.
    CHECK(f.json("parse_time('2026-10-25T02:30:00', '', 'Europe/Paris')") == R"("2026-10-25T00:30:00Z")");
    CHECK(f.json("parse_time('2026-10-25T03:00:00', '', 'Europe/Paris')") == R"("2026-10-25T02:00:00Z")");
    CHECK(f.json("parse_time('2026-10-25T01:59:59', '', 'Europe/Paris')") == R"("2026-10-24T23:59:59Z")");
}

TEST_CASE("expr zones: Europe/Paris around the 2026 changes", "[expr]") {
    fixture f;
    auto paris = [&](const char* utc) {
        return f.json(std::string("format_time(parse_time('") + utc + "'), '', 'Europe/Paris')");
    };
    CHECK(paris("2026-03-29T00:59:59Z") == R"("2026-03-29T01:59:59+01:00")");
    CHECK(paris("2026-03-29T01:00:00Z") == R"("2026-03-29T03:00:00+02:00")");
    CHECK(paris("2026-10-25T00:59:59Z") == R"("2026-10-25T02:59:59+02:00")");
    CHECK(paris("2026-10-25T01:00:00Z") == R"("2026-10-25T02:00:00+01:00")");
    CHECK(paris("2026-07-01T10:00:00.250Z") == R"("2026-07-01T12:00:00.250+02:00")");
    CHECK(f.json("hour(parse_time('2026-03-29T00:59:59Z'), 'Europe/Paris')") == "1");
    CHECK(f.json("hour(parse_time('2026-03-29T01:00:00Z'), 'Europe/Paris')") == "3");
    CHECK(f.json("hour(parse_time('2026-10-25T00:59:59Z'), 'Europe/Paris')") == "2");
    CHECK(f.json("hour(parse_time('2026-10-25T01:00:00Z'), 'Europe/Paris')") == "2");
    CHECK(f.json("format_time(parse_time('2026-01-02T15:04:05Z'), '%H:%M %z', 'Europe/Paris')") == R"("16:04 +0100")");
    CHECK(f.json("format_time(parse_time('2026-07-02T15:04:05Z'), '%H:%M %z', 'Europe/Paris')") == R"("17:04 +0200")");
}

TEST_CASE("expr zones: after the last transition the TZif footer rule applies", "[expr]") {
    fixture f;
    auto in = [&](const char* zone, const char* utc) {
        return f.json(std::string("format_time(parse_time('") + utc + "'), '', '" + zone + "')");
    };
    CHECK(in("Europe/Paris", "2050-03-27T00:59:59Z") == R"("2050-03-27T01:59:59+01:00")");
    CHECK(in("Europe/Paris", "2050-03-27T01:00:00Z") == R"("2050-03-27T03:00:00+02:00")");
    CHECK(in("Europe/Paris", "2050-10-30T00:59:59Z") == R"("2050-10-30T02:59:59+02:00")");
    CHECK(in("Europe/Paris", "2050-10-30T01:00:00Z") == R"("2050-10-30T02:00:00+01:00")");
    CHECK(in("America/New_York", "2060-03-14T06:59:59Z") == R"("2060-03-14T01:59:59-05:00")");
    CHECK(in("America/New_York", "2060-03-14T07:00:00Z") == R"("2060-03-14T03:00:00-04:00")");
    CHECK(in("America/New_York", "2060-11-07T05:59:59Z") == R"("2060-11-07T01:59:59-04:00")");
    CHECK(in("America/New_York", "2060-11-07T06:00:00Z") == R"("2060-11-07T01:00:00-05:00")");
    // Southern hemisphere: daylight time across the new year.
    CHECK(in("Australia/Sydney", "2050-01-15T00:00:00Z") == R"("2050-01-15T11:00:00+11:00")");
    CHECK(in("Australia/Sydney", "2050-07-15T00:00:00Z") == R"("2050-07-15T10:00:00+10:00")");
    CHECK(in("Australia/Sydney", "2050-04-03T15:59:59Z") == R"("2050-04-04T01:59:59+10:00")");
    CHECK(in("Australia/Sydney", "2050-10-01T16:00:00Z") == R"("2050-10-02T03:00:00+11:00")");
    CHECK(in("Australia/Sydney", "2026-01-15T00:00:00Z") == R"("2026-01-15T11:00:00+11:00")");
    CHECK(in("Australia/Sydney", "2026-07-15T00:00:00Z") == R"("2026-07-15T10:00:00+10:00")");
    // A zone with no transitions at all, only the rule.
    CHECK(f.json("hour(0, 'Etc/GMT-3')") == "3");
    CHECK(f.json("parse_time('2060-03-14T02:30:00', '', 'America/New_York')") == R"("2060-03-14T07:30:00Z")");
}

TEST_CASE("expr zones: fixed offsets, UTC, before the first transition", "[expr]") {
    fixture f;
    CHECK(f.json("format_time(parse_time('2026-07-01T10:00:00Z'), '', 'UTC')") == R"("2026-07-01T10:00:00+00:00")");
    CHECK(f.json("format_time(parse_time('2026-07-01T10:00:00Z'), '', 'Z')") == R"("2026-07-01T10:00:00+00:00")");
    CHECK(f.json("format_time(parse_time('2026-07-01T10:00:00Z'), '', 'utc')") == R"("2026-07-01T10:00:00+00:00")");
    CHECK(f.json("format_time(parse_time('2026-07-01T10:00:00Z'), '', '+05:30')") == R"("2026-07-01T15:30:00+05:30")");
    CHECK(f.json("format_time(parse_time('2026-07-01T10:00:00Z'), '', '-0530')") == R"("2026-07-01T04:30:00-05:30")");
    CHECK(f.json("format_time(parse_time('2026-07-01T10:00:00Z'), '', '+02')") == R"("2026-07-01T12:00:00+02:00")");
    CHECK(f.json("format_time(parse_time('2026-07-01T10:00:00Z'), '', 'Asia/Tokyo')") == R"("2026-07-01T19:00:00+09:00")");
    CHECK(f.json("format_time(parse_time('1800-01-01T00:00:00Z'), '', 'Europe/Paris')") == R"("1800-01-01T00:09:21+00:09:21")");
    CHECK(f.json("hour(parse_time('2026-01-02T03:04:05Z'), 'Asia/Kolkata')") == "8");
    CHECK(f.json("minute(parse_time('2026-01-02T03:04:05Z'), 'Asia/Kolkata')") == "34");
}

TEST_CASE("expr zones: computed zone names are checked per record", "[expr]") {
    fixture f(R"({"zone": "Nowhere/City", "paris": "Europe/Paris", "up": "../../etc/passwd"})");
    CHECK(f.json("hour(0, paris)") == "1");
    CHECK(f.json("hour(0, missing)") == "null");
    CHECK(f.error("hour(0, zone)") == R"(hour: unknown time zone "Nowhere/City" in: hour(0, zone))");
    CHECK(f.error("hour(0, up)") == R"(hour: unknown time zone "../../etc/passwd" in: hour(0, up))");
    CHECK(f.error("hour(0, 5)") == "hour needs a time zone name, but argument 2 is a number (5) in: hour(0, 5)");
    CHECK(f.error("format_time(0, '', zone)") == R"(format_time: unknown time zone "Nowhere/City" in: format_time(0, '', zone))");
}

TEST_CASE("expr format_time: ISO-8601 by default, strftime-like formats", "[expr]") {
    fixture f(R"({"t": "2026-01-02T15:04:05.123456Z", "fmt": "%Y/%Q", "ok": "%d.%m."})");
    CHECK(f.json("format_time(t)") == R"("2026-01-02T15:04:05.123456Z")");
    CHECK(f.json("format_time(t, '%Y-%m-%d %H:%M:%S.%f')") == R"("2026-01-02 15:04:05.123456")");
    CHECK(f.json("format_time(t, '%e %b %Y, %I:%M %p')") == R"(" 2 Jan 2026, 03:04 PM")");
    CHECK(f.json("format_time(t, '%A %B %j')") == R"("Friday January 002")");
    CHECK(f.json("format_time(t, '%a %y %D %F %T %%')") == R"("Fri 26 01/02/26 2026-01-02 15:04:05 %")");
    CHECK(f.json("format_time(t, '%z')") == R"("+0000")");
    CHECK(f.json("format_time(t, ok)") == R"("02.01.")");
    CHECK(f.json("format_time(0, 'epoch')") == R"("epoch")");
    CHECK(f.json("format_time(0, '')") == R"("1970-01-01T00:00:00Z")");
    CHECK(f.json("format_time(parse_time('2026-01-02T00:30:00Z'), '%I:%M %p')") == R"("12:30 AM")");
    CHECK(f.json("format_time(parse_time('2026-01-02T12:30:00Z'), '%I:%M %p')") == R"("12:30 PM")");
    CHECK(f.json("format_time(t, null)") == "null");
    CHECK(f.error("format_time(t, fmt)") == R"(format_time: bad time format "%Y/%Q": unknown directive '%Q' in: format_time(t, fmt))");
    CHECK(f.error("format_time(t, 5)") == "format_time needs a format string, but argument 2 is a number (5) in: format_time(t, 5)");
}

TEST_CASE("expr time parts: hour, minute, second, day_of_week, date, year, month, day", "[expr]") {
    fixture f(R"({"t": "2026-01-02T03:04:05Z"})");
    CHECK(f.json("hour(t)") == "3");
    CHECK(f.json("minute(t)") == "4");
    CHECK(f.json("second(t)") == "5");
    CHECK(f.json("day_of_week(t)") == "5");  // a Friday
    CHECK(f.json("date(t)") == R"("2026-01-02")");
    CHECK(f.json("year(t)") == "2026");
    CHECK(f.json("month(t)") == "1");
    CHECK(f.json("day(t)") == "2");
    CHECK(f.json("day_of_week(parse_time('2026-03-29T12:00:00Z'))") == "7");  // Sunday
    CHECK(f.json("day_of_week(parse_time('2026-03-30T12:00:00Z'))") == "1");  // Monday
    CHECK(f.json("day_of_week(parse_time('2026-03-29T23:30:00Z'), 'Europe/Paris')") == "1");
    CHECK(f.json("date(parse_time('2026-03-29T23:30:00Z'), 'Europe/Paris')") == R"("2026-03-30")");
    CHECK(f.json("date(parse_time('2026-03-29T23:30:00Z'))") == R"("2026-03-29")");
    CHECK(f.json("hour(-1)") == "23");
    CHECK(f.json("date(-1)") == R"("1969-12-31")");
    CHECK(f.json("day_of_week(-259200)") == "1");
    CHECK(f.json("hour(t, null)") == "null");
}

TEST_CASE("expr times: parse and format round trips", "[expr]") {
    fixture f;
    for (const char* iso : {"2026-01-02T03:04:05Z", "1999-12-31T23:59:59.999Z", "2026-06-30T12:00:00.000001Z", "1969-07-20T20:17:40Z",
                            "0001-01-01T00:00:00Z", "9999-12-30T23:59:59.999999Z", "2024-02-29T12:00:00.100Z"}) {
        INFO(iso);
        CHECK(f.json(std::string("format_time(parse_time('") + iso + "'))") == std::string("\"") + iso + "\"");
        CHECK(f.json(std::string("parse_time(format_time(parse_time('") + iso + "'), '', 'Europe/Paris')) = parse_time('" + iso + "')") ==
              "true");
        CHECK(f.json(std::string("parse_time(format_time(parse_time('") + iso + "'), '%F %T.%f %z', 'America/New_York'), '%F %T.%f %z') = parse_time('" +
                     iso + "')") == "true");
    }
}

TEST_CASE("expr now: the current time", "[expr]") {
    fixture f;
    CHECK(f.type("now()") == kind::time);
    CHECK(f.json("now() > parse_time('2025-01-01')") == "true");
    CHECK(f.json("now() < parse_time('2200-01-01')") == "true");
}
