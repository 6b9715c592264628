// Each tool's setup, called in-process with argument vectors (osmium-tool's rule): it checks the
// options and opens nothing, so every usage error is found here before a file or broker is touched.
#include "csv2kafka/csv2kafka.hpp"
#include "kbatch-dump/kbatch_dump.hpp"
#include "kstream-filter/kstream_filter.hpp"

#include "ks/cli.hpp"
#include "ks/error.hpp"
#include "ks/log.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

// Parses args for a tool and runs its setup; returns the usage error's message, or "" when setup
// accepted the options.
template <typename Options, typename Declare, typename Setup>
std::string setup_error(const std::vector<std::string>& args, Declare declare, Setup setup, Options* kept = nullptr) {
    Options o;
    CLI::App app;
    declare(app, o);
    const auto level = ks::log::current_level();
    std::string error;
    try {
        ks::parse_args(app, args, o.common);
        setup(o);
    } catch (const ks::usage_error& e) {
        error = e.what();
    } catch (const CLI::ParseError& e) {
        error = std::string("parse: ") + e.what();
    }
    ks::log::set_level(level);
    if (kept) *kept = std::move(o);
    return error;
}

std::string csv2kafka(const std::vector<std::string>& args, ks::csv2kafka::options* kept = nullptr) {
    return setup_error(args, ks::csv2kafka::declare, ks::csv2kafka::setup, kept);
}
std::string kbatch_dump(const std::vector<std::string>& args, ks::kbatch_dump::options* kept = nullptr) {
    return setup_error(args, ks::kbatch_dump::declare, ks::kbatch_dump::setup, kept);
}
std::string kstream_filter(const std::vector<std::string>& args) {
    return setup_error<ks::kstream_filter::options>(args, ks::kstream_filter::declare,
                                                    [](ks::kstream_filter::options& o) { ks::kstream_filter::setup(o); });
}

}  // namespace

TEST_CASE("setup: csv2kafka takes files as arguments or with -i, and standard input once", "[setup]") {
    ks::csv2kafka::options o;
    CHECK(csv2kafka({"a.csv", "-i", "b.csv", "-i", "-"}, &o).empty());
    CHECK(o.inputs == std::vector<std::string>{"a.csv", "b.csv", "-"});
    CHECK(csv2kafka({}, &o).empty());
    CHECK(o.inputs == std::vector<std::string>{"-"});
    CHECK(csv2kafka({"-", "-i", "-"}) == "standard input (-) can be read only once");
    CHECK(csv2kafka({"-i", "kafka:t"}) ==
          "-i kafka:t: csv2kafka reads files and standard input (a topic is read by kstream-filter)");
}

TEST_CASE("setup: csv2kafka's option rules", "[setup]") {
    CHECK(csv2kafka({"--loop"}) == "--loop needs files: standard input cannot be read twice");
    CHECK(csv2kafka({"a.csv", "--speed", "0"}) == "--speed must be positive");
    CHECK(csv2kafka({"a.csv", "--rate", "5", "--replay-time", "ts"}) == "--rate and --replay-time exclude each other");
    CHECK(csv2kafka({"a.jsonl", "--input-format", "jsonl", "--schema", "a:int"}) ==
          "--columns, --schema and --delimiter are for --input-format csv");
    CHECK(csv2kafka({"a.csv", "-d", "ab"}) == "--delimiter: expected one character, got 'ab'");
    CHECK(csv2kafka({"a.csv", "--schema", "a:decimal"}).find("--schema") != std::string::npos);
    CHECK(csv2kafka({"a.csv", "-o", "kafka:"}) == "'kafka:': expected kafka:TOPIC");
    CHECK(csv2kafka({"a.csv", "--on-error", "dead-letter"}) == "--on-error dead-letter needs --dead-letter FILE|kafka:TOPIC");
}

TEST_CASE("setup: csv2kafka's old --format still names the input format", "[setup]") {
    ks::csv2kafka::options o;
    CHECK(csv2kafka({"a.jsonl", "--format", "jsonl"}, &o).empty());
    CHECK(o.format == "jsonl");
    CHECK(csv2kafka({"a.jsonl", "--input-format", "jsonl"}, &o).empty());
    CHECK(o.format == "jsonl");
}

