// Civil dates, time zones and time text (see time.hpp).
#include "time.hpp"

#include "ascii.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <sys/stat.h>

namespace ks::expr {

namespace {

constexpr std::array<std::string_view, 12> month_names = {"January", "February", "March",     "April",   "May",      "June",
                                                          "July",    "August",   "September", "October", "November", "December"};
// ISO order: Monday first.
constexpr std::array<std::string_view, 7> weekday_names = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

std::int64_t floor_mod(std::int64_t a, std::int64_t b) { return a - floor_div(a, b) * b; }

// Reads between min_digits and max_digits digits.
bool read_digits(std::string_view s, std::size_t& i, int min_digits, int max_digits, std::int64_t& v) {
    int n = 0;
    v = 0;
    while (n < max_digits && i < s.size() && is_digit(s[i])) {
        v = v * 10 + (s[i] - '0');
        ++i;
        ++n;
    }
    return n >= min_digits;
}

// "+02:00", "+0200", "+02" (and "Z" when allow_z): seconds east of UTC. Seconds may follow the
// minutes ("+00:09:21", as local mean times are written).
bool read_offset(std::string_view s, std::size_t& i, bool allow_z, std::int32_t& offset) {
    if (i >= s.size()) return false;
    if (allow_z && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
        offset = 0;
        return true;
    }
    if (s[i] != '+' && s[i] != '-') return false;
    const bool negative = s[i] == '-';
    ++i;
    std::int64_t hours = 0, minutes = 0, seconds = 0;
    if (!read_digits(s, i, 2, 2, hours)) return false;
    auto two_digits = [&](std::size_t at) { return at + 1 < s.size() && is_digit(s[at]) && is_digit(s[at + 1]); };
    if (i < s.size() && s[i] == ':') {
        ++i;
        if (!read_digits(s, i, 2, 2, minutes)) return false;
        if (i < s.size() && s[i] == ':' && two_digits(i + 1)) {
            ++i;
            read_digits(s, i, 2, 2, seconds);
        }
    } else if (two_digits(i)) {
        read_digits(s, i, 2, 2, minutes);
        if (two_digits(i)) read_digits(s, i, 2, 2, seconds);
    }
    if (hours > 23 || minutes > 59 || seconds > 59) return false;
    offset = static_cast<std::int32_t>((hours * 3600 + minutes * 60 + seconds) * (negative ? -1 : 1));
    return true;
}

char* put_digits(char* p, std::int64_t v, int width, char pad = '0') {
    char tmp[24];
    int n = 0;
    std::uint64_t u = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
    do {
        tmp[n++] = static_cast<char>('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) *p++ = '-';
    for (int k = n; k < width; ++k) *p++ = pad;
    while (n > 0) *p++ = tmp[--n];
    return p;
}

char* put_text(char* p, std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
}

char* put_offset(char* p, std::int32_t offset, bool colon) {
    *p++ = offset < 0 ? '-' : '+';
    std::int32_t a = offset < 0 ? -offset : offset;
    p = put_digits(p, a / 3600, 2);
    if (colon) *p++ = ':';
    p = put_digits(p, (a / 60) % 60, 2);
    if (a % 60 != 0) {
        if (colon) *p++ = ':';
        p = put_digits(p, a % 60, 2);
    }
    return p;
}

}  // namespace

std::int64_t days_from_civil(std::int64_t y, int m, int d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * static_cast<unsigned>(m > 2 ? m - 3 : m + 9) + 2) / 5 + static_cast<unsigned>(d) - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& year, int& month, int& day) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
    month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    year = y + (month <= 2);
}

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(std::int64_t year, int month) {
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (month == 2 && is_leap(year)) ? 29 : days[month - 1];
}

// ---- POSIX TZ rules ----

namespace {

// The day (since the epoch) a rule names in a year.
std::int64_t rule_day(const tz_rule::date_rule& r, std::int64_t year) {
    const std::int64_t jan1 = days_from_civil(year, 1, 1);
    switch (r.kind) {
        case 'J': return jan1 + r.day - 1 + ((is_leap(year) && r.day >= 60) ? 1 : 0);
        case 'n': return jan1 + r.day;
        default: {
            const std::int64_t first = days_from_civil(year, r.month, 1);
            const std::int64_t first_weekday = floor_mod(first + 4, 7);  // 0 Sunday
            std::int64_t day = first + floor_mod(r.weekday - first_weekday, 7) + (r.week - 1) * 7;
            while (day - first >= days_in_month(year, r.month)) day -= 7;
            return day;
        }
    }
}

// "[+-]hh[:mm[:ss]]" in seconds.
bool read_rule_time(std::string_view s, std::size_t& i, std::int32_t& seconds) {
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    std::int64_t h = 0, m = 0, sec = 0;
    if (!read_digits(s, i, 1, 3, h) || h > 167) return false;
    if (i < s.size() && s[i] == ':') {
        ++i;
        if (!read_digits(s, i, 1, 2, m) || m > 59) return false;
        if (i < s.size() && s[i] == ':') {
            ++i;
            if (!read_digits(s, i, 1, 2, sec) || sec > 59) return false;
        }
    }
    seconds = static_cast<std::int32_t>((h * 3600 + m * 60 + sec) * (negative ? -1 : 1));
    return true;
}

bool read_rule_name(std::string_view s, std::size_t& i) {
    if (i < s.size() && s[i] == '<') {
        std::size_t close = s.find('>', i);
        if (close == std::string_view::npos) return false;
        i = close + 1;
        return true;
    }
    std::size_t start = i;
    while (i < s.size() && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) ++i;
    return i - start >= 3;
}

bool read_date_rule(std::string_view s, std::size_t& i, tz_rule::date_rule& r) {
    std::int64_t a = 0, b = 0, c = 0;
    if (i < s.size() && s[i] == 'M') {
        ++i;
        if (!read_digits(s, i, 1, 2, a) || i >= s.size() || s[i++] != '.') return false;
        if (!read_digits(s, i, 1, 1, b) || i >= s.size() || s[i++] != '.') return false;
        if (!read_digits(s, i, 1, 1, c)) return false;
        if (a < 1 || a > 12 || b < 1 || b > 5 || c > 6) return false;
        r.kind = 'M';
        r.month = static_cast<int>(a);
        r.week = static_cast<int>(b);
        r.weekday = static_cast<int>(c);
    } else if (i < s.size() && s[i] == 'J') {
        ++i;
        if (!read_digits(s, i, 1, 3, a) || a < 1 || a > 365) return false;
        r.kind = 'J';
        r.day = static_cast<int>(a);
    } else {
        if (!read_digits(s, i, 1, 3, a) || a > 365) return false;
        r.kind = 'n';
        r.day = static_cast<int>(a);
    }
    r.time = 7200;
    if (i < s.size() && s[i] == '/') {
        ++i;
        if (!read_rule_time(s, i, r.time)) return false;
    }
    return true;
}

}  // namespace

bool parse_tz_rule(std::string_view s, tz_rule& out) {
    std::size_t i = 0;
    tz_rule r;
    std::int32_t west = 0;
    if (!read_rule_name(s, i) || !read_rule_time(s, i, west)) return false;
    r.std_offset = -west;
    if (i == s.size()) {
        out = r;
        return true;
    }
    if (!read_rule_name(s, i)) return false;
    r.has_dst = true;
    r.dst_offset = r.std_offset + 3600;
    if (i < s.size() && s[i] != ',') {
        if (!read_rule_time(s, i, west)) return false;
        r.dst_offset = -west;
    }
    if (i == s.size()) {  // POSIX's default rule (the United States' since 2007)
        r.start = {'M', 3, 2, 0, 0, 7200};
        r.end = {'M', 11, 1, 0, 0, 7200};
    } else {
        if (s[i++] != ',' || !read_date_rule(s, i, r.start)) return false;
        if (i >= s.size() || s[i++] != ',' || !read_date_rule(s, i, r.end)) return false;
        if (i != s.size()) return false;
    }
    out = r;
    return true;
}

std::int32_t tz_rule::offset_at(std::int64_t t) const {
    if (!has_dst) return std_offset;
    std::int64_t year;
    int month, day;
    civil_from_days(floor_div(t + std_offset, 86400), year, month, day);
    // Start is written in standard time, end in daylight time.
    const std::int64_t begins = rule_day(start, year) * 86400 + start.time - std_offset;
    const std::int64_t ends = rule_day(end, year) * 86400 + end.time - dst_offset;
    const bool in_dst = begins < ends ? (t >= begins && t < ends) : !(t >= ends && t < begins);
    return in_dst ? dst_offset : std_offset;
}

// ---- zones ----

zone zone::fixed(std::string name, std::int32_t offset) {
    zone z;
    z.name_ = std::move(name);
    z.fixed_ = offset;
    z.is_fixed_ = true;
    return z;
}

namespace {

std::uint32_t be32(const unsigned char* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::int64_t be64(const unsigned char* p) {
    return static_cast<std::int64_t>((std::uint64_t{be32(p)} << 32) | be32(p + 4));
}

struct tzif_counts {
    std::size_t isut, isstd, leap, time, type, chars;
};

bool read_header(std::string_view data, std::size_t at, tzif_counts& c) {
    if (data.size() < at + 44 || data.compare(at, 4, "TZif") != 0) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data()) + at + 20;
    c = {be32(p), be32(p + 4), be32(p + 8), be32(p + 12), be32(p + 16), be32(p + 20)};
    return c.type >= 1 && c.type <= 256 && c.time < (1u << 20) && c.chars < (1u << 16) && c.leap < (1u << 16) &&
           c.isut < (1u << 16) && c.isstd < (1u << 16);
}

}  // namespace

bool zone::from_tzif(std::string name, std::string_view data, zone& out) {
    tzif_counts v1;
    if (!read_header(data, 0, v1) || data[4] < '2') return false;
    const std::size_t v1_size = v1.time * 5 + v1.type * 6 + v1.chars + v1.leap * 8 + v1.isstd + v1.isut;
    const std::size_t at = 44 + v1_size;
    tzif_counts c;
    if (!read_header(data, at, c)) return false;
    const std::size_t body = at + 44;
    const std::size_t size = c.time * 9 + c.type * 6 + c.chars + c.leap * 12 + c.isstd + c.isut;
    if (data.size() < body + size) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data()) + body;

