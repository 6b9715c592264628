#include "ks/pacing.hpp"

#include "ks/io.hpp"
#include "ks/signal.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>
#include <thread>

namespace ks {

bool sleep_until(steady::time_point when) {
    if (steady::now() < when) run_idle_hooks();
    for (;;) {
        if (signals::stop_requested()) return false;
        const auto now = steady::now();
        if (now >= when) return true;
        std::this_thread::sleep_until(std::min(when, now + std::chrono::milliseconds(100)));
    }
}

rate_limiter::rate_limiter(double per_second) : rate_(per_second) {}

bool rate_limiter::wait() {
    if (rate_ <= 0) return true;
    if (count_ == 0) start_ = steady::now();
    const auto due = start_ + std::chrono::duration_cast<steady::duration>(
                                  std::chrono::duration<double>(static_cast<double>(count_) / rate_));
    ++count_;
    if (steady::now() >= due) return !signals::stop_requested();
    return sleep_until(due);
}

namespace {

bool read_int(std::string_view& s, size_t digits, int& out) {
    if (s.size() < digits) return false;
    for (size_t i = 0; i < digits; ++i)
        if (s[i] < '0' || s[i] > '9') return false;  // from_chars would take a sign
    auto [p, ec] = std::from_chars(s.data(), s.data() + digits, out);
    if (ec != std::errc() || p != s.data() + digits) return false;
    s.remove_prefix(digits);
    return true;
}

bool eat(std::string_view& s, char c) {
    if (s.empty() || s.front() != c) return false;
    s.remove_prefix(1);
    return true;
}

double read_fraction(std::string_view& s) {
    if (s.empty() || (s.front() != '.' && s.front() != ',')) return 0;
    s.remove_prefix(1);
    double f = 0, scale = 0.1;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
        f += (s.front() - '0') * scale;
        scale /= 10;
        s.remove_prefix(1);
    }
    return f;
}

std::optional<event_time> parse_time_of_day(std::string_view s) {
    int h = 0, m = 0, sec = 0;
    size_t hour_digits = (s.size() > 1 && s[1] == ':') ? 1 : 2;
    if (!read_int(s, hour_digits, h) || !eat(s, ':') || !read_int(s, 2, m)) return std::nullopt;
    double frac = 0;
    if (eat(s, ':')) {
        if (!read_int(s, 2, sec)) return std::nullopt;
        frac = read_fraction(s);
    }
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (!s.empty()) {
        std::string suffix(s);
        for (auto& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (suffix != "AM" && suffix != "PM") return std::nullopt;
        if (h < 1 || h > 12) return std::nullopt;
        h = (h % 12) + (suffix == "PM" ? 12 : 0);
    }
    if (h > 23 || m > 59 || sec > 60) return std::nullopt;
    return event_time{h * 3600.0 + m * 60.0 + sec + frac, true};
}

std::optional<event_time> parse_iso(std::string_view s) {
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (!read_int(s, 4, y) || !eat(s, '-') || !read_int(s, 2, mo) || !eat(s, '-') || !read_int(s, 2, d))
        return std::nullopt;
    double frac = 0;
    int offset = 0;
    if (!s.empty()) {
        if (s.front() != 'T' && s.front() != 't' && s.front() != ' ') return std::nullopt;
        s.remove_prefix(1);
        if (!read_int(s, 2, h) || !eat(s, ':') || !read_int(s, 2, mi)) return std::nullopt;
        if (eat(s, ':')) {
            if (!read_int(s, 2, sec)) return std::nullopt;
            frac = read_fraction(s);
        }
        if (eat(s, 'Z') || eat(s, 'z')) {
        } else if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
            const int sign = s.front() == '-' ? -1 : 1;
            s.remove_prefix(1);
            int oh = 0, om = 0;
            if (!read_int(s, 2, oh)) return std::nullopt;
            eat(s, ':');
            if (!s.empty() && !read_int(s, 2, om)) return std::nullopt;
            offset = sign * (oh * 3600 + om * 60);
        }
        if (!s.empty()) return std::nullopt;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    const std::time_t t = timegm(&tm);
    std::tm back{};
    if (!gmtime_r(&t, &back) || back.tm_mday != d) return std::nullopt;  // 2023-02-29 is no day
    return event_time{static_cast<double>(t) - offset + frac, false};
}

}  // namespace

std::optional<event_time> parse_event_time(std::string_view text) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    if (text.empty()) return std::nullopt;
    if (text.size() >= 10 && text[4] == '-') return parse_iso(text);
    if (text.find(':') != std::string_view::npos) return parse_time_of_day(text);
    double v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
    return event_time{std::abs(v) >= 1e11 ? v / 1000.0 : v, false};
}

bool replay_clock::wait(const event_time& t) {
    double when = t.seconds;
    if (t.time_of_day) {
        if (anchored_ && when + day_offset_ < last_ - 43200) day_offset_ += 86400;  // past midnight
        when += day_offset_;
    }
    if (!anchored_) {
        anchored_ = true;
        first_ = last_ = when;
        wall_start_ = steady::now();
        return !signals::stop_requested();
    }
    // A row earlier than the one before goes out at once: time never runs backwards.
    last_ = std::max(last_, when);
    const auto due = wall_start_ + std::chrono::duration_cast<steady::duration>(
                                       std::chrono::duration<double>((last_ - first_) / speed_));
    return sleep_until(due);
}

}  // namespace ks
