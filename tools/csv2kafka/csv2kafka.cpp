// csv2kafka: CSV or JSON-lines rows -> one JSON object per message (or per line on stdout).
#include "csv2kafka.hpp"

#include "ks/cli.hpp"
#include "ks/kafka.hpp"

#include "ks/csv.hpp"
#include "ks/error.hpp"
#include "ks/io.hpp"
#include "ks/sink.hpp"
#include "ks/json.hpp"
#include "ks/log.hpp"
#include "ks/pacing.hpp"
#include "ks/record.hpp"
#include "ks/record_errors.hpp"
#include "ks/signal.hpp"
#include "ks/source.hpp"
#include "ks/stats.hpp"

#include <fmt/core.h>

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace ks::csv2kafka {

void declare(CLI::App& app, options& o) {
    app.add_option("inputs", o.inputs, "CSV or JSON-lines files (a shorthand for -i); - or nothing for standard input");
    app.add_option("-i,--input", o.input_specs, "A file to read, or - for standard input (repeatable)")
        ->allow_extra_args(false);
    app.add_option("-o,--output", o.output, "Where to: kafka:TOPIC, kafka://HOST:PORT/TOPIC, FILE, or - (JSON lines)")
        ->capture_default_str();
    app.add_option("--input-format", o.format, "csv, or jsonl (JSON objects, one per line, passed through)")
        ->check(CLI::IsMember({"csv", "jsonl"}))
        ->capture_default_str();
    app.add_option("--format", o.format, "The old spelling of --input-format")
        ->check(CLI::IsMember({"csv", "jsonl"}))
        ->group("");
    app.add_option("--columns", o.columns, "Column names, comma-separated, for CSV without a header row");
    app.add_option("-d,--delimiter", o.delimiter, "CSV field delimiter (one character; \\t or tab for tabs)")
        ->capture_default_str();
    app.add_option("--schema", o.schema,
                   "Column types 'col:type,...' with type int, float, bool or string; others are inferred");
    app.add_option("--infer-rows", o.infer_rows,
                   "Rows read ahead to infer types from a pipe, while they keep coming (a regular file "
                   "is read whole first)")
        ->capture_default_str();
    app.add_option("-k,--key", o.key, "Column (or JSON field) whose value is the message key");
    app.add_flag("--loop", o.loop, "Repeat the input until --duration, --limit or a signal (simulated sensors)");
    app.add_option("--replay-time", o.replay_time,
                   "Pace rows by this column's timestamps (epoch s/ms, ISO-8601, or a time of day)");
    app.add_option("--speed", o.speed, "With --replay-time: replay X times faster")->capture_default_str();
    add_common_options(app, o.common, opts_kafka | opts_bound | opts_rate | opts_errors | opts_report);
    app.footer(
        "Examples:\n"
        "  csv2kafka -i datasets/traffic.csv -o kafka:traffic --key Date --rate 100\n"
        "  csv2kafka data.csv                     # CSV to JSON lines on stdout\n"
        "  csv2kafka data.csv -o kafka:t --loop --duration 60 --rate 10\n"
        "Types are inferred per column (int, float, bool, string; empty = null) without losing\n"
        "information: leading zeros and integers beyond 2^53 stay strings.\n"
        "Partitions: keyed rows by murmur2 of the key (as the Java client); keyless rows 1,024 at a\n"
        "time to one partition, then the next. Two producer connections per broker when the topic\n"
        "has two partitions or more (partition p through connection p mod 2), each idempotent.");
}

namespace {

// One owned record, for rows read ahead from a pipe to infer types.
struct buffered_row {
    csv::reader::result result;
    std::vector<std::string> fields;
    std::uint64_t line;
    std::string raw;
    std::string why;
};

// One CSV row after conversion. Its JSON value (for a bad row: its raw bytes) and its key are
// in the text of the batch that holds it.
struct converted_row {
    bool ok = true;
    bool has_key = false;
    int widened = -1;  // an inferred column whose type the value did not fit (problem = the value)
    std::uint64_t line = 0;
    size_t value_at = 0, value_len = 0, key_at = 0, key_len = 0;
    std::optional<event_time> when;
    std::string problem;  // why a bad row is bad
};

constexpr size_t batch_text = 256u << 10;  // a conversion batch ends at 1,024 rows or this much text

struct row_batch {
    std::string text;
    std::vector<converted_row> rows;
    void clear() {
        text.clear();
        rows.clear();
    }
};

// Parsed CSV row -> converted_row: everything that does not touch the sink, so that it can run
// on another thread.
struct row_converter {
    const csv::encoder& enc;
    const std::vector<std::string>& names;
    int key_index, time_index;

    void convert(csv::reader::result r, const std::vector<std::string_view>& fields, std::uint64_t line,
                 std::string_view raw, const std::string& problem, row_batch& b) const {
        converted_row row;
        row.line = line;
        const size_t at = b.text.size();
        const auto reject = [&](std::string why) {
            b.text.resize(at);
            row.ok = false;
            row.value_at = at;
            b.text.append(raw);
            row.value_len = raw.size();
            row.problem = std::move(why);
            b.rows.push_back(std::move(row));
        };
        if (r == csv::reader::result::bad) return reject(problem);
        if (!json::valid_utf8(raw)) return reject("not valid UTF-8");
        std::string why;
        if (!enc.encode(fields, b.text, why, row.widened)) return reject(std::move(why));
        row.value_at = at;
        row.value_len = b.text.size() - at;
        if (row.widened >= 0) row.problem = std::string(fields[row.widened]);
        if (time_index >= 0) {
            row.when = parse_event_time(fields[time_index]);
            if (!row.when)
                return reject(
                    fmt::format("column '{}': '{}' is not a time", names[time_index], fields[time_index]));
        }
        if (key_index >= 0 && !fields[key_index].empty()) {
            row.has_key = true;
            row.key_at = b.text.size();
            b.text.append(fields[key_index]);
            row.key_len = fields[key_index].size();
        }
        b.rows.push_back(std::move(row));
    }
};

// Runs fill(batch) on its own thread, again and again until it returns false (the end), and
// hands the filled batches out in order. A few batches circulate, so the thread runs at most that
// far ahead. An exception in fill comes out of next(); destruction stops and joins the thread.
class conversion_thread {
public:
    explicit conversion_thread(std::function<bool(row_batch&)> fill) : fill_(std::move(fill)) {
        for (int i = 0; i < 4; ++i) {
            free_.push_back(std::make_unique<row_batch>());
            // A batch stops at 256 KB of text; room for the row that crosses it and its encoder
            // slack keeps the buffer from doubling to 512 KB (peak RSS).
            free_.back()->text.reserve(batch_text + (64u << 10));
        }
        thread_ = std::thread([this] { work(); });
    }
    ~conversion_thread() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        changed_.notify_all();
        thread_.join();
    }
    conversion_thread(const conversion_thread&) = delete;
    conversion_thread& operator=(const conversion_thread&) = delete;

    // The next batch (valid until the next call), or nullptr after the last one.
    const row_batch* next() {
        std::unique_lock lock(mutex_);
        if (current_) free_.push_back(std::move(current_));
        changed_.notify_all();
        changed_.wait(lock, [this] { return !full_.empty() || done_; });
        if (full_.empty()) {
            if (failure_) std::rethrow_exception(failure_);
            return nullptr;
        }
        current_ = std::move(full_.front());
        full_.pop_front();
        return current_.get();
    }

private:
    void work() {
        for (;;) {
            std::unique_ptr<row_batch> b;
            {
                std::unique_lock lock(mutex_);
                changed_.wait(lock, [this] { return !free_.empty() || stop_; });
                if (stop_) return;
                b = std::move(free_.back());
                free_.pop_back();
            }
            b->clear();
            bool more = false;
            std::exception_ptr failure;
            try {
                more = fill_(*b);
            } catch (...) {
                failure = std::current_exception();
            }
            {
                std::lock_guard lock(mutex_);
                full_.push_back(std::move(b));
                failure_ = failure;
                done_ = !more;
            }
            changed_.notify_all();
            if (!more) return;
        }
    }

    std::function<bool(row_batch&)> fill_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::unique_ptr<row_batch>> free_;
    std::deque<std::unique_ptr<row_batch>> full_;
    std::unique_ptr<row_batch> current_;
    std::exception_ptr failure_;
    bool done_ = false, stop_ = false;
    std::thread thread_;
};

class publisher {
public:
    explicit publisher(options& o)
        : o_(o),
          sink_(open_sink(parse_spec(o.output), o.common)),
          errors_(o.common, "csv2kafka"),
          rate_(o.common.rate),
          replay_(o.speed),
          progress_(o.common.quiet, "records") {
        // A delivery error names its row: tag = (input number << 40) | line.
        sink_->describe_tags([this](std::uint64_t tag) {
            const auto input = static_cast<std::size_t>(tag >> 40);
            return fmt::format("{}:{}", input > 0 && input <= tag_sources_.size() ? tag_sources_[input - 1] : "?",
                               tag & ((std::uint64_t{1} << 40) - 1));
        });
    }

    int run() {
        produce_through(
            *sink_, errors_,
            [&] {
                bool more = true;
                do {
                    for (const auto& input : o_.inputs) {
                        more = o_.format == "csv" ? publish_csv(input) : publish_jsonl(input);
                        if (!more) break;
                    }
                    replay_.restart();
                } while (more && o_.loop);
            },
            [&](const sink_counts& c) { report(c); });
        return exit_ok;
    }

private:
    void report(const sink_counts& c) {
        progress_.finish();
        if (!o_.common.stats) return;
        const double secs = clock_.seconds();
        stats_report(log::tool())
            .add("rows_read", rows_read_)
            .add("produced", c.written)
            .add("delivered", c.delivered)
            .add("failed", c.failed)
            .add("bad", errors_.count())
            .add("elapsed_s", secs)
            .add("records_per_s", c.written / std::max(secs, 1e-9))
            .print();
    }

    // The inputs by number (from 1, in tags), each once: a --loop reads them again.
    void name_source(const std::string& name) {
        auto it = std::find(tag_sources_.begin(), tag_sources_.end(), name);
        if (it == tag_sources_.end()) it = tag_sources_.insert(it, name);
        tag_base_ = static_cast<std::uint64_t>(it - tag_sources_.begin() + 1) << 40;
    }
    [[nodiscard]] std::uint64_t tag(std::uint64_t line) const { return tag_base_ | line; }

    bool should_stop() const { return signals::stop_requested() || o_.common.limit_reached(produced_); }

    void bad(const std::string& source, std::uint64_t line, std::string_view why, std::string_view raw) {
        record_origin origin;
        origin.source = source;
        origin.line = line;
        errors_.handle(origin, why, raw);
    }

    // Paces, then hands one encoded record to the sink. False when it is time to stop.
    bool emit(std::optional<std::string_view> key, std::string_view value, const std::optional<event_time>& when,
              std::uint64_t line) {
        if (when ? !replay_.wait(*when) : !rate_.wait()) return false;
        sink_->write({key, value, {}, -1, tag(line)});
        ++produced_;
        if ((produced_ & 255) == 0) sink_->poll();
        progress_.update(produced_);
        return true;
    }

    bool publish_csv(const std::string& path) {
        const char delim = csv::parse_delimiter(o_.delimiter);
        auto rd = csv::reader::open(path, delim);
        name_source(rd->name());
        csv::record rec;
        std::string why;
        std::vector<std::string> names;
        if (!o_.columns.empty()) {
            std::vector<std::string_view> given;
            for (size_t start = 0;;) {
                auto comma = o_.columns.find(',', start);
                given.emplace_back(std::string_view(o_.columns).substr(start, comma - start));
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
            if (!json::valid_utf8(o_.columns)) throw usage_error("--columns: not valid UTF-8");
            std::vector<std::string> notes;
            names = csv::header_names(given, notes);
            for (const auto& n : notes) log::warn("--columns: {}", n);
        } else {
            auto r = rd->next(rec, why);
            if (r == csv::reader::result::end) {
                log::warn("{}: empty input", rd->name());
                return true;
            }
            if (r == csv::reader::result::bad)
                throw data_error(fmt::format("{}:{}: header row: {}", rd->name(), rec.line, why));
            // A carriage return inside the header line: a file with CR-only (old Mac) line endings,
            // read as one long line. Refused rather than read as a header and no rows.
            if (rec.raw.find('\r') != std::string_view::npos)
                throw data_error(fmt::format("{}:{}: header row: it holds a carriage return: the file seems to have "
                                             "CR-only (old Mac) line endings, which are not read; convert them first: "
                                             "tr '\\r' '\\n' < {} > NEW.csv",
                                             rd->name(), rec.line, rd->name()));
            // Column names become the keys of every record: not a bad row to skip, the whole input
            // would be invalid JSON (under every --on-error).
            for (const auto& f : rec.fields)
                if (!json::valid_utf8(f))
                    throw data_error(fmt::format("{}:{}: header row: a column name is not valid UTF-8", rd->name(), rec.line));
            std::vector<std::string> notes;
            names = csv::header_names(rec.fields, notes);
            for (const auto& n : notes) log::warn("{}: {}", rd->name(), n);
        }
        const bool has_header = o_.columns.empty();

        std::vector<csv::column_type> types(names.size(), csv::column_type::string);
        std::vector<bool> forced(names.size(), false);
        for (const auto& entry : csv::parse_schema(o_.schema)) {
            auto it = std::find(names.begin(), names.end(), entry.column);
            if (it == names.end())
                throw usage_error(fmt::format("--schema: no column '{}' in {}", entry.column, rd->name()));
            types[it - names.begin()] = entry.type;
            forced[it - names.begin()] = true;
        }

        // Infer the other columns: a regular file is read whole first; a pipe is read ahead.
        std::vector<csv::type_tally> tallies(names.size());
        std::deque<buffered_row> ahead;
        const bool all_forced = std::all_of(forced.begin(), forced.end(), [](bool f) { return f; });
        if (!all_forced && rd->seekable()) {
            csv::tally_to_end(*rd, tallies, forced);
            rd->rewind();
            if (has_header) rd->next(rec, why);
        } else if (!all_forced) {
            // A slow stream is not held back: read ahead only while rows keep coming.
            while (ahead.size() < o_.infer_rows && (ahead.empty() || rd->ready(200))) {
                auto r = rd->next(rec, why);
                if (r == csv::reader::result::end) break;
                buffered_row row{r, {rec.fields.begin(), rec.fields.end()}, rec.line, std::string(rec.raw), why};
                if (r == csv::reader::result::record) csv::tally_record(tallies, rec.fields, rec.raw, forced);
                ahead.push_back(std::move(row));
            }
        }
        for (size_t i = 0; i < names.size(); ++i)
            if (!forced[i]) types[i] = tallies[i].result();
        if (log::enabled(log::level::info)) {
            std::string listing;
            for (size_t i = 0; i < names.size(); ++i)
                listing += fmt::format("{}{}:{}", i ? "," : "", names[i], csv::type_name(types[i]));
            log::info("{}: columns {}", rd->name(), listing);
        }
        csv::encoder enc(names, types, forced);
        if (!all_forced && rd->seekable()) enc.trust_inferred_types();

        const auto column = [&](const std::string& name, const char* option) {
            if (name.empty()) return -1;
            int i = enc.index_of(name);
            if (i < 0) throw usage_error(fmt::format("{}: no column '{}' in {}", option, name, rd->name()));
            return i;
        };
        const int key_index = column(o_.key, "--key");
        const int time_index = column(o_.replay_time, "--replay-time");
        const row_converter conv{enc, names, key_index, time_index};
        std::vector<bool> widened_warned(names.size(), false);

        // Counts, reports or emits the rows of a batch in order; false when it is time to stop.
        // Unpaced rows of a file batch go to the sink together (write_batch), paced ones one by one.
        const bool paced = o_.common.rate > 0 || time_index >= 0;
        std::vector<outgoing> together;
        const auto send_together = [&] {
            if (together.empty()) return;
            sink_->write_batch(together);
            together.clear();
            sink_->poll();
            progress_.update(produced_);
        };
        const auto deliver = [&](const row_batch& b) {
            bool more = true;
            for (const auto& row : b.rows) {
                if (should_stop()) {
                    more = false;
                    break;
                }
                ++rows_read_;
                const std::string_view text(b.text.data() + row.value_at, row.value_len);
                if (!row.ok) {
                    send_together();  // the rows before a bad one go first (--on-error fail stops here)
                    bad(rd->name(), row.line, row.problem, text);
                    continue;
                }
                if (row.widened >= 0 && !widened_warned[row.widened]) {
                    widened_warned[row.widened] = true;
                    log::warn("{}:{}: column '{}' was inferred as {} from the first {} rows; '{}' is kept as it is "
                              "(use --schema to fix the type)",
                              rd->name(), row.line, names[row.widened], csv::type_name(types[row.widened]),
                              o_.infer_rows, row.problem);
                }
                std::optional<std::string_view> key;
                if (row.has_key) key = std::string_view(b.text.data() + row.key_at, row.key_len);
                if (paced || b.rows.size() == 1) {
                    if (!emit(key, text, row.when, row.line)) return false;
                } else {
                    together.push_back({key, text, {}, -1, tag(row.line)});
                    ++produced_;
                }
            }
            send_together();
            return more;
        };

        if (rd->seekable()) {
            // A file never keeps a read waiting: a second thread parses and encodes batches of
            // rows while this one hands them to the sink (Kafka or stdout), in order.
            conversion_thread pipeline([&](row_batch& b) {
                for (;;) {
                    const auto r = rd->next(rec, why);
                    if (r == csv::reader::result::end) return false;
                    conv.convert(r, rec.fields, rec.line, rec.raw, why, b);
                    if (b.rows.size() >= 1024 || b.text.size() >= batch_text) return true;
                }
            });
            while (const row_batch* b = pipeline.next())
                if (!deliver(*b)) return false;
            return !should_stop();
        }

        row_batch one;
        std::vector<std::string_view> views;
        for (; !ahead.empty(); ahead.pop_front()) {
            const auto& row = ahead.front();
            views.assign(row.fields.begin(), row.fields.end());
            one.clear();
            conv.convert(row.result, views, row.line, row.raw, row.why, one);
            if (!deliver(one)) return false;
        }
        for (auto r = rd->next(rec, why); r != csv::reader::result::end; r = rd->next(rec, why)) {
            one.clear();
            conv.convert(r, rec.fields, rec.line, rec.raw, why, one);
            if (!deliver(one)) return false;
        }
        return !should_stop();
    }

    // A top-level field of a JSON object as key text: strings unescaped, other values as JSON.
    static std::optional<std::string> field_text(simdjson::dom::object obj, std::string_view name) {
        simdjson::dom::element e;
        if (obj.at_key(name).get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
        if (e.is_string()) return std::string(e.get_string().value_unsafe());
        return simdjson::minify(e);
    }

    bool publish_jsonl(const std::string& path) {
        auto in = open_source({parse_spec(path)}, o_.common);
        name_source(path == "-" ? std::string("-") : path);
        record r;
        for (;;) {
            if (should_stop()) return false;
            const auto got = in->next(r, 100);
            if (got == source::status::end) break;
            if (got == source::status::idle) continue;
            ++rows_read_;
            if (parser_.parse(r) != json_status::ok) {
                errors_.handle(r, parser_.error_text());
                continue;
            }
            const auto obj = parser_.object();
            std::optional<event_time> when;
            if (!o_.replay_time.empty()) {
                auto text = field_text(obj, o_.replay_time);
                if (text) when = parse_event_time(*text);
                if (!when) {
                    errors_.handle(r, fmt::format("field '{}': {} is not a time", o_.replay_time, text ? *text : "missing"));
                    continue;
                }
            }
            std::optional<std::string> key_text;
            if (!o_.key.empty()) key_text = field_text(obj, o_.key);
            std::optional<std::string_view> key;
            if (key_text) key = *key_text;
            if (!emit(key, r.value, when, r.line)) return false;
        }
        return !should_stop();
    }

    options& o_;
    std::vector<std::string> tag_sources_;
    std::uint64_t tag_base_ = 0;
    std::unique_ptr<record_sink> sink_;
    error_policy errors_;
    rate_limiter rate_;
    replay_clock replay_;
    progress progress_;
    stopwatch clock_;
    std::uint64_t rows_read_ = 0;
    std::uint64_t produced_ = 0;
    json_parser parser_;
};

}  // namespace

void setup(options& o) {
    check_properties(make_kafka_settings(o.common));
    for (auto& spec : o.input_specs) o.inputs.push_back(spec);
    o.input_specs.clear();
    if (o.inputs.empty()) o.inputs.push_back("-");
    for (const auto& input : o.inputs)
        if (parse_spec(input).is_kafka())
            throw usage_error(fmt::format("-i {}: csv2kafka reads files and standard input (a topic is read by kstream-filter)", input));
    {
        std::vector<io_spec> inputs;
        for (const auto& input : o.inputs) inputs.push_back(parse_spec(input));
        check_output_is_not_input(inputs, parse_spec(o.output));
        if (o.common.on_error == on_error_mode::dead_letter && !o.common.dead_letter.empty())
            check_output_is_not_input(inputs, parse_spec(o.common.dead_letter));
    }
    const auto stdin_inputs = std::count(o.inputs.begin(), o.inputs.end(), "-");
    if (stdin_inputs > 1) throw usage_error("standard input (-) can be read only once");
    if (o.loop && stdin_inputs > 0) throw usage_error("--loop needs files: standard input cannot be read twice");
    if (o.speed <= 0) throw usage_error("--speed must be positive");
    if (!o.replay_time.empty() && o.common.rate > 0) throw usage_error("--rate and --replay-time exclude each other");
    if (o.format == "jsonl" && (!o.columns.empty() || !o.schema.empty() || o.delimiter != ","))
        throw usage_error("--columns, --schema and --delimiter are for --input-format csv");
    csv::parse_delimiter(o.delimiter);
    csv::parse_schema(o.schema);
}

int run(options& o) {
    if (o.loop && o.common.duration_s <= 0 && o.common.limit == 0)
        log::info("--loop without --duration or --limit: runs until a signal");
    log::info("inputs {}; output {}; rate {}; duration {}; limit {}", fmt::format("{}", fmt::join(o.inputs, ",")),
              o.output, o.common.rate, o.common.duration_s, o.common.limit);
    publisher p(o);
    return p.run();
}

}  // namespace ks::csv2kafka