TEST_CASE("setup: kbatch-dump needs a topic, a group and -o DIR", "[setup]") {
    ks::kbatch_dump::options o;
    CHECK(kbatch_dump({"-i", "kafka:t", "-g", "g", "-o", "out"}, &o).empty());
    CHECK(o.dir == "out");
    CHECK(kbatch_dump({"-i", "data.csv", "-g", "g", "-o", "out"}) == "-i must be kafka:TOPIC or kafka://HOST:PORT/TOPIC");
    CHECK(kbatch_dump({"-i", "kafka:t", "-o", "out"}) == "-g GROUP is required: offsets are committed for the group");
    CHECK(kbatch_dump({"-i", "kafka:t", "-g", "g"}) == "-o DIR is required: the directory for the batch files");
}

TEST_CASE("setup: kbatch-dump's -d is the CSV delimiter, and the old spellings of -o and the format", "[setup]") {
    ks::kbatch_dump::options o;
    CHECK(kbatch_dump({"-i", "kafka:t", "-g", "g", "-o", "out", "-d", "tab", "--output-format", "csv"}, &o).empty());
    CHECK(o.delimiter_char == '\t');
    CHECK(o.format == "csv");
    CHECK(kbatch_dump({"-i", "kafka:t", "-g", "g", "-d", "out/"}) ==
          "-d is the CSV delimiter (as in csv2kafka): write the directory as -o out/");
    CHECK(kbatch_dump({"-i", "kafka:t", "-g", "g", "-o", "out", "-d", ";;"}) == "--delimiter: expected one character, got ';;'");
    CHECK(kbatch_dump({"-i", "kafka:t", "-g", "g", "--dir", "old", "--format", "csv"}, &o).empty());
    CHECK(o.dir == "old");
    CHECK(o.format == "csv");
}

TEST_CASE("setup: kstream-filter's inputs, outputs and delivery", "[setup]") {
    CHECK(kstream_filter({}).empty());
    CHECK(kstream_filter({"-i", "a.jsonl", "-i", "b/*.jsonl", "-o", "out.jsonl"}).empty());
    CHECK(kstream_filter({"-i", "kafka:t"}) == "-g GROUP is required to read a topic: offsets are committed for the group");
    CHECK(kstream_filter({"-i", "kafka:t", "-i", "x.jsonl", "-g", "g"}) ==
          "-i: topics and files cannot be read together (run one tool for each)");
    CHECK(kstream_filter({"-i", "kafka:t", "-g", "g", "-o", "kafka://elsewhere:9092/u"}) ==
          "kafka://elsewhere:9092/u: exactly-once needs the output on the input's cluster (one transaction); use "
          "--guarantee at-least-once to write to another cluster");
    CHECK(kstream_filter({"-i", "kafka:t", "-g", "g", "-o", "kafka://elsewhere:9092/u", "--guarantee", "at-least-once"}).empty());
    CHECK(kstream_filter({"--guarantee", "twice"}).starts_with("parse: "));
    CHECK(kstream_filter({"--commit-interval", "0"}).starts_with("parse: "));
}

TEST_CASE("setup: kstream-filter's record options", "[setup]") {
    CHECK(kstream_filter({"--select", "a", "--drop", "b"}) == "--select and --drop exclude each other");
    CHECK(kstream_filter({"--lookup", "t.csv"}) == "--lookup needs --on 'FIELD=COLUMN'");
    CHECK(kstream_filter({"--on", "a=b"}) == "--on and --inner are for --lookup");
    CHECK(kstream_filter({"--inner"}) == "--on and --inner are for --lookup");
    CHECK(kstream_filter({"--lookup", "t.csv", "--on", "a"}) == "--on: expected FIELD=COLUMN, got 'a'");
    CHECK(kstream_filter({"--set", "x="}) == "--set: 'x=' has no expression after '='");
}

TEST_CASE("split_list: commas inside brackets, calls and strings do not split", "[setup]") {
    using ks::expr::split_list;
    CHECK(split_list("a, b=c") == std::vector<std::string>{"a", "b=c"});
    CHECK(split_list("x=concat(a, ',', b), y=[1, 2], `p, q`") ==
          std::vector<std::string>{"x=concat(a, ',', b)", "y=[1, 2]", "`p, q`"});
    CHECK(split_list(R"(s="a\",b", t)") == std::vector<std::string>{R"(s="a\",b")", "t"});
    CHECK(split_list("one") == std::vector<std::string>{"one"});
}
