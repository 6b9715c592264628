// --on-error fail|skip|dead-letter: what happens to a record that cannot be parsed or evaluated.
// A bad record is never silently lost: it stops the tool (fail, exit 65), is counted and reported
// (skip), or is kept with its reason in a JSON envelope (dead-letter).
#pragma once

#include "ks/options.hpp"
#include "ks/record.hpp"
#include "ks/sink.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ks {

// Where a bad record came from: a file and line, or a topic, partition and offset.
struct record_origin {
    std::string source;  // file name, "-" for stdin, or the topic
    std::uint64_t line = 0;
    bool from_kafka = false;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    [[nodiscard]] std::string describe() const;  // "data.csv:12" or "topic [2] at offset 17"
    static record_origin of(const record& r);
};

class error_policy {
public:
    // Opens the dead-letter sink when the mode asks for it, with `open` when given (a session
    // opens Kafka topics through its transactional producer), else with open_sink.
    using sink_opener = std::function<std::unique_ptr<record_sink>(const io_spec&)>;
    error_policy(const common_options& options, std::string tool, const sink_opener& open = {});

    // Handles one bad record. fail: throws data_error ("where: reason"). skip: reports on stderr
    // (the first 20, then a count at the end). dead-letter: writes the envelope.
    void handle(const record_origin& origin, std::string_view reason, std::string_view original_bytes);
    // The same for a record: its origin, and its value as the original bytes.
    void handle(const record& r, std::string_view reason);

    [[nodiscard]] std::uint64_t count() const { return count_; }
    // In a session's transactions: an aborted transaction's bad records are read and counted again.
    void transaction_ended(bool committed) {
        if (committed) kept_ = count_;
        else count_ = kept_;
    }
    // Makes the dead letters written so far durable, before the offsets past them are committed.
    // Throws runtime_failure when some were not delivered.
    void flush();
    // Flushes the dead-letter sink; throws runtime_failure when envelopes were not delivered.
    void close();

    // The envelope: {"reason","tool","source","line"|"partition","offset","data"|"data_base64"}.
    static std::string envelope(std::string_view tool, const record_origin& origin, std::string_view reason,
                                std::string_view original_bytes);

private:
    on_error_mode mode_;
    std::string tool_;
    std::unique_ptr<record_sink> dead_letter_;
    std::string dead_letter_name_;
    std::uint64_t count_ = 0, kept_ = 0;
};

}  // namespace ks