    zone z;
    z.name_ = std::move(name);
    z.is_fixed_ = false;
    z.transitions_.resize(c.time);
    z.types_.resize(c.time);
    for (std::size_t k = 0; k < c.time; ++k) z.transitions_[k] = be64(p + k * 8);
    p += c.time * 8;
    for (std::size_t k = 0; k < c.time; ++k) {
        if (p[k] >= c.type) return false;
        z.types_[k] = p[k];
    }
    p += c.time;
    z.offsets_.resize(c.type);
    for (std::size_t k = 0; k < c.type; ++k) z.offsets_[k] = static_cast<std::int32_t>(be32(p + k * 6));
    if (!std::is_sorted(z.transitions_.begin(), z.transitions_.end())) return false;

    // The footer: "\n<POSIX TZ rule>\n", for instants after the last transition (may be empty).
    std::string_view rest = data.substr(body + size);
    if (rest.size() >= 2 && rest[0] == '\n') {
        std::size_t close = rest.find('\n', 1);
        if (close != std::string_view::npos && close > 1) {
            if (!parse_tz_rule(rest.substr(1, close - 1), z.rule_)) return false;
            z.has_rule_ = true;
        }
    }
    out = std::move(z);
    return true;
}

std::int32_t zone::offset_at(std::int64_t t) const {
    if (is_fixed_) return fixed_;
    if (transitions_.empty()) return has_rule_ ? rule_.offset_at(t) : offsets_[0];
    auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t);
    if (it == transitions_.begin()) return offsets_[0];
    if (it == transitions_.end() && has_rule_) return rule_.offset_at(t);
    return offsets_[types_[static_cast<std::size_t>(it - transitions_.begin()) - 1]];
}

