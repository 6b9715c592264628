#include "ks/record_errors.hpp"

#include "ks/error.hpp"
#include "ks/json.hpp"
#include "ks/log.hpp"

#include <fmt/core.h>

namespace ks {

namespace {
constexpr std::uint64_t reported_skips = 20;
}

std::string record_origin::describe() const {
    if (from_kafka) return fmt::format("{} [{}] at offset {}", source, partition, offset);
    return fmt::format("{}:{}", source, line);
}

record_origin record_origin::of(const record& r) {
    record_origin o;
    o.source = std::string(r.source);
    o.line = r.line;
    o.from_kafka = r.from_kafka;
    o.partition = r.partition;
    o.offset = r.offset;
    return o;
}

error_policy::error_policy(const common_options& options, std::string tool, const sink_opener& open)
    : mode_(options.on_error), tool_(std::move(tool)) {
    if (mode_ == on_error_mode::dead_letter) {
        auto spec = parse_spec(options.dead_letter);
        if (spec.is_stdio()) throw usage_error("--dead-letter must be a file or kafka:TOPIC, not standard output");
        dead_letter_name_ = spec.describe();
        dead_letter_ = open ? open(spec) : open_sink(spec, options);
    }
}

void error_policy::handle(const record& r, std::string_view reason) { handle(record_origin::of(r), reason, r.value); }

std::string error_policy::envelope(std::string_view tool, const record_origin& origin, std::string_view reason,
                                   std::string_view original_bytes) {
    std::string out = "{\"reason\":";
    json::append_string(out, reason);
    out += ",\"tool\":";
    json::append_string(out, tool);
    out += ",\"source\":";
    json::append_string(out, origin.source);
    if (origin.from_kafka) fmt::format_to(std::back_inserter(out), ",\"partition\":{},\"offset\":{}", origin.partition, origin.offset);
    else fmt::format_to(std::back_inserter(out), ",\"line\":{}", origin.line);
    if (json::valid_utf8(original_bytes)) {
        out += ",\"data\":";
        json::append_string(out, original_bytes);
    } else {
        out += ",\"data_base64\":\"";
        json::append_base64(out, original_bytes);
        out += '"';
    }
    out += '}';
    return out;
}

void error_policy::handle(const record_origin& origin, std::string_view reason, std::string_view original_bytes) {
    ++count_;
    switch (mode_) {
        case on_error_mode::fail:
            throw data_error(fmt::format("{}: {} (--on-error skip or dead-letter to go on)", origin.describe(), reason));
        case on_error_mode::skip:
            if (count_ <= reported_skips) log::warn("{}: {} (skipped)", origin.describe(), reason);
            else if (count_ == reported_skips + 1) log::warn("more bad records skipped; the count follows at the end");
            return;
        case on_error_mode::dead_letter:
            dead_letter_->write({std::nullopt, envelope(tool_, origin, reason, original_bytes)});
            log::info("{}: {} (to {})", origin.describe(), reason, dead_letter_name_);
            return;
    }
}

void error_policy::flush() {
    if (!dead_letter_) return;
    dead_letter_->flush();
    auto c = dead_letter_->counts();
    if (c.failed > 0)
        throw runtime_failure(fmt::format("dead letter {}: {} bad records not delivered: {}", dead_letter_name_,
                                          c.failed, c.first_error));
}

void error_policy::close() {
    if (mode_ == on_error_mode::skip && count_ > 0) log::warn("{} bad records skipped", count_);
    if (!dead_letter_) return;
    auto c = dead_letter_->close();
    dead_letter_.reset();
    if (c.failed > 0)
        throw runtime_failure(fmt::format("dead letter {}: {} of {} bad records not delivered: {}", dead_letter_name_,
                                          c.failed, c.written, c.first_error));
    if (c.written > 0) log::warn("{} bad records written to {}", c.written, dead_letter_name_);
}

}  // namespace ks
