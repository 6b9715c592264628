#include "ks/cli.hpp"
#include "ks/session.hpp"

#include "ks/error.hpp"
#include "ks/io.hpp"
#include "ks/log.hpp"
#include "ks/signal.hpp"
#include "ks/stats.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

namespace ks {

namespace {

using clock = std::chrono::steady_clock;

// How long the input must stay quiet before the open transaction is committed early: long enough
// that a flood, whose fetches arrive a few milliseconds apart, still makes large transactions.
constexpr int dry_wait_ms = 2;

bool has_kafka(const std::vector<io_spec>& specs) {
    return std::any_of(specs.begin(), specs.end(), [](const io_spec& s) { return s.is_kafka(); });
}

bool wants_transactions(const session_options& so) {
    return so.delivery == guarantee::exactly_once && has_kafka(so.inputs) && has_kafka(so.outputs);
}

// A name that stays the same when the process is restarted on this host and differs between the
// processes of one group running here at once: the host name and the lowest slot number whose lock
// file is free. The lock is held until the process ends (also by kill -9), so a restart takes the
// slot of the process it replaces.
std::string host_slot_instance(const std::string& group, int& lock_fd) {
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    const std::string dir = fmt::format("{}/kstream-{}", runtime && *runtime ? runtime : "/tmp", ::getuid());
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw runtime_failure(fmt::format("{}: {} (set --instance-id)", dir, errno_text(errno)));
    std::string safe_group = group;
    for (char& c : safe_group)
        if (c == '/' || c == '\0') c = '_';
    char host[HOST_NAME_MAX + 1] = "host";
    ::gethostname(host, sizeof host);
    for (int slot = 0;; ++slot) {
        const std::string path = fmt::format("{}/{}.{}.lock", dir, safe_group, slot);
        const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0) throw runtime_failure(fmt::format("{}: {} (set --instance-id)", path, errno_text(errno)));
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
            lock_fd = fd;
            return fmt::format("{}-{}", host, slot);
        }
        ::close(fd);
    }
}

}  // namespace

void check_session(const common_options& options, const session_options& so) {
    check_properties(make_kafka_settings(options));
    check_inputs(so.inputs, options);
    for (const auto& out : so.outputs) check_output_is_not_input(so.inputs, out);
    if (!wants_transactions(so)) return;
    for (const auto& out : so.outputs)
        if (out.is_kafka() && out.brokers != so.inputs.front().brokers)
            throw usage_error(fmt::format(
                "{}: exactly-once needs the output on the input's cluster (one transaction); "
                "use --guarantee at-least-once to write to another cluster",
                out.text));
}

template <typename F>
void session::guarded(F&& f) {
    // librdkafka calls the rebalance hooks from C: exceptions wait there and are raised after poll.
    in_rebalance_ = true;
    try {
        f();
    } catch (...) {
        if (!callback_error_) callback_error_ = std::current_exception();
    }
    in_rebalance_ = false;
}

void add_delivery_options(CLI::App& app, delivery_options& d) {
    app.add_option("--guarantee", d.guarantee, "Kafka to Kafka: exactly-once (transactions) or at-least-once")
        ->check(CLI::IsMember({"exactly-once", "at-least-once"}))
        ->capture_default_str()
        ->group("Delivery");
    app.add_option("--commit-interval", d.commit_interval_ms,
                   "Commit at least every MS milliseconds (and at once when the input runs dry)")
        ->check(positive)
        ->capture_default_str()
        ->group("Delivery");
    app.add_option("--instance-id", d.instance_id,
                   "This process in its group (static membership, transactional.id); default: host and a free slot")
        ->group("Delivery");
    app.add_option("--idle-timeout", d.idle_timeout_s, "Exit 0 after S seconds without records")->check(non_negative)->group("Bounds");
}

session_options make_session_options(const common_options& options, const delivery_options& d,
                                     std::vector<io_spec> inputs, std::vector<io_spec> outputs) {
    session_options so;
    so.inputs = std::move(inputs);
    so.outputs = std::move(outputs);
    if (options.on_error == on_error_mode::dead_letter) so.outputs.push_back(parse_spec(options.dead_letter));
    so.delivery = d.guarantee == "at-least-once" ? guarantee::at_least_once : guarantee::exactly_once;
    so.commit_interval_ms = d.commit_interval_ms;
    so.idle_timeout_s = d.idle_timeout_s;
    so.instance_id = d.instance_id;
    return so;
}

