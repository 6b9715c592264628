#include "ks/sink.hpp"

#include "ks/cli.hpp"
#include "ks/error.hpp"
#include "ks/kafka.hpp"

namespace ks {

namespace {

class line_sink final : public record_sink {
public:
    explicit line_sink(std::unique_ptr<fd_writer> out) : out_(std::move(out)), idle_([this] { out_->flush(); }) {}
    void write(std::optional<std::string_view>, std::string_view value) override {
        out_->write(value);
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

class kafka_sink final : public record_sink {
public:
    kafka_sink(const kafka_settings& settings, const std::string& topic, const property_list& defaults)
        : producer_(settings, defaults, lanes), topic_(producer_.open_topic(topic)) {}
    // Two connections: the broker handles one request of a connection at a time (measured in
    // docs/conventions.md).
    static constexpr int lanes = 2;
    void write(std::optional<std::string_view> key, std::string_view value) override {
        producer_.produce(topic_, key, value);
    }
    void write_batch(std::span<const outgoing> records) override { producer_.produce_batch(topic_, records); }
    void poll() override { producer_.poll(0); }
    void flush() override { producer_.flush(); }
    sink_counts close() override {
        producer_.flush();
        return counts();
    }
    sink_counts counts() const override {
        sink_counts c;
        c.written = producer_.produced();
        c.delivered = producer_.delivered();
        c.failed = producer_.failed();
        c.first_error = producer_.first_error();
        return c;
    }

private:
    producer producer_;
    rd_kafka_topic_t* topic_;
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

}  // namespace ks