std::int64_t zone::to_utc(std::int64_t local) const {
    if (is_fixed_) return local - fixed_;
    // The offsets a day before and a day after bracket any change at this time.
    const std::int32_t before = offset_at(local - 86400);
    const std::int32_t after = offset_at(local + 86400);
    const std::int64_t early = local - before;
    const std::int64_t late = local - after;
    const bool early_ok = offset_at(early) == before;
    const bool late_ok = offset_at(late) == after;
    if (early_ok && late_ok) return std::min(early, late);
    if (late_ok) return late;
    return early;  // valid, or in a gap: the offset before the change moves it forward
}

const zone* utc_zone() {
    static const zone utc = zone::fixed("UTC", 0);
    return &utc;
}

namespace {

bool make_zone(std::string_view name, zone& out) {
    if (iequal(name, "UTC") || iequal(name, "Z")) {
        out = zone::fixed("UTC", 0);
        return true;
    }
    if (!name.empty() && (name[0] == '+' || name[0] == '-')) {
        std::size_t i = 0;
        std::int32_t offset = 0;
        if (!read_offset(name, i, false, offset) || i != name.size()) return false;
        out = zone::fixed(std::string(name), offset);
        return true;
    }
    // An IANA name: a relative path of plain components.
    if (name.empty() || name.size() > 200 || name[0] == '/') return false;
    for (char c : name)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-' || c == '+' || c == '/' || c == '.'))
            return false;
    for (std::size_t start = 0; start <= name.size();) {
        std::size_t slash = name.find('/', start);
        std::string_view part = name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (part.empty() || part[0] == '.') return false;
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    const char* dir = std::getenv("TZDIR");
    std::string path = (dir && *dir) ? dir : "/usr/share/zoneinfo";
    path += '/';
    path += name;
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) return false;
    std::ifstream in(path, std::ios::binary);
    std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (!in && !in.eof()) return false;
    return zone::from_tzif(std::string(name), data, out);
}

}  // namespace

