// Tests of lib/kafka that need the real broker: hidden ([.broker]), so that the unit run, which has
// no broker, skips them; e2e.lib_broker runs them against the test run's broker (KAFKA_BROKERS).
#include "consumer_support.hpp"
#include "ks/config.hpp"
#include "ks/kafka.hpp"

#include <catch2/catch.hpp>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdint>
#include <chrono>
#include <cstdlib>
#include <initializer_list>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string brokers() {
    const char* b = std::getenv("KAFKA_BROKERS");
    REQUIRE(b != nullptr);
    return b;
}

// A transactional producer of raw librdkafka, to leave a transaction open at a chosen moment.
class txn_producer {
public:
    explicit txn_producer(const std::string& id) {
        char errstr[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        REQUIRE(rd_kafka_conf_set(conf, "bootstrap.servers", brokers().c_str(), errstr, sizeof errstr) == RD_KAFKA_CONF_OK);
        REQUIRE(rd_kafka_conf_set(conf, "transactional.id", id.c_str(), errstr, sizeof errstr) == RD_KAFKA_CONF_OK);
        rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        REQUIRE(rk_ != nullptr);
        check(rd_kafka_init_transactions(rk_, 60000));
    }
    ~txn_producer() { rd_kafka_destroy(rk_); }
    txn_producer(const txn_producer&) = delete;
    txn_producer& operator=(const txn_producer&) = delete;

    void begin() { check(rd_kafka_begin_transaction(rk_)); }
    void send(const std::string& topic, const std::string& value) {
        REQUIRE(rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                                  RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    void flush() { REQUIRE(rd_kafka_flush(rk_, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR); }
    // The group's next offset of partition 0, in the open transaction (as a consume-transform loop
    // commits; a group without members takes it without a generation).
    void send_offset(const std::string& group, const std::string& topic, std::int64_t next) {
        ks::partition_list_ptr list(rd_kafka_topic_partition_list_new(1));
        rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), 0)->offset = next;
        rd_kafka_consumer_group_metadata_t* meta = rd_kafka_consumer_group_metadata_new(group.c_str());
        rd_kafka_error_t* e = rd_kafka_send_offsets_to_transaction(rk_, list.get(), meta, 60000);
        rd_kafka_consumer_group_metadata_destroy(meta);
        check(e);
    }
    void commit() { check(rd_kafka_commit_transaction(rk_, 60000)); }
    void abort() { check(rd_kafka_abort_transaction(rk_, 60000)); }

private:
    static void check(rd_kafka_error_t* e) {
        std::string text = e ? rd_kafka_error_string(e) : "";
        if (e) rd_kafka_error_destroy(e);
        REQUIRE(text == "");
    }
    rd_kafka_t* rk_ = nullptr;
};

std::string unique(const std::string& prefix) {
    std::random_device rd;
    return prefix + "-" + std::to_string(rd()) + std::to_string(rd());
}

// Values read by read_partitions from partition 0 of `topic`.
std::vector<std::string> read_all(const ks::kafka_settings& settings, const std::string& topic) {
    std::vector<std::string> got;
    ks::read_partitions(settings, topic, {0}, [&](const rd_kafka_message_t* m) {
        got.emplace_back(static_cast<const char*>(m->payload), m->len);
    });
    return got;
}

// Reads in a thread while the main thread ends the open transaction about a second later (when
// the reader has had time to reach the last stable offset; on a machine too busy for that, the test
// checks less but cannot fail wrongly).
std::vector<std::string> read_while_ending(const ks::kafka_settings& settings, const std::string& topic, txn_producer& p,
                                           bool commit) {
    std::vector<std::string> got;
    std::atomic<bool> done{false};
    std::thread reader([&] {
        got = read_all(settings, topic);
        done = true;
    });
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const bool returned_early = done.load();
    if (commit) p.commit(); else p.abort();
    reader.join();
    CHECK_FALSE(returned_early);  // it waited for the transaction to end
    return got;
}

// A new topic of one partition whose first transaction commits `committed` and whose second is
// left open with `pending` (flushed to the broker: the last stable offset stays before them).
struct pending_topic {
    ks::kafka_settings settings;
    std::string topic;
    txn_producer producer;

    pending_topic(const std::string& name, double timeout_s, std::initializer_list<const char*> committed,
                  std::initializer_list<const char*> pending)
        : settings{brokers(), {}, timeout_s}, topic(unique(name)), producer(unique(name + "-txn")) {
        REQUIRE(ks::ensure_topic(settings, topic, 1, {}) == 1);
        if (committed.size() > 0) {
            producer.begin();
            for (const char* v : committed) producer.send(topic, v);
            producer.commit();
        }
        producer.begin();
        for (const char* v : pending) producer.send(topic, v);
        producer.flush();
    }
};

}  // namespace

TEST_CASE("read_partitions waits for a transaction pending at its end, and reads what it committed", "[.broker]") {
    pending_topic t("restore-commit", 60, {"a", "b", "c"}, {"d", "e"});
    CHECK(read_while_ending(t.settings, t.topic, t.producer, true) == std::vector<std::string>{"a", "b", "c", "d", "e"});
}

TEST_CASE("read_partitions waits for a transaction pending at its end, and skips what it aborted", "[.broker]") {
    pending_topic t("restore-abort", 60, {"a", "b"}, {"x"});
    CHECK(read_while_ending(t.settings, t.topic, t.producer, false) == std::vector<std::string>{"a", "b"});
    // Committed after an aborted transaction: read to the end, past the abort's marker.
    t.producer.begin();
    t.producer.send(t.topic, "c");
    t.producer.commit();
    CHECK(read_all(t.settings, t.topic) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("read_partitions gives up on a transaction open longer than the timeout", "[.broker]") {
    pending_topic t("restore-stuck", 2, {}, {"a"});
    REQUIRE_THROWS_WITH(read_all(t.settings, t.topic), Catch::Contains("a transaction stayed open for 2 s"));
    t.producer.abort();
}

// What session::rewind_to_group stands on: a read_committed consumer's fetch of committed offsets
// asks for stable ones, so an offset commit pending in a transaction is waited for, and what it
// returns is the transaction's outcome.
namespace {

std::int64_t committed_while_ending(const std::string& name, bool commit) {
    pending_topic t(name, 60, {"a", "b", "c"}, {"d"});
    const std::string group = unique(name + "-group");
    t.producer.send_offset(group, t.topic, 2);
    t.producer.commit();
    t.producer.begin();
    t.producer.send(t.topic, "e");
    t.producer.send_offset(group, t.topic, 4);
    t.producer.flush();
    ks::consumer c(t.settings, group, {t.topic}, ks::start_from::committed, false, {});
    std::int64_t got = -1;
    std::atomic<bool> done{false};
    std::thread reader([&] {
        ks::partition_list_ptr list(rd_kafka_topic_partition_list_new(1));
        rd_kafka_topic_partition_list_add(list.get(), t.topic.c_str(), 0);
        c.fetch_committed(list.get());
        got = list->elems[0].offset;
        done = true;
    });
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const bool returned_early = done.load();
    if (commit) t.producer.commit(); else t.producer.abort();
    reader.join();
    CHECK_FALSE(returned_early);  // it waited for the transaction to end
    ks_test::close_after_assignment(c);
    return got;
}

}  // namespace

TEST_CASE("fetch_committed waits for an offset commit pending in a transaction: committed", "[.broker]") {
    CHECK(committed_while_ending("offsets-commit", true) == 4);
}

TEST_CASE("fetch_committed waits for an offset commit pending in a transaction: aborted", "[.broker]") {
    CHECK(committed_while_ending("offsets-abort", false) == 2);
}
