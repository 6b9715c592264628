// ks config and spec: -X prop=value, -F property files, secret names, input/output SPECs and the
// Kafka settings built from the common options.
#include "ks/options.hpp"
#include "ks/config.hpp"
#include "ks/error.hpp"
#include "ks/spec.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

using property = std::pair<std::string, std::string>;

TEST_CASE("parse_property: name=value, spaces around trimmed, empty value allowed", "[config]") {
    CHECK(ks::parse_property("a=b", "-X") == property{"a", "b"});
    CHECK(ks::parse_property("a = b", "-X") == property{"a", "b"});
    CHECK(ks::parse_property("a=", "-X") == property{"a", ""});
    CHECK(ks::parse_property("sasl.jaas=x=y", "-X") == property{"sasl.jaas", "x=y"});  // the first '=' splits
}

TEST_CASE("parse_property: a missing name or '=' is a usage error naming where", "[config]") {
    CHECK_THROWS_AS(ks::parse_property("=b", "-X"), ks::usage_error);
    CHECK_THROWS_WITH(ks::parse_property("=b", "-X"), "-X: expected prop=value, got '=b'");
    CHECK_THROWS_WITH(ks::parse_property("novalue", "props.txt:3"), "props.txt:3: expected prop=value, got 'novalue'");
    CHECK_THROWS_AS(ks::parse_property(" = b", "-X"), ks::usage_error);
    CHECK_THROWS_AS(ks::parse_property("", "-X"), ks::usage_error);
}

TEST_CASE("read_property_file: comments and blank lines skipped, values trimmed, order kept", "[config]") {
    ks_test::temp_dir dir;
    const auto path = dir.write("client.properties",
                                "# librdkafka settings\n"
                                "\n"
                                "bootstrap.servers=h1:9092\r\n"
                                "  security.protocol = SASL_SSL  \n"
                                "   # indented comment\n"
                                "\t\n"
                                "client.id=\n"
                                "bootstrap.servers=h2:9092");
    auto props = ks::read_property_file(path);
    CHECK(props == ks::property_list{{"bootstrap.servers", "h1:9092"},
                                     {"security.protocol", "SASL_SSL"},
                                     {"client.id", ""},
                                     {"bootstrap.servers", "h2:9092"}});
}

TEST_CASE("read_property_file: a bad line is reported with the file and its line number", "[config]") {
    ks_test::temp_dir dir;
    const auto path = dir.write("bad.properties", "# header\na=1\n\nthis line has no equals sign\nb=2\n");
    CHECK_THROWS_AS(ks::read_property_file(path), ks::usage_error);
    CHECK_THROWS_WITH(ks::read_property_file(path),
                      path + ":4: expected prop=value, got 'this line has no equals sign'");
}

TEST_CASE("read_property_file: a missing file is a usage error naming -F and the path", "[config]") {
    ks_test::temp_dir dir;
    const auto missing = dir.child("none.properties");
    CHECK_THROWS_AS(ks::read_property_file(missing), ks::usage_error);
    CHECK_THROWS_WITH(ks::read_property_file(missing), "-F " + missing + ": No such file or directory");
}

TEST_CASE("read_property_file: a directory is an unreadable -F file", "[config]") {
    ks_test::temp_dir dir;
    CHECK_THROWS_AS(ks::read_property_file(dir.path().string()), ks::usage_error);
}

TEST_CASE("is_secret_property: passwords, keys and secrets are never logged", "[config]") {
    for (std::string_view secret : {"sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem",
                                    "sasl.oauthbearer.config", "sasl.oauthbearer.client.secret"})
        CHECK(ks::is_secret_property(secret));
    for (std::string_view plain : {"bootstrap.servers", "client.id", "sasl.username", "sasl.mechanisms",
                                   "security.protocol", "acks", "topic.message.timeout.ms"})
        CHECK_FALSE(ks::is_secret_property(plain));
}

TEST_CASE("parse_spec: - is standard input or output", "[config][spec]") {
    auto s = ks::parse_spec("-");
    CHECK(s.type == ks::io_spec::kind::stdio);
    CHECK(s.is_stdio());
    CHECK_FALSE(s.is_kafka());
    CHECK(s.describe() == "-");
    CHECK(s.text == "-");
}

TEST_CASE("parse_spec: anything else without the kafka prefix is a file path", "[config][spec]") {
    auto s = ks::parse_spec("data/traffic.csv");
    CHECK(s.type == ks::io_spec::kind::file);
    CHECK(s.path == "data/traffic.csv");
    CHECK(s.describe() == "data/traffic.csv");

    auto odd = ks::parse_spec("kafka.csv");
    CHECK(odd.type == ks::io_spec::kind::file);
    CHECK(odd.path == "kafka.csv");
}