const zone* find_zone(std::string_view name) {
    static std::mutex lock;
    static std::map<std::string, std::unique_ptr<zone>, std::less<>> cache;
    std::lock_guard guard(lock);
    if (auto it = cache.find(name); it != cache.end()) return it->second.get();
    auto z = std::make_unique<zone>();
    if (!make_zone(name, *z)) z.reset();
    const zone* found = z.get();
    if (found || cache.size() < 4096) cache.emplace(std::string(name), std::move(z));  // unknown names too, up to a bound
    return found;
}

civil_time break_down(std::int64_t us, const zone* z) {
    civil_time t;
    std::int64_t seconds = us / us_per_second;  // floored below without overflowing near INT64_MIN
    std::int64_t micros = us % us_per_second;
    if (micros < 0) {
        micros += us_per_second;
        seconds -= 1;
    }
    t.micros = static_cast<int>(micros);
    t.offset = z ? z->offset_at(seconds) : 0;
    const std::int64_t local = seconds + t.offset;
    const std::int64_t days = floor_div(local, 86400);
    const std::int64_t in_day = local - days * 86400;
    civil_from_days(days, t.year, t.month, t.day);
    t.hour = static_cast<int>(in_day / 3600);
    t.minute = static_cast<int>(in_day / 60 % 60);
    t.second = static_cast<int>(in_day % 60);
    t.weekday = static_cast<int>(floor_mod(days + 3, 7)) + 1;
    t.yday = static_cast<int>(days - days_from_civil(t.year, 1, 1)) + 1;
    return t;
}

// ---- reading times ----

