// kbatch-dump: a topic -> batch files, one open batch per partition. A batch is written under a
// temporary name, fsynced and renamed into place; only then are its offsets committed. File names
// carry topic, partition and offset range, so after a crash the directory itself says what is
// already written and a restart skips it: every record ends up in exactly one file.
#include "kbatch_dump.hpp"

#include "ks/error.hpp"
#include "ks/io.hpp"
#include "ks/json.hpp"
#include "ks/kafka.hpp"
#include "ks/log.hpp"
#include "ks/pacing.hpp"
#include "ks/record_errors.hpp"
#include "ks/signal.hpp"
#include "ks/stats.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <csignal>
#include <exception>
#include <map>

namespace ks::kbatch_dump {

void declare(CLI::App& app, options& o) {
    app.add_option("-i,--input", o.input, "Topic to read: kafka:TOPIC or kafka://HOST:PORT/TOPIC")->required();
    app.add_option("-d,--dir", o.dir, "Directory for the batch files (must exist)")->required();
    app.add_option("--format", o.format, "File format: jsonl or csv")
        ->check(CLI::IsMember({"jsonl", "csv"}))
        ->capture_default_str();
    app.add_option("--batch-records", o.batch_records, "Close a batch after N records")
        ->check(positive)
        ->capture_default_str();
    app.add_option("--batch-seconds", o.batch_seconds, "Close a batch S seconds after its first record (0 = never)")
        ->check(non_negative);
    app.add_option("--idle-timeout", o.idle_timeout, "Exit 0 after S seconds without records")
        ->check(non_negative);
    add_common_options(app, o.common, opts_kafka | opts_consume | opts_bound | opts_errors | opts_report);
    app.footer(
        "Files: DIR/TOPIC-pPARTITION-FIRSTOFFSET-LASTOFFSET.jsonl|csv, one batch per partition.\n"
        "CSV: columns come from the first record of a batch; a later record without a field gets an\n"
        "empty cell; a record with a field the columns lack closes the batch and starts a new file.\n"
        "Examples:\n"
        "  kbatch-dump -i kafka:traffic -g dump -d out/ --format csv -e     # cron: drain and exit\n"
        "  kbatch-dump -i kafka:traffic -g dump -d out/ --batch-seconds 60  # a file a minute");
}

namespace {

constexpr std::string_view temp_prefix = ".kbatch-dump.";

struct batch {
    std::int64_t first = -1, last = -1;  // offsets covered, bad records included
    std::uint64_t records = 0;           // lines written
    steady::time_point opened;
    std::unique_ptr<fd_writer> out;
    std::string temp_path;
    std::vector<std::string> header;  // csv
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
void append_cell(std::string& out, std::string_view v) {
    if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
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

class dumper {
public:
    explicit dumper(options& o) : o_(o), spec_(parse_spec(o.input)), errors_(o.common, "kbatch-dump"), limit_(o.common.duration_s) {
        if (!spec_.is_kafka()) throw usage_error("-i must be kafka:TOPIC or kafka://HOST:PORT/TOPIC");
        if (o_.dir.size() > 1 && o_.dir.back() == '/') o_.dir.pop_back();
        check_directory();
        remove_stale_temp_files();
        scan_directory();
    }

    int run() {
        consumer::hooks hooks;
        hooks.on_assign = [this](rd_kafka_topic_partition_list_t* parts) { guarded([&] { on_assign(parts); }); };
        hooks.on_revoke = [this](const rd_kafka_topic_partition_list_t* parts, bool lost) {
            guarded([&] { on_revoke(parts, lost); });
        };
        consumer_ = std::make_unique<consumer>(make_kafka_settings(o_.common, spec_.brokers), o_.common.group,
                                               std::vector<std::string>{spec_.topic}, o_.common.from,
                                               o_.common.exit_at_end, hooks);
        try {
            loop();
            if (signals::abort_requested()) {
                discard_all();
                log::warn("second signal: open batches dropped, their records will be read again");
            } else {
                finish_all(true);
            }
        } catch (const data_error&) {
            finish_all(true);  // what came before the bad record is good: keep it, commit it
            consumer_->close();
            report();
            throw;
        } catch (...) {
            discard_all();  // nothing committed past what is durable
            // Leave the group cleanly so that a restart need not wait for the session timeout;
            // not when the brokers are gone, where closing would wait on them.
            if (!consumer_->brokers_down()) consumer_->close();
            throw;
        }
        consumer_->close();
        errors_.close();
        report();
        return exit_ok;
    }

private:
    // Rebalance hooks run inside librdkafka's callback: keep exceptions out of C, raise them after.
    template <typename F>
    void guarded(F&& f) {
        try {
            f();
        } catch (...) {
            if (!pending_) pending_ = std::current_exception();
        }
    }

    void check_directory() {
        struct stat st {};
        if (::stat(o_.dir.c_str(), &st) != 0)
            throw runtime_failure(fmt::format("output directory {}: {}", o_.dir, errno_text(errno)));
        if (!S_ISDIR(st.st_mode)) throw runtime_failure(fmt::format("output directory {}: not a directory", o_.dir));
        // Prove it takes a file now, rather than after a batch of records has been consumed.
        const std::string probe = fmt::format("{}/{}{}.probe", o_.dir, temp_prefix, ::getpid());
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
        DIR* d = ::opendir(o_.dir.c_str());
        if (!d) throw runtime_failure(fmt::format("{}: {}", o_.dir, errno_text(errno)));
        while (dirent* e = ::readdir(d)) {
            std::string_view name = e->d_name;
            if (!name.starts_with(temp_prefix)) continue;
            const long pid = std::strtol(std::string(name.substr(temp_prefix.size())).c_str(), nullptr, 10);
            if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;  // alive
            const std::string path = o_.dir + "/" + std::string(name);
            if (::unlink(path.c_str()) == 0) log::info("removed {} left by a stopped process", path);
        }
        ::closedir(d);
    }

    std::string_view extension() const { return o_.format == "csv" ? "csv" : "jsonl"; }

    // DIR/TOPIC-pPPPP-FFFFFFFFFFFFFFFFFFFF-LLLLLLLLLLLLLLLLLLLL.EXT: sorted by name = sorted by offset.
    std::string final_path(std::int32_t partition, std::int64_t first, std::int64_t last) const {
        return fmt::format("{}/{}-p{:04}-{:020}-{:020}.{}", o_.dir, spec_.topic, partition, first, last, extension());
    }

    // The files already written say, per partition, where the next record to write is.
    void scan_directory() {
        DIR* d = ::opendir(o_.dir.c_str());
        if (!d) throw runtime_failure(fmt::format("{}: {}", o_.dir, errno_text(errno)));
        const std::string prefix = spec_.topic + "-p";
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
            auto& next = durable_next_[{spec_.topic, partition}];
            next = std::max<std::int64_t>(next, last + 1);
        }
        ::closedir(d);
        for (const auto& [tp, next] : durable_next_)
            log::info("{}: files hold {} [{}] up to offset {}", o_.dir, tp.topic, tp.partition, next - 1);
    }

    void on_assign(rd_kafka_topic_partition_list_t* parts) {
        // Start after the files already written when the committed offset is behind them (a crash
        // between rename and commit). An explicit --from latest still wins.
        partition_list_ptr committed(rd_kafka_topic_partition_list_copy(parts));
        bool fetched = false;
        for (int i = 0; i < parts->cnt; ++i) {
            auto& p = parts->elems[i];
            auto it = durable_next_.find({p.topic, p.partition});
            if (it == durable_next_.end() || p.offset == RD_KAFKA_OFFSET_END) continue;
            std::int64_t start = it->second;
            std::int64_t c = RD_KAFKA_OFFSET_INVALID;
            if (p.offset == RD_KAFKA_OFFSET_INVALID) {
                if (!fetched) consumer_->fetch_committed(committed.get()), fetched = true;
                c = committed->elems[i].offset;
                if (c >= 0) start = std::max(start, c);
            }
            p.offset = start;
            // The files are ahead of the group (a crash between rename and commit): commit what
            // they hold once the assignment is in place, so the group's offsets say it too.
            if (c < start) catch_up_[{p.topic, p.partition}] = start;
        }
    }

    void on_revoke(const rd_kafka_topic_partition_list_t* parts, bool lost) {
        for (int i = 0; i < parts->cnt; ++i) {
            topic_partition tp{parts->elems[i].topic, parts->elems[i].partition};
            // Lost partitions already belong to someone else: their open batch is dropped, its
            // records will be read again by the new owner from the committed offset.
            if (lost || signals::abort_requested()) discard(tp);
            else finish(tp, true);
        }
    }

    void loop() {
        const bool bounded_batches = o_.batch_seconds > 0;
        const auto batch_age = std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o_.batch_seconds));
        const auto idle_limit = std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o_.idle_timeout));
        auto last_record = steady::now();
        auto last_sweep = last_record;
        std::uint64_t polled_at_last_check = 0;
        while (!signals::stop_requested() && !limit_.passed()) {
            if (o_.common.limit > 0 && consumed_ >= o_.common.limit) break;
            message_ptr m = consumer_->poll(100);
            if (pending_) std::rethrow_exception(std::exchange(pending_, nullptr));
            if (!catch_up_.empty())
                for (const auto& [tp, next] : std::exchange(catch_up_, {}))
                    if (consumer_->assignment().contains(tp)) commit(tp, next);
            // Reading in bulk (messages already queued), the clock and what depends on it are
            // looked at every 256 messages; in a trickle, at every message.
            const std::uint64_t polled = consumer_->messages();
            if (m && !consumer_->waited() && (polled & 255) != 0) {
                append_message(m.get());
                continue;
            }
            const auto now = steady::now();
            if (polled != polled_at_last_check) {  // messages came since the last look at the clock
                polled_at_last_check = polled;
                last_record = now;
            }
            if (bounded_batches && now - last_sweep >= std::chrono::milliseconds(100)) {
                last_sweep = now;
                for (auto it = open_.begin(); it != open_.end();) {
                    auto tp = (it++)->first;
                    if (now - open_[tp].opened >= batch_age) finish(tp, true);
                }
            }
            if (!m) {
                if (o_.idle_timeout > 0 && now - last_record >= idle_limit) {
                    log::info("no records for {:g} s: exiting", o_.idle_timeout);
                    break;
                }
                if (o_.common.exit_at_end && consumer_->assigned_at_end()) {
                    // Ours are drained: make that visible to the group before waiting on it.
                    finish_all(true);
                    for (const auto& tp : consumer_->assignment())
                        if (auto pos = consumer_->position(tp); pos > committed_[tp]) commit(tp, pos);
                    if (consumer_->others_at_end()) {
                        log::info("every partition reached its end");
                        break;
                    }
                }
                progress_.update(consumed_);
                continue;
            }
            append_message(m.get());
            progress_.update(consumed_);
        }
    }

    void append_message(const rd_kafka_message_t* m) {
        topic_partition tp{topic_name(m), m->partition};
        if (auto it = durable_next_.find(tp); it != durable_next_.end() && m->offset < it->second) {
            ++already_written_;
            return;
        }
        append(tp, m);
        ++consumed_;
        if (open_[tp].records >= o_.batch_records) finish(tp, true);
    }

    batch& open_batch(const topic_partition& tp, std::int64_t offset) {
        batch& b = open_[tp];
        if (b.first < 0) {
            b.first = offset;
            b.opened = steady::now();
        }
        return b;
    }

    void write_line(const topic_partition& tp, batch& b, std::string_view line) {
        if (!b.out) {
            b.temp_path = fmt::format("{}/{}{}.{}-p{:04}.tmp", o_.dir, temp_prefix, ::getpid(), tp.topic, tp.partition);
            b.out = fd_writer::open_file(b.temp_path, false);
        }
        b.out->write(line);
        ++b.records;
    }

    void bad(const topic_partition& tp, const rd_kafka_message_t* m, std::string_view why) {
        record_origin origin;
        origin.source = tp.topic;
        origin.from_kafka = true;
        origin.partition = tp.partition;
        origin.offset = m->offset;
        errors_.handle(origin, why, payload(m));
        open_batch(tp, m->offset).last = m->offset;  // its offset is committed with the batch
    }

    void append(const topic_partition& tp, const rd_kafka_message_t* m) {
        const std::string_view value = payload(m);
        if (o_.format == "csv") return append_csv(tp, m, value);
        simdjson::dom::element doc;
        if (auto err = dom_.parse(padded_.load(value)).get(doc))
            return bad(tp, m, fmt::format("invalid JSON: {}", simdjson::error_message(err)));
        if (!doc.is_object()) return bad(tp, m, "not a JSON object");
        line_.clear();
        // find_first_of would test every byte against the set: two memchr scans are far cheaper.
        if (value.find('\n') != std::string_view::npos || value.find('\r') != std::string_view::npos)
            json::append_minified(line_, value);
        else line_.append(value);
        line_.push_back('\n');
        batch& b = open_batch(tp, m->offset);
        write_line(tp, b, line_);
        b.last = m->offset;
    }

    void append_csv(const topic_partition& tp, const rd_kafka_message_t* m, std::string_view value) {
        keys_.clear();
        cells_.clear();
        simdjson::ondemand::document doc;
        simdjson::ondemand::object obj;
        if (auto err = ondemand_.iterate(padded_.load(value)).get(doc))
            return bad(tp, m, fmt::format("invalid JSON: {}", simdjson::error_message(err)));
        if (doc.get_object().get(obj) != simdjson::SUCCESS) {  // say why: not JSON at all, or not an object
            if (auto err = dom_.parse(padded_.load(value)).error())
                return bad(tp, m, fmt::format("invalid JSON: {}", simdjson::error_message(err)));
            return bad(tp, m, "not a JSON object");
        }
        auto error = simdjson::SUCCESS;
        for (auto field : obj) {
            std::string_view key, cell;
            simdjson::ondemand::value v;
            simdjson::ondemand::json_type type;
            if ((error = field.unescaped_key().get(key)) || (error = field.value().get(v)) || (error = v.type().get(type)))
                break;
            switch (type) {
                case simdjson::ondemand::json_type::string: error = v.get_string().get(cell); break;
                case simdjson::ondemand::json_type::null: cell = {}; break;
                case simdjson::ondemand::json_type::number:
                case simdjson::ondemand::json_type::boolean: {
                    cell = v.raw_json_token();
                    while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\n' || cell.back() == '\r' || cell.back() == '\t'))
                        cell.remove_suffix(1);
                    if (type == simdjson::ondemand::json_type::boolean) {
                        bool ignored;
                        error = v.get_bool().get(ignored);  // validates the literal
                    }
                    break;
                }
                case simdjson::ondemand::json_type::object: {
                    simdjson::ondemand::object inner;
                    if (!(error = v.get_object().get(inner))) error = inner.raw_json().get(cell);
                    break;
                }
                case simdjson::ondemand::json_type::array: {
                    simdjson::ondemand::array inner;
                    if (!(error = v.get_array().get(inner))) error = inner.raw_json().get(cell);
                    break;
                }
            }
            if (error) break;
            keys_.push_back(key);
            cells_.push_back(cell);
        }
        const char* rest = nullptr;  // a location is left only when something follows the object
        if (!error && doc.current_location().get(rest) == simdjson::SUCCESS) error = simdjson::TRAILING_CONTENT;
        if (error) return bad(tp, m, fmt::format("invalid JSON: {}", simdjson::error_message(error)));

        batch* b = &open_batch(tp, m->offset);
        const auto column = [&](std::string_view key) -> std::ptrdiff_t {
            auto it = std::find(b->header.begin(), b->header.end(), key);
            return it == b->header.end() ? -1 : it - b->header.begin();
        };
        if (!b->header.empty() && b->records > 0) {
            for (auto k : keys_) {
                if (column(k) < 0) {  // a field the columns lack: this record starts a new file
                    log::info("{} [{}] at offset {}: new field '{}': starting a new file", tp.topic, tp.partition,
                              m->offset, k);
                    finish(tp, true);
                    b = &open_batch(tp, m->offset);
                    break;
                }
            }
        }
        line_.clear();
        if (b->records == 0) {
            b->header.assign(keys_.begin(), keys_.end());
            for (size_t i = 0; i < b->header.size(); ++i) {
                if (i) line_.push_back(',');
                append_cell(line_, b->header[i]);
            }
            line_.push_back('\n');
        }
        row_.assign(b->header.size(), std::string_view{});
        for (size_t i = 0; i < keys_.size(); ++i) row_[column(keys_[i])] = cells_[i];  // last duplicate wins
        for (size_t i = 0; i < row_.size(); ++i) {
            if (i) line_.push_back(',');
            append_cell(line_, row_[i]);
        }
        line_.push_back('\n');
        write_line(tp, *b, line_);
        b->last = m->offset;
    }

    // Closes the batch: fsync, rename into place, fsync the directory, then commit past it.
    void finish(const topic_partition& tp, bool commit_now) {
        auto it = open_.find(tp);
        if (it == open_.end()) return;
        batch b = std::move(it->second);
        open_.erase(it);
        if (b.first < 0) return;
        if (b.out) {
            const std::string path = final_path(tp.partition, b.first, b.last);
            try {
                b.out->sync();
                b.out->close();
                if (::rename(b.temp_path.c_str(), path.c_str()) != 0)
                    throw runtime_failure(fmt::format("renaming {} to {}: {}", b.temp_path, path, errno_text(errno)));
            } catch (...) {
                ::unlink(b.temp_path.c_str());  // never committed: its records will be read again
                throw;
            }
            fsync_dir(o_.dir);
            ++files_;
            records_written_ += b.records;
            bytes_ += b.out->bytes_written();
            log::info("wrote {} ({} records)", path, b.records);
        }
        durable_next_[tp] = b.last + 1;
        errors_.flush();  // dead letters of this batch are safe before its offsets are committed
        if (commit_now) this->commit(tp, b.last + 1);
    }

    void commit(const topic_partition& tp, std::int64_t next) {
        if (auto err = consumer_->commit(tp.topic, tp.partition, next); err.empty()) committed_[tp] = next;
        else log::warn("commit of {} [{}] at {} failed ({}): the files are in place and a restart skips them", tp.topic,
                      tp.partition, next, err);
    }

    void discard(const topic_partition& tp) {
        auto it = open_.find(tp);
        if (it == open_.end()) return;
        if (it->second.out) ::unlink(it->second.temp_path.c_str());
        open_.erase(it);
    }

    void finish_all(bool commit) {
        std::vector<topic_partition> tps;
        for (const auto& [tp, b] : open_) tps.push_back(tp);
        for (const auto& tp : tps) finish(tp, commit);
    }

    void discard_all() {
        std::vector<topic_partition> tps;
        for (const auto& [tp, b] : open_) tps.push_back(tp);
        for (const auto& tp : tps) discard(tp);
    }

    void report() {
        progress_.finish();
        if (!o_.common.stats) return;
        const double secs = clock_.seconds();
        stats_report(log::tool())
            .add("records_in", consumed_)
            .add("records_written", records_written_)
            .add("files", files_)
            .add("bytes", bytes_)
            .add("bad", errors_.count())
            .add("already_written", already_written_)
            .add("lag", consumer_ ? consumer_->lag() : std::int64_t{0})
            .add("elapsed_s", secs)
            .add("records_per_s", consumed_ / std::max(secs, 1e-9))
            .print();
    }

    options& o_;
    io_spec spec_;
    error_policy errors_;
    deadline limit_;
    std::unique_ptr<consumer> consumer_;
    std::map<topic_partition, batch> open_;
    std::map<topic_partition, std::int64_t> durable_next_;
    std::map<topic_partition, std::int64_t> catch_up_;  // commits owed to files already written
    std::map<topic_partition, std::int64_t> committed_;  // what this process committed last
    std::exception_ptr pending_;
    simdjson::dom::parser dom_;
    simdjson::ondemand::parser ondemand_;
    json::padded_buffer padded_;
    std::string line_;
    std::vector<std::string_view> keys_, cells_, row_;
    progress progress_{o_.common.quiet, "records"};
    stopwatch clock_;
    std::uint64_t consumed_ = 0, records_written_ = 0, files_ = 0, bytes_ = 0, already_written_ = 0;
};

}  // namespace

int run(options& o) {
    if (o.common.group.empty()) throw usage_error("-g GROUP is required: offsets are committed for the group");
    dumper d(o);
    return d.run();
}

}  // namespace ks::kbatch_dump
