#include "ks/kafka.hpp"

#include "ks/error.hpp"
#include "ks/log.hpp"
#include "ks/signal.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <set>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace ks {

namespace {

using clock = std::chrono::steady_clock;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now().time_since_epoch()).count();
}

// opaque of every handle: the client_state, plus the object that owns it.
struct handle_opaque {
    client_state* state;
    void* owner;
};

void on_log(const rd_kafka_t*, int level, const char* facility, const char* text) {
    // librdkafka retries by itself and repeats its complaints: they are detail (-v, -vv), the
    // tools report the outcome once (client_state::check, delivery counts).
    if (level <= 3) log::info("librdkafka {}: {}", facility, text);
    else log::debug("librdkafka {}: {}", facility, text);
}

void on_error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    static_cast<handle_opaque*>(opaque)->state->on_error(rk, err, reason);
}

void set_property(rd_kafka_conf_t* conf, const std::string& name, const std::string& value, bool announce = true) {
    char errstr[512];
    auto result = rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr);
    // kcat style: topic.PROP sets a default topic property, which librdkafka takes on the global conf.
    if (result == RD_KAFKA_CONF_UNKNOWN && name.starts_with("topic."))
        result = rd_kafka_conf_set(conf, name.c_str() + 6, value.c_str(), errstr, sizeof errstr);
    if (result != RD_KAFKA_CONF_OK) throw usage_error(fmt::format("-X {}: {}", name, errstr));
    if (announce && log::enabled(log::level::info))
        log::info("property {}={}", name, is_secret_property(name) ? "[redacted]" : value);
}

// announce: -v lists the properties (once a process: not again for a producer's second lane).
rd_kafka_conf_t* build_conf(const kafka_settings& s, const property_list& lib_defaults, const property_list& tool_defaults,
                            handle_opaque* opaque, bool announce = true) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    try {
        set_property(conf, "bootstrap.servers", s.brokers, announce);
        set_property(conf, "log.connection.close", "false", announce);
        // librdkafka's reconnect backoff grows to 10 s: a broker back from a restart would be seen
        // up to 10 s late, and that time would count against --timeout (docs/conventions.md).
        set_property(conf, "reconnect.backoff.max.ms", "1000", announce);
        for (const auto& [k, v] : lib_defaults) set_property(conf, k, v, announce);
        for (const auto& [k, v] : tool_defaults) set_property(conf, k, v, announce);
        for (const auto& [k, v] : s.properties) set_property(conf, k, v, announce);
    } catch (...) {
        rd_kafka_conf_destroy(conf);
        throw;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    return conf;
}

rd_kafka_t* new_handle(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        throw usage_error(fmt::format("Kafka client: {}", errstr));
    }
    return rk;  // owns conf now
}

}  // namespace

std::string topic_name(const rd_kafka_message_t* m) { return m->rkt ? rd_kafka_topic_name(m->rkt) : std::string(); }

void client_state::on_error(rd_kafka_t*, int err, const char* reason) {
    {
        std::lock_guard lock(mutex_);
        last_error_ = reason;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        std::int64_t expected = 0;
        down_since_ms_.compare_exchange_strong(expected, now_ms());
    } else if (err == RD_KAFKA_RESP_ERR__FATAL) {
        fatal_ = true;
    }
    log::info("kafka: {}", reason);
}

std::string client_state::last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
}

void client_state::check(rd_kafka_t* rk, double timeout_s, const std::string& brokers) {
    if (fatal_) {
        char errstr[512] = "";
        rd_kafka_fatal_error(rk, errstr, sizeof errstr);  // empty when another handle (lane) raised it
        throw runtime_failure(fmt::format("kafka: fatal error: {}", *errstr ? std::string(errstr) : last_error()));
    }
    const std::int64_t since = down_since_ms_.load();
    if (since == 0) return;
    const std::int64_t now = now_ms();
    if (now - last_probe_ms_.load() >= 1000) {
        last_probe_ms_ = now;
        const rd_kafka_metadata_t* md = nullptr;
        if (rd_kafka_metadata(rk, 0, nullptr, &md, 500) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_metadata_destroy(md);
            note_alive();
            return;
        }
    }
    if (static_cast<double>(now - since) > timeout_s * 1000.0)
        throw runtime_failure(fmt::format("cannot reach Kafka at {} for {:g} s: {}", brokers, timeout_s, last_error()));
}

