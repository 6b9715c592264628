// The consume loop every streaming tool runs (DESIGN.md "Delivery guarantees"): records from a
// source to a tool's processor, with signals, --duration, --limit, --idle-timeout, -e, rebalances,
// and a commit policy decided once from the inputs and outputs:
//   - Kafka in, Kafka out, exactly-once (the default): consume, produce and the consumed offsets in
//     one transaction (librdkafka transactions, KIP-447 group metadata), committed every
//     --commit-interval and at once when the input runs dry; abortable errors abort and read again
//     from the last commit. Dead letters sent to Kafka go in the same transaction.
//   - Kafka in, anything else out (or --guarantee at-least-once): offsets are committed only after
//     the output is durable (files fsynced, stdout flushed, Kafka acknowledged).
//   - files and pipes in: nothing to commit; output is flushed whenever the input is quiet.
// docs/conventions.md ("Delivery") has the transactional.id scheme and what each guarantee means.
#pragma once

#include "ks/options.hpp"
#include "ks/kafka.hpp"
#include "ks/record.hpp"
#include "ks/record_errors.hpp"
#include "ks/sink.hpp"
#include "ks/source.hpp"
#include "ks/spec.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ks {

enum class guarantee { exactly_once, at_least_once };

// What a record_worker made of one record. Views stay valid until the worker's next map().
struct mapped {
    enum class kind : std::uint8_t { out, drop, bad };
    kind what = kind::drop;
    std::uint8_t reason = 0;               // drop: the tool's counter for it
    std::string_view value;                // out: the record to write
    std::optional<std::string_view> key;   // out: its key (nullopt: null)
    std::string_view why;                  // bad: the reason
};

// A transformation of one record that needs nothing from the records before it. Each worker is
// used by one thread at a time; several workers may run at once.
class record_worker {
public:
    virtual ~record_worker() = default;
    virtual void map(const record& r, mapped& m) = 0;
};

// What a tool does with records. Output goes to the sinks it opened through the session.
class processor {
public:
    virtual ~processor() = default;
    // One record (never a tombstone: those are counted and skipped). Bad records go to the tool's
    // error_policy; under --on-error fail that throws data_error, and the session then commits
    // what came before the record and stops.
    virtual void process(const record& r) = 0;
    // Called about every 100 ms and whenever the input is quiet: time-based work.
    virtual void tick() {}
    // Make everything processed so far durable (it is written out, or in the open transaction)
    // before offsets past it are committed.
    virtual void flush() {}
    // Partitions coming (start offsets may be set) and going (lost: they may already be someone
    // else's, nothing may be committed for them).
    virtual void assigned(rd_kafka_topic_partition_list_t*) {}
    virtual void revoked(const rd_kafka_topic_partition_list_t*, bool /*lost*/) {}
    // The open transaction was aborted (its output is discarded and the input is read again from
    // the last commit), or the session stops after a failure without committing: what was not
    // committed is dropped. A tool with state goes back to the state of the last commit.
    // output_discarded (a transactional session): the output since the last commit is gone too,
    // so counts of it go back to their values at the last commit.
    virtual void aborted(bool /*output_discarded*/) {}
    // What was processed is committed (offsets and, in a transaction, the output with them).
    virtual void committed() {}
    // The input ended cleanly (its end, -e, --duration, --limit, a signal): the last output may be
    // written now; the final commit follows.
    virtual void finishing() {}

    // Tools whose records are independent of each other offer workers: for files and pipes the
    // session then maps batches of records on worker threads (one worker each) and hands the
    // results to emit() on its own thread, in input order. process() is not called then.
    virtual std::unique_ptr<record_worker> make_worker() { return nullptr; }
    virtual void emit(const record& /*r*/, const mapped& /*m*/) {}
};

struct session_options {
    std::vector<io_spec> inputs;
    std::vector<io_spec> outputs;  // every output the tool may write (dead letters included)
    guarantee delivery = guarantee::exactly_once;
    double commit_interval_ms = 100;  // 0: only at the end, on revocation, at -e and when the tool commits
    double idle_timeout_s = 0;        // exit 0 after this long without a record (0 = never)
    std::string instance_id;          // --instance-id; empty: this host and a free slot
    property_list consumer_defaults;  // the tool's consumer properties (before -X)
};

