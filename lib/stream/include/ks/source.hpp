// Sources: where records come from. JSON lines from standard input or files (globs), or messages
// of Kafka topics read in a consumer group, all through one interface, decided once from the
// -i specs (DESIGN.md "Inputs and outputs"): a tool never switches on the kind of input.
#pragma once

#include "ks/options.hpp"
#include "ks/config.hpp"
#include "ks/kafka.hpp"
#include "ks/record.hpp"
#include "ks/spec.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ks {

// The record a line of JSON lines holds (the line without its '\n'): its text without a final
// '\r', or empty when the line is blank (spaces and tabs only; blank lines are counted, not read).
// One rule for lines read one at a time (source::next) and lines split by the workers.
inline std::string_view line_record(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line.find_first_not_of(" \t") == std::string_view::npos ? std::string_view() : line;
}

class source {
public:
    enum class status { record, idle, end };
    virtual ~source() = default;
    // record: `r` holds the next record, valid until the next call. idle: nothing came within
    // timeout_ms (a quiet pipe, a drained topic; 0 asks without waiting). end: no more input
    // (files and pipes only; a topic has no end, see -e). Blank lines are skipped; Kafka
    // tombstones (null values) come as records with value.data() == nullptr.
    virtual status next(record& r, int timeout_ms) = 0;
    // Whether the last record had to be waited for (a trickle) rather than being there already
    // (bulk): loops look at the clock for every record of a trickle, now and then in bulk.
    [[nodiscard]] virtual bool waited() const = 0;
    // The consumer behind a Kafka source (offsets, rebalances, -e); null for files and pipes.
    virtual consumer* kafka() { return nullptr; }

    // Files and pipes also hand over whole lines in bulk, for worker threads to split (the
    // session's parallel loop): next_lines appends to `into` at least one complete line, each
    // ending in '\n' as read (CRLF kept; a last line without a break gets one), all from one
    // input, about max_bytes of them (more when one line is longer), and only what is there
    // without waiting once it has one. Blank lines are kept: the caller skips them and numbers
    // the lines, from 1 again where `block.first` says an input starts. Records and lines are not
    // both taken from one source.
    struct line_block {
        std::string_view name;  // the input's name, valid until the next call
        bool first = false;     // the input's first lines
    };
    [[nodiscard]] virtual bool offers_lines() const { return false; }
    virtual status next_lines(std::string& into, size_t max_bytes, line_block& block, int timeout_ms);
};

// What a Kafka source needs besides the specs and the common options.
struct kafka_source_settings {
    consumer::hooks hooks;     // rebalance callbacks
    property_list defaults;    // the consumer's properties before -X (static membership, ...)
};

// Expands file globs ("batches/*.jsonl", in name order; a pattern that matches nothing is an
// error). Kafka specs must all be topics of one cluster (read by one consumer in the group -g).
// Throws usage_error for a mix of Kafka and files, runtime_failure for a missing file.
std::unique_ptr<source> open_source(const std::vector<io_spec>& inputs, const common_options& options,
                                    kafka_source_settings kafka = {});

// A file spec's paths: its glob expanded in name order ("-" for standard input). Throws
// runtime_failure when a pattern matches nothing.
std::vector<std::string> expand_paths(const io_spec& spec);

// Checks the -i specs without opening anything (a tool's setup).
void check_inputs(const std::vector<io_spec>& inputs, const common_options& options);

// Refuses (usage_error) a file output that is one of the input files (same device and inode,
// globs expanded): opening the output truncates it before it is read. Opens nothing.
void check_output_is_not_input(const std::vector<io_spec>& inputs, const io_spec& output);

}  // namespace ks
