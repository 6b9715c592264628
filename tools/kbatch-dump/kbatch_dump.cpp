// kbatch-dump: a topic -> batch files, one open batch per partition. A batch is written under a
// temporary name, fsynced and renamed into place; only then are its offsets committed. File names
// carry topic, partition and offset range, so after a crash the directory itself says what is
// already written and a restart skips it: every record ends up in exactly one file.
#include "kbatch_dump.hpp"

#include "ks/cli.hpp"
#include "ks/csv.hpp"
#include "ks/error.hpp"
#include "ks/io.hpp"
#include "ks/json.hpp"
#include "ks/kafka.hpp"
#include "ks/log.hpp"
#include "ks/record.hpp"
#include "ks/record_errors.hpp"
#include "ks/session.hpp"
#include "ks/signal.hpp"
#include "ks/stats.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <csignal>
#include <exception>
#include <map>

namespace ks::kbatch_dump {

void declare(CLI::App& app, options& o) {
    app.add_option("-i,--input", o.input, "Topic to read: kafka:TOPIC or kafka://HOST:PORT/TOPIC")->required();
    app.add_option("-o,--output", o.dir, "Directory for the batch files (must exist)");
    app.add_option("--dir", o.dir, "The old spelling of -o")->group("");
    app.add_option("--output-format", o.format, "File format: jsonl or csv")
        ->check(CLI::IsMember({"jsonl", "csv"}))
        ->capture_default_str();
    app.add_option("--format", o.format, "The old spelling of --output-format")
        ->check(CLI::IsMember({"jsonl", "csv"}))
        ->group("");
    app.add_option("-d,--delimiter", o.delimiter, "CSV field delimiter (one character; \\t or tab for tabs)")
        ->capture_default_str();
    app.add_option("--batch-records", o.batch_records, "Close a batch after N records")
        ->check(positive)
        ->capture_default_str();
    app.add_option("--batch-seconds", o.batch_seconds, "Close a batch S seconds after its first record (0 = never)")
        ->check(non_negative);
    app.add_option("--idle-timeout", o.idle_timeout, "Exit 0 after S seconds without records")
        ->check(non_negative);
    app.add_option("--instance-id", o.instance_id,
                   "Static membership (group.instance.id): a run with the same ID gets its partitions back at "
                   "once, without waiting for the group's session timeout (cron runs after a crash)")
        ->group("Consuming");
    add_common_options(app, o.common, opts_kafka | opts_consume | opts_bound | opts_errors | opts_report);
    app.footer(
        "Files: DIR/TOPIC-pPARTITION-FIRSTOFFSET-LASTOFFSET.jsonl|csv, one batch per partition.\n"
        "CSV: columns come from the first record of a batch; a later record without a field gets an\n"
        "empty cell; a record with a field the columns lack closes the batch and starts a new file.\n"
        "Examples:\n"
        "  kbatch-dump -i kafka:traffic -g dump -o out/ --output-format csv -e   # cron: drain and exit\n"
        "  kbatch-dump -i kafka:traffic -g dump -o out/ --batch-seconds 60      # a file a minute");
}

void setup(options& o) {
    check_properties(make_kafka_settings(o.common));
    if (!parse_spec(o.input).is_kafka()) throw usage_error("-i must be kafka:TOPIC or kafka://HOST:PORT/TOPIC");
    if (o.dir.empty()) {
        // -d used to name the directory; it is the CSV delimiter now, as in csv2kafka.
        if (o.delimiter.size() > 1 && o.delimiter != "tab" && o.delimiter != "\\t")
            throw usage_error(fmt::format("-d is the CSV delimiter (as in csv2kafka): write the directory as -o {}", o.delimiter));
        throw usage_error("-o DIR is required: the directory for the batch files");
    }
    o.delimiter_char = csv::parse_delimiter(o.delimiter);
    if (o.common.group.empty()) throw usage_error("-g GROUP is required: offsets are committed for the group");
}

namespace {

constexpr std::string_view temp_prefix = ".kbatch-dump.";

struct batch {
    std::int64_t first = -1, last = -1;  // offsets covered, bad records included
    std::uint64_t records = 0;           // lines written
    std::chrono::steady_clock::time_point opened;
    std::unique_ptr<fd_writer> out;
    std::string temp_path;
    std::vector<std::string> header;  // csv
    bool header_unique = false;       // csv: no column name twice
};

void fsync_dir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw runtime_failure(fmt::format("{}: {}", dir, errno_text(errno)));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) throw runtime_failure(fmt::format("syncing {}: {}", dir, errno_text(err)));
}

