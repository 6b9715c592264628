#include "ks/config.hpp"

#include "ks/options.hpp"
#include "ks/error.hpp"

#include <fmt/core.h>

#include <sys/stat.h>

#include <cerrno>
#include <fstream>

namespace ks {

namespace {
std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}
}  // namespace

std::pair<std::string, std::string> parse_property(std::string_view text, std::string_view where) {
    auto eq = text.find('=');
    auto name = trim(text.substr(0, eq == std::string_view::npos ? text.size() : eq));
    if (eq == std::string_view::npos || name.empty())
        throw usage_error(fmt::format("{}: expected prop=value, got '{}'", where, text));
    return {std::string(name), std::string(trim(text.substr(eq + 1)))};
}

property_list read_property_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw usage_error(fmt::format("-F {}: {}", path, errno_text(errno)));
    if (!S_ISREG(st.st_mode)) throw usage_error(fmt::format("-F {}: not a regular file", path));
    std::ifstream in(path);
    if (!in) throw usage_error(fmt::format("-F {}: {}", path, errno_text(errno)));
    property_list out;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        auto t = trim(line);
        if (t.empty() || t.front() == '#') continue;
        out.push_back(parse_property(t, fmt::format("{}:{}", path, number)));
    }
    if (in.bad()) throw usage_error(fmt::format("-F {}: read error", path));
    return out;
}

bool is_secret_property(std::string_view name) {
    for (std::string_view marker : {"password", "secret", "sasl.oauthbearer.config", ".pem", "key"})
        if (name.find(marker) != std::string_view::npos) return true;
    return false;
}

kafka_settings make_kafka_settings(const common_options& o, std::string_view spec_brokers) {
    kafka_settings s;
    s.brokers = spec_brokers.empty() ? o.brokers : std::string(spec_brokers);
    s.timeout_s = o.timeout_s;
    for (const auto& file : o.property_files)
        for (auto& p : read_property_file(file)) s.properties.push_back(std::move(p));
    for (const auto& x : o.properties) s.properties.push_back(parse_property(x, "-X"));
    return s;
}

}  // namespace ks