session::session(const common_options& options, session_options so) : options_(options), so_(std::move(so)) {
    check_session(options_, so_);
    const bool transactional = wants_transactions(so_);
    kafka_source_settings ks;
    ks.defaults = so_.consumer_defaults;
    if (transactional) {
        instance_id_ = so_.instance_id.empty() ? host_slot_instance(options_.group, instance_lock_) : so_.instance_id;
        transactional_id_ = fmt::format("{}.{}", options_.group, instance_id_);
        // Static membership: a restart with the same instance id gets its partitions back at once,
        // without waiting for the group to notice that the old process died (NOTES.md).
        ks.defaults.emplace_back("group.instance.id", instance_id_);
        // session.timeout.ms stays librdkafka's 45 s: a shorter one made a broker restart (10-15 s
        // without a broker) time out the session, and librdkafka's rejoin then fenced its own
        // static member (FENCED_INSTANCE_ID, fatal). A restart gets its partitions back at once
        // anyway; 45 s is how long a member that stops for good holds them.
    } else if (!so_.instance_id.empty()) {
        // Without transactions static membership is asked for by name (kbatch-dump --instance-id):
        // a restart with that id takes its partitions back at once, not after the session timeout.
        instance_id_ = so_.instance_id;
        ks.defaults.emplace_back("group.instance.id", instance_id_);
    }
    ks.hooks.on_assign = [this](rd_kafka_topic_partition_list_t* parts) { guarded([&] { on_assign(parts); }); };
    ks.hooks.on_revoke = [this](const rd_kafka_topic_partition_list_t* parts, bool lost) {
        guarded([&] { on_revoke(parts, lost); });
    };
    if (transactional) {
        const property_list producer_defaults = {
            {"transactional.id", transactional_id_},
            // A transaction left open by a process that died blocks read_committed readers until
            // it times out, unless a restart fences it first: 10 s, as Kafka Streams does.
            {"transaction.timeout.ms", "10000"},
            {"message.timeout.ms", "10000"},
            // A commit every --commit-interval flushes the queue anyway: 2 MB of it keeps batches
            // large and the process small (bench/filter: peak RSS 35 -> 27 MB, same rate).
            {"queue.buffering.max.kbytes", "2048"},
        };
        producer_ = std::make_unique<producer>(make_kafka_settings(options_, so_.inputs.front().brokers), producer_defaults);
        log::info("transactional.id {}, group.instance.id {}", transactional_id_, instance_id_);
        producer_->init_transactions();
        if (const char* n = std::getenv("KS_TEST_TAKE_BACK_COMMIT")) take_back_at_ = std::strtoull(n, nullptr, 10);
    }
    source_settings_ = std::move(ks);
}

session::~session() {
    if (instance_lock_ >= 0) ::close(instance_lock_);
}

std::unique_ptr<record_sink> session::open_sink(const io_spec& spec, const property_list& producer_defaults) {
    std::unique_ptr<record_sink> sink;
    if (spec.is_kafka() && producer_) {
        sink = open_topic_sink(*producer_, spec.topic);
    } else {
        sink = ks::open_sink(spec, options_, producer_defaults);
    }
    sinks_.push_back(sink.get());
    return sink;
}

error_policy::sink_opener session::sink_opener() {
    return [this](const io_spec& spec) { return open_sink(spec); };
}

session::partition_state* session::find_slot(std::string_view topic, std::int32_t partition) {
    if (last_slot_ < partitions_.size()) {
        auto& s = partitions_[last_slot_];
        if (s.partition == partition && s.topic == topic) return &s;
    }
    for (size_t i = 0; i < partitions_.size(); ++i) {
        if (partitions_[i].partition == partition && partitions_[i].topic == topic) {
            last_slot_ = i;
            return &partitions_[i];
        }
    }
    return nullptr;
}

session::partition_state& session::slot(std::string_view topic, std::int32_t partition) {
    if (partition_state* s = find_slot(topic, partition)) return *s;
    partitions_.push_back({std::string(topic), partition});
    last_slot_ = partitions_.size() - 1;
    return partitions_.back();
}

void session::on_assign(rd_kafka_topic_partition_list_t* parts) {
    assigned_at_ = clock::now();  // --idle-timeout counts from here: joining the group is not idling
    for (int i = 0; i < parts->cnt; ++i) slot(parts->elems[i].topic, parts->elems[i].partition) = {parts->elems[i].topic, parts->elems[i].partition};
    if (processor_) processor_->assigned(parts);
}

void session::on_revoke(const rd_kafka_topic_partition_list_t* parts, bool lost) {
    if (!closing_) {
        if (lost) {
            if (txn_open_) abort_and_rewind("partitions lost", false, true);
        } else {
            commit_point();  // the whole transaction, or everything durable so far
        }
    }
    // Closing after a failure: what is not committed may not be kept (as for lost partitions).
    if (processor_) processor_->revoked(parts, lost || (closing_ && !closed_cleanly_));
    for (int i = 0; i < parts->cnt; ++i) {
        const std::string_view topic = parts->elems[i].topic;
        const auto partition = parts->elems[i].partition;
        std::erase_if(partitions_, [&](const partition_state& s) { return s.partition == partition && s.topic == topic; });
    }
    last_slot_ = 0;
}