namespace {

// The fields read from a text, before they become an instant.
struct parsed_time {
    std::int64_t year = 1970;
    int month = 0, day = 0, yday = 0;  // 0: not given
    int hour = 0, minute = 0, second = 0, micros = 0;
    int hour12 = -1;                   // %I
    int pm = -1;                       // %p: 0 AM, 1 PM
    bool has_offset = false;
    std::int32_t offset = 0;
};

// The instant of the fields; false when they name an impossible date or time.
bool compose(const parsed_time& p, const zone* z, std::int64_t& us) {
    int hour = p.hour;
    if (p.hour12 >= 0) hour = p.hour12 % 12 + (p.pm == 1 ? 12 : 0);
    if (hour > 23 || p.minute > 59 || p.second > 59) return false;
    if (p.year < -99999 || p.year > 99999) return false;
    std::int64_t days = 0;
    if (p.month == 0 && p.day == 0 && p.yday > 0) {
        if (p.yday > (is_leap(p.year) ? 366 : 365)) return false;
        days = days_from_civil(p.year, 1, 1) + p.yday - 1;
    } else {
        const int month = p.month == 0 ? 1 : p.month;
        const int day = p.day == 0 ? 1 : p.day;
        if (month < 1 || month > 12 || day < 1 || day > days_in_month(p.year, month)) return false;
        days = days_from_civil(p.year, month, day);
    }
    const std::int64_t local = days * 86400 + hour * 3600 + p.minute * 60 + p.second;
    const std::int64_t utc = p.has_offset ? local - p.offset : (z ? z->to_utc(local) : local);
    us = utc * us_per_second + p.micros;
    return true;
}

// Up to nine digits of a fraction of a second, as microseconds.
bool read_fraction(std::string_view s, std::size_t& i, int& micros) {
    int n = 0;
    micros = 0;
    while (i < s.size() && is_digit(s[i]) && n < 9) {
        if (n < 6) micros = micros * 10 + (s[i] - '0');
        ++i;
        ++n;
    }
    if (n == 0) return false;
    for (int k = n; k < 6; ++k) micros *= 10;
    return true;
}

// The longest name of the list (full or three-letter) at s[i], case-insensitively: its index.
template <std::size_t N>
bool read_name(std::string_view s, std::size_t& i, const std::array<std::string_view, N>& names, int& index) {
    for (std::size_t k = 0; k < N; ++k) {
        const std::string_view full = names[k];
        if (iequal(s.substr(i, full.size()), full)) {
            i += full.size();
            index = static_cast<int>(k);
            return true;
        }
    }
    for (std::size_t k = 0; k < N; ++k) {
        const std::string_view abbr = names[k].substr(0, 3);
        if (iequal(s.substr(i, 3), abbr)) {
            i += 3;
            index = static_cast<int>(k);
            return true;
        }
    }
    return false;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

constexpr std::string_view known_directives = "YmdeHIMSfpybBhaAjzTDF%";

bool match(std::string_view s, std::size_t& i, std::string_view format, parsed_time& p) {
    for (std::size_t f = 0; f < format.size(); ++f) {
        const char c = format[f];
        if (is_space(c)) {
            while (i < s.size() && is_space(s[i])) ++i;
            continue;
        }
        if (c != '%') {
            if (i >= s.size() || s[i] != c) return false;
            ++i;
            continue;
        }
        const char d = format[++f];
        std::int64_t v = 0;
        int index = 0;
        switch (d) {
            case 'Y':
                if (!read_digits(s, i, 1, 4, v)) return false;
                p.year = v;
                break;
            case 'y':
                if (!read_digits(s, i, 2, 2, v)) return false;
                p.year = v < 69 ? 2000 + v : 1900 + v;
                break;
            case 'm':
                if (!read_digits(s, i, 1, 2, v) || v < 1 || v > 12) return false;
                p.month = static_cast<int>(v);
                break;
            case 'e':
                if (i < s.size() && s[i] == ' ') ++i;
                [[fallthrough]];
            case 'd':
                if (!read_digits(s, i, 1, 2, v) || v < 1 || v > 31) return false;
                p.day = static_cast<int>(v);
                break;
            case 'H':
                if (!read_digits(s, i, 1, 2, v) || v > 23) return false;
                p.hour = static_cast<int>(v);
                break;
            case 'I':
                if (!read_digits(s, i, 1, 2, v) || v < 1 || v > 12) return false;
                p.hour12 = static_cast<int>(v);
                break;
            case 'M':
                if (!read_digits(s, i, 1, 2, v) || v > 59) return false;
                p.minute = static_cast<int>(v);
                break;
            case 'S':
                if (!read_digits(s, i, 1, 2, v) || v > 59) return false;
                p.second = static_cast<int>(v);
                break;
            case 'f':
                if (!read_fraction(s, i, p.micros)) return false;
                break;
            case 'p':
                if (iequal(s.substr(i, 2), "AM")) p.pm = 0;
                else if (iequal(s.substr(i, 2), "PM")) p.pm = 1;
                else return false;
                i += 2;
                break;
            case 'b':
            case 'B':
            case 'h':
                if (!read_name(s, i, month_names, index)) return false;
                p.month = index + 1;
                break;
            case 'a':
            case 'A':
                if (!read_name(s, i, weekday_names, index)) return false;
                break;
            case 'j':
                if (!read_digits(s, i, 1, 3, v) || v < 1 || v > 366) return false;
                p.yday = static_cast<int>(v);
                break;
            case 'z':
                if (!read_offset(s, i, true, p.offset)) return false;
                p.has_offset = true;
                break;
            case 'T':
                if (!match(s, i, "%H:%M:%S", p)) return false;
                break;
            case 'D':
                if (!match(s, i, "%m/%d/%y", p)) return false;
                break;
            case 'F':
                if (!match(s, i, "%Y-%m-%d", p)) return false;
                break;
            case '%':
                if (i >= s.size() || s[i] != '%') return false;
                ++i;
                break;
            default: return false;
        }
    }
    return true;
}

}  // namespace

bool parse_iso(std::string_view s, const zone* z, std::int64_t& us) {
    parsed_time p;
    std::size_t i = 0;
    std::int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!read_digits(s, i, 4, 4, year) || i >= s.size() || s[i++] != '-') return false;
    if (!read_digits(s, i, 2, 2, month) || i >= s.size() || s[i++] != '-') return false;
    if (!read_digits(s, i, 2, 2, day)) return false;
    if (i < s.size()) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return false;
        ++i;
        if (!read_digits(s, i, 2, 2, hour) || i >= s.size() || s[i++] != ':') return false;
        if (!read_digits(s, i, 2, 2, minute)) return false;
        if (i < s.size() && s[i] == ':') {
            ++i;
            if (!read_digits(s, i, 2, 2, second)) return false;
            if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
                ++i;
                if (!read_fraction(s, i, p.micros)) return false;
            }
        }
        if (i < s.size()) {
            if (!read_offset(s, i, true, p.offset)) return false;
            p.has_offset = true;
        }
        if (i != s.size()) return false;
    }
    if (month < 1 || month > 12 || day < 1) return false;
    p.year = year;
    p.month = static_cast<int>(month);
    p.day = static_cast<int>(day);
    p.hour = static_cast<int>(hour);
    p.minute = static_cast<int>(minute);
    p.second = static_cast<int>(second);
    return compose(p, z, us);
}