int wait_for_topic(rd_kafka_t* rk, client_state& state, const kafka_settings& settings, const std::string& topic) {
    const auto deadline = clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(settings.timeout_s * 1000));
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    std::string last;
    for (;;) {
        if (signals::stop_requested()) {
            rd_kafka_topic_destroy(rkt);
            throw error(exit_ok, fmt::format("interrupted while connecting to {}", settings.brokers));
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        const rd_kafka_metadata_t* md = nullptr;
        auto err = rd_kafka_metadata(rk, 0, rkt, &md, static_cast<int>(std::clamp<std::int64_t>(left, 100, 1000)));
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const auto& t = md->topics[0];
            const auto terr = t.err;
            const int partitions = t.partition_cnt;
            rd_kafka_metadata_destroy(md);
            if (terr == RD_KAFKA_RESP_ERR_NO_ERROR && partitions > 0) {
                rd_kafka_topic_destroy(rkt);
                state.note_alive();
                return partitions;
            }
            if (terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                rd_kafka_topic_destroy(rkt);
                throw runtime_failure(fmt::format(
                    "topic '{}' does not exist on {} (topics are not created automatically: "
                    "scripts/kafka-topic create {} PARTITIONS)",
                    topic, settings.brokers, topic));
            }
            last = rd_kafka_err2str(terr);  // e.g. leader not available yet: retry
        } else {
            last = state.last_error().empty() ? rd_kafka_err2str(err) : state.last_error();
        }
        if (clock::now() >= deadline) {
            rd_kafka_topic_destroy(rkt);
            throw runtime_failure(
                fmt::format("cannot reach Kafka at {} within {:g} s: {}", settings.brokers, settings.timeout_s, last));
        }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

// ---------------------------------------------------------------------------------------------
// producer

namespace {
// The value a property ends up with: the last of the lib defaults, the tool's defaults and -F/-X
// (as build_conf applies them; a topic.NAME spelling counts as NAME).
std::string effective_property(const std::string& name, const std::string& fallback,
                               std::initializer_list<const property_list*> layers) {
    std::string value = fallback;
    for (const auto* layer : layers)
        for (const auto& [k, v] : *layer)
            if (k == name || k == "topic." + name) value = v;
    return value;
}

using partitioner_fn = std::int32_t (*)(const rd_kafka_topic_t*, const void*, size_t, std::int32_t, void*, void*);

// librdkafka's own partitioner functions by their property name, so that a producer with several
// lanes picks the partition of a keyed message exactly as librdkafka would.
partitioner_fn partitioner_named(const std::string& name) {
    if (name == "random") return rd_kafka_msg_partitioner_random;
    if (name == "consistent") return rd_kafka_msg_partitioner_consistent;
    if (name == "consistent_random") return rd_kafka_msg_partitioner_consistent_random;
    if (name == "murmur2") return rd_kafka_msg_partitioner_murmur2;
    if (name == "fnv1a") return rd_kafka_msg_partitioner_fnv1a;
    if (name == "fnv1a_random") return rd_kafka_msg_partitioner_fnv1a_random;
    return rd_kafka_msg_partitioner_murmur2_random;  // murmur2_random, librdkafka's validated default
}
}  // namespace

producer::producer(const kafka_settings& settings, const property_list& defaults, int max_lanes)
    : settings_(settings), tool_defaults_(defaults), max_lanes_(std::max(1, max_lanes)) {
    static const property_list lib_defaults = {
        {"enable.idempotence", "true"},       // acks=all, no duplicates from retries, ordered
        {"partitioner", "murmur2_random"},    // same partition for a key as the Java client
        {"message.timeout.ms", "60000"},      // a lost broker fails messages in a minute, not five
        {"linger.ms", "50"},                  // batches fill; 5 ms does not (NOTES.md)
        {"queue.buffering.max.kbytes", "6144"},  // bounded memory: back-pressure instead of 1 GB
        // and a bounded count: librdkafka keeps ~190 bytes of its own per queued message, so 6 MB
        // of 40-byte rows would be 150,000 messages and ~35 MB (docs/conventions.md)
        {"queue.buffering.max.messages", "32768"},
    };
    lib_defaults_ = &lib_defaults;
    const std::initializer_list<const property_list*> layers = {&lib_defaults, &defaults, &settings.properties};
    budget_bytes_ = std::stoull(effective_property("queue.buffering.max.kbytes", "1048576", layers)) * 1024;
    budget_messages_ = std::stoull(effective_property("queue.buffering.max.messages", "100000", layers));
    partition_key_ = partitioner_named(effective_property("partitioner", "consistent_random", layers));
    // A property only for tests against librdkafka's mock cluster: every handle would make its own.
    if (effective_property("test.mock.num.brokers", "", layers) != "") max_lanes_ = 1;
    // A transaction belongs to one producer id: one lane.
    transactional_id_ = effective_property("transactional.id", "", layers);
    transactional_ = !transactional_id_.empty();
    if (transactional_) max_lanes_ = 1;
    add_lane();
}

void producer::add_lane() {
    auto* opaque = new handle_opaque{&state_, this};
    rd_kafka_conf_t* conf = nullptr;
    try {
        conf = build_conf(settings_, *lib_defaults_, tool_defaults_, opaque, lanes_.empty());
    } catch (...) {
        delete opaque;
        throw;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t* rk = nullptr;
    try {
        rk = new_handle(RD_KAFKA_PRODUCER, conf);
    } catch (...) {
        delete opaque;
        throw;
    }
    lane l;
    l.rk = rk;
    // librdkafka writes a byte to this pipe when the lane's main queue (delivery reports, errors)
    // gets something, so that one poll(2) can wait on every lane.
    if (::pipe2(l.wake, O_NONBLOCK | O_CLOEXEC) == 0) {
        rd_kafka_queue_t* q = rd_kafka_queue_get_main(rk);
        rd_kafka_queue_io_event_enable(q, l.wake[1], "1", 1);
        rd_kafka_queue_destroy(q);
    } else {
        l.wake[0] = l.wake[1] = -1;
    }
    lanes_.push_back(l);
    rk_ = lanes_.front().rk;
}

producer::~producer() { destroy_lanes(); }

void producer::destroy_lanes() {
    if (outq_len() > 0) purge_all();
    for (auto& t : topics_) {
        for (auto* h : t.handles) rd_kafka_topic_destroy(h);
        t.handles.clear();
    }
    for (auto& l : lanes_) {
        auto* opaque = static_cast<handle_opaque*>(rd_kafka_opaque(l.rk));
        if (l.wake[0] >= 0) {
            rd_kafka_queue_t* q = rd_kafka_queue_get_main(l.rk);
            rd_kafka_queue_io_event_enable(q, -1, nullptr, 0);
            rd_kafka_queue_destroy(q);
        }
        rd_kafka_destroy(l.rk);
        delete opaque;
        for (int fd : l.wake)
            if (fd >= 0) ::close(fd);
    }
    lanes_.clear();
    rk_ = nullptr;
}

void producer::restart_transactions() {
    destroy_lanes();  // purges what was queued: those messages count as failed, not as delivered
    outstanding_bytes_ = outstanding_messages_ = 0;
    state_.reset();
    add_lane();
    for (auto& t : topics_) t.handles.push_back(rd_kafka_topic_new(rk_, t.name.c_str(), nullptr));
    init_transactions();
}

int producer::outq_len() const {
    int n = 0;
    for (const auto& l : lanes_) n += rd_kafka_outq_len(l.rk);
    return n;
}

producer::topic producer::open_topic(const std::string& name) {
    const int partitions = wait_for_topic(rk_, state_, settings_, name);
    // The other lanes open when the first topic shows they can be used: a partition belongs to
    // one lane (partition mod lanes), so a topic of one partition needs one.
    while (static_cast<int>(lanes_.size()) < std::min(max_lanes_, partitions)) add_lane();
    log::info("topic {}: {} partition(s), {} producer connection(s) per broker", name, partitions, lanes_.size());
    open_topic_entry entry;
    entry.name = name;
    entry.partitions = partitions;
    for (auto& l : lanes_) entry.handles.push_back(rd_kafka_topic_new(l.rk, name.c_str(), nullptr));
    topics_.push_back(std::move(entry));
    return topic{topics_.size() - 1};
}

void producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<producer*>(static_cast<handle_opaque*>(opaque)->owner);
    self->outstanding_bytes_ -= m->len + m->key_len;
    --self->outstanding_messages_;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        self->delivered_.fetch_add(1, std::memory_order_relaxed);
        self->state_.note_alive();
        return;
    }
    self->failed_.fetch_add(1, std::memory_order_relaxed);
    self->note_error(rd_kafka_err2str(m->err), reinterpret_cast<std::uintptr_t>(m->_private));
}