// CSV cell: quoted when it holds the delimiter, a quote or a line break.
void append_cell(std::string& out, std::string_view v, char delimiter) {
    // One pass: cells are short, and a memchr call per special character costs more than the bytes.
    const bool plain = std::none_of(v.begin(), v.end(), [delimiter](char c) {
        return c == delimiter || c == '"' || c == '\r' || c == '\n';
    });
    if (plain) {
        out.append(v);
        return;
    }
    out.push_back('"');
    for (char c : v) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
}

// The output directory, checked before any broker is contacted: it exists, takes a file, holds no
// temporary files of stopped processes, and its file names say where each partition's records end.
class batch_directory {
public:
    batch_directory(std::string dir, std::string topic) : dir_(std::move(dir)), topic_(std::move(topic)) {
        if (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
        check();
        remove_stale_temp_files();
        scan();
    }
    [[nodiscard]] const std::string& path() const { return dir_; }
    // Per partition of the topic, the offset after the last record the files hold.
    std::map<std::int32_t, std::int64_t> durable_next;

private:
    void check() {
        struct stat st {};
        if (::stat(dir_.c_str(), &st) != 0)
            throw runtime_failure(fmt::format("output directory {}: {}", dir_, errno_text(errno)));
        if (!S_ISDIR(st.st_mode)) throw runtime_failure(fmt::format("output directory {}: not a directory", dir_));
        // Prove it takes a file now, rather than after a batch of records has been consumed.
        const std::string probe = fmt::format("{}/{}{}.probe", dir_, temp_prefix, ::getpid());
        auto w = fd_writer::open_file(probe, false);
        try {
            w->write("probe\n");
            w->sync();
            w->close();
        } catch (...) {
            ::unlink(probe.c_str());
            throw;
        }
        ::unlink(probe.c_str());
    }

    // Temporary files of processes that no longer run (a kill -9): their records were never committed.
    void remove_stale_temp_files() {
        DIR* d = ::opendir(dir_.c_str());
        if (!d) throw runtime_failure(fmt::format("{}: {}", dir_, errno_text(errno)));
        while (dirent* e = ::readdir(d)) {
            std::string_view name = e->d_name;
            if (!name.starts_with(temp_prefix)) continue;
            const long pid = std::strtol(std::string(name.substr(temp_prefix.size())).c_str(), nullptr, 10);
            if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;  // alive
            const std::string path = dir_ + "/" + std::string(name);
            if (::unlink(path.c_str()) == 0) log::info("removed {} left by a stopped process", path);
        }
        ::closedir(d);
    }

    // The files already written say, per partition, where the next record to write is.
    void scan() {
        DIR* d = ::opendir(dir_.c_str());
        if (!d) throw runtime_failure(fmt::format("{}: {}", dir_, errno_text(errno)));
        const std::string prefix = topic_ + "-p";
        while (dirent* e = ::readdir(d)) {
            std::string_view name = e->d_name;
            if (!name.starts_with(prefix)) continue;
            name.remove_prefix(prefix.size());
            // PPPP-FFFF...-LLLL....EXT
            auto dash = name.find('-');
            if (dash == std::string_view::npos) continue;
            auto rest = name.substr(dash + 1);
            if (rest.size() < 20 + 1 + 20 + 1) continue;
            const auto ext = rest.substr(42);
            if (rest[20] != '-' || rest[41] != '.' || (ext != "csv" && ext != "jsonl")) continue;
            int partition = 0;
            long long last = 0;
            if (std::sscanf(std::string(name.substr(0, dash)).c_str(), "%d", &partition) != 1) continue;
            if (std::sscanf(std::string(rest.substr(21, 20)).c_str(), "%lld", &last) != 1) continue;
            auto& next = durable_next[partition];
            next = std::max<std::int64_t>(next, last + 1);
        }
        ::closedir(d);
        for (const auto& [partition, next] : durable_next)
            log::info("{}: files hold {} [{}] up to offset {}", dir_, topic_, partition, next - 1);
    }

    std::string dir_, topic_;
};

class dumper final : public processor {
public:
    dumper(const options& o, const std::string& topic, batch_directory& dir, session& s, error_policy& errors)
        : o_(o), topic_(topic), dir_(dir), session_(s), errors_(errors) {}

