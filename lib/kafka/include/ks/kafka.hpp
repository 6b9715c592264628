// librdkafka, wrapped once: configuration, a bounded wait for an unreachable broker, an idempotent
// producer that counts delivery reports, and a group consumer with cooperative-sticky rebalancing,
// explicit commits and an exit-at-end that works inside consumer groups.
#pragma once

#include "ks/error.hpp"
#include "ks/options.hpp"
#include "ks/config.hpp"
#include "ks/message.hpp"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ks {

struct message_deleter {
    void operator()(rd_kafka_message_t* m) const noexcept { rd_kafka_message_destroy(m); }
};
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;

struct partition_list_deleter {
    void operator()(rd_kafka_topic_partition_list_t* l) const noexcept { rd_kafka_topic_partition_list_destroy(l); }
};
using partition_list_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, partition_list_deleter>;

[[nodiscard]] inline std::string_view payload(const rd_kafka_message_t* m) {
    return {static_cast<const char*>(m->payload), m->payload ? m->len : 0};
}
[[nodiscard]] inline std::optional<std::string_view> message_key(const rd_kafka_message_t* m) {
    if (!m->key) return std::nullopt;
    return std::string_view(static_cast<const char*>(m->key), m->key_len);
}
[[nodiscard]] std::string topic_name(const rd_kafka_message_t* m);

// State shared with librdkafka's callbacks (they run inside poll on the calling thread, but the
// error callback may come from librdkafka's own threads: everything here is atomic or locked).
class client_state {
public:
    void on_error(rd_kafka_t* rk, int err, const char* reason);
    void note_alive() { down_since_ms_.store(0); }
    // Throws runtime_failure when every broker has been unreachable for longer than timeout_s,
    // or when librdkafka raised a fatal error. Probes with a short metadata request while down.
    void check(rd_kafka_t* rk, double timeout_s, const std::string& brokers);
    [[nodiscard]] bool all_brokers_down() const { return down_since_ms_.load() != 0; }
    [[nodiscard]] std::string last_error() const;
    void reset() { down_since_ms_ = 0, fatal_ = false; }  // a new handle (producer::restart_transactions)

private:
    std::atomic<std::int64_t> down_since_ms_{0};
    std::atomic<std::int64_t> last_probe_ms_{0};
    std::atomic<bool> fatal_{false};
    mutable std::mutex mutex_;
    std::string last_error_;
};

// Blocks until the brokers answer a metadata request for `topic` (bounded by settings.timeout_s).
// Returns the topic's partition count. Throws runtime_failure: unreachable, or no such topic.
int wait_for_topic(rd_kafka_t* rk, client_state& state, const kafka_settings& settings, const std::string& topic);

// The partition count of a topic (bounded by settings.timeout_s). Throws runtime_failure.
int topic_partitions(const kafka_settings& settings, const std::string& topic);

// Checks every -X and -F property against librdkafka (names and values) without connecting:
// usage_error "-X NAME: reason". Tools call it in their setup, so that a bad property is exit 2
// even when the run would not open Kafka (output to stdout).
void check_properties(const kafka_settings& settings);
// Creates the topic when it does not exist (replication: the brokers' count, at most 3; `configs`
// such as cleanup.policy=compact) and returns its partition count (of the existing topic, if any).
int ensure_topic(const kafka_settings& settings, const std::string& topic, int partitions, const property_list& configs);
// Reads the partitions of a topic from their beginning to their end, calling f for each committed
// message, on this thread. For restoring state from a changelog. The end is the high watermark: a
// transaction pending there (open, or committed with its markers not yet written) is waited for,
// up to settings.timeout_s, so that the state read is the one of the last commit.
void read_partitions(const kafka_settings& settings, const std::string& topic, const std::vector<std::int32_t>& partitions,
                     const std::function<void(const rd_kafka_message_t*)>& f);

// A transactional call failed for good for this producer (librdkafka's fatal errors: the broker
// aborted a transaction that outlived transaction.timeout.ms during an outage, and the abort found
// it gone; a newer producer epoch fenced it). producer::restart_transactions() recovers.
struct transaction_fatal : runtime_failure {
    using runtime_failure::runtime_failure;
};