void producer::note_error(const char* reason, std::uint64_t tag) {
    std::lock_guard lock(error_mutex_);
    if (!first_error_.empty()) return;
    first_error_ = tag && describe_ ? fmt::format("{}: {}", describe_(tag), reason) : std::string(reason);
}

std::string producer::first_error() const {
    std::lock_guard lock(error_mutex_);
    return first_error_;
}

std::int32_t producer::keyed_partition(const open_topic_entry& t, std::string_view key) const {
    return partition_key_(t.handles.front(), key.data(), key.size(), t.partitions, nullptr, nullptr);
}

void producer::wait_for_budget(size_t bytes, size_t messages) {
    // Several lanes share the queue budget: one lane's librdkafka queue has all of it, so the
    // producer keeps the total of queued bytes and messages under it itself.
    while (lanes_.size() > 1 && outstanding_messages_ > 0 &&
           (outstanding_bytes_ + bytes > budget_bytes_ || outstanding_messages_ + messages > budget_messages_)) {
        if (signals::abort_requested()) return;
        wait_for_room();
    }
}

rd_kafka_topic_t* producer::lane_handle(topic which, std::optional<std::string_view> key, std::int32_t& partition,
                                        size_t& lane) {
    lane = 0;
    open_topic_entry& t = entry_of(which);
    if (lanes_.size() == 1) return t.handles.front();
    // Every message gets its partition here, so that each partition has one lane (one producer
    // id, one order): the key's, or for keyless ones the current keyless partition, which moves
    // on every 1,024 messages.
    if (partition == RD_KAFKA_PARTITION_UA) {
        if (key) {
            partition = keyed_partition(t, *key);
        } else {
            partition = t.next_keyless;
            if (++t.keyless_sent % 1024 == 0) t.next_keyless = (t.next_keyless + 1) % t.partitions;
        }
    }
    lane = static_cast<size_t>(partition) % t.handles.size();
    return t.handles[lane];
}

void producer::produce(topic t, std::optional<std::string_view> key, std::string_view value, std::int32_t partition) {
    size_t lane = 0;
    rd_kafka_topic_t* handle = lane_handle(t, key, partition, lane);
    if (lanes_.size() > 1) wait_for_budget(value.size() + (key ? key->size() : 0));
    for (;;) {
        if (rd_kafka_produce(handle, partition, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()), value.size(),
                             key ? key->data() : nullptr, key ? key->size() : 0, nullptr) == 0) {
            ++produced_;
            outstanding_bytes_ += value.size() + (key ? key->size() : 0);
            ++outstanding_messages_;
            return;
        }
        const auto err = rd_kafka_last_error();
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || signals::abort_requested()) return count_failure(err);
        wait_for_room();
    }
}

void producer::produce(topic t, const outgoing& m) {
    if (m.headers.empty() && m.timestamp_ms < 0 && m.tag == 0) return produce(t, m.key, m.value);
    std::int32_t partition = RD_KAFKA_PARTITION_UA;
    size_t lane = 0;
    rd_kafka_topic_t* handle = lane_handle(t, m.key, partition, lane);
    const size_t bytes = m.value.size() + (m.key ? m.key->size() : 0);
    if (lanes_.size() > 1) wait_for_budget(bytes);
    for (;;) {
        rd_kafka_headers_t* headers = nullptr;
        if (!m.headers.empty()) {
            headers = rd_kafka_headers_new(m.headers.size());
            for (const auto& h : m.headers)
                rd_kafka_header_add(headers, h.name.data(), static_cast<ssize_t>(h.name.size()),
                                    h.value ? h.value->data() : nullptr,
                                    h.value ? static_cast<ssize_t>(h.value->size()) : 0);
        }
        const void* key = m.key ? m.key->data() : nullptr;
        const size_t key_len = m.key ? m.key->size() : 0;
        const std::int64_t timestamp = m.timestamp_ms < 0 ? 0 : m.timestamp_ms;
        const auto err = rd_kafka_producev(
            lanes_[lane].rk, RD_KAFKA_V_RKT(handle),
            RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_TIMESTAMP(timestamp), RD_KAFKA_V_HEADERS(headers),
            RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<std::uintptr_t>(m.tag))), RD_KAFKA_V_END);
        if (!err) {
            ++produced_;
            outstanding_bytes_ += bytes;
            ++outstanding_messages_;
            return;
        }
        if (headers) rd_kafka_headers_destroy(headers);  // not taken on failure
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || signals::abort_requested()) return count_failure(err, m.tag);
        wait_for_room();
    }
}

