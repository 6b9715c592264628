#include "ks/log.hpp"
#include "ks/error.hpp"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

namespace ks {

std::string errno_text(int err) {
    char buf[256];
    // GNU strerror_r returns the message pointer (which may or may not be buf).
    const char* text = strerror_r(err, buf, sizeof buf);
    return text;
}

namespace log {
namespace {
std::string tool_name = "kstream";
std::atomic<int> min_level{static_cast<int>(level::warn)};
}  // namespace

void set_tool(std::string_view name) { tool_name = std::string(name); }
std::string_view tool() { return tool_name; }
void set_level(level l) { min_level = static_cast<int>(l); }
level current_level() { return static_cast<level>(min_level.load()); }

void write(level l, std::string_view text) {
    if (!enabled(l)) return;
    std::string line;
    line.reserve(tool_name.size() + text.size() + 3);
    line.append(tool_name).append(": ").append(text).push_back('\n');
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n <= 0) return;  // nowhere left to report to
        p += n;
        left -= static_cast<size_t>(n);
    }
}

}  // namespace log
}  // namespace ks