void session::flush_sinks() {
    for (auto* s : sinks_) {
        s->flush();
        const auto c = s->counts();
        if (c.failed > 0)  // offsets must not pass records that did not arrive
            throw runtime_failure(fmt::format("{} of {} messages not delivered: {}", c.failed, c.written, c.first_error));
    }
}

void session::commit_offsets(const std::vector<std::pair<partition_state*, std::int64_t>>& offsets) {
    if (offsets.empty()) return;
    partition_list_ptr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
    for (const auto& [s, next] : offsets) rd_kafka_topic_partition_list_add(list.get(), s->topic.c_str(), s->partition)->offset = next;
    if (producer_) {
        const bool was_open = txn_open_;
        if (!txn_open_) begin_transaction();
        if (!commit_transaction(list.get())) return;
        if (was_open) ++transactions_;
    } else if (auto err = consumer_->commit(list.get()); !err.empty()) {
        // The output is durable; a restart reads these records again (at least once).
        log::warn("committing offsets failed ({}): the records since the last commit will be read again", err);
        return;
    }
    for (const auto& [s, next] : offsets) s->committed = next;
    if (producer_) mark_commit();
    log::debug("committed {} partition(s)", offsets.size());
}

bool session::commit_transaction(const rd_kafka_topic_partition_list_t* offsets) {
    std::string why;
    try {
        bool done = produced_all(why);
        if (done && offsets) done = producer_->send_offsets(offsets, consumer_->group_metadata().get(), why);
        if (done && abort_next_commit_) {
            abort_next_commit_ = false;
            why = "KS_TEST_TAKE_BACK_COMMIT: the transaction after the one taken back";
            done = false;
        }
        if (done && offsets && ++offset_commits_ == take_back_at_) {
            producer_->abort_transaction();
            log::warn("KS_TEST_TAKE_BACK_COMMIT: transaction aborted and reported committed");
            abort_next_commit_ = true;
        } else if (done) {
            done = producer_->commit_transaction(why);
        }
        if (!done) {
            abort_and_rewind(why);
            return false;
        }
    } catch (const transaction_fatal& e) {
        abort_and_rewind(e.what(), true);
        return false;
    }
    transaction_ended(true);
    return true;
}

void session::begin_output() {
    if (producer_ && !txn_open_) begin_transaction();
    if (!pending_) {
        pending_ = true;
        pending_since_ = clock::now();
    }
}

void session::commit_point() {
    const auto aborts_before = aborts_;
    if (processor_) processor_->flush();
    flush_sinks();  // files and acknowledged messages; a transaction's topics commit below
    if (!consumer_) {
        pending_ = false;
        if (processor_) processor_->committed();
        return;
    }
    std::vector<std::pair<partition_state*, std::int64_t>> offsets;
    for (auto& s : partitions_)
        if (s.next > s.committed) offsets.emplace_back(&s, s.next);
    if (producer_ && txn_open_ && offsets.empty()) {
        // Nothing consumed but output written (a tool's timer): commit it on its own.
        if (commit_transaction(nullptr)) ++transactions_;
    } else {
        commit_offsets(offsets);
    }
    pending_ = false;
    if (processor_ && aborts_ == aborts_before) processor_->committed();
}

void session::begin_transaction() {
    try {
        producer_->begin_transaction();
    } catch (const transaction_fatal& e) {
        // No transaction is open, so everything processed is committed: a new producer goes on.
        log::warn("{}: starting a new transactional producer", e.what());
        producer_->restart_transactions();
        producer_->begin_transaction();
    }
    txn_open_ = true;
    rejected_at_begin_ = producer_->rejected();
}

void session::transaction_ended(bool committed) {
    txn_open_ = false;
    if (committed) {
        consecutive_aborts_ = 0;
        records_kept_ = records_in_;
        tombstones_kept_ = tombstones_;
    } else {
        records_in_ = records_kept_;  // the rewound records are read and counted again (--limit too)
        tombstones_ = tombstones_kept_;
    }
    for (auto* s : sinks_) s->transaction_ended(committed);
    if (errors_) errors_->transaction_ended(committed);
}

// A message librdkafka refused when it was handed over (too large for message.max.bytes, ...)
// is not in the transaction: committing would lose its record.
bool session::produced_all(std::string& why) {
    const auto rejected = producer_->rejected() - rejected_at_begin_;
    if (rejected == 0) return true;
    why = fmt::format("{} record(s) could not be produced: {}", rejected, producer_->first_error());
    return false;
}