void producer::wait_for_room() {
    // Back-pressure: wait up to 100 ms for delivery reports (any lane) to free the queue.
    if (lanes_.size() == 1) {
        rd_kafka_poll(rk_, 100);
    } else {
        bool served = false;
        for (auto& l : lanes_) served |= rd_kafka_poll(l.rk, 0) > 0;
        if (!served) {
            std::vector<pollfd> fds;
            for (auto& l : lanes_)
                if (l.wake[0] >= 0) fds.push_back({l.wake[0], POLLIN, 0});
            if (fds.size() == lanes_.size()) ::poll(fds.data(), fds.size(), 100);
            else std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        char drain[64];
        for (auto& l : lanes_) {
            if (l.wake[0] >= 0)
                while (::read(l.wake[0], drain, sizeof drain) > 0) {
                }
            rd_kafka_poll(l.rk, 0);
        }
    }
    for (auto& l : lanes_) state_.check(l.rk, settings_.timeout_s, settings_.brokers);
}

void producer::count_failure(rd_kafka_resp_err_t err, std::uint64_t tag) {
    ++produced_;
    ++rejected_;
    failed_.fetch_add(1);
    note_error(err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? "stopped by a second signal" : rd_kafka_err2str(err), tag);
}

void producer::produce_batch(topic t, std::span<const outgoing> messages) {
    if (messages.empty()) return;
    open_topic_entry* entry = &entry_of(t);
    const std::int32_t keyless = entry->next_keyless;
    entry->next_keyless = (entry->next_keyless + 1) % entry->partitions;
    const size_t lanes = entry->handles.size();
    for (auto& b : batches_) b.clear();
    batches_.resize(lanes);
    std::vector<size_t>& bytes = batch_bytes_;
    bytes.assign(lanes, 0);
    for (const auto& m : messages) {
        rd_kafka_message_t r{};
        r.payload = const_cast<char*>(m.value.data());
        r.len = m.value.size();
        r._private = reinterpret_cast<void*>(static_cast<std::uintptr_t>(m.tag));  // the msg_opaque
        if (m.key) {
            r.key = const_cast<char*>(m.key->data());
            r.key_len = m.key->size();
            // One lane: the partitioner's choice (murmur2 by default). Several: the same choice,
            // made here, because the partition decides the lane.
            r.partition = lanes > 1 ? keyed_partition(*entry, *m.key) : RD_KAFKA_PARTITION_UA;
        } else {
            r.partition = keyless;
        }
        const size_t lane = r.partition == RD_KAFKA_PARTITION_UA ? 0 : static_cast<size_t>(r.partition) % lanes;
        batches_[lane].push_back(r);
        bytes[lane] += r.len + r.key_len;
    }
    for (size_t lane = 0; lane < lanes; ++lane) {
        auto& batch = batches_[lane];
        if (batch.empty()) continue;
        rd_kafka_topic_t* handle = entry->handles[lane];
        wait_for_budget(bytes[lane], batch.size());
        size_t from = 0;
        while (from < batch.size()) {
            const int n = static_cast<int>(batch.size() - from);
            const int queued = rd_kafka_produce_batch(handle, RD_KAFKA_PARTITION_UA,
                                                      RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_PARTITION, batch.data() + from, n);
            if (queued == n) {
                produced_ += static_cast<std::uint64_t>(n);
                for (size_t i = from; i < batch.size(); ++i) outstanding_bytes_ += batch[i].len + batch[i].key_len;
                outstanding_messages_ += batch.size() - from;
                break;
            }
            // A full queue fails the first message that does not fit and every one after it (they
            // are queued again after a wait, in order); any other error fails that message alone.
            size_t i = from;
            for (; i < batch.size(); ++i) {
                const auto err = batch[i].err;
                if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
                if (err) {
                    count_failure(err, reinterpret_cast<std::uintptr_t>(batch[i]._private));
                } else {
                    ++produced_;
                    outstanding_bytes_ += batch[i].len + batch[i].key_len;
                    ++outstanding_messages_;
                }
            }
            from = i;
            if (from == batch.size()) break;
            if (signals::abort_requested()) {
                for (; from < batch.size(); ++from)
                    count_failure(RD_KAFKA_RESP_ERR__QUEUE_FULL, reinterpret_cast<std::uintptr_t>(batch[from]._private));
                break;
            }
            for (size_t k = from; k < batch.size(); ++k) batch[k].err = RD_KAFKA_RESP_ERR_NO_ERROR;
            wait_for_room();
        }
    }
}

void producer::poll(int timeout_ms) {
    rd_kafka_poll(rk_, timeout_ms);
    for (size_t i = 1; i < lanes_.size(); ++i) rd_kafka_poll(lanes_[i].rk, 0);
}

void producer::purge_all() {
    for (auto& l : lanes_) rd_kafka_purge(l.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    // Purged messages report back as failed through the delivery callback, served here.
    for (int i = 0; i < 50 && outq_len() > 0; ++i)
        for (auto& l : lanes_) rd_kafka_flush(l.rk, 100 / static_cast<int>(lanes_.size()));
}

void producer::flush() {
    while (outq_len() > 0) {
        if (signals::abort_requested()) {
            log::warn("second signal: not waiting for {} queued messages", outq_len());
            purge_all();
            return;
        }
        for (auto& l : lanes_)
            if (rd_kafka_outq_len(l.rk) > 0) rd_kafka_flush(l.rk, 100 / static_cast<int>(lanes_.size()));
        try {
            for (auto& l : lanes_) state_.check(l.rk, settings_.timeout_s, settings_.brokers);
        } catch (const runtime_failure& e) {
            {
                std::lock_guard lock(error_mutex_);
                if (first_error_.empty()) first_error_ = e.what();
            }
            purge_all();
            return;
        }
    }
}

bool producer::transaction_call(const char* what, const std::function<rd_kafka_error_t*(int)>& call, std::string* why) {
    const auto deadline = clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(settings_.timeout_s * 1000));
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        rd_kafka_error_t* e = call(static_cast<int>(std::clamp<std::int64_t>(left, 100, 5000)));
        if (!e) {
            state_.note_alive();
            return true;
        }
        const std::string text = rd_kafka_error_string(e);
        const auto code = rd_kafka_error_code(e);
        const bool fatal = rd_kafka_error_is_fatal(e), abortable = rd_kafka_error_txn_requires_abort(e),
                   retriable = rd_kafka_error_is_retriable(e);
        rd_kafka_error_destroy(e);
        // The group gave this member's static id (group.instance.id, one with the transactional.id)
        // to a newer process: another instance runs with the same --instance-id. It goes on; this
        // one stops. (A fenced producer alone is not proof: after an outage longer than
        // transaction.timeout.ms the broker bumps the epoch itself, and a new producer recovers.)
        if (code == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID)
            throw runtime_failure(fmt::format(
                "fenced: another process took over transactional.id '{}' (an instance started with the same "
                "--instance-id and group); this one stops: {}",
                transactional_id_, text));
        if (fatal) throw transaction_fatal(fmt::format("kafka transaction: {}: fatal error: {}", what, text));
        if (abortable && why) {
            *why = fmt::format("{}: {}", what, text);
            return false;
        }
        if (!retriable || clock::now() >= deadline)
            throw runtime_failure(retriable ? fmt::format("cannot reach Kafka at {} for {:g} s: {}: {}", settings_.brokers,
                                                          settings_.timeout_s, what, text)
                                            : fmt::format("kafka transaction: {}: {}", what, text));
        if (signals::abort_requested()) throw runtime_failure(fmt::format("{}: interrupted by a second signal", what));
        log::info("{}: {} (retrying)", what, text);
    }
}

