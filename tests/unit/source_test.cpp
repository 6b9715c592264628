// ks source: JSON lines from files, globs and pipes through one interface; what -i accepts.
#include "ks/error.hpp"
#include "ks/source.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

struct line {
    std::string value, source;
    std::uint64_t number;
    bool operator==(const line&) const = default;
};

std::vector<line> read_all(ks::source& src) {
    std::vector<line> out;
    ks::record r;
    for (;;) {
        const auto got = src.next(r, 10);
        if (got == ks::source::status::end) return out;
        if (got == ks::source::status::record) {
            CHECK(r.padded);
            CHECK_FALSE(r.from_kafka);
            out.push_back({std::string(r.value), std::string(r.source), r.line});
        }
    }
}

// Standard input is a pipe while this lives (declare it before the source that reads it):
// write() feeds it, close_writer() ends it, and stdin comes back even when a REQUIRE fails.
class stdin_pipe {
public:
    stdin_pipe() {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        saved_ = ::dup(STDIN_FILENO);
        REQUIRE(::dup2(fds[0], STDIN_FILENO) >= 0);
        ::close(fds[0]);
        writer_ = fds[1];
    }
    ~stdin_pipe() {
        close_writer();
        ::dup2(saved_, STDIN_FILENO);
        ::close(saved_);
    }
    stdin_pipe(const stdin_pipe&) = delete;
    stdin_pipe& operator=(const stdin_pipe&) = delete;
    void write(std::string_view bytes) const {
        CHECK(::write(writer_, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    }
    void close_writer() {
        if (writer_ >= 0) ::close(writer_);
        writer_ = -1;
    }

private:
    int saved_ = -1, writer_ = -1;
};

std::vector<ks::io_spec> specs(std::initializer_list<std::string> texts) {
    std::vector<ks::io_spec> out;
    for (const auto& t : texts) out.push_back(ks::parse_spec(t));
    return out;
}

}  // namespace

TEST_CASE("source: lines of files in order, CRLF and blank lines handled, line numbers kept", "[source]") {
    ks_test::temp_dir dir;
    const auto a = dir.write("a.jsonl", "{\"n\":1}\r\n\n  \n{\"n\":2}\n");
    const auto b = dir.write("b.jsonl", "{\"n\":3}");  // no final line break
    ks::common_options o;
    auto src = ks::open_source(specs({a, b}), o);
    const std::vector<line> expected = {{R"({"n":1})", a, 1}, {R"({"n":2})", a, 4}, {R"({"n":3})", b, 1}};
    CHECK(read_all(*src) == expected);
}

TEST_CASE("source: a glob reads its files in name order, and one that matches nothing is an error", "[source]") {
    ks_test::temp_dir dir;
    dir.write("p-2.jsonl", "{\"f\":2}\n");
    dir.write("p-1.jsonl", "{\"f\":1}\n");
    dir.write("q.jsonl", "{\"f\":9}\n");
    ks::common_options o;
    auto src = ks::open_source(specs({dir.child("p-*.jsonl")}), o);
    auto lines = read_all(*src);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].value == R"({"f":1})");
    CHECK(lines[1].value == R"({"f":2})");
    CHECK_THROWS_WITH(ks::open_source(specs({dir.child("none-*.jsonl")}), o),
                      "-i " + dir.child("none-*.jsonl") + ": no file matches");
}

TEST_CASE("source: a missing file is a runtime failure naming it", "[source]") {
    ks_test::temp_dir dir;
    ks::common_options o;
    auto src = ks::open_source(specs({dir.child("missing.jsonl")}), o);
    ks::record r;
    CHECK_THROWS_AS(src->next(r, 10), ks::runtime_failure);
}

TEST_CASE("source: records longer than the read buffer come whole", "[source]") {
    ks_test::temp_dir dir;
    std::string big = "{\"s\":\"" + std::string(3 << 20, 'x') + "\"}";
    std::string content;
    for (int i = 0; i < 3; ++i) content += big + "\n";
    // Many short lines so that line ends fall at every offset of the first buffers.
    for (int i = 0; i < 200000; ++i) content += "{\"i\":" + std::to_string(i) + "}\n";
    const auto path = dir.write("big.jsonl", content);
    ks::common_options o;
    auto src = ks::open_source(specs({path}), o);
    auto lines = read_all(*src);
    REQUIRE(lines.size() == 200003);
    CHECK(lines[0].value == big);
    CHECK(lines[2].value == big);
    CHECK(lines[3].value == "{\"i\":0}");
    CHECK(lines.back().value == "{\"i\":199999}");
    CHECK(lines.back().number == 200003);
}

TEST_CASE("source: a pipe's quiet moments are idle, and a line written in pieces comes whole", "[source]") {
    stdin_pipe in;
    ks::common_options o;
    auto src = ks::open_source(specs({"-"}), o);
    ks::record r;
    in.write("{\"a\":");
    CHECK(src->next(r, 20) == ks::source::status::idle);  // half a line: nothing yet
    CHECK(src->waited());
    in.write("1}\n{\"b\":2}\n");
    REQUIRE(src->next(r, 1000) == ks::source::status::record);
    CHECK(r.value == R"({"a":1})");
    CHECK(r.source == "-");
    REQUIRE(src->next(r, 1000) == ks::source::status::record);
    CHECK(r.value == R"({"b":2})");
    CHECK_FALSE(src->waited());  // it was there already
    in.close_writer();
    CHECK(src->next(r, 1000) == ks::source::status::end);
}