class producer {
public:
    // `defaults` are the tool's librdkafka defaults; settings.properties (from -F/-X) override them.
    // max_lanes: librdkafka producers (each its own connection to each broker) that share the work,
    // partition p going through lane p mod lanes; opened when a topic has that many partitions.
    // A broker handles one request of a connection at a time, so two connections keep it busier.
    // Each lane is idempotent; a partition has one lane, so one producer id and one order.
    producer(const kafka_settings& settings, const property_list& defaults, int max_lanes = 1);
    ~producer();
    producer(const producer&) = delete;
    producer& operator=(const producer&) = delete;

    // A topic opened by open_topic; it stays valid when restart_transactions() replaces the
    // librdkafka handles underneath.
    struct topic {
        std::size_t index = 0;
    };
    // Checks the topic exists (bounded wait) and returns the producer's handle for it.
    topic open_topic(const std::string& name);

    // Queues one message (copied). On a full queue it serves delivery reports and retries: the
    // caller is slowed down, never dropped. Gives up only on a second signal or a dead broker.
    // With several lanes a keyless message goes to a partition that moves on every 1,024 messages.
    void produce(topic t, std::optional<std::string_view> key, std::string_view value,
                 std::int32_t partition = RD_KAFKA_PARTITION_UA);
    // The same with the rest of a message: headers (copied) and a timestamp (-1: now).
    void produce(topic t, const outgoing& message);
    // Queues messages in order, like produce() one by one, but in one call to librdkafka per lane:
    // its clock is read once, not three times a message. Keyed messages go to the partitioner's
    // partition; the keyless ones of a call all go to one partition, the next call's to the next
    // partition (the sticky partitioning of librdkafka and Java, a batch at a time).
    void produce_batch(topic t, std::span<const outgoing> messages);
    void poll(int timeout_ms);
    // Waits for every queued message to be acknowledged or failed. A second signal, or brokers
    // unreachable for longer than the timeout, purges what is left (counted as failed).
    void flush();

    // Transactions: a producer whose properties give it a transactional.id (it has one lane).
    // init_transactions fences an older instance with the same id and aborts what it left open.
    // A fatal error (fenced, ...) throws transaction_fatal; an abortable one
    // comes back as false with the reason in `why` (the caller aborts and rewinds); a broker
    // unreachable for longer than the timeout throws runtime_failure.
    void init_transactions();
    void begin_transaction();
    [[nodiscard]] bool send_offsets(const rd_kafka_topic_partition_list_t* offsets,
                                    const rd_kafka_consumer_group_metadata_t* group, std::string& why);
    [[nodiscard]] bool commit_transaction(std::string& why);
    void abort_transaction();
    // After a fatal transactional error (transaction_fatal): the librdkafka producer is replaced
    // by a new one with the same transactional.id and the same topics, and init_transactions runs
    // again. What the old one had queued is purged; its transaction is lost (aborted by the broker
    // or fenced by this init), so the caller reads again from its last commit.
    void restart_transactions();
    [[nodiscard]] bool transactional() const { return transactional_; }

    [[nodiscard]] std::uint64_t produced() const { return produced_; }
    // Messages refused when they were handed over (too large, ...), a part of failed().
    [[nodiscard]] std::uint64_t rejected() const { return rejected_; }
    [[nodiscard]] std::uint64_t delivered() const { return delivered_.load(); }
    [[nodiscard]] std::uint64_t failed() const { return failed_.load(); }
    [[nodiscard]] std::string first_error() const;
    // Names a message's tag (outgoing::tag) in the first error: "describe(tag): reason".
    void describe_tags(std::function<std::string(std::uint64_t)> describe) { describe_ = std::move(describe); }
    [[nodiscard]] rd_kafka_t* handle() const { return rk_; }  // the first lane

private:
    struct lane {
        rd_kafka_t* rk = nullptr;
        int wake[2] = {-1, -1};  // a pipe librdkafka writes to when the lane's main queue gets events
    };
    struct open_topic_entry {
        std::string name;
        std::vector<rd_kafka_topic_t*> handles;  // one per lane
        int partitions = 0;
        int next_keyless = 0;          // the partition of the next keyless messages
        std::uint64_t keyless_sent = 0;  // keyless messages given to produce() (several lanes)
    };
    static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
    void add_lane();
    void purge_all();
    void destroy_lanes();
    [[nodiscard]] int outq_len() const;
    open_topic_entry& entry_of(topic t) { return topics_[t.index]; }
    [[nodiscard]] std::int32_t keyed_partition(const open_topic_entry& t, std::string_view key) const;
    void wait_for_budget(size_t bytes, size_t messages = 1);  // several lanes: keeps queued bytes within the one budget
    void count_failure(rd_kafka_resp_err_t err, std::uint64_t tag = 0);
    void note_error(const char* reason, std::uint64_t tag);  // the first one is kept  // a message given up (a full queue: on a second signal)
    void wait_for_room();  // a full queue: serves delivery reports for up to 100 ms, checks the broker
    // The handle (and lane) a message goes through; picks its partition when there are several lanes.
    rd_kafka_topic_t* lane_handle(topic t, std::optional<std::string_view> key, std::int32_t& partition,
                                  size_t& lane);
    // Runs a transactional call until it succeeds, fails for good, or the brokers stay away.
    bool transaction_call(const char* what, const std::function<rd_kafka_error_t*(int timeout_ms)>& call,
                          std::string* why);