void producer::init_transactions() {
    transaction_call("init_transactions", [&](int ms) { return rd_kafka_init_transactions(rk_, ms); }, nullptr);
}

void producer::begin_transaction() {
    transaction_call("begin_transaction", [&](int) { return rd_kafka_begin_transaction(rk_); }, nullptr);
}

bool producer::send_offsets(const rd_kafka_topic_partition_list_t* offsets, const rd_kafka_consumer_group_metadata_t* group,
                            std::string& why) {
    return transaction_call(
        "send_offsets_to_transaction",
        [&](int ms) { return rd_kafka_send_offsets_to_transaction(rk_, offsets, group, ms); }, &why);
}

bool producer::commit_transaction(std::string& why) {
    return transaction_call("commit_transaction", [&](int ms) { return rd_kafka_commit_transaction(rk_, ms); }, &why);
}

void producer::abort_transaction() {
    transaction_call("abort_transaction", [&](int ms) { return rd_kafka_abort_transaction(rk_, ms); }, nullptr);
}

// ---------------------------------------------------------------------------------------------
// consumer

consumer::consumer(const kafka_settings& settings, const std::string& group, const std::vector<std::string>& topics,
                   start_from from, bool exit_at_end, hooks callbacks, const property_list& defaults)
    : settings_(settings), from_(from), exit_at_end_(exit_at_end), hooks_(std::move(callbacks)) {
    if (group.empty()) throw usage_error("a consumer group is needed: -g GROUP");
    const property_list lib_defaults = {
        {"group.id", group},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"enable.auto.commit", "false"},        // offsets are committed only after output is durable
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", from == start_from::latest ? "latest" : "earliest"},
        {"enable.partition.eof", "true"},       // positions at the end, for -e
        {"isolation.level", "read_committed"},
        {"queued.max.messages.kbytes", "2048"},  // prefetch bounded: 2 MB a partition, not 64 (see wake_fetcher)
        // A broker has one fetch request of ours at a time: one that waits for new data in a drained
        // partition holds up the others, whose queues were full when it left. librdkafka's 500 ms
        // made a 0.5 s stall in every drain of a backlog (docs/conventions.md). -e runs drain: 20 ms.
        {"fetch.wait.max.ms", exit_at_end ? "20" : "100"},
    };
    auto* opaque = new handle_opaque{&state_, this};
    rd_kafka_conf_t* conf = nullptr;
    try {
        conf = build_conf(settings_, lib_defaults, defaults, opaque);
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
        rk_ = new_handle(RD_KAFKA_CONSUMER, conf);
    } catch (...) {
        delete opaque;
        throw;
    }
    try {
        rd_kafka_poll_set_consumer(rk_);
        queue_ = rd_kafka_queue_get_consumer(rk_);
        char kbytes[32] = "";
        size_t size = sizeof kbytes;
        if (rd_kafka_conf_get(rd_kafka_conf(rk_), "queued.max.messages.kbytes", kbytes, &size) == RD_KAFKA_CONF_OK)
            refill_below_bytes_ = std::strtoull(kbytes, nullptr, 10) * 1024 / 2;
        for (const auto& t : topics) wait_for_topic(rk_, state_, settings_, t);
        if (exit_at_end_) snapshot_watermarks(topics);
        partition_list_ptr subscription(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
        for (const auto& t : topics) rd_kafka_topic_partition_list_add(subscription.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
        if (auto err = rd_kafka_subscribe(rk_, subscription.get()))
            throw runtime_failure(fmt::format("subscribe: {}", rd_kafka_err2str(err)));
    } catch (...) {
        if (queue_) rd_kafka_queue_destroy(queue_);
        rd_kafka_destroy_flags(rk_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        delete opaque;
        throw;
    }
}

consumer::~consumer() {
    auto* opaque = static_cast<handle_opaque*>(rd_kafka_opaque(rk_));
    if (wake_.valid()) wake_.wait();
    rd_kafka_queue_destroy(queue_);
    // Without an orderly close (an error on the way out) do not wait on the group: it may be gone.
    if (closed_) rd_kafka_destroy(rk_);
    else rd_kafka_destroy_flags(rk_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    delete opaque;
}

void consumer::snapshot_watermarks(const std::vector<std::string>& topics) {
    const int timeout_ms = static_cast<int>(settings_.timeout_s * 1000);
    for (const auto& t : topics) {
        const rd_kafka_metadata_t* md = nullptr;
        rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, t.c_str(), nullptr);
        auto err = rd_kafka_metadata(rk_, 0, rkt, &md, timeout_ms);
        rd_kafka_topic_destroy(rkt);
        if (err) throw runtime_failure(fmt::format("metadata for {}: {}", t, rd_kafka_err2str(err)));
        const int count = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        for (int p = 0; p < count; ++p) {
            std::int64_t low = 0, high = 0;
            if (auto e = rd_kafka_query_watermark_offsets(rk_, t.c_str(), p, &low, &high, timeout_ms))
                throw runtime_failure(fmt::format("high watermark of {} [{}]: {}", t, p, rd_kafka_err2str(e)));
            end_[{t, p}] = high;
            begin_[{t, p}] = low;
            log::info("end of {} [{}] at start: {}", t, p, high);
        }
    }
}

void consumer::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                            void* opaque) {
    auto* self = static_cast<consumer*>(static_cast<handle_opaque*>(opaque)->owner);
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; ++i) {
            auto& p = parts->elems[i];
            topic_partition tp{p.topic, p.partition};
            if (!self->seen_.contains(tp)) {
                if (self->from_ == start_from::earliest) p.offset = RD_KAFKA_OFFSET_BEGINNING;
                if (self->from_ == start_from::latest) p.offset = RD_KAFKA_OFFSET_END;
            }
        }
        if (self->hooks_.on_assign) self->hooks_.on_assign(parts);
        for (int i = 0; i < parts->cnt; ++i) {
            topic_partition tp{parts->elems[i].topic, parts->elems[i].partition};
            log::info("assigned {} [{}] from offset {}", tp.topic, tp.partition, parts->elems[i].offset);
            self->seen_.insert(tp);
            self->assigned_.insert(tp);
            self->assigned_offset_[tp] = parts->elems[i].offset;
            self->delivered_.erase(tp);
        }
        if (cooperative) {
            if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) {
                log::error("assign: {}", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, parts);
        }
    } else {
        const bool lost = rd_kafka_assignment_lost(rk);
        if (self->hooks_.on_revoke) self->hooks_.on_revoke(parts, lost);
        for (int i = 0; i < parts->cnt; ++i) {
            topic_partition tp{parts->elems[i].topic, parts->elems[i].partition};
            log::info("{} {} [{}]", lost ? "lost" : "revoked", tp.topic, tp.partition);
            self->assigned_.erase(tp);
            self->assigned_offset_.erase(tp);
            self->delivered_.erase(tp);
            self->position_.erase(tp);
            self->at_eof_.erase(tp);
            self->last_position_ = self->position_.end();
        }
        if (cooperative) {
            if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) {
                log::error("unassign: {}", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, nullptr);
        }
    }
    self->rebalanced_ = true;
    self->last_delivered_topic_ = nullptr;
}