void session::abort_and_rewind(const std::string& why, bool producer_failed, bool partitions_lost) {
    // The same records fail the same way again: after a few tries in a row it is not passing.
    if (++consecutive_aborts_ > 5)
        throw runtime_failure(fmt::format("transactions aborted {} times in a row, the last one because {}",
                                          consecutive_aborts_ - 1, why));
    log::warn("transaction aborted ({}): reading again from the last commit", why);
    if (!producer_failed) {
        try {
            producer_->abort_transaction();
            producer_->poll(0);  // the aborted messages' reports
        } catch (const transaction_fatal& e) {
            // An outage longer than transaction.timeout.ms: the broker aborted the transaction
            // itself, and the abort finds it gone (librdkafka: INVALID_TXN_STATE, fatal).
            log::warn("the abort failed ({})", e.what());
            producer_failed = true;
        }
    }
    if (producer_failed) {
        log::warn("starting a new transactional producer with transactional.id {}", transactional_id_);
        producer_->restart_transactions();
    }
    transaction_ended(false);
    pending_ = false;
    ++aborts_;
    // Lost partitions go (the whole assignment): nothing to read again, and their group's
    // coordinator may be out of reach.
    if (!partitions_lost) rewind_to_group();
    if (processor_) processor_->aborted(true);
}

void session::mark_commit() {
    commit_mark m{{}, records_kept_, tombstones_kept_};
    for (const auto& s : partitions_)
        if (s.committed >= 0) m.offsets.emplace_back(topic_partition{s.topic, s.partition}, s.committed);
    marks_.push_back(std::move(m));
    if (marks_.size() > 8) marks_.pop_front();
}

bool session::read_group_offsets() {
    // The group's offsets, not the ones this process was told it committed: a commit the broker
    // acknowledged can still be taken back (a single-node broker stopping skips its markers, and a
    // later abort takes it back). Under read_committed, librdkafka asks for stable offsets: a
    // transactional commit still pending is waited for (KIP-447). Bounded by --timeout.
    partition_list_ptr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions_.size())));
    for (const auto& s : partitions_) rd_kafka_topic_partition_list_add(list.get(), s.topic.c_str(), s.partition);
    consumer_->fetch_committed(list.get());
    bool taken_back = false;
    for (int i = 0; i < list->cnt; ++i) {
        const auto& e = list->elems[i];
        if (e.err)
            throw runtime_failure(fmt::format("reading the committed offset of {} [{}]: {}", e.topic, e.partition,
                                              rd_kafka_err2str(e.err)));
        auto& s = slot(e.topic, e.partition);
        const std::int64_t held = e.offset >= 0 ? e.offset : -1;
        if (held != s.committed) {
            log::warn("{} [{}]: the group holds offset {}, not {} as committed: the broker took a commit back "
                      "(docs/conventions.md); reading again from the group's offset",
                      s.topic, s.partition, held, s.committed);
            taken_back = true;
            s.committed = held;
        }
    }
    return taken_back;
}

void session::rewind_to_group() {
    if (partitions_.empty()) return;
    // Not in a rebalance hook (an abort while partitions are revoked): there a fetch of committed
    // offsets was seen to wait out --timeout with the broker back after an outage (e2e.agg_outage
    // on a loaded machine). The revoked partitions leave, and whoever takes them next starts from
    // the group's offsets; the ones kept go back to this process's last commit.
    const bool taken_back = !in_rebalance_ && read_group_offsets();
    for (auto& s : partitions_) {
        const std::int64_t back = s.committed >= 0 ? s.committed : s.first;
        if (back >= 0 && s.next != back) {
            consumer_->seek({s.topic, s.partition}, back);
            s.next = back;
        }
    }
    if (!taken_back) return;
    // The input counts (--limit) go back to the commit the group holds, when it is one of the last
    // few of this process; counts of the output (--stats) stay at the last commit's.
    const auto matches = [&](const commit_mark& m) {
        return std::all_of(m.offsets.begin(), m.offsets.end(), [&](const auto& o) {
            const partition_state* s = find_slot(o.first.topic, o.first.partition);
            return !s || s->committed == o.second;
        });
    };
    while (!marks_.empty() && !matches(marks_.back())) marks_.pop_back();
    records_in_ = records_kept_ = marks_.empty() ? 0 : marks_.back().records;
    tombstones_ = tombstones_kept_ = marks_.empty() ? 0 : marks_.back().tombstones;
    log::warn("counted {} input record(s) up to the group's offsets; the output counts of --stats still include "
              "the taken-back commit's",
              records_in_);
}