    kafka_settings settings_;
    property_list tool_defaults_;
    const property_list* lib_defaults_ = nullptr;
    int max_lanes_ = 1;
    bool transactional_ = false;
    std::string transactional_id_;
    client_state state_;
    std::vector<lane> lanes_;
    rd_kafka_t* rk_ = nullptr;  // lanes_[0].rk
    std::vector<open_topic_entry> topics_;
    std::vector<std::vector<rd_kafka_message_t>> batches_;  // produce_batch's arrays, one per lane, reused
    std::vector<size_t> batch_bytes_;
    std::uint64_t budget_bytes_ = 0;       // queue.buffering.max.kbytes, for all lanes together
    std::uint64_t outstanding_bytes_ = 0;  // queued, not yet reported (payloads and keys)
    std::uint64_t outstanding_messages_ = 0;
    std::uint64_t budget_messages_ = 0;    // queue.buffering.max.messages, for all lanes together
    std::int32_t (*partition_key_)(const rd_kafka_topic_t*, const void*, size_t, std::int32_t, void*, void*) = nullptr;
    std::uint64_t produced_ = 0, rejected_ = 0;
    std::atomic<std::uint64_t> delivered_{0};
    std::atomic<std::uint64_t> failed_{0};
    mutable std::mutex error_mutex_;
    std::string first_error_;
    std::function<std::string(std::uint64_t)> describe_;
};

struct topic_partition {
    std::string topic;
    std::int32_t partition = 0;
    auto operator<=>(const topic_partition&) const = default;
};

class consumer {
public:
    struct hooks {
        // Called with the partitions about to be assigned; may set their start offsets.
        std::function<void(rd_kafka_topic_partition_list_t*)> on_assign;
        // Called before partitions are taken away. lost: they may already belong to another member,
        // so nothing may be committed for them.
        std::function<void(const rd_kafka_topic_partition_list_t*, bool lost)> on_revoke;
    };

    consumer(const kafka_settings& settings, const std::string& group, const std::vector<std::string>& topics,
             start_from from, bool exit_at_end, hooks callbacks, const property_list& defaults = {});
    ~consumer();
    consumer(const consumer&) = delete;
    consumer& operator=(const consumer&) = delete;

    // The next message, or null after timeout_ms (or an internal event). Also checks the broker.
    message_ptr poll(int timeout_ms);
    // Whether the last poll found nothing queued and had to wait: a trickle, not a bulk read.
    [[nodiscard]] bool waited() const { return waited_; }
    // Messages poll has returned so far.
    [[nodiscard]] std::uint64_t messages() const { return messages_; }

    // Synchronous commit of the next offset to read. Returns an error text, empty on success.
    std::string commit(const std::string& topic, std::int32_t partition, std::int64_t next_offset);
    // Synchronous commit of a list of next offsets to read. Returns an error text, empty on success.
    std::string commit(const rd_kafka_topic_partition_list_t* offsets);
    // Fills the committed offsets of `partitions` (RD_KAFKA_OFFSET_INVALID where none).
    void fetch_committed(rd_kafka_topic_partition_list_t* partitions);
    // Reads a held partition again from `offset` (what was fetched past it is dropped).
    void seek(const topic_partition& tp, std::int64_t offset);
    // The group's generation and member, for send_offsets_to_transaction (KIP-447 fencing).
    [[nodiscard]] std::unique_ptr<rd_kafka_consumer_group_metadata_t, void (*)(rd_kafka_consumer_group_metadata_t*)>
    group_metadata() const;

