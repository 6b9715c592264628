#include "ks/source.hpp"

#include "ks/error.hpp"
#include "ks/io.hpp"
#include "ks/log.hpp"

#include <glob.h>
#include <sys/stat.h>

#include <fmt/core.h>

#include <cstring>
#include <stdexcept>
#include <utility>

namespace ks {

namespace {

// JSON lines from files and standard input, one after the other.
class line_source final : public source {
public:
    explicit line_source(std::vector<std::string> paths) : paths_(std::move(paths)) {}

    status next(record& r, int timeout_ms) override {
        waited_ = false;
        for (;;) {
            if (!in_) {
                if (next_path_ == paths_.size()) return status::end;
                in_ = std::make_unique<input_buffer>(paths_[next_path_++]);
                line_ = 0;
                scanned_ = 0;
            }
            input_buffer& in = *in_;
            const char* base = in.bytes.data();
            const size_t from = in.pos + scanned_;
            const char* nl = from < in.end ? static_cast<const char*>(std::memchr(base + from, '\n', in.end - from)) : nullptr;
            if (nl || (in.eof && in.pos < in.end)) {
                const size_t stop = nl ? static_cast<size_t>(nl - base) : in.end;
                const std::string_view line = line_record(std::string_view(base + in.pos, stop - in.pos));
                in.pos = nl ? stop + 1 : in.end;
                scanned_ = 0;
                ++line_;
                if (line.empty()) continue;  // blank
                r = record{};
                r.value = line;
                r.padded = true;  // the buffer keeps input_buffer::padding bytes past its data
                r.source = in.name;
                r.line = line_;
                return status::record;
            }
            scanned_ = in.end - in.pos;
            if (in.eof) {
                in_.reset();
                continue;
            }
            if (!in.readable(0)) {
                waited_ = true;
                run_idle_hooks();  // output waiting downstream goes now, before the wait
                if (!in.readable(timeout_ms)) return status::idle;
            }
            in.refill();
        }
    }

    [[nodiscard]] bool offers_lines() const override { return true; }

    status next_lines(std::string& into, size_t max_bytes, line_block& block, int timeout_ms) override {
        waited_ = false;
        for (;;) {
            if (!in_) {
                if (next_path_ == paths_.size()) return status::end;
                in_ = std::make_unique<input_buffer>(paths_[next_path_++]);
                first_lines_ = true;
                scanned_ = 0;
            }
            input_buffer& in = *in_;
            if (in.pos < in.end) {
                // Up to the last line break within max_bytes, or the first one past them; the
                // first scanned_ bytes have none (a long line is not searched again per read).
                const char* from = in.bytes.data() + in.pos;
                const size_t have = in.end - in.pos, lo = scanned_, hi = std::max(lo, std::min(have, max_bytes));
                const char* nl = hi > lo ? static_cast<const char*>(::memrchr(from + lo, '\n', hi - lo)) : nullptr;
                if (!nl && hi < have) nl = static_cast<const char*>(std::memchr(from + hi, '\n', have - hi));
                if (nl || in.eof) {
                    const size_t n = nl ? static_cast<size_t>(nl - from) + 1 : have;
                    into.append(from, n);
                    if (!nl) into.push_back('\n');
                    in.pos += n;
                    scanned_ = 0;
                    block.name = in.name;
                    block.first = std::exchange(first_lines_, false);
                    return status::record;
                }
                scanned_ = have;
            }
            if (in.eof) {
                in_.reset();
                continue;
            }
            if (!in.readable(0)) {
                waited_ = true;
                run_idle_hooks();
                if (!in.readable(timeout_ms)) return status::idle;
            }
            in.refill();
        }
    }

    [[nodiscard]] bool waited() const override { return waited_; }

private:
    bool waited_ = false;
    bool first_lines_ = false;
    std::vector<std::string> paths_;
    size_t next_path_ = 0;
    std::unique_ptr<input_buffer> in_;
    std::uint64_t line_ = 0;
    size_t scanned_ = 0;  // unread bytes already searched for a line break (refill moves them)
};

class kafka_source final : public source {
public:
    kafka_source(const kafka_settings& settings, const common_options& o, const std::vector<std::string>& topics,
                 kafka_source_settings extra)
        : consumer_(settings, o.group, topics, o.from, o.exit_at_end, std::move(extra.hooks), extra.defaults) {}