bool session::commit(const topic_partition& tp, std::int64_t next) {
    if (!consumer_) return true;
    if (auto err = consumer_->commit(tp.topic, tp.partition, next); !err.empty()) {
        log::warn("commit of {} [{}] at {} failed ({}): those records will be read again after a restart", tp.topic,
                  tp.partition, next, err);
        return false;
    }
    auto& s = slot(tp.topic, tp.partition);
    s.committed = std::max(s.committed, next);
    return true;
}

void session::handle(const record& r) {
    if (r.value.data() == nullptr && r.from_kafka) {
        ++tombstones_;  // DESIGN.md: skipped and counted
    } else {
        ++records_in_;
        if (producer_ && !txn_open_) begin_transaction();
        processor_->process(r);
    }
    if (r.from_kafka) {
        auto& s = slot(r.source, r.partition);
        if (s.first < 0) s.first = r.offset;
        s.next = r.offset + 1;
    }
    if (!pending_) {
        pending_ = true;
        pending_since_ = clock::now();
    }
}

// -e: this member's partitions are drained; commit positions past control records, then ask
// whether the others are done too (consumer::others_at_end).
bool session::exit_at_end_reached() {
    if (!consumer_->assigned_at_end()) return false;
    const auto aborts_before = aborts_;
    commit_point();
    if (aborts_ != aborts_before) return false;  // rewound: the records since the last commit come again
    std::vector<std::pair<partition_state*, std::int64_t>> positions;
    for (const auto& tp : consumer_->assignment()) {
        auto& s = slot(tp.topic, tp.partition);
        if (const auto pos = consumer_->position(tp); pos > s.committed) positions.emplace_back(&s, pos);
    }
    commit_offsets(positions);
    if (!consumer_->others_at_end()) return false;
    log::info("every partition reached its end");
    return true;
}

void session::finish(bool commit) {
    if (commit) {
        commit_point();
    } else {
        discard();
    }
    close(commit);
}

void session::discard() {
    if (producer_ && txn_open_) {
        try {
            producer_->abort_transaction();
        } catch (const std::exception& e) {
            log::info("aborting the open transaction: {}", e.what());
        }
        txn_open_ = false;
    }
    if (processor_) processor_->aborted(producer_ != nullptr);
}

void session::close(bool clean) {
    closing_ = true;
    closed_cleanly_ = clean;
    // Leave the group cleanly so that a restart need not wait for the session timeout; not when
    // the brokers are gone, where closing would wait on them.
    if (consumer_ && (clean || !consumer_->brokers_down())) consumer_->close();
}

void session::run(processor& p) {
    processor_ = &p;
    for (;;) {
        try {
            // The consumer joins last, once every output is open: a missing output topic fails
            // before the group is joined (librdkafka 2.0.2 also asserts when a consumer that
            // subscribed is destroyed before it polled).
            if (!source_) {
                source_ = open_source(so_.inputs, options_, std::move(source_settings_));
                consumer_ = source_->kafka();
            }
            const unsigned threads = threads_ ? threads_ : std::max(1u, std::thread::hardware_concurrency());
            if (!consumer_ && threads > 1) parallel_loop();
            else loop();
        } catch (const data_error&) {
            finish(true);  // what came before the bad record is good: commit it
            throw;
        } catch (const closed_pipe&) {
            log::debug("output closed downstream: stopping without committing more");
            finish(false);
            return;
        } catch (...) {
            finish(false);  // nothing committed past what is durable
            throw;
        }
        if (signals::abort_requested()) {
            log::warn("second signal: not committing what was read since the last commit");
            finish(false);
            return;
        }
        const auto aborts_before = aborts_;
        try {
            if (producer_ && !txn_open_) begin_transaction();
            p.finishing();
            commit_point();
        } catch (...) {
            finish(false);
            throw;
        }
        if (aborts_ == aborts_before) break;
        // The last transaction was aborted: its records are read again (up to --limit, to -e's
        // end), or left to the next run when a signal or --duration stopped this one.
        log::info("the last commit was aborted: reading again from the commit before it");
    }
    close(true);  // committed above
}

