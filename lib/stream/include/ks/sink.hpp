// Sinks: where records go. stdout and files get JSON lines through the buffered writer of io.hpp;
// Kafka gets one message per record through the producer (kafka.hpp).
#pragma once

#include "ks/config.hpp"
#include "ks/io.hpp"
#include "ks/message.hpp"
#include "ks/spec.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ks {

struct sink_counts {
    std::uint64_t written = 0;    // handed to the sink
    std::uint64_t delivered = 0;  // acknowledged (Kafka) or written out (files)
    std::uint64_t failed = 0;     // not delivered
    std::string first_error;      // why the first failure happened
};

// The error of a tool that stops with messages not delivered: "N of M messages not delivered: why"
// (README "Guarantees"); `why` alone when nothing was lost or it says so already.
std::string undelivered(const sink_counts& counts, std::string_view why);

class record_sink;
class error_policy;

// A producing tool's run (csv2kafka, api2kafka): `work` writes to `sink`, then the sink and the
// dead letters are closed however it ended, and `report` gets the final counts (--stats) on every
// exit. A closed pipe downstream is success. A runtime failure is thrown again as "N of M
// messages not delivered: why"; messages that failed in a clean run throw the same. Returns the
// counts of a clean run.
sink_counts produce_through(record_sink& sink, error_policy& errors, const std::function<void()>& work,
                            const std::function<void(const sink_counts&)>& report);

class record_sink {
public:
    virtual ~record_sink() = default;
    // Files and stdout write the value as a line; Kafka sends key, value, headers and timestamp.
    virtual void write(const outgoing& record) = 0;
    // The same as write() for each record in order. Kafka queues them in one call, and the keyless
    // ones of one call go to one partition (producer::produce_batch; headers are not sent).
    virtual void write_batch(std::span<const outgoing> records) {
        for (const auto& r : records) write(r);
    }
    virtual void poll() {}  // serve delivery reports
    // Kafka: the first delivery error names its record by describe(tag) ("file.csv:12: Broker:
    // Message size too large"), for records written with a tag.
    virtual void describe_tags(std::function<std::string(std::uint64_t)> /*describe*/) {}
    // Makes everything written so far durable (fsync) or acknowledged (Kafka).
    virtual void flush() = 0;
    // Flush everything (or give up on a second signal) and return the final counts.
    virtual sink_counts close() = 0;
    [[nodiscard]] virtual sink_counts counts() const = 0;
    // A topic written in a session's transactions: the transaction committed (what it wrote is
    // kept) or was aborted (what it wrote is gone, and is written again from the rewound input):
    // the counts follow.
    virtual void transaction_ended(bool /*committed*/) {}
};

struct common_options;
class producer;

// "-" -> stdout, FILE -> file (truncated), kafka:TOPIC -> idempotent producer (checks the topic
// exists, bounded by --timeout). `producer_defaults` are the tool's librdkafka defaults.
std::unique_ptr<record_sink> open_sink(const io_spec& spec, const common_options& options,
                                       const property_list& producer_defaults = {});

// A topic written through a transactional producer that the caller owns and shares between sinks
// (a session's: the output and the dead letters go in one transaction). The commit of the
// transaction delivers what was written: flush() and close() do not wait.
std::unique_ptr<record_sink> open_topic_sink(producer& shared, const std::string& topic);

}  // namespace ks