    // Records come from the one topic of -i: a partition is known by its number, and a record
    // costs no key string and no string comparison.
    void process(const record& r) override {
        catch_up();
        if (auto it = dir_.durable_next.find(r.partition); it != dir_.durable_next.end() && r.offset < it->second) {
            ++already_written_;
            return;
        }
        if (csv_) append_csv(r);
        else append_jsonl(r);
        ++consumed_;
        if (open_[r.partition].records >= o_.batch_records) finish(r.partition, true);
        if ((consumed_ & 255) == 0) progress_.update(consumed_);
    }

    void tick() override {
        catch_up();
        progress_.update(consumed_);
        if (o_.batch_seconds <= 0) return;
        const auto age = seconds_span(o_.batch_seconds);
        const auto now = std::chrono::steady_clock::now();
        for (auto it = open_.begin(); it != open_.end();) {
            const auto partition = (it++)->first;
            if (now - open_[partition].opened >= age) finish(partition, true);
        }
    }

    // Everything read so far goes into files (the end, -e, a revocation).
    void flush() override {
        std::vector<std::int32_t> partitions;
        for (const auto& [partition, b] : open_) partitions.push_back(partition);
        for (const auto partition : partitions) finish(partition, true);
    }

    void assigned(rd_kafka_topic_partition_list_t* parts) override {
        // Start after the files already written when the committed offset is behind them (a crash
        // between rename and commit). An explicit --from latest still wins.
        partition_list_ptr committed(rd_kafka_topic_partition_list_copy(parts));
        bool fetched = false;
        for (int i = 0; i < parts->cnt; ++i) {
            auto& p = parts->elems[i];
            auto it = dir_.durable_next.find(p.partition);
            if (it == dir_.durable_next.end() || p.offset == RD_KAFKA_OFFSET_END) continue;
            std::int64_t start = it->second;
            std::int64_t c = RD_KAFKA_OFFSET_INVALID;
            if (p.offset == RD_KAFKA_OFFSET_INVALID) {
                if (!fetched) session_.kafka()->fetch_committed(committed.get()), fetched = true;
                c = committed->elems[i].offset;
                if (c >= 0) start = std::max(start, c);
            }
            p.offset = start;
            // The files are ahead of the group (a crash between rename and commit): commit what
            // they hold once the assignment is in place, so the group's offsets say it too.
            if (c < start) catch_up_[p.partition] = start;
        }
    }

    void revoked(const rd_kafka_topic_partition_list_t* parts, bool lost) override {
        for (int i = 0; i < parts->cnt; ++i) {
            const auto partition = parts->elems[i].partition;
            // Lost partitions already belong to someone else: their open batch is dropped, its
            // records will be read again by the new owner from the committed offset.
            if (lost || signals::abort_requested()) discard(partition);
            else finish(partition, true);
        }
    }

    // Stopping after a failure (or a second signal): nothing committed past what is durable.
    void aborted(bool) override {
        for (auto it = open_.begin(); it != open_.end();) discard((it++)->first);
    }