void session::loop() {
    processor& p = *processor_;
    const bool timed_commits = so_.commit_interval_ms > 0;
    const auto commit_every = seconds_span(so_.commit_interval_ms / 1000);
    const auto idle_limit = seconds_span(so_.idle_timeout_s);
    auto last_record = clock::now(), last_tick = last_record;
    std::uint64_t seen_at_last_look = 0, records_at_flush = 0;
    record r;
    while (!signals::stop_requested()) {
        if (options_.limit_reached(records_in_)) break;
        // With work to commit, a short look tells whether the input ran dry.
        const int wait = consumer_ && pending_ && timed_commits ? dry_wait_ms : 100;
        const auto got = source_->next(r, wait);
        if (callback_error_) std::rethrow_exception(std::exchange(callback_error_, nullptr));
        if (got == source::status::end) break;
        if (got == source::status::record) {
            handle(r);
            // In bulk, the clock is looked at every 64 records; in a trickle, at every one.
            if (!source_->waited() && (records_in_ & 63) != 0) continue;
        }
        const auto now = clock::now();
        if (records_in_ + tombstones_ != seen_at_last_look) {
            seen_at_last_look = records_in_ + tombstones_;
            last_record = now;
        }
        last_record = std::max(last_record, assigned_at_);
        if (got == source::status::idle || now - last_tick >= std::chrono::milliseconds(100)) {
            last_tick = now;
            p.tick();
            if (producer_) producer_->poll(0);
        }
        if (consumer_ && pending_ && timed_commits && (got == source::status::idle || now - pending_since_ >= commit_every))
            commit_point();
        if (!consumer_ && got == source::status::idle && records_in_ != records_at_flush) {
            records_at_flush = records_in_;
            commit_point();  // a quiet pipe: what came so far goes out now
        }
        if (got != source::status::idle) continue;
        if (so_.idle_timeout_s > 0 && now - last_record >= idle_limit) {
            log::info("no records for {:g} s: exiting", so_.idle_timeout_s);
            break;
        }
        if (consumer_ && options_.exit_at_end && exit_at_end_reached()) break;
    }
}

namespace {

// Records of a file or pipe, copied back to back for a worker, and what the worker made of them.
struct work_batch {
    // Large enough that handing batches between threads costs little (in a VM, waking a thread
    // takes tens of microseconds), small enough to stay in the caches.
    static constexpr size_t max_records = 4096, max_bytes = 256u << 10;
    struct entry {
        size_t at, size;
        std::uint64_t line;
        std::uint32_t source;
    };
    struct result {
        mapped::kind what;
        std::uint8_t reason;
        bool has_key;
        size_t value_at, value_len, key_at, key_len, why_at, why_len;
    };
    // Lines handed over in bulk (source::next_lines) and split by the worker: where each input's
    // lines start in `input`, whether they are its first, how many there are (blank ones
    // included) and the number of the line before them (set when the batch is emitted).
    struct segment {
        size_t at;
        bool first;
        std::uint64_t lines = 0, before = 0;
    };
    std::string input;  // records, then SIMDJSON_PADDING bytes: each record is padded for the parser
    std::vector<entry> entries;
    std::vector<segment> segments;  // lines in bulk: entries come from split()
    std::vector<std::string> sources;
    std::string output;
    std::vector<result> results;
    std::exception_ptr error;
    bool done = false;

    void clear() {
        input.clear();
        entries.clear();
        segments.clear();
        sources.clear();
        output.clear();
        results.clear();
        error = nullptr;
        done = false;
    }
    [[nodiscard]] bool empty() const { return entries.empty() && segments.empty(); }
    [[nodiscard]] bool full() const { return entries.size() >= max_records || input.size() >= max_bytes; }
    // Lines appended to `input` from `at` on, by source::next_lines.
    void add_lines(size_t at, const source::line_block& block) {
        if (sources.empty() || block.first || sources.back() != block.name) {
            sources.emplace_back(block.name);
            segments.push_back({at, block.first});
        }
    }
    // On a worker: the records of lines in bulk, numbered within their segment.
    void split() {
        const char* const base = input.data();
        for (size_t k = 0; k < segments.size(); ++k) {
            size_t at = segments[k].at;
            const size_t stop = k + 1 < segments.size() ? segments[k + 1].at : input.size();
            std::uint64_t line = 0;
            while (at < stop) {
                const char* nl = static_cast<const char*>(std::memchr(base + at, '\n', stop - at));
                const size_t end = nl ? static_cast<size_t>(nl - base) : stop;  // next_lines ends every line
                const std::string_view text = line_record(std::string_view(base + at, end - at));
                ++line;
                if (!text.empty()) entries.push_back({at, text.size(), line, static_cast<std::uint32_t>(k)});
                at = end + 1;
            }
            segments[k].lines = line;
        }
    }
    // On the emitting thread, in input order: the lines' numbers in their inputs. `last` is the
    // number of the last line before this batch, and becomes that of its last line.
    void number_lines(std::uint64_t& last) {
        if (segments.empty()) return;  // records: numbered by the source
        for (auto& seg : segments) {
            if (seg.first) last = 0;
            seg.before = last;
            last += seg.lines;
        }
        for (auto& e : entries) e.line += segments[e.source].before;
    }
    void add(const record& r) {
        if (sources.empty() || sources.back() != r.source) sources.emplace_back(r.source);
        entries.push_back({input.size(), r.value.size(), r.line, static_cast<std::uint32_t>(sources.size() - 1)});
        input.append(r.value);
        input.push_back('\n');  // one record per line for parse_many
    }
    [[nodiscard]] record at(size_t i) const {
        record r;
        r.padded = true;
        set(r, i);
        return r;
    }
    // Makes `r` (from at()) record i, cheaper than at(i) per record.
    void set(record& r, size_t i) const {
        const auto& e = entries[i];
        r.value = std::string_view(input.data() + e.at, e.size);
        r.source = sources[e.source];
        r.line = e.line;
        r.parsed = nullptr;
    }
    // Runs on a worker thread: the records parsed as one batch where they can be (batch_parser),
    // the others alone by the worker.
    void map(record_worker& w) {
        if (!segments.empty()) split();
        if (entries.empty()) return;
        const size_t used = input.size();
        input.append(simdjson::SIMDJSON_PADDING, ' ');
        thread_local batch_parser parser;
        record r = at(0);
        const size_t parsed = parser.parse(
            std::string_view(input.data(), used), entries.size(), [this](size_t i) { return entries[i].at; },
            [this](size_t i) { return entries[i].size; },
            [&](size_t i, const simdjson::dom::object& object) {
                set(r, i);
                r.parsed = &object;
                map_one(w, r);
            });
        for (size_t i = parsed; i < entries.size(); ++i) {
            set(r, i);
            map_one(w, r);
        }
    }

