// Input/output SPEC: "-" (stdin/stdout), a file path, kafka:TOPIC, kafka://HOST:PORT[,HOST:PORT]/TOPIC.
// Decided here once; tools never interpret paths themselves.
#pragma once

#include <string>
#include <string_view>

namespace ks {

struct io_spec {
    enum class kind { stdio, file, kafka };
    kind type = kind::stdio;
    std::string path;     // kind::file
    std::string topic;    // kind::kafka
    std::string brokers;  // kind::kafka with kafka://; empty means -b
    std::string text;     // as given, for messages

    [[nodiscard]] bool is_kafka() const { return type == kind::kafka; }
    [[nodiscard]] bool is_stdio() const { return type == kind::stdio; }
    [[nodiscard]] std::string describe() const;  // "kafka:topic", "stdin", "file.csv"
};

// Throws usage_error for an empty topic or broker list.
io_spec parse_spec(std::string_view text);

}  // namespace ks