    void report(bool stats) {
        progress_.finish();
        if (!stats) return;
        const double secs = clock_.seconds();
        stats_report(log::tool())
            .add("records_in", consumed_)
            .add("records_written", records_written_)
            .add("files", files_)
            .add("bytes", bytes_)
            .add("bad", errors_.count())
            .add("already_written", already_written_)
            .add("tombstones", session_.tombstones())
            .add("lag", session_.kafka() ? session_.kafka()->lag() : std::int64_t{0})
            .add("elapsed_s", secs)
            .add("records_per_s", consumed_ / std::max(secs, 1e-9))
            .print();
    }

private:
    void catch_up() {
        if (catch_up_.empty()) return;
        for (const auto& [partition, next] : std::exchange(catch_up_, {}))
            if (const topic_partition tp{topic_, partition}; session_.kafka()->assignment().contains(tp))
                session_.commit(tp, next);
    }

    std::string_view extension() const { return o_.format == "csv" ? "csv" : "jsonl"; }

    // DIR/TOPIC-pPPPP-FFFFFFFFFFFFFFFFFFFF-LLLLLLLLLLLLLLLLLLLL.EXT: sorted by name = sorted by offset.
    std::string final_path(std::int32_t partition, std::int64_t first, std::int64_t last) const {
        return fmt::format("{}/{}-p{:04}-{:020}-{:020}.{}", dir_.path(), topic_, partition, first, last, extension());
    }

    batch& open_batch(std::int32_t partition, std::int64_t offset) {
        batch& b = open_[partition];
        if (b.first < 0) {
            b.first = offset;
            b.opened = std::chrono::steady_clock::now();
        }
        return b;
    }

    void write_line(std::int32_t partition, batch& b, std::string_view line) {
        if (!b.out) {
            b.temp_path = fmt::format("{}/{}{}.{}-p{:04}.tmp", dir_.path(), temp_prefix, ::getpid(), topic_, partition);
            b.out = fd_writer::open_file(b.temp_path, false);
        }
        b.out->write(line);
        ++b.records;
    }

    void bad(const record& r, std::string_view why) {
        errors_.handle(r, why);
        open_batch(r.partition, r.offset).last = r.offset;  // its offset is committed with the batch
    }

    void append_jsonl(const record& r) {
        if (parser_.parse(r) != json_status::ok) return bad(r, parser_.error_text());
        line_.clear();
        // find_first_of would test every byte against the set: two memchr scans are far cheaper.
        if (r.value.find('\n') != std::string_view::npos || r.value.find('\r') != std::string_view::npos)
            json::append_minified(line_, r.value);
        else line_.append(r.value);
        line_.push_back('\n');
        batch& b = open_batch(r.partition, r.offset);
        write_line(r.partition, b, line_);
        b.last = r.offset;
    }

    void append_csv(const record& r) {
        keys_.clear();
        cells_.clear();
        const auto status = fields_.read(r, true, [&](const raw_field& f) {
            keys_.push_back(f.key);
            cells_.push_back(f.type == simdjson::ondemand::json_type::null ? std::string_view() : f.text);
        });
        if (status != json_status::ok) return bad(r, fields_.error_text());

        batch* b = &open_batch(r.partition, r.offset);
        const auto column = [&](std::string_view key) -> std::ptrdiff_t {
            auto it = std::find(b->header.begin(), b->header.end(), key);
            return it == b->header.end() ? -1 : it - b->header.begin();
        };
        // Records of one producer name their fields in the same order: then field i is column i,
        // and nothing is searched.
        bool in_order = b->records > 0 && b->header_unique &&
                        std::equal(keys_.begin(), keys_.end(), b->header.begin(), b->header.end());
        if (!in_order && !b->header.empty() && b->records > 0) {
            for (auto k : keys_) {
                if (column(k) < 0) {  // a field the columns lack: this record starts a new file
                    log::info("{} [{}] at offset {}: new field '{}': starting a new file", topic_, r.partition,
                              r.offset, k);
                    finish(r.partition, true);
                    b = &open_batch(r.partition, r.offset);
                    break;
                }
            }
        }
        line_.clear();
        if (b->records == 0) {
            b->header.assign(keys_.begin(), keys_.end());
            std::vector<std::string_view> sorted(keys_);
            std::sort(sorted.begin(), sorted.end());
            in_order = b->header_unique = std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
            for (size_t i = 0; i < b->header.size(); ++i) {
                if (i) line_.push_back(o_.delimiter_char);
                append_cell(line_, b->header[i], o_.delimiter_char);
            }
            line_.push_back('\n');
        }
        if (!in_order) {
            row_.assign(b->header.size(), std::string_view{});
            for (size_t i = 0; i < keys_.size(); ++i) row_[column(keys_[i])] = cells_[i];  // last duplicate wins
        }
        const auto& row = in_order ? cells_ : row_;
        for (size_t i = 0; i < row.size(); ++i) {
            if (i) line_.push_back(o_.delimiter_char);
            append_cell(line_, row[i], o_.delimiter_char);
        }
        line_.push_back('\n');
        write_line(r.partition, *b, line_);
        b->last = r.offset;
    }