    status next(record& r, int timeout_ms) override {
        current_ = consumer_.poll(timeout_ms);
        if (!current_) return status::idle;
        const rd_kafka_message_t* m = current_.get();
        r = record{};
        r.value = m->payload ? std::string_view(static_cast<const char*>(m->payload), m->len) : std::string_view();
        r.key = message_key(m);
        r.from_kafka = true;
        r.source = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
        r.partition = m->partition;
        r.offset = m->offset;
        rd_kafka_timestamp_type_t type;
        r.timestamp_ms = rd_kafka_message_timestamp(m, &type);
        headers_.clear();
        rd_kafka_headers_t* hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char* name;
            const void* value;
            size_t size;
            for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
                header h{name, std::nullopt};
                if (value) h.value = std::string_view(static_cast<const char*>(value), size);
                headers_.push_back(h);
            }
        }
        r.headers = headers_;
        return status::record;
    }
    consumer* kafka() override { return &consumer_; }
    [[nodiscard]] bool waited() const override { return consumer_.waited(); }

private:
    consumer consumer_;
    message_ptr current_;
    std::vector<header> headers_;
};

}  // namespace

source::status source::next_lines(std::string&, size_t, line_block&, int) {
    throw std::logic_error("source::next_lines: this source hands over records, not lines");
}

std::vector<std::string> expand_paths(const io_spec& spec) {
    if (spec.is_stdio()) return {"-"};
    if (spec.path.find_first_of("*?[") == std::string::npos) return {spec.path};
    glob_t g{};
    const int rc = ::glob(spec.path.c_str(), 0, nullptr, &g);
    std::vector<std::string> out;
    if (rc == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
    if (out.empty()) throw runtime_failure(fmt::format("-i {}: no file matches", spec.text));
    return out;
}

void check_inputs(const std::vector<io_spec>& inputs, const common_options& o) {
    size_t kafka = 0, stdio = 0;
    for (const auto& s : inputs) {
        kafka += s.is_kafka();
        stdio += s.is_stdio();
    }
    if (kafka > 0 && kafka < inputs.size())
        throw usage_error("-i: topics and files cannot be read together (run one tool for each)");
    if (stdio > 1) throw usage_error("-i: standard input (-) can be read only once");
    if (kafka > 0) {
        if (o.group.empty()) throw usage_error("-g GROUP is required to read a topic: offsets are committed for the group");
        for (const auto& s : inputs)
            if (s.brokers != inputs.front().brokers)
                throw usage_error("-i: the topics must be on one cluster (the same brokers)");
    }
}

void check_output_is_not_input(const std::vector<io_spec>& inputs, const io_spec& output) {
    if (output.is_kafka() || output.is_stdio()) return;
    struct stat out {};
    if (::stat(output.path.c_str(), &out) != 0) return;  // a new file: nothing to protect
    for (const auto& spec : inputs) {
        if (spec.is_kafka() || spec.is_stdio()) continue;
        std::vector<std::string> paths;
        try {
            paths = expand_paths(spec);
        } catch (const runtime_failure&) {
            continue;  // reported when the inputs are opened
        }
        for (const auto& path : paths) {
            struct stat in {};
            if (::stat(path.c_str(), &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
                throw usage_error(fmt::format("-o {}: the output is the input file {}: writing it would destroy it",
                                              output.text, path));
        }
    }
}

std::unique_ptr<source> open_source(const std::vector<io_spec>& inputs, const common_options& o,
                                    kafka_source_settings kafka) {
    check_inputs(inputs, o);
    if (inputs.empty()) return std::make_unique<line_source>(std::vector<std::string>{"-"});
    if (inputs.front().is_kafka()) {
        std::vector<std::string> topics;
        for (const auto& s : inputs) topics.push_back(s.topic);
        return std::make_unique<kafka_source>(make_kafka_settings(o, inputs.front().brokers), o, topics, std::move(kafka));
    }
    std::vector<std::string> paths;
    for (const auto& s : inputs)
        for (auto& p : expand_paths(s)) paths.push_back(std::move(p));
    return std::make_unique<line_source>(std::move(paths));
}

}  // namespace ks
