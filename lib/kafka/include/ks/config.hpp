// librdkafka properties: tool defaults < -F files < -X, with -b as bootstrap.servers.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ks {

struct common_options;

using property_list = std::vector<std::pair<std::string, std::string>>;

struct kafka_settings {
    std::string brokers;
    property_list properties;  // applied in order after the tool's defaults; later wins
    double timeout_s = 15;
};

// From the common options (and a kafka://HOST:PORT/TOPIC spec's brokers, when given).
// Throws usage_error for a malformed -X or an unreadable -F file.
kafka_settings make_kafka_settings(const common_options& options, std::string_view spec_brokers = {});

// "prop=value" -> pair; throws usage_error naming `where` when there is no '='.
std::pair<std::string, std::string> parse_property(std::string_view text, std::string_view where);

// Reads prop=value lines; '#' comments and blank lines ignored.
property_list read_property_file(const std::string& path);

// True for properties whose values must never be logged (passwords, keys, secrets).
[[nodiscard]] bool is_secret_property(std::string_view name);

}  // namespace ks