// librdkafka 2.0.2 stops fetching a partition whose prefetch queue passed
// queued.max.messages.kbytes and decides again only when its broker thread wakes up, which
// without other traffic is once a second (fixed in 2.2 by fetch.queue.backoff.ms; Debian
// bookworm has 2.0.2). A small queue would cap the consumer at one queue-full per second. Any
// request to the broker wakes that thread: when the queue runs dry while a held partition is not
// at its end, a watermark query (one round trip) makes the fetcher look again at once. In a
// backlog poll does it earlier, when the queue is down to half its bound (see there).
void consumer::wake_fetcher() {
    const auto now = std::chrono::steady_clock::now();
    if (messages_ != messages_at_last_look_) {  // messages came since the queue last ran dry
        last_burst_ = messages_ - messages_at_last_look_;
        messages_at_last_look_ = messages_;
        last_message_ = now;
    }
    if (now - last_message_ > std::chrono::seconds(1)) return;  // idle stream: nothing stalled
    // A trickle (a few records between dry moments) is not a stalled backlog, and a request sent
    // now would queue behind our own fetch at the broker and delay the next one: tens of ms of
    // latency for every record (measured with bench/filter's latency part).
    if (last_burst_ < 256) return;
    poke_fetcher(now);
}

// The query waits for its reply (a round trip, 2.5 ms on average with the bench's busy broker):
// on another thread, this one goes on reading the queue meanwhile.
void consumer::poke_fetcher(std::chrono::steady_clock::time_point now) {
    if (now - last_wake_ < std::chrono::milliseconds(5)) return;
    if (wake_.valid() && wake_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
    for (const auto& tp : assigned_) {
        if (at_eof_.contains(tp)) continue;
        last_wake_ = now;
        wake_ = std::async(std::launch::async, [rk = rk_, tp] {
            std::int64_t low = 0, high = 0;
            rd_kafka_query_watermark_offsets(rk, tp.topic.c_str(), tp.partition, &low, &high, 1000);
        });
        return;
    }
}

message_ptr consumer::poll(int timeout_ms) {
    if (reassign_at_ != std::chrono::steady_clock::time_point{} && std::chrono::steady_clock::now() >= reassign_at_)
        reassign_stuck();
    state_.check(rk_, settings_.timeout_s, settings_.brokers);
    message_ptr m(rd_kafka_consumer_poll(rk_, 0));
    waited_ = !m;
    if (!m) {
        wake_fetcher();
        m.reset(rd_kafka_consumer_poll(rk_, timeout_ms));
    }
    if (!m) return m;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        state_.note_alive();
        note_delivered(m.get());
        topic_partition tp{topic_name(m.get()), m->partition};
        auto& pos = position_[tp];
        pos = std::max(pos, m->offset);
        at_eof_.insert(tp);
        return {};
    }
    if (m->err) {
        switch (m->err) {
            case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
            case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
            case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
            case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
                throw runtime_failure(fmt::format("consuming {}: {}", topic_name(m.get()), rd_kafka_message_errstr(m.get())));
            case RD_KAFKA_RESP_ERR__FATAL:  // the consumer is done for (fenced): it would wait forever
                throw runtime_failure(fmt::format("consuming: {}", rd_kafka_message_errstr(m.get())));
            default:
                log::warn("consuming: {}", rd_kafka_message_errstr(m.get()));
                if (m->err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR &&
                    std::strstr(rd_kafka_message_errstr(m.get()), "committed offsets") != nullptr)
                    reassign_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);  // the coordinator first
                return {};
        }
    }
    state_.note_alive();
    note_delivered(m.get());
    ++messages_;
    bytes_ += m->len;
    // Reading a backlog, the queue used to be refilled only after it ran dry: this thread then
    // waited for a fetch round trip and the parsing of its reply at every refill (kbatch-dump, 1M
    // records: 1.8 s of waiting in 3.4 s, perf sched). Woken while the queue is still half full,
    // the fetcher refills it while this thread works through the rest. A trickle keeps no queue,
    // so it sends no requests.
    if ((messages_ & 1023) == 0 && refill_below_bytes_ > 0) {
        const auto queued = static_cast<std::uint64_t>(rd_kafka_queue_length(queue_));
        if (queued >= 256 && queued * (bytes_ / messages_) < refill_below_bytes_) poke_fetcher(std::chrono::steady_clock::now());
    }
    if (exit_at_end_) position_of(m.get()) = m->offset + 1;
    if (!at_eof_.empty()) at_eof_.erase({topic_name(m.get()), m->partition});
    return m;
}

void consumer::note_delivered(const rd_kafka_message_t* m) {
    // Messages come in runs from one partition: one comparison for most of them.
    if (m->rkt == last_delivered_topic_ && m->partition == last_delivered_partition_) return;
    last_delivered_topic_ = m->rkt;
    last_delivered_partition_ = m->partition;
    delivered_.insert({topic_name(m), m->partition});
}