    void map_one(record_worker& w, const record& r) {
        mapped m;
        w.map(r, m);
        result res{m.what, m.reason, m.key.has_value(), output.size(), m.value.size(), 0, 0, 0, 0};
        output.append(m.value);
        if (m.key) {
            res.key_at = output.size();
            res.key_len = m.key->size();
            output.append(*m.key);
        }
        res.why_at = output.size();
        res.why_len = m.why.size();
        output.append(m.why);
        results.push_back(res);
    }
};

// Worker threads, each with its record_worker, taking batches in the order they come.
class worker_pool {
public:
    explicit worker_pool(std::vector<std::unique_ptr<record_worker>> workers) : workers_(std::move(workers)) {
        for (auto& w : workers_) threads_.emplace_back([this, worker = w.get()] { work(*worker); });
    }
    ~worker_pool() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        changed_.notify_all();
        for (auto& t : threads_) t.join();
    }
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    // Queues the batch for a worker, or returns false when every worker has work waiting already
    // (the caller then maps it itself rather than wait).
    bool submit(work_batch* b) {
        {
            std::lock_guard lock(mutex_);
            if (queue_.size() >= depth_ * threads_.size()) return false;
            queue_.push_back(b);
        }
        changed_.notify_all();
        return true;
    }
    // Takes back a batch that no worker has started (the caller maps it rather than wait for it).
    bool take_back(work_batch* b) {
        std::lock_guard lock(mutex_);
        auto it = std::find(queue_.begin(), queue_.end(), b);
        if (it == queue_.end()) return false;
        queue_.erase(it);
        return true;
    }
    void wait(work_batch* b) {
        std::unique_lock lock(mutex_);
        done_.wait(lock, [b] { return b->done; });
    }

private:
    void work(record_worker& w) {
        for (;;) {
            work_batch* b = nullptr;
            {
                std::unique_lock lock(mutex_);
                changed_.wait(lock, [this] { return stop_ || !queue_.empty(); });
                if (stop_) return;
                b = queue_.front();
                queue_.pop_front();
            }
            try {
                b->map(w);
            } catch (...) {
                b->error = std::current_exception();
            }
            {
                std::lock_guard lock(mutex_);
                b->done = true;
            }
            done_.notify_all();
        }
    }

    std::vector<std::unique_ptr<record_worker>> workers_;
    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable changed_, done_;
    std::deque<work_batch*> queue_;
    bool stop_ = false;
    static constexpr size_t depth_ = 2;  // batches waiting per worker before the caller maps one itself
};

}  // namespace