TEST_CASE("parse_spec: kafka:TOPIC uses the -b brokers", "[config][spec]") {
    auto s = ks::parse_spec("kafka:traffic");
    CHECK(s.type == ks::io_spec::kind::kafka);
    CHECK(s.is_kafka());
    CHECK(s.topic == "traffic");
    CHECK(s.brokers.empty());
    CHECK(s.describe() == "kafka:traffic");
}

TEST_CASE("parse_spec: kafka://HOST:PORT,HOST:PORT/TOPIC carries its brokers", "[config][spec]") {
    auto s = ks::parse_spec("kafka://h1:1,h2:2/t");
    CHECK(s.type == ks::io_spec::kind::kafka);
    CHECK(s.brokers == "h1:1,h2:2");
    CHECK(s.topic == "t");
    CHECK(s.describe() == "kafka:t");
    CHECK(s.text == "kafka://h1:1,h2:2/t");
}

TEST_CASE("parse_spec: an empty spec, topic or broker list is a usage error", "[config][spec]") {
    CHECK_THROWS_AS(ks::parse_spec(""), ks::usage_error);
    CHECK_THROWS_WITH(ks::parse_spec(""), "empty input/output spec");
    CHECK_THROWS_AS(ks::parse_spec("kafka:"), ks::usage_error);
    CHECK_THROWS_WITH(ks::parse_spec("kafka:"), "'kafka:': expected kafka:TOPIC");
    CHECK_THROWS_AS(ks::parse_spec("kafka://host/"), ks::usage_error);
    CHECK_THROWS_WITH(ks::parse_spec("kafka://host/"), "'kafka://host/': expected kafka://HOST:PORT[,HOST:PORT]/TOPIC");
    CHECK_THROWS_AS(ks::parse_spec("kafka:///t"), ks::usage_error);
    CHECK_THROWS_AS(ks::parse_spec("kafka://host:9092"), ks::usage_error);
    CHECK_THROWS_AS(ks::parse_spec("kafka://"), ks::usage_error);
}

TEST_CASE("make_kafka_settings: -b brokers unless the spec names its own", "[config]") {
    ks::common_options o;
    o.brokers = "b1:9092";
    o.timeout_s = 3;
    auto from_b = ks::make_kafka_settings(o);
    CHECK(from_b.brokers == "b1:9092");
    CHECK(from_b.timeout_s == 3);
    CHECK(from_b.properties.empty());

    auto from_spec = ks::make_kafka_settings(o, "h1:1,h2:2");
    CHECK(from_spec.brokers == "h1:1,h2:2");
}

TEST_CASE("make_kafka_settings: -F files first, then -X in order (later wins)", "[config]") {
    ks_test::temp_dir dir;
    ks::common_options o;
    o.brokers = "b:1";
    o.property_files = {dir.write("a.properties", "acks=1\nclient.id=a\n"), dir.write("b.properties", "linger.ms=5\n")};
    o.properties = {"client.id=x", "acks = all"};
    auto s = ks::make_kafka_settings(o);
    CHECK(s.properties == ks::property_list{{"acks", "1"},
                                            {"client.id", "a"},
                                            {"linger.ms", "5"},
                                            {"client.id", "x"},
                                            {"acks", "all"}});
}

TEST_CASE("make_kafka_settings: a malformed -X is a usage error", "[config]") {
    ks::common_options o;
    o.properties = {"acks"};
    CHECK_THROWS_AS(ks::make_kafka_settings(o), ks::usage_error);
    CHECK_THROWS_WITH(ks::make_kafka_settings(o), "-X: expected prop=value, got 'acks'");
}

TEST_CASE("parse_spec: a topic name Kafka would refuse is a usage error at once", "[config][spec]") {
    for (const char* bad : {"kafka:bad topic", "kafka:a/b", "kafka:.", "kafka:..", "kafka://h:1/t!", "kafka:caf\xc3\xa9"}) {
        INFO(bad);
        CHECK_THROWS_AS(ks::parse_spec(bad), ks::usage_error);
    }
    CHECK_THROWS_WITH(ks::parse_spec("kafka:bad topic"),
                      "'kafka:bad topic': 'bad topic' is not a valid topic name (1 to 249 letters, digits, '.', '_' or '-')");
    CHECK_THROWS_AS(ks::parse_spec("kafka:" + std::string(250, 'a')), ks::usage_error);
    for (const char* good : {"kafka:traffic_busy", "kafka:velib-projet.v2", "kafka://h:1/A-b_c.9"}) {
        INFO(good);
        CHECK_NOTHROW(ks::parse_spec(good));
    }
    CHECK_NOTHROW(ks::parse_spec("kafka:" + std::string(249, 'a')));
}