void consumer::reassign_stuck() {
    reassign_at_ = {};
    partition_list_ptr stuck(rd_kafka_topic_partition_list_new(4));
    for (const auto& [tp, offset] : assigned_offset_)
        if (!delivered_.contains(tp)) rd_kafka_topic_partition_list_add(stuck.get(), tp.topic.c_str(), tp.partition)->offset = offset;
    if (stuck->cnt == 0) return;
    log::warn("{} partition(s) without a fetcher after a failed offset fetch: assigned again", stuck->cnt);
    if (std::strcmp(rd_kafka_rebalance_protocol(rk_), "COOPERATIVE") == 0) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_, stuck.get())) rd_kafka_error_destroy(e);
        if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_, stuck.get())) {
            log::error("assign: {}", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else if (static_cast<std::size_t>(stuck->cnt) == assigned_offset_.size()) {
        rd_kafka_assign(rk_, stuck.get());  // eager: only when nothing of the assignment is moving
    }
}

std::int64_t& consumer::position_of(const rd_kafka_message_t* m) {
    const char* topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    if (last_position_ == position_.end() || last_position_->first.partition != m->partition ||
        last_position_->first.topic != topic)
        last_position_ = position_.try_emplace({topic, m->partition}, 0).first;
    return last_position_->second;
}

std::string consumer::commit(const std::string& topic, std::int32_t partition, std::int64_t next_offset) {
    partition_list_ptr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = next_offset;
    if (auto err = rd_kafka_commit(rk_, list.get(), 0)) return rd_kafka_err2str(err);
    log::debug("committed {} [{}] at {}", topic, partition, next_offset);
    return {};
}

void consumer::fetch_committed(rd_kafka_topic_partition_list_t* partitions) {
    if (auto err = rd_kafka_committed(rk_, partitions, static_cast<int>(settings_.timeout_s * 1000)))
        throw runtime_failure(fmt::format("reading committed offsets: {}", rd_kafka_err2str(err)));
}

std::string consumer::commit(const rd_kafka_topic_partition_list_t* offsets) {
    if (auto err = rd_kafka_commit(rk_, offsets, 0)) return rd_kafka_err2str(err);
    return {};
}

void consumer::seek(const topic_partition& tp, std::int64_t offset) {
    partition_list_ptr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
    if (rd_kafka_error_t* e = rd_kafka_seek_partitions(rk_, list.get(), static_cast<int>(settings_.timeout_s * 1000))) {
        const std::string text = rd_kafka_error_string(e);
        rd_kafka_error_destroy(e);
        throw runtime_failure(fmt::format("seeking {} [{}] to {}: {}", tp.topic, tp.partition, offset, text));
    }
    if (list->elems[0].err)
        throw runtime_failure(
            fmt::format("seeking {} [{}] to {}: {}", tp.topic, tp.partition, offset, rd_kafka_err2str(list->elems[0].err)));
    position_[tp] = offset;
    at_eof_.erase(tp);
}

std::unique_ptr<rd_kafka_consumer_group_metadata_t, void (*)(rd_kafka_consumer_group_metadata_t*)>
consumer::group_metadata() const {
    return {rd_kafka_consumer_group_metadata(rk_), rd_kafka_consumer_group_metadata_destroy};
}

bool consumer::assigned_at_end() const {
    if (!rebalanced_) return false;
    for (const auto& tp : assigned_) {
        auto end = end_.find(tp);
        if (end == end_.end()) continue;  // created after start: not part of the snapshot
        auto pos = position_.find(tp);
        if (pos == position_.end() || pos->second < end->second) return false;
    }
    return true;
}

std::int64_t consumer::position(const topic_partition& tp) const {
    auto pos = position_.find(tp);
    return pos == position_.end() ? -1 : pos->second;
}

bool consumer::others_at_end() {
    partition_list_ptr others(rd_kafka_topic_partition_list_new(0));
    for (const auto& [tp, end] : end_)
        if (!assigned_.contains(tp) && end > begin_[tp])
            rd_kafka_topic_partition_list_add(others.get(), tp.topic.c_str(), tp.partition);
    if (others->cnt == 0) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_group_check_ < std::chrono::seconds(1)) return false;
    last_group_check_ = now;
    if (rd_kafka_committed(rk_, others.get(), 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    for (int i = 0; i < others->cnt; ++i) {
        const auto& p = others->elems[i];
        if (p.err || p.offset < end_[{p.topic, p.partition}]) {
            log::debug("-e: waiting for {} [{}]: committed {} of {}", p.topic, p.partition, p.offset,
                       end_[{p.topic, p.partition}]);
            return false;
        }
    }
    return true;
}

std::int64_t consumer::lag() const {
    std::int64_t total = 0;
    for (const auto& tp : assigned_) {
        auto end = end_.find(tp);
        auto pos = position_.find(tp);
        if (end != end_.end() && pos != position_.end()) total += std::max<std::int64_t>(0, end->second - pos->second);
    }
    return total;
}

void consumer::close() {
    if (closed_) return;
    closed_ = true;
    if (wake_.valid()) wake_.wait();
    if (auto err = rd_kafka_consumer_close(rk_)) log::warn("closing consumer: {}", rd_kafka_err2str(err));
}



// ---------------------------------------------------------------------------------------------
// topics: partition counts, creation, reading partitions to their end

namespace {

struct plain_handle {
    client_state state;
    handle_opaque opaque{&state, nullptr};
    rd_kafka_t* rk = nullptr;
    plain_handle(const kafka_settings& s, rd_kafka_type_t type, const property_list& defaults) {
        rk = new_handle(type, build_conf(s, defaults, {}, &opaque, false));
    }
    ~plain_handle() {
        if (rk) rd_kafka_destroy(rk);
    }
    plain_handle(const plain_handle&) = delete;
    plain_handle& operator=(const plain_handle&) = delete;
};

}  // namespace

int topic_partitions(const kafka_settings& settings, const std::string& topic) {
    plain_handle h(settings, RD_KAFKA_PRODUCER, {});
    return wait_for_topic(h.rk, h.state, settings, topic);
}

int ensure_topic(const kafka_settings& settings, const std::string& topic, int partitions, const property_list& configs) {
    plain_handle h(settings, RD_KAFKA_PRODUCER, {});
    try {
        return wait_for_topic(h.rk, h.state, settings, topic);
    } catch (const runtime_failure& e) {
        if (std::string_view(e.what()).find("does not exist") == std::string_view::npos) throw;
    }
    // Replication: as many copies as there are brokers, up to 3.
    const rd_kafka_metadata_t* md = nullptr;
    int brokers = 1;
    if (rd_kafka_metadata(h.rk, 0, nullptr, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        brokers = std::max(1, md->broker_cnt);
        rd_kafka_metadata_destroy(md);
    }
    char errstr[512];
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, std::min(brokers, 3), errstr, sizeof errstr);
    if (!nt) throw usage_error(fmt::format("topic {}: {}", topic, errstr));
    for (const auto& [k, v] : configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
    rd_kafka_queue_t* q = rd_kafka_queue_new(h.rk);
    rd_kafka_CreateTopics(h.rk, &nt, 1, nullptr, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(settings.timeout_s * 1000) + 5000);
    std::string failure;
    if (!ev) {
        failure = "no answer";
    } else if (rd_kafka_event_error(ev)) {
        failure = rd_kafka_event_error_string(ev);
    } else if (const auto* res = rd_kafka_event_CreateTopics_result(ev)) {
        size_t n = 0;
        const auto** topics = rd_kafka_CreateTopics_result_topics(res, &n);
        for (size_t i = 0; i < n; ++i) {
            const auto err = rd_kafka_topic_result_error(topics[i]);
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                const char* msg = rd_kafka_topic_result_error_string(topics[i]);
                failure = msg ? msg : rd_kafka_err2str(err);
            }
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    if (!failure.empty()) throw runtime_failure(fmt::format("cannot create topic {}: {}", topic, failure));
    log::info("created topic {} ({} partitions)", topic, partitions);
    // A new topic shows in metadata, and gets leaders for its partitions, a moment after the
    // creation is acknowledged: wait until every partition has one.
    const auto deadline = clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(settings.timeout_s * 1000));
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(h.rk, topic.c_str(), nullptr);
    for (;;) {
        const rd_kafka_metadata_t* tmd = nullptr;
        if (rd_kafka_metadata(h.rk, 0, rkt, &tmd, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const auto& t = tmd->topics[0];
            bool ready = t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt >= partitions;
            for (int i = 0; ready && i < t.partition_cnt; ++i) ready = t.partitions[i].leader >= 0 && !t.partitions[i].err;
            const int count = t.partition_cnt;
            rd_kafka_metadata_destroy(tmd);
            if (ready) {
                rd_kafka_topic_destroy(rkt);
                return count;
            }
        }
        if (clock::now() >= deadline || signals::stop_requested()) {
            rd_kafka_topic_destroy(rkt);
            throw runtime_failure(fmt::format("topic {} was created but its partitions have no leader after {:g} s", topic,
                                              settings.timeout_s));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

void read_partitions(const kafka_settings& settings, const std::string& topic, const std::vector<std::int32_t>& partitions,
                     const std::function<void(const rd_kafka_message_t*)>& f) {
    if (partitions.empty()) return;
    plain_handle h(settings, RD_KAFKA_CONSUMER,
                   {{"group.id", "kstream-restore"},  // required by the API; nothing is committed
                    {"enable.auto.commit", "false"},
                    {"enable.partition.eof", "true"},
                    {"isolation.level", "read_committed"},
                    {"fetch.wait.max.ms", "10"}});
    rd_kafka_poll_set_consumer(h.rk);
    partition_list_ptr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
    std::set<std::int32_t> open;
    for (auto p : partitions) {
        std::int64_t low = 0, high = 0;
        // Retried: a partition may be between leaders (a new topic, a broker restart).
        const auto deadline = clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(settings.timeout_s * 1000));
        for (;;) {
            const auto err = rd_kafka_query_watermark_offsets(h.rk, topic.c_str(), p, &low, &high, 2000);
            if (!err) break;
            if (clock::now() >= deadline || signals::stop_requested())
                throw runtime_failure(fmt::format("{} [{}]: {}", topic, p, rd_kafka_err2str(err)));
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        // Read even when it looks empty: `high` is the last stable offset here (read_committed), and
        // a first transaction may be pending.
        rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = low;  // no offset lookup
        open.insert(p);
    }
    if (open.empty()) return;
    if (auto err = rd_kafka_assign(h.rk, list.get())) throw runtime_failure(fmt::format("assign {}: {}", topic, rd_kafka_err2str(err)));
    // The end is where nothing is pending. read_committed stops at the last stable offset: below a
    // transaction still open, and below one whose commit the coordinator has acknowledged but whose
    // markers it has not written yet (a commit just before a broker restart, or just before a
    // rebalance moved the partition). Stopping there would restore the state of the commit before,
    // while the input goes on from the offsets of the later one: its records lost. So an end below
    // the high watermark waits for the transaction to end (librdkafka reports the end again).
    std::map<std::int32_t, clock::time_point> pending;  // partition -> when first seen pending
    while (!open.empty()) {
        if (signals::abort_requested()) throw error(exit_ok, "interrupted while reading " + topic);
        h.state.check(h.rk, settings.timeout_s, settings.brokers);
        for (const auto& [p, since] : pending)
            if (clock::now() - since > std::chrono::milliseconds(static_cast<std::int64_t>(settings.timeout_s * 1000)))
                throw runtime_failure(fmt::format(
                    "{} [{}]: a transaction stayed open for {:g} s (--timeout): the state cannot be read to its end. "
                    "If no other process writes to it, the broker holds a hanging transaction (kafka-transactions.sh "
                    "find-hanging, then abort)",
                    topic, p, settings.timeout_s));
        message_ptr m(rd_kafka_consumer_poll(h.rk, 200));
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            std::int64_t low = 0, high = 0;  // as of the last fetch: the high watermark
            rd_kafka_get_watermark_offsets(h.rk, topic.c_str(), m->partition, &low, &high);
            if (m->offset < high) {
                if (pending.emplace(m->partition, clock::now()).second)
                    log::info("{} [{}]: waiting for the transaction open at offset {} to end", topic, m->partition, m->offset);
                continue;
            }
            pending.erase(m->partition);
            open.erase(m->partition);
            continue;
        }
        if (m->err) {
            h.state.on_error(h.rk, m->err, rd_kafka_message_errstr(m.get()));
            continue;
        }
        f(m.get());
    }
    rd_kafka_assign(h.rk, nullptr);
}

void check_properties(const kafka_settings& settings) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    try {
        for (const auto& [k, v] : settings.properties) set_property(conf, k, v, false);
    } catch (...) {
        rd_kafka_conf_destroy(conf);
        throw;
    }
    rd_kafka_conf_destroy(conf);
}

}  // namespace ks