    // -e, in two steps. assigned_at_end: the partitions this member holds have been read up to
    // their high watermark at start (after a first rebalance). The member must then commit its
    // positions (see position()) before asking others_at_end: every other partition of the
    // snapshot has a committed offset at or past it, i.e. another member drained and committed
    // it. A partition held by a member that died is therefore not skipped: it comes to this
    // member once the group evicts the dead one. The group's commits are asked once a second.
    [[nodiscard]] bool assigned_at_end() const;
    [[nodiscard]] bool others_at_end();
    // Next offset to read in a held partition (past control records too), -1 when not known yet.
    [[nodiscard]] std::int64_t position(const topic_partition& tp) const;
    [[nodiscard]] const std::set<topic_partition>& assignment() const { return assigned_; }
    // Total lag behind the start snapshot of the assigned partitions (for --stats).
    [[nodiscard]] std::int64_t lag() const;

    void close();  // leaves the group (final revoke runs the on_revoke hook)
    [[nodiscard]] bool brokers_down() const { return state_.all_brokers_down(); }
    [[nodiscard]] rd_kafka_t* handle() const { return rk_; }

private:
    static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                             void* opaque);
    void snapshot_watermarks(const std::vector<std::string>& topics);
    kafka_settings settings_;
    client_state state_;
    rd_kafka_t* rk_ = nullptr;
    start_from from_;
    bool exit_at_end_;
    hooks hooks_;
    bool closed_ = false;
    bool waited_ = false;
    bool rebalanced_ = false;
    std::set<topic_partition> assigned_;
    std::set<topic_partition> seen_;                   // partitions this process was ever assigned
    std::map<topic_partition, std::int64_t> end_;      // -e: high watermarks at start
    std::map<topic_partition, std::int64_t> begin_;    // -e: low watermarks at start
    std::chrono::steady_clock::time_point last_group_check_{};
    // Fetcher wake-ups (see poll): partitions at their end, and when messages last came (looked
    // at lazily: no clock read per message).
    std::set<topic_partition> at_eof_;
    // librdkafka 2.0.2 leaves a partition without a fetcher for good when the OffsetFetch of its
    // committed offset fails as a whole with NOT_COORDINATOR (a coordinator that moved, as after a
    // broker restart; librdkafka issue #5586). Such partitions never deliver anything: after that
    // error, the ones that delivered nothing since their assignment are assigned again, with the
    // offsets they were given.
    std::map<topic_partition, std::int64_t> assigned_offset_;
    std::set<topic_partition> delivered_;  // delivered a message or reached the end since assigned
    const rd_kafka_topic_t* last_delivered_topic_ = nullptr;
    std::int32_t last_delivered_partition_ = -1;
    std::chrono::steady_clock::time_point reassign_at_{};  // {}: none pending
    void note_delivered(const rd_kafka_message_t* m);
    void reassign_stuck();
    std::uint64_t messages_ = 0, messages_at_last_look_ = 0, last_burst_ = 0;
    std::chrono::steady_clock::time_point last_message_{}, last_wake_{};
    void wake_fetcher();
    // Early wake-ups (see poll): the consumer queue, half of queued.max.messages.kbytes, and the
    // bytes of the messages returned so far (their mean size turns a queue length into bytes).
    rd_kafka_queue_t* queue_ = nullptr;
    std::uint64_t refill_below_bytes_ = 0, bytes_ = 0;
    std::future<void> wake_;  // the wake-up request on its way
    void poke_fetcher(std::chrono::steady_clock::time_point now);
    std::map<topic_partition, std::int64_t> position_; // next offset to read, per partition
    // The entry of the partition the last message came from: -e follows the offset of every
    // message, and messages come in runs from one partition, so most need no key and no look-up.
    std::map<topic_partition, std::int64_t>::iterator last_position_ = position_.end();
    std::int64_t& position_of(const rd_kafka_message_t* m);
};

}  // namespace ks
