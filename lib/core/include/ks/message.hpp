// Kafka message parts shared by records coming in (record.hpp) and going out (sinks, producer).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ks {

// A Kafka header: a name and a value that may be null. Borrowed.
struct header {
    std::string_view name;
    std::optional<std::string_view> value;
};

// One record on its way out: a key (nullopt = null key), a value, headers and a timestamp
// (milliseconds since the epoch; -1 = the producer's clock), all borrowed.
struct outgoing {
    std::optional<std::string_view> key;
    std::string_view value;
    std::span<const header> headers = {};
    std::int64_t timestamp_ms = -1;
    // Where the record came from, as the writer numbers it (csv2kafka: the file and line), handed
    // back to name the record in a delivery error (record_sink::describe_tags); 0: unnamed.
    std::uint64_t tag = 0;
};

}  // namespace ks