    // Closes the batch: fsync, rename into place, fsync the directory, then commit past it.
    void finish(std::int32_t partition, bool commit_now) {
        auto it = open_.find(partition);
        if (it == open_.end()) return;
        batch b = std::move(it->second);
        open_.erase(it);
        if (b.first < 0) return;
        if (b.out) {
            const std::string path = final_path(partition, b.first, b.last);
            try {
                b.out->sync();
                b.out->close();
                if (::rename(b.temp_path.c_str(), path.c_str()) != 0)
                    throw runtime_failure(fmt::format("renaming {} to {}: {}", b.temp_path, path, errno_text(errno)));
            } catch (...) {
                ::unlink(b.temp_path.c_str());  // never committed: its records will be read again
                throw;
            }
            fsync_dir(dir_.path());
            ++files_;
            records_written_ += b.records;
            bytes_ += b.out->bytes_written();
            log::info("wrote {} ({} records)", path, b.records);
        }
        dir_.durable_next[partition] = b.last + 1;
        errors_.flush();  // dead letters of this batch are safe before its offsets are committed
        if (commit_now) session_.commit({topic_, partition}, b.last + 1);
    }

    void discard(std::int32_t partition) {
        auto it = open_.find(partition);
        if (it == open_.end()) return;
        if (it->second.out) ::unlink(it->second.temp_path.c_str());
        open_.erase(it);
    }

    const options& o_;
    const std::string& topic_;
    batch_directory& dir_;
    session& session_;
    error_policy& errors_;
    const bool csv_ = o_.format == "csv";
    std::map<std::int32_t, batch> open_;                // per partition
    std::map<std::int32_t, std::int64_t> catch_up_;     // commits owed to files already written
    json_parser parser_;
    field_reader fields_;
    std::string line_;
    std::vector<std::string_view> keys_, cells_, row_;
    progress progress_{o_.common.quiet, "records"};
    stopwatch clock_;
    std::uint64_t consumed_ = 0, records_written_ = 0, files_ = 0, bytes_ = 0, already_written_ = 0;
};

}  // namespace

int run(options& o) {
    const io_spec input = parse_spec(o.input);
    batch_directory dir(o.dir, input.topic);  // before any broker: a bad directory fails at once
    session_options so;
    so.inputs = {input};
    if (o.common.on_error == on_error_mode::dead_letter) so.outputs = {parse_spec(o.common.dead_letter)};
    so.delivery = guarantee::at_least_once;  // files: each record in exactly one file by their names
    so.commit_interval_ms = 0;               // a batch commits when its file is in place
    so.idle_timeout_s = o.idle_timeout;
    so.instance_id = o.instance_id;
    session s(o.common, so);
    error_policy errors(o.common, "kbatch-dump", s.sink_opener());
    dumper d(o, input.topic, dir, s, errors);
    try {
        s.run(d);
        if (signals::abort_requested()) log::warn("second signal: open batches dropped, their records will be read again");
        errors.close();
    } catch (...) {
        // The summary on every exit (a full disk, a lost broker, bad data): what was done before.
        try {
            d.report(o.common.stats);
        } catch (...) {
        }
        throw;
    }
    d.report(o.common.stats);
    return exit_ok;
}

}  // namespace ks::kbatch_dump
