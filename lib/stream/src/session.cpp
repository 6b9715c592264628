#include "ks/session.hpp"

#include "ks/error.hpp"
#include "ks/io.hpp"
#include "ks/log.hpp"
#include "ks/signal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

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
    check_inputs(so.inputs, options);
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
    try {
        f();
    } catch (...) {
        if (!callback_error_) callback_error_ = std::current_exception();
    }
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
        ks.defaults.emplace_back("session.timeout.ms", "10000");
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
        };
        producer_ = std::make_unique<producer>(make_kafka_settings(options_, so_.inputs.front().brokers), producer_defaults);
        log::info("transactional.id {}, group.instance.id {}", transactional_id_, instance_id_);
        producer_->init_transactions();
    }
    source_ = open_source(so_.inputs, options_, std::move(ks));
    consumer_ = source_->kafka();
}

session::~session() {
    if (instance_lock_ >= 0) ::close(instance_lock_);
}

std::unique_ptr<record_sink> session::open_sink(const io_spec& spec, const property_list& producer_defaults) {
    std::unique_ptr<record_sink> sink;
    if (spec.is_kafka() && producer_) {
        sink = open_topic_sink(*producer_, spec.topic);
        shared_sinks_.push_back(sink.get());
    } else {
        sink = ks::open_sink(spec, options_, producer_defaults);
    }
    sinks_.push_back(sink.get());
    return sink;
}

error_policy::sink_opener session::sink_opener() {
    return [this](const io_spec& spec) { return open_sink(spec); };
}

session::partition_state& session::slot(std::string_view topic, std::int32_t partition) {
    if (last_slot_ < partitions_.size()) {
        auto& s = partitions_[last_slot_];
        if (s.partition == partition && s.topic == topic) return s;
    }
    for (size_t i = 0; i < partitions_.size(); ++i) {
        if (partitions_[i].partition == partition && partitions_[i].topic == topic) {
            last_slot_ = i;
            return partitions_[i];
        }
    }
    partitions_.push_back({std::string(topic), partition});
    last_slot_ = partitions_.size() - 1;
    return partitions_.back();
}

void session::on_assign(rd_kafka_topic_partition_list_t* parts) {
    for (int i = 0; i < parts->cnt; ++i) slot(parts->elems[i].topic, parts->elems[i].partition) = {parts->elems[i].topic, parts->elems[i].partition};
    if (processor_) processor_->assigned(parts);
}

void session::on_revoke(const rd_kafka_topic_partition_list_t* parts, bool lost) {
    if (!closing_) {
        if (lost) {
            if (txn_open_) abort_and_rewind("partitions lost");
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

void session::flush_sinks(bool transactional_too) {
    for (auto* s : sinks_) {
        const bool shared = std::find(shared_sinks_.begin(), shared_sinks_.end(), s) != shared_sinks_.end();
        if (shared && !transactional_too) continue;
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
        if (!txn_open_) {
            producer_->begin_transaction();
            txn_open_ = true;
        }
        std::string why;
        const auto group = consumer_->group_metadata();
        if (!producer_->send_offsets(list.get(), group.get(), why) || !producer_->commit_transaction(why)) {
            abort_and_rewind(why);
            return;
        }
        txn_open_ = false;
        if (was_open) ++transactions_;
    } else if (auto err = consumer_->commit(list.get()); !err.empty()) {
        // The output is durable; a restart reads these records again (at least once).
        log::warn("committing offsets failed ({}): the records since the last commit will be read again", err);
        return;
    }
    for (const auto& [s, next] : offsets) s->committed = next;
    log::debug("committed {} partition(s)", offsets.size());
}

void session::commit_point() {
    if (processor_) processor_->flush();
    if (!consumer_) {
        flush_sinks(true);
        pending_ = false;
        return;
    }
    flush_sinks(false);
    std::vector<std::pair<partition_state*, std::int64_t>> offsets;
    for (auto& s : partitions_)
        if (s.next > s.committed) offsets.emplace_back(&s, s.next);
    if (producer_ && txn_open_ && offsets.empty()) {
        // Nothing consumed but output written (a tool's timer): commit it on its own.
        std::string why;
        if (!producer_->commit_transaction(why)) abort_and_rewind(why);
        else ++transactions_, txn_open_ = false;
    } else {
        commit_offsets(offsets);
    }
    pending_ = false;
}

void session::abort_and_rewind(const std::string& why) {
    log::warn("transaction aborted ({}): reading again from the last commit", why);
    producer_->abort_transaction();
    txn_open_ = false;
    pending_ = false;
    ++aborts_;
    for (auto& s : partitions_) {
        const std::int64_t back = s.committed >= 0 ? s.committed : s.first;
        if (back >= 0 && s.next != back) {
            consumer_->seek({s.topic, s.partition}, back);
            s.next = back;
        }
    }
    if (processor_) processor_->aborted();
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
        if (producer_ && !txn_open_) {
            producer_->begin_transaction();
            txn_open_ = true;
        }
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
    commit_point();
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
        if (producer_ && txn_open_) {
            try {
                producer_->abort_transaction();
            } catch (const std::exception& e) {
                log::info("aborting the open transaction: {}", e.what());
            }
            txn_open_ = false;
        }
        if (processor_) processor_->aborted();
    }
    closing_ = true;
    closed_cleanly_ = commit;
    // Leave the group cleanly so that a restart need not wait for the session timeout; not when
    // the brokers are gone, where closing would wait on them.
    if (consumer_ && (commit || !consumer_->brokers_down())) consumer_->close();
}

void session::run(processor& p) {
    processor_ = &p;
    const bool timed_commits = so_.commit_interval_ms > 0;
    const auto commit_every = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double, std::milli>(so_.commit_interval_ms));
    const auto idle_limit = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(so_.idle_timeout_s));
    auto last_record = clock::now(), last_tick = last_record;
    std::uint64_t seen_at_last_look = 0;
    record r;
    try {
        while (!signals::stop_requested()) {
            if (options_.limit > 0 && records_in_ >= options_.limit) break;
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
            if (got == source::status::idle || now - last_tick >= std::chrono::milliseconds(100)) {
                last_tick = now;
                p.tick();
                if (producer_) producer_->poll(0);
            }
            if (consumer_ && pending_ && timed_commits && (got == source::status::idle || now - pending_since_ >= commit_every))
                commit_point();
            if (got != source::status::idle) continue;
            if (so_.idle_timeout_s > 0 && now - last_record >= idle_limit) {
                log::info("no records for {:g} s: exiting", so_.idle_timeout_s);
                break;
            }
            if (consumer_ && options_.exit_at_end && exit_at_end_reached()) break;
        }
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
    } else {
        finish(true);
    }
}

}  // namespace ks