TEST_CASE("check_inputs: what -i accepts", "[source]") {
    ks::common_options o;
    CHECK_NOTHROW(ks::check_inputs(specs({"a.jsonl", "b.jsonl", "-"}), o));
    CHECK_THROWS_WITH(ks::check_inputs(specs({"-", "-"}), o), "-i: standard input (-) can be read only once");
    CHECK_THROWS_WITH(ks::check_inputs(specs({"kafka:t", "a.jsonl"}), o),
                      "-i: topics and files cannot be read together (run one tool for each)");
    CHECK_THROWS_WITH(ks::check_inputs(specs({"kafka:t"}), o),
                      "-g GROUP is required to read a topic: offsets are committed for the group");
    o.group = "g";
    CHECK_NOTHROW(ks::check_inputs(specs({"kafka:t", "kafka:u"}), o));
    CHECK_THROWS_WITH(ks::check_inputs(specs({"kafka:t", "kafka://other:9092/u"}), o),
                      "-i: the topics must be on one cluster (the same brokers)");
}

namespace {

struct block {
    std::string bytes, name;
    bool first;
    bool operator==(const block&) const = default;
};

std::vector<block> read_blocks(ks::source& src, size_t max_bytes) {
    std::vector<block> out;
    for (;;) {
        std::string into = "kept|";  // appended to, never replaced
        ks::source::line_block b;
        const auto got = src.next_lines(into, max_bytes, b, 10);
        if (got == ks::source::status::end) return out;
        REQUIRE(into.substr(0, 5) == "kept|");
        if (got == ks::source::status::record) out.push_back({into.substr(5), std::string(b.name), b.first});
    }
}

}  // namespace

TEST_CASE("source: lines in bulk end in line breaks, come from one input at a time and say where inputs start",
          "[source]") {
    ks_test::temp_dir dir;
    const auto a = dir.write("a.jsonl", "{\"n\":1}\r\n\n  \n{\"n\":2}\n");
    const auto b = dir.write("b.jsonl", "{\"n\":3}");  // no final line break
    const auto c = dir.write("c.jsonl", "");
    const auto d = dir.write("d.jsonl", "\n");
    ks::common_options o;
    auto src = ks::open_source(specs({a, b, c, d}), o);
    REQUIRE(src->offers_lines());
    const std::vector<block> expected = {
        {"{\"n\":1}\r\n\n  \n{\"n\":2}\n", a, true}, {"{\"n\":3}\n", b, true}, {"\n", d, true}};
    CHECK(read_blocks(*src, 1 << 20) == expected);
}

TEST_CASE("source: lines in bulk stop at about max_bytes, and a longer line comes whole", "[source]") {
    ks_test::temp_dir dir;
    std::string content;
    for (int i = 0; i < 50000; ++i) content += "{\"i\":" + std::to_string(i) + "}\n";
    const std::string big = "{\"s\":\"" + std::string(3 << 20, 'x') + "\"}\n";  // longer than the read buffer
    content += big + "{\"i\":\"after\"}\n";
    const auto path = dir.write("many.jsonl", content);
    ks::common_options o;
    auto src = ks::open_source(specs({path}), o);
    const auto blocks = read_blocks(*src, 1000);
    std::string joined;
    bool saw_big = false;
    for (size_t i = 0; i < blocks.size(); ++i) {
        const auto& blk = blocks[i];
        CHECK(blk.first == (i == 0));
        CHECK(blk.name == path);
        REQUIRE_FALSE(blk.bytes.empty());
        CHECK(blk.bytes.back() == '\n');
        if (blk.bytes.size() > 1000) {
            CHECK(blk.bytes == big);  // one line longer than max_bytes: alone and whole
            saw_big = true;
        }
        joined += blk.bytes;
    }
    CHECK(saw_big);
    CHECK(joined == content);
    CHECK(blocks.size() >= (content.size() - big.size()) / 1000);  // every other block holds at most 1000 bytes
}

TEST_CASE("source: lines in bulk from a pipe: a half line waits, what is there comes without waiting", "[source]") {
    stdin_pipe in;
    ks::common_options o;
    auto src = ks::open_source(specs({"-"}), o);
    std::string into;
    ks::source::line_block b;
    in.write("{\"a\":");
    CHECK(src->next_lines(into, 1 << 20, b, 20) == ks::source::status::idle);  // half a line: nothing yet
    CHECK(src->waited());
    CHECK(into.empty());
    in.write("1}\n{\"b\":2}\n{\"c\"");
    REQUIRE(src->next_lines(into, 1 << 20, b, 1000) == ks::source::status::record);
    CHECK(into == "{\"a\":1}\n{\"b\":2}\n");
    CHECK(b.name == "-");
    CHECK(b.first);
    CHECK(src->next_lines(into, 1 << 20, b, 20) == ks::source::status::idle);
    in.close_writer();
    REQUIRE(src->next_lines(into, 1 << 20, b, 1000) == ks::source::status::record);
    CHECK(into == "{\"a\":1}\n{\"b\":2}\n{\"c\"\n");  // the last line, without a break, gets one
    CHECK_FALSE(b.first);
    CHECK(src->next_lines(into, 1 << 20, b, 1000) == ks::source::status::end);
}