bool check_format(std::string_view format, std::size_t& bad_at) {
    for (std::size_t f = 0; f < format.size(); ++f) {
        if (format[f] != '%') continue;
        if (f + 1 >= format.size() || known_directives.find(format[f + 1]) == std::string_view::npos) {
            bad_at = f;
            return false;
        }
        ++f;
    }
    return true;
}

bool parse_formatted(std::string_view s, std::string_view format, const zone* z, std::int64_t& us) {
    parsed_time p;
    std::size_t i = 0;
    if (!match(s, i, format, p) || i != s.size()) return false;
    return compose(p, z, us);
}

// ---- writing times ----

std::size_t formatted_size(std::string_view format) { return format.size() * 8 + 16; }

namespace {

char* format_into(char* p, const civil_time& t, std::string_view format) {
    for (std::size_t f = 0; f < format.size(); ++f) {
        const char c = format[f];
        if (c != '%' || f + 1 >= format.size()) {
            *p++ = c;
            continue;
        }
        switch (format[++f]) {
            case 'Y': p = put_digits(p, t.year, 4); break;
            case 'y': p = put_digits(p, floor_mod(t.year, 100), 2); break;
            case 'm': p = put_digits(p, t.month, 2); break;
            case 'd': p = put_digits(p, t.day, 2); break;
            case 'e': p = put_digits(p, t.day, 2, ' '); break;
            case 'H': p = put_digits(p, t.hour, 2); break;
            case 'I': p = put_digits(p, t.hour % 12 == 0 ? 12 : t.hour % 12, 2); break;
            case 'M': p = put_digits(p, t.minute, 2); break;
            case 'S': p = put_digits(p, t.second, 2); break;
            case 'f': p = put_digits(p, t.micros, 6); break;
            case 'p': p = put_text(p, t.hour < 12 ? "AM" : "PM"); break;
            case 'b':
            case 'h': p = put_text(p, month_names[static_cast<std::size_t>(t.month - 1)].substr(0, 3)); break;
            case 'B': p = put_text(p, month_names[static_cast<std::size_t>(t.month - 1)]); break;
            case 'a': p = put_text(p, weekday_names[static_cast<std::size_t>(t.weekday - 1)].substr(0, 3)); break;
            case 'A': p = put_text(p, weekday_names[static_cast<std::size_t>(t.weekday - 1)]); break;
            case 'j': p = put_digits(p, t.yday, 3); break;
            case 'z': p = put_offset(p, t.offset, false); break;
            case 'T': p = format_into(p, t, "%H:%M:%S"); break;
            case 'D': p = format_into(p, t, "%m/%d/%y"); break;
            case 'F': p = format_into(p, t, "%Y-%m-%d"); break;
            default: *p++ = '%'; break;  // '%%' (check_format refused the others)
        }
    }
    return p;
}

}  // namespace

std::size_t format_formatted(char* out, std::int64_t us, std::string_view format, const zone* z) {
    return static_cast<std::size_t>(format_into(out, break_down(us, z), format) - out);
}

std::size_t format_iso(char* out, std::int64_t us, const zone* z) {
    const civil_time t = break_down(us, z);
    char* p = format_into(out, t, "%Y-%m-%dT%H:%M:%S");
    if (t.micros != 0) {
        *p++ = '.';
        if (t.micros % 1000 == 0) p = put_digits(p, t.micros / 1000, 3);
        else p = put_digits(p, t.micros, 6);
    }
    if (z) p = put_offset(p, t.offset, true);
    else *p++ = 'Z';
    return static_cast<std::size_t>(p - out);
}

}  // namespace ks::expr
