// Logging on stderr, one line per message, prefixed "tool: " (samtools style).
#pragma once

#include <fmt/core.h>

#include <string_view>

namespace ks::log {

enum class level : int { error = 0, warn = 1, info = 2, debug = 3 };

void set_tool(std::string_view name);
std::string_view tool();
void set_level(level l);
level current_level();
[[nodiscard]] inline bool enabled(level l) { return static_cast<int>(l) <= static_cast<int>(current_level()); }

// Writes "tool: text\n" to stderr in one write, so lines from threads do not interleave.
void write(level l, std::string_view text);

template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
    write(level::error, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(level::warn)) write(level::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(level::info)) write(level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(level::debug)) write(level::debug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace ks::log