// The options of every tool that runs a Kafka-to-Kafka session: --guarantee, --commit-interval,
// --instance-id (group "Delivery") and --idle-timeout (group "Bounds").
struct delivery_options {
    std::string guarantee = "exactly-once";
    double commit_interval_ms = 100;
    std::string instance_id;
    double idle_timeout_s = 0;
};
void add_delivery_options(CLI::App& app, delivery_options& d);
// A session's options from them, with the tool's inputs and outputs (the dead-letter output is
// added when --on-error dead-letter).
session_options make_session_options(const common_options& options, const delivery_options& d,
                                     std::vector<io_spec> inputs, std::vector<io_spec> outputs);

// Checks a session's options without opening anything (a tool's setup): the inputs, and that an
// exactly-once output is on the input's cluster. Throws usage_error.
void check_session(const common_options& options, const session_options& so);

class session {
public:
    // Checks the inputs; for a transactional session, opens its producer (init_transactions fences
    // a previous instance with the same transactional.id). The source opens when run() starts,
    // after the tool has opened its outputs.
    session(const common_options& options, session_options so);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // stdout and files as open_sink; a topic through the session's transactional producer when
    // there is one. The session flushes the sinks it opened before it commits.
    std::unique_ptr<record_sink> open_sink(const io_spec& spec, const property_list& producer_defaults = {});
    // For error_policy: dead letters opened the same way.
    [[nodiscard]] error_policy::sink_opener sink_opener();
    // The tool's error policy, whose count an aborted transaction takes back (consume_through).
    void attach(error_policy& errors) { errors_ = &errors; }

    // Runs until the end of the input, -e, --duration, --limit, --idle-timeout or a signal; a
    // closed pipe downstream ends it quietly (nothing more is committed).
    void run(processor& p);
    // Worker threads for files and pipes when the processor offers workers (default: one per
    // core, so that parsing, the largest cost, runs on every core; 1 = none).
    void set_threads(unsigned n) { threads_ = n; }

    // For tools that make output durable on their own schedule (kbatch-dump's files): commits the
    // next offset of a held partition now. Returns false (and logs) when the commit failed.
    bool commit(const topic_partition& tp, std::int64_t next);

    // A tool writing on its own (a timer, its state's changelog) outside process(): opens the
    // transaction if none is open, and makes sure the next commit point comes.
    void begin_output();
    // The transactional producer (nullptr when there is none), for messages the sinks cannot
    // send (a changelog's records go to chosen partitions).
    [[nodiscard]] producer* transactional_producer() const { return producer_.get(); }

