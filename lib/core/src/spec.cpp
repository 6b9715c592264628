#include "ks/spec.hpp"

#include "ks/error.hpp"

#include <fmt/core.h>

namespace ks {

namespace {

// Kafka's rule for topic names: 1-249 of [a-zA-Z0-9._-], and not "." or "..".
void check_topic(std::string_view text, std::string_view topic) {
    const bool legal = !topic.empty() && topic.size() <= 249 && topic != "." && topic != ".." &&
                       topic.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                           std::string_view::npos;
    if (!legal)
        throw usage_error(fmt::format("'{}': '{}' is not a valid topic name (1 to 249 letters, digits, '.', '_' or '-')",
                                      text, topic));
}

}  // namespace

io_spec parse_spec(std::string_view text) {
    io_spec s;
    s.text = std::string(text);
    if (text.empty()) throw usage_error("empty input/output spec");
    if (text == "-") return s;
    if (text.starts_with("kafka://")) {
        auto rest = text.substr(8);
        auto slash = rest.find('/');
        if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size())
            throw usage_error(fmt::format("'{}': expected kafka://HOST:PORT[,HOST:PORT]/TOPIC", text));
        s.type = io_spec::kind::kafka;
        s.brokers = std::string(rest.substr(0, slash));
        s.topic = std::string(rest.substr(slash + 1));
        check_topic(text, s.topic);
        return s;
    }
    if (text.starts_with("kafka:")) {
        if (text.size() == 6) throw usage_error(fmt::format("'{}': expected kafka:TOPIC", text));
        s.type = io_spec::kind::kafka;
        s.topic = std::string(text.substr(6));
        check_topic(text, s.topic);
        return s;
    }
    s.type = io_spec::kind::file;
    s.path = std::string(text);
    return s;
}

std::string io_spec::describe() const {
    switch (type) {
        case kind::stdio: return "-";
        case kind::file: return path;
        case kind::kafka: return "kafka:" + topic;
    }
    return text;
}

}  // namespace ks
