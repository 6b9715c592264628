// Fault injection into a transactional session, on librdkafka's mock cluster (the real broker
// cannot be made to answer a chosen request with a chosen error). A failure that leaves the
// producer unusable must cost nothing: the session starts a new producer, reads again from its
// last commit, and the output holds every record exactly once.
#include "consumer_support.hpp"
#include "ks/config.hpp"
#include "ks/error.hpp"
#include "ks/kafka.hpp"
#include "ks/options.hpp"
#include "ks/session.hpp"
#include "ks/sink.hpp"
#include "ks/spec.hpp"

#include <catch2/catch.hpp>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <functional>
#include <thread>
#include <memory>
#include <utility>
#include <string>
#include <vector>

namespace {

// Kafka protocol API keys (librdkafka's RD_KAFKAP_* are in a header it does not install).
constexpr std::int16_t api_produce = 0, api_end_txn = 26;

// A mock cluster of one broker with the topics `in` and `out` (one partition each). It lives in a
// librdkafka handle of its own, which nothing else uses.
class mock_cluster {
public:
    mock_cluster() {
        char errstr[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
        rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        REQUIRE(rk_ != nullptr);
        mc_ = rd_kafka_mock_cluster_new(rk_, 1);
        REQUIRE(mc_ != nullptr);
        REQUIRE(rd_kafka_mock_topic_create(mc_, "in", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
        REQUIRE(rd_kafka_mock_topic_create(mc_, "out", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ~mock_cluster() {
        rd_kafka_mock_cluster_destroy(mc_);
        rd_kafka_destroy(rk_);
    }
    mock_cluster(const mock_cluster&) = delete;
    mock_cluster& operator=(const mock_cluster&) = delete;

    [[nodiscard]] std::string brokers() const { return rd_kafka_mock_cluster_bootstraps(mc_); }
    [[nodiscard]] rd_kafka_mock_cluster_t* get() const { return mc_; }

    void produce(const std::string& topic, const std::vector<std::string>& values) const {
        char errstr[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", brokers().c_str(), errstr, sizeof errstr);
        rd_kafka_t* p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        REQUIRE(p != nullptr);
        for (const auto& v : values)
            REQUIRE(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_VALUE(const_cast<char*>(v.data()), v.size()),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR);
        REQUIRE(rd_kafka_flush(p, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_destroy(p);
    }

    // The committed messages of `topic` (read_committed): read until `count` came (or 20 s
    // passed), then 0.5 s more, so that a message too many shows.
    [[nodiscard]] std::vector<std::string> read_committed(const std::string& topic, size_t count) const {
        char errstr[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", brokers().c_str(), errstr, sizeof errstr);
        rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, sizeof errstr);
        rd_kafka_conf_set(conf, "group.id", "checker", errstr, sizeof errstr);
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof errstr);
        rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
        REQUIRE(c != nullptr);
        rd_kafka_poll_set_consumer(c);
        rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(parts, topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
        REQUIRE(rd_kafka_assign(c, parts) == RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_partition_list_destroy(parts);
        std::vector<std::string> values;
        int polls = 200;
        for (int i = 0; i < polls; ++i) {
            rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 100);
            if (m && !m->err) values.emplace_back(static_cast<const char*>(m->payload), m->len);
            if (m) rd_kafka_message_destroy(m);
            if (values.size() >= count && polls == 200) polls = i + 6;
        }
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        return values;
    }

private:
    rd_kafka_t* rk_ = nullptr;
    rd_kafka_mock_cluster_t* mc_ = nullptr;
};

// Copies each record to the output topic.
class copier final : public ks::processor {
public:
    explicit copier(ks::record_sink& out) : out_(out) {}
    void process(const ks::record& r) override { out_.write({std::nullopt, r.value}); }

private:
    ks::record_sink& out_;
};

// Runs a session copying `in` to `out` (50 records, one transaction for the whole input) after
// `faults` queued the mock broker's errors; checks that it ended after an abort, having read and
// written each record once after it. Returns the input and what `out` holds (up to `read` records).
// With `limit`, the run ends at --limit 50 instead of at the input's end (-e).
std::pair<std::vector<std::string>, std::vector<std::string>> copy_through_faults(
    const std::function<void(rd_kafka_mock_cluster_t*)>& faults, size_t read, bool limit = false) {
    mock_cluster cluster;
    std::vector<std::string> values;
    for (int i = 1; i <= 50; ++i) values.push_back("{\"id\":" + std::to_string(i) + "}");
    cluster.produce("in", values);
    faults(cluster.get());

    ks::common_options options;
    options.brokers = cluster.brokers();
    options.group = "fault-test";
    options.exit_at_end = !limit;
    if (limit) options.limit = 50;
    options.timeout_s = 20;
    options.quiet = true;
    ks::session_options so;
    so.inputs = {ks::parse_spec("kafka:in")};
    so.outputs = {ks::parse_spec("kafka:out")};
    so.commit_interval_ms = 0;  // one transaction for the whole input: the one that fails
    so.instance_id = "fault-test-0";

    ks::session s(options, so);
    auto out = s.open_sink(so.outputs.front());
    copier c(*out);
    s.run(c);

    // One abort, or two: after an abort for a refused message librdkafka fails the next
    // transaction once more ("skipped sequence numbers", its epoch bump), as against the broker.
    CHECK(s.aborts() >= 1);
    CHECK(s.aborts() <= 2);
    CHECK(s.records_in() == values.size());  // the records read again are counted once
    CHECK(out->counts().written == values.size());
    return {values, cluster.read_committed("out", read)};
}

}  // namespace

TEST_CASE("a transaction whose abort fails fatally: a new producer, the input read again, each record once",
          "[session][mock]") {
    // The transaction's messages are refused (it must be aborted), and the abort is answered as a
    // broker answers for a transaction it aborted itself during an outage: INVALID_TXN_STATE,
    // fatal for librdkafka's producer.
    const auto [in, out] = copy_through_faults(
        [](rd_kafka_mock_cluster_t* mc) {
            rd_kafka_mock_push_request_errors(mc, api_produce, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
            rd_kafka_mock_push_request_errors(mc, api_end_txn, 1, RD_KAFKA_RESP_ERR_INVALID_TXN_STATE);
        },
        50);
    CHECK(out == in);
}

TEST_CASE("a commit that fails fatally: a new producer, the input read again, each record once", "[session][mock]") {
    const auto [in, out] = copy_through_faults(
        [](rd_kafka_mock_cluster_t* mc) {
            rd_kafka_mock_push_request_errors(mc, api_end_txn, 1, RD_KAFKA_RESP_ERR_INVALID_TXN_STATE);
        },
        100);
    // The failed transaction's records reached the log. The real broker aborts that transaction
    // when the new producer's init_transactions fences the old epoch, and read_committed readers
    // never see them (e2e.broker_restart); the mock cluster has no such abort and shows them. What
    // the new producer committed is the input once, in order.
    REQUIRE(out.size() == 2 * in.size());
    CHECK(std::vector(out.begin() + static_cast<std::ptrdiff_t>(in.size()), out.end()) == in);
}

TEST_CASE("a run bounded by --limit whose last transaction aborted: its records are read again before it ends", "[session][mock]") {
    // The final commit (after --limit) fails with an abortable error: the run must not end with
    // those records read but not committed (it did, with exit 0).
    const auto [in, out] = copy_through_faults(
        [](rd_kafka_mock_cluster_t* mc) {
            rd_kafka_mock_push_request_errors(mc, api_produce, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
        },
        50, true);
    CHECK(out == in);
}

// What session::rewind_to_group stands on when an abort comes from a broker outage: librdkafka
// 2.0.2 queues the fetch of committed offsets until the group's coordinator is back (older
// versions answered "waiting for coordinator" at once), within the call's timeout.
TEST_CASE("fetch_committed waits for the group's coordinator through a broker outage", "[session][mock]") {
    mock_cluster cluster;
    ks::kafka_settings settings{cluster.brokers(), {}, 20};
    ks::consumer c(settings, "outage-group", {"in"}, ks::start_from::committed, false, {});
    REQUIRE(rd_kafka_mock_broker_set_down(cluster.get(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the connection's loss is noticed
    std::string error;
    std::int64_t got = 0;
    std::thread fetcher([&] {
        try {
            ks::partition_list_ptr list(rd_kafka_topic_partition_list_new(1));
            rd_kafka_topic_partition_list_add(list.get(), "in", 0);
            c.fetch_committed(list.get());
            got = list->elems[0].offset;
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    REQUIRE(rd_kafka_mock_broker_set_up(cluster.get(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    fetcher.join();
    CHECK(error == "");
    CHECK(got == RD_KAFKA_OFFSET_INVALID);  // nothing committed in that group
    ks_test::close_after_assignment(c);
}