    [[nodiscard]] bool transactional() const { return producer_ != nullptr; }
    [[nodiscard]] consumer* kafka() const { return consumer_; }
    [[nodiscard]] std::uint64_t records_in() const { return records_in_; }
    [[nodiscard]] std::uint64_t tombstones() const { return tombstones_; }
    [[nodiscard]] std::uint64_t transactions() const { return transactions_; }
    [[nodiscard]] std::uint64_t aborts() const { return aborts_; }
    [[nodiscard]] const std::string& transactional_id() const { return transactional_id_; }

private:
    struct partition_state {
        std::string topic;
        std::int32_t partition = 0;
        std::int64_t next = -1;       // next offset to read, after what was processed
        std::int64_t committed = -1;  // what the group holds (as far as this process knows)
        std::int64_t first = -1;      // first offset read since the assignment
    };
    partition_state* find_slot(std::string_view topic, std::int32_t partition);  // null: none yet
    partition_state& slot(std::string_view topic, std::int32_t partition);       // created if none
    void on_assign(rd_kafka_topic_partition_list_t* parts);
    void on_revoke(const rd_kafka_topic_partition_list_t* parts, bool lost);
    void handle(const record& r);
    void commit_point();  // makes output durable and commits what was processed
    void begin_transaction();
    bool produced_all(std::string& why);
    // Commits the open transaction, with the consumed `offsets` when given (else its output
    // alone); when it cannot, aborts and rewinds (abort_and_rewind) and returns false.
    bool commit_transaction(const rd_kafka_topic_partition_list_t* offsets);
    // The open transaction ends: its counts are kept (committed) or taken back (aborted).
    void transaction_ended(bool committed);
    // Aborts the open transaction (or, when the producer failed for good, replaces it) and reads
    // again from the last commit (rewind_to_group; not when the partitions were lost, which the
    // session drops).
    void abort_and_rewind(const std::string& why, bool producer_failed = false, bool partitions_lost = false);
    // Seeks every held partition to the offset its group holds, read back from the broker: that
    // is the last commit, unless the broker took back a commit it had acknowledged
    // (docs/conventions.md, "A commit taken back"). In a rebalance hook: to the offsets this
    // process committed (read_group_offsets is not called there).
    void rewind_to_group();
    // The group's offsets of the held partitions, from the broker, into their `committed`; true
    // when one differs from what this process committed.
    bool read_group_offsets();
    bool in_rebalance_ = false;  // in on_assign or on_revoke, called by librdkafka's poll
    void flush_sinks();
    void commit_offsets(const std::vector<std::pair<partition_state*, std::int64_t>>& offsets);
    bool exit_at_end_reached();
    void finish(bool commit);  // commit_point() or discard(), then close()
    void discard();            // aborts the open transaction; the processor drops what was not committed
    void close(bool clean);    // leaves the group (a clean close: after a commit)
    void loop();           // records one at a time through processor::process
    void parallel_loop();  // files and pipes through workers
    template <typename F>
    void guarded(F&& f);

    const common_options& options_;
    session_options so_;
    kafka_source_settings source_settings_;
    std::unique_ptr<source> source_;  // opened by run()
    consumer* consumer_ = nullptr;
    std::unique_ptr<producer> producer_;  // transactional sessions
    std::string instance_id_, transactional_id_;
    int instance_lock_ = -1;
    std::vector<record_sink*> sinks_;
    processor* processor_ = nullptr;
    error_policy* errors_ = nullptr;
    unsigned threads_ = 0;  // 0: one per core
    std::vector<partition_state> partitions_;
    size_t last_slot_ = 0;
    bool txn_open_ = false, pending_ = false, closing_ = false, closed_cleanly_ = false;
    std::chrono::steady_clock::time_point pending_since_{}, assigned_at_{};
    std::exception_ptr callback_error_;
    std::uint64_t records_in_ = 0, tombstones_ = 0, transactions_ = 0, aborts_ = 0;
    std::uint64_t records_kept_ = 0, tombstones_kept_ = 0;  // at the last commit (an abort goes back)
    // The last few transactions this process committed, newest last: the offsets they committed
    // and the counts at that moment, for a rewind to one of them (rewind_to_group).
    struct commit_mark {
        std::vector<std::pair<topic_partition, std::int64_t>> offsets;
        std::uint64_t records = 0, tombstones = 0;
    };
    std::deque<commit_mark> marks_;
    void mark_commit();
    // KS_TEST_TAKE_BACK_COMMIT=N (tests only): the Nth commit of offsets is aborted but reported
    // committed, and the transaction after it is aborted: what a broker taking back an
    // acknowledged commit does (docs/conventions.md).
    std::uint64_t take_back_at_ = 0, offset_commits_ = 0;
    bool abort_next_commit_ = false;
    std::uint64_t rejected_at_begin_ = 0;  // producer::rejected() when the transaction began
    int consecutive_aborts_ = 0;
};

// A consuming tool's run (kstream-filter, kstream-agg, kpredict): the session runs `p`, then the
// output and the dead letters are closed. `report` (--stats) is called when the run ends cleanly,
// and when a bad record stops it (--on-error fail) before the data_error goes on.
void consume_through(session& s, processor& p, record_sink& out, error_policy& errors,
                     const std::function<void()>& report);

class stats_report;
// The session's part of a --stats line, last in it: transactions, aborts, lag, elapsed_s and
// records_per_s (records in over `seconds`).
stats_report& add_session_stats(stats_report& r, const session& s, double seconds);

}  // namespace ks
