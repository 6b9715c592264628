// Tests of lib/kafka that need the real broker: hidden ([.broker]), so that the unit run, which has
// no broker, skips them; e2e.lib_broker runs them against the test run's broker (KAFKA_BROKERS).
#include "ks/config.hpp"
#include "ks/kafka.hpp"

#include <catch2/catch.hpp>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
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

}  // namespace

TEST_CASE("read_partitions waits for a transaction pending at its end, and reads what it committed", "[.broker]") {
    ks::kafka_settings settings{brokers(), {}, 60};
    const auto topic = unique("restore-commit");
    REQUIRE(ks::ensure_topic(settings, topic, 1, {}) == 1);
    txn_producer p(unique("restore-commit-txn"));
    p.begin();
    for (const char* v : {"a", "b", "c"}) p.send(topic, v);
    p.commit();
    p.begin();
    for (const char* v : {"d", "e"}) p.send(topic, v);
    p.flush();  // on the broker, not committed: the last stable offset stays before "d"
    const auto got = read_while_ending(settings, topic, p, true);
    CHECK(got == std::vector<std::string>{"a", "b", "c", "d", "e"});
}

TEST_CASE("read_partitions waits for a transaction pending at its end, and skips what it aborted", "[.broker]") {
    ks::kafka_settings settings{brokers(), {}, 60};
    const auto topic = unique("restore-abort");
    REQUIRE(ks::ensure_topic(settings, topic, 1, {}) == 1);
    txn_producer p(unique("restore-abort-txn"));
    p.begin();
    for (const char* v : {"a", "b"}) p.send(topic, v);
    p.commit();
    p.begin();
    p.send(topic, "x");
    p.flush();
    const auto got = read_while_ending(settings, topic, p, false);
    CHECK(got == std::vector<std::string>{"a", "b"});
    // Committed after an aborted transaction: read to the end, past the abort's marker.
    p.begin();
    p.send(topic, "c");
    p.commit();
    CHECK(read_all(settings, topic) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("read_partitions gives up on a transaction open longer than the timeout", "[.broker]") {
    ks::kafka_settings settings{brokers(), {}, 2};
    const auto topic = unique("restore-stuck");
    REQUIRE(ks::ensure_topic(settings, topic, 1, {}) == 1);
    txn_producer p(unique("restore-stuck-txn"));
    p.begin();
    p.send(topic, "a");
    p.flush();
    REQUIRE_THROWS_WITH(read_all(settings, topic), Catch::Contains("a transaction stayed open for 2 s"));
    p.abort();
}