// Files and pipes with a processor that offers workers: the main thread reads records into
// batches and emits the results in order while the workers parse and map them.
void session::parallel_loop() {
    processor& p = *processor_;
    // One thread per core: this one reads, emits, and maps a batch itself when the workers are
    // behind; the others map.
    const unsigned threads = threads_ ? threads_ : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::unique_ptr<record_worker>> workers;
    for (unsigned i = 0; i < threads; ++i) {
        auto w = p.make_worker();
        if (!w) return loop();  // the processor maps one record at a time
        workers.push_back(std::move(w));
    }
    const std::unique_ptr<record_worker> own = std::move(workers.back());
    workers.pop_back();
    // Declared before the pool: the workers stop before the batches they may hold go away.
    std::vector<std::unique_ptr<work_batch>> batches(2 * threads + 2);
    for (auto& b : batches) {
        b = std::make_unique<work_batch>();
        b->input.reserve(work_batch::max_bytes + (64u << 10));
    }
    std::vector<work_batch*> free_batches;
    for (auto& b : batches) free_batches.push_back(b.get());
    std::deque<work_batch*> in_flight;
    worker_pool pool(std::move(workers));
    // Without --limit the source hands over whole lines and the workers split them: this thread
    // then only reads and emits. Records are counted as they are emitted.
    const bool lines = source_->offers_lines() && options_.limit == 0;
    std::uint64_t last_line = 0;

    const auto emit_oldest = [&] {
        work_batch* b = in_flight.front();
        if (pool.take_back(b)) {
            b->map(*own);
            b->done = true;
        } else {
            pool.wait(b);
        }
        in_flight.pop_front();
        free_batches.push_back(b);
        if (b->error) std::rethrow_exception(b->error);
        b->number_lines(last_line);
        record r = b->results.empty() ? record{} : b->at(0);
        for (size_t i = 0; i < b->results.size(); ++i) {
            const auto& res = b->results[i];
            mapped m;
            m.what = res.what;
            m.reason = res.reason;
            m.value = std::string_view(b->output.data() + res.value_at, res.value_len);
            if (res.has_key) m.key = std::string_view(b->output.data() + res.key_at, res.key_len);
            m.why = std::string_view(b->output.data() + res.why_at, res.why_len);
            b->set(r, i);
            if (lines) ++records_in_;
            p.emit(r, m);
        }
    };
    work_batch* current = nullptr;
    const auto take = [&] {
        if (free_batches.empty()) emit_oldest();
        current = free_batches.back();
        free_batches.pop_back();
        current->clear();
    };
    const auto hand_over = [&] {
        if (current->empty()) return;
        in_flight.push_back(current);
        if (!pool.submit(current)) {
            current->map(*own);
            current->done = true;  // never seen by a worker
        }
        take();
    };
    take();
    const auto idle_limit = seconds_span(so_.idle_timeout_s);
    auto last_record = clock::now(), last_tick = last_record;
    std::uint64_t records_at_flush = 0;
    record r;
    bool stopped = false;
    while (!(stopped = signals::stop_requested())) {
        if (options_.limit_reached(records_in_)) break;
        // With records on their way, a quiet input first lets them all out (a trickle is not held
        // back), then the next look waits.
        const bool busy = !current->empty() || !in_flight.empty();
        source::status got;
        if (lines) {
            const size_t at = current->input.size();
            source::line_block block;
            got = source_->next_lines(current->input, work_batch::max_bytes - std::min(at, work_batch::max_bytes), block,
                                      busy ? 0 : 100);
            if (got == source::status::record) {
                current->add_lines(at, block);
                if (current->full()) hand_over();
            }
        } else {
            got = source_->next(r, busy ? 0 : 100);
            if (got == source::status::record) {
                ++records_in_;
                current->add(r);
                if (current->full()) hand_over();
                if (!source_->waited() && (records_in_ & 63) != 0) continue;
            }
        }
        if (got == source::status::end) break;
        if (got == source::status::idle && busy) {
            hand_over();
            while (!in_flight.empty()) emit_oldest();
            continue;
        }
        const auto now = clock::now();
        if (got == source::status::record) last_record = now;
        if (got == source::status::idle || now - last_tick >= std::chrono::milliseconds(100)) {
            last_tick = now;
            p.tick();
        }
        if (got == source::status::idle && records_in_ != records_at_flush) {
            records_at_flush = records_in_;
            commit_point();  // a quiet pipe: what came so far goes out now
        }
        if (got == source::status::idle && so_.idle_timeout_s > 0 && now - last_record >= idle_limit) {
            log::info("no records for {:g} s: exiting", so_.idle_timeout_s);
            break;
        }
    }
    if (stopped && signals::abort_requested()) return;
    hand_over();
    while (!in_flight.empty()) emit_oldest();
}

void consume_through(session& s, processor& p, record_sink& out, error_policy& errors,
                     const std::function<void()>& report) {
    s.attach(errors);
    try {
        s.run(p);
        out.close();
        errors.close();
    } catch (const data_error&) {
        report();
        throw;
    }
    report();
}

stats_report& add_session_stats(stats_report& r, const session& s, double seconds) {
    return r.add("transactions", s.transactions())
        .add("aborts", s.aborts())
        .add("lag", s.kafka() ? s.kafka()->lag() : std::int64_t{0})
        .add("elapsed_s", seconds)
        .add("records_per_s", s.records_in() / std::max(seconds, 1e-9));
}

}  // namespace ks
