// ks record_errors: --on-error fail|skip|dead-letter and the dead-letter JSON envelope.
#include "ks/error.hpp"
#include "ks/log.hpp"
#include "ks/record_errors.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

namespace {

ks::record_origin file_origin(std::string source, std::uint64_t line) {
    ks::record_origin o;
    o.source = std::move(source);
    o.line = line;
    return o;
}

ks::record_origin kafka_origin(std::string topic, std::int32_t partition, std::int64_t offset) {
    ks::record_origin o;
    o.source = std::move(topic);
    o.from_kafka = true;
    o.partition = partition;
    o.offset = offset;
    return o;
}

// Skip and dead-letter modes report on stderr; keep the test output to errors only.
struct quiet_log {
    ks::log::level saved = ks::log::current_level();
    quiet_log() { ks::log::set_level(ks::log::level::error); }
    ~quiet_log() { ks::log::set_level(saved); }
};

}  // namespace

TEST_CASE("record_origin: a file line or a topic, partition and offset", "[record_errors]") {
    CHECK(file_origin("data.csv", 12).describe() == "data.csv:12");
    CHECK(kafka_origin("events", 2, 17).describe() == "events [2] at offset 17");
}

TEST_CASE("error_policy envelope: a file origin with UTF-8 data", "[record_errors]") {
    CHECK(ks::error_policy::envelope("csv2kafka", file_origin("file.csv", 12), "expected 3 fields, found 2",
                                     "a,\"caf\xC3\xA9\"") ==
          R"({"reason":"expected 3 fields, found 2","tool":"csv2kafka","source":"file.csv","line":12,)"
          "\"data\":\"a,\\\"caf\xC3\xA9\\\"\"}");
}

TEST_CASE("error_policy envelope: a Kafka origin with bytes that are not UTF-8", "[record_errors]") {
    CHECK(ks::error_policy::envelope("kbatch-dump", kafka_origin("events", 2, 17), "invalid JSON",
                                     std::string_view("\xff\x00x", 3)) ==
          R"({"reason":"invalid JSON","tool":"kbatch-dump","source":"events","partition":2,"offset":17,)"
          R"("data_base64":"/wB4"})");
}

TEST_CASE("error_policy envelope: a multi-line record and control bytes stay one JSON line", "[record_errors]") {
    CHECK(ks::error_policy::envelope("csv2kafka", file_origin("-", 3), "tab\there", "1,\"a\r\nb\"") ==
          R"({"reason":"tab\there","tool":"csv2kafka","source":"-","line":3,"data":"1,\"a\r\nb\""})");
}

TEST_CASE("error_policy fail: throws a data error that starts with the place of the record", "[record_errors]") {
    ks::common_options options;  // --on-error fail is the default
    ks::error_policy policy(options, "csv2kafka");
    try {
        policy.handle(file_origin("file.csv", 12), "expected 3 fields, found 2", "1,2");
        FAIL("handle did not throw");
    } catch (const ks::data_error& e) {
        CHECK(e.code() == ks::exit_data);
        CHECK(std::string(e.what()) ==
              "file.csv:12: expected 3 fields, found 2 (--on-error skip or dead-letter to go on)");
    }
    CHECK(policy.count() == 1);
    CHECK_THROWS_WITH(policy.handle(kafka_origin("t", 0, 5), "not a JSON object", "[]"),
                      Catch::StartsWith("t [0] at offset 5: not a JSON object"));
}

TEST_CASE("error_policy skip: bad records are counted, nothing thrown", "[record_errors]") {
    quiet_log quiet;
    ks::common_options options;
    options.on_error = ks::on_error_mode::skip;
    ks::error_policy policy(options, "csv2kafka");
    for (std::uint64_t line = 1; line <= 25; ++line) CHECK_NOTHROW(policy.handle(file_origin("f.csv", line), "bad", "x"));
    CHECK(policy.count() == 25);
    CHECK_NOTHROW(policy.flush());
    CHECK_NOTHROW(policy.close());
}

TEST_CASE("error_policy dead-letter: envelopes are written to the file, one per line", "[record_errors]") {
    quiet_log quiet;
    ks_test::temp_dir dir;
    ks::common_options options;
    options.on_error = ks::on_error_mode::dead_letter;
    options.dead_letter = dir.child("dead.jsonl");
    {
        ks::error_policy policy(options, "csv2kafka");
        policy.handle(file_origin("in.csv", 4), "expected 2 fields, found 1", "lonely");
        policy.handle(kafka_origin("raw", 1, 99), "not valid UTF-8", "\xc3(");
        CHECK(policy.count() == 2);
        policy.close();
    }
    CHECK(ks_test::slurp(options.dead_letter) ==
          R"({"reason":"expected 2 fields, found 1","tool":"csv2kafka","source":"in.csv","line":4,"data":"lonely"})"
          "\n"
          R"({"reason":"not valid UTF-8","tool":"csv2kafka","source":"raw","partition":1,"offset":99,"data_base64":"wyg="})"
          "\n");
}

TEST_CASE("error_policy dead-letter: flush makes the envelopes so far readable", "[record_errors]") {
    quiet_log quiet;
    ks_test::temp_dir dir;
    ks::common_options options;
    options.on_error = ks::on_error_mode::dead_letter;
    options.dead_letter = dir.child("dead.jsonl");
    ks::error_policy policy(options, "kbatch-dump");
    policy.handle(kafka_origin("t", 0, 1), "r", "{");
    policy.flush();
    CHECK(ks_test::slurp(options.dead_letter) ==
          R"({"reason":"r","tool":"kbatch-dump","source":"t","partition":0,"offset":1,"data":"{"})"
          "\n");
    policy.close();
}

TEST_CASE("error_policy dead-letter: standard output is refused, an unwritable path fails", "[record_errors]") {
    ks::common_options options;
    options.on_error = ks::on_error_mode::dead_letter;
    options.dead_letter = "-";
    CHECK_THROWS_AS(ks::error_policy(options, "csv2kafka"), ks::usage_error);
    CHECK_THROWS_WITH(ks::error_policy(options, "csv2kafka"),
                      "--dead-letter must be a file or kafka:TOPIC, not standard output");

    ks_test::temp_dir dir;
    options.dead_letter = dir.child("no/such/dir/dead.jsonl");
    CHECK_THROWS_AS(ks::error_policy(options, "csv2kafka"), ks::runtime_failure);
    CHECK_THROWS_WITH(ks::error_policy(options, "csv2kafka"), options.dead_letter + ": No such file or directory");
}
