#include "ks/sink.hpp"

#include "ks/options.hpp"
#include "ks/error.hpp"
#include "ks/kafka.hpp"
#include "ks/log.hpp"
#include "ks/record_errors.hpp"

#include <fmt/core.h>

namespace ks {

namespace {

class line_sink final : public record_sink {
public:
    explicit line_sink(std::unique_ptr<fd_writer> out) : out_(std::move(out)), idle_([this] { out_->flush(); }) {}
    void write(const outgoing& r) override {
        out_->write(r.value);
        out_->write("\n");
        ++counts_.written;
    }
    void flush() override { out_->sync(); }
    sink_counts close() override {
        out_->close();
        counts_.delivered = counts_.written;
        return counts_;
    }
    sink_counts counts() const override { return counts_; }

private:
    std::unique_ptr<fd_writer> out_;
    idle_hook idle_;
    sink_counts counts_;
};

// Counts of one producer as a sink's.
sink_counts counts_of(const producer& p) {
    sink_counts c;
    c.written = p.produced();
    c.delivered = p.delivered();
    c.failed = p.failed();
    c.first_error = p.first_error();
    return c;
}

class kafka_sink final : public record_sink {
public:
    kafka_sink(const kafka_settings& settings, const std::string& topic, const property_list& defaults)
        : producer_(settings, defaults, lanes), topic_(producer_.open_topic(topic)) {}
    // Two connections: the broker handles one request of a connection at a time (measured in
    // docs/conventions.md).
    static constexpr int lanes = 2;
    void write(const outgoing& r) override { producer_.produce(topic_, r); }
    void write_batch(std::span<const outgoing> records) override { producer_.produce_batch(topic_, records); }
    void poll() override { producer_.poll(0); }
    void describe_tags(std::function<std::string(std::uint64_t)> describe) override {
        producer_.describe_tags(std::move(describe));
    }
    void flush() override { producer_.flush(); }
    sink_counts close() override {
        producer_.flush();
        return counts();
    }
    sink_counts counts() const override { return counts_of(producer_); }

private:
    producer producer_;
    producer::topic topic_;
};

// A topic written in a transaction of a producer shared with other sinks: what it wrote is
// delivered when the transaction commits (an abort rewinds the input, and the records are written
// again), so flush and close have nothing to wait for, and the counts are this sink's own.
class shared_topic_sink final : public record_sink {
public:
    shared_topic_sink(producer& p, const std::string& topic) : producer_(p), topic_(p.open_topic(topic)) {}
    void write(const outgoing& r) override {
        producer_.produce(topic_, r);
        ++written_;
    }
    void poll() override { producer_.poll(0); }
    void flush() override {}
    sink_counts close() override { return counts(); }
    sink_counts counts() const override {
        sink_counts c;
        c.written = c.delivered = written_;
        return c;
    }
    void transaction_ended(bool committed) override {
        if (committed) kept_ = written_;
        else written_ = kept_;
    }

private:
    producer& producer_;
    producer::topic topic_;
    std::uint64_t written_ = 0, kept_ = 0;
};

}  // namespace

std::unique_ptr<record_sink> open_sink(const io_spec& spec, const common_options& options,
                                       const property_list& producer_defaults) {
    switch (spec.type) {
        case io_spec::kind::stdio: return std::make_unique<line_sink>(fd_writer::open_stdout());
        case io_spec::kind::file: return std::make_unique<line_sink>(fd_writer::open_file(spec.path, false));
        case io_spec::kind::kafka:
            return std::make_unique<kafka_sink>(make_kafka_settings(options, spec.brokers), spec.topic,
                                                producer_defaults);
    }
    throw usage_error("unknown output");
}

std::unique_ptr<record_sink> open_topic_sink(producer& shared, const std::string& topic) {
    return std::make_unique<shared_topic_sink>(shared, topic);
}

std::string undelivered(const sink_counts& c, std::string_view why) {
    const std::uint64_t lost = c.written > c.delivered ? c.written - c.delivered : 0;
    if (lost == 0 || why.find("messages not delivered") != std::string_view::npos) return std::string(why);
    return fmt::format("{} of {} messages not delivered: {}", lost, c.written, why);
}

sink_counts produce_through(record_sink& sink, error_policy& errors, const std::function<void()>& work,
                            const std::function<void(const sink_counts&)>& report) {
    // Closes and reports; when the run is failing already, a failure to close only loses to it.
    const auto finish = [&](bool failing) {
        sink_counts c;
        try {
            c = sink.close();
            errors.close();
        } catch (const closed_pipe&) {
        } catch (...) {
            if (!failing) throw;
            c = sink.counts();  // closing failed too: what the sink knows so far
        }
        report(c);
        return c;
    };
    try {
        work();
    } catch (const closed_pipe&) {
        log::debug("output closed downstream");
    } catch (const runtime_failure& e) {
        // What was delivered before the error is reported, then the error, with how many of the
        // messages handed to Kafka are lost with it.
        finish(true);
        throw runtime_failure(undelivered(sink.counts(), e.what()));
    } catch (...) {
        finish(true);
        throw;
    }
    const sink_counts c = finish(false);
    if (c.failed > 0) throw runtime_failure(undelivered(c, c.first_error));
    return c;
}

}  // namespace ks
