// ks::csv: the RFC 4180 reader, per-value classification, per-column type inference, --schema and
// --delimiter parsing, header names and the JSON encoder.
#include "ks/csv.hpp"
#include "ks/error.hpp"
#include "ks/json.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

using ks::csv::column_type;
using ks::csv::reader;
using ks::csv::value_kind;

namespace {

// One reader result with owned copies (record views die at the next call).
struct row {
    reader::result result;
    std::vector<std::string> fields;
    std::uint64_t line;
    std::string raw;
    std::string why;
};

using fields = std::vector<std::string>;

std::vector<row> read_all(reader& rd) {
    std::vector<row> rows;
    ks::csv::record rec;
    std::string why;
    for (auto r = rd.next(rec, why); r != reader::result::end; r = rd.next(rec, why)) {
        row out{r, {}, rec.line, std::string(rec.raw), r == reader::result::bad ? why : std::string()};
        if (r == reader::result::record) out.fields.assign(rec.fields.begin(), rec.fields.end());
        rows.push_back(std::move(out));
    }
    return rows;
}

std::vector<row> read_text(std::string_view text, char delimiter = ',') {
    ks_test::temp_dir dir;
    auto rd = reader::open(dir.write("in.csv", text), delimiter);
    return read_all(*rd);
}

// A reader over the read end of a pipe; the writer thread feeds `text` one byte at a time, so the
// reader sees the input in many small reads (quotes, CRLF and the BOM split across reads).
std::vector<row> read_through_pipe_bytewise(const std::string& text) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::thread writer([&text, fd = fds[1]] {
        for (char c : text) {
            if (::write(fd, &c, 1) != 1) break;
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
        ::close(fd);
    });
    reader rd(fds[0], "-", ',');
    auto rows = read_all(rd);
    writer.join();
    return rows;
}

std::string encode(const ks::csv::encoder& enc, const fields& values, std::string& why, int& widened) {
    std::vector<std::string_view> views(values.begin(), values.end());
    std::string out;
    if (!enc.encode(views, out, why, widened)) return "<rejected>";
    return out;
}

ks::csv::encoder inferred(std::vector<std::string> columns, std::vector<column_type> types) {
    std::vector<bool> forced(columns.size(), false);
    return {std::move(columns), std::move(types), std::move(forced)};
}

ks::csv::encoder forced(std::vector<std::string> columns, std::vector<column_type> types) {
    std::vector<bool> all(columns.size(), true);
    return {std::move(columns), std::move(types), std::move(all)};
}

column_type infer(std::initializer_list<std::string_view> values) {
    ks::csv::type_tally t;
    for (auto v : values) t.add(v);
    return t.result();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// reader

TEST_CASE("csv reader: simple rows give their fields and physical line numbers", "[csv][reader]") {
    auto rows = read_text("a,b,c\n1,2,3\n");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].result == reader::result::record);
    CHECK(rows[0].fields == fields{"a", "b", "c"});
    CHECK(rows[0].line == 1);
    CHECK(rows[0].raw == "a,b,c");
    CHECK(rows[1].fields == fields{"1", "2", "3"});
    CHECK(rows[1].line == 2);
}

TEST_CASE("csv reader: quoted fields may hold the delimiter and doubled quotes", "[csv][reader]") {
    auto rows = read_text("\"x,y\",\"say \"\"hi\"\"\",z,\"\",\"\"\"\"\n");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].fields == fields{"x,y", "say \"hi\"", "z", "", "\""});
    CHECK(rows[0].raw == "\"x,y\",\"say \"\"hi\"\"\",z,\"\",\"\"\"\"");
}

TEST_CASE("csv reader: LF and CRLF inside quotes are kept and later records keep their line", "[csv][reader]") {
    auto rows = read_text("id,text\n1,\"a\nb\"\n2,\"c\r\nd\"\r\n3,e\n");
    REQUIRE(rows.size() == 4);
    CHECK(rows[1].fields == fields{"1", "a\nb"});
    CHECK(rows[1].line == 2);
    CHECK(rows[2].fields == fields{"2", "c\r\nd"});
    CHECK(rows[2].line == 4);
    CHECK(rows[2].raw == "2,\"c\r\nd\"");
    CHECK(rows[3].fields == fields{"3", "e"});
    CHECK(rows[3].line == 6);
}

TEST_CASE("csv reader: CRLF line endings are not part of the last field", "[csv][reader]") {
    auto rows = read_text("a,b\r\n1,\"2\"\r\n3,4\r\n");
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].fields == fields{"a", "b"});
    CHECK(rows[1].fields == fields{"1", "2"});
    CHECK(rows[1].raw == "1,\"2\"");
    CHECK(rows[2].fields == fields{"3", "4"});
    CHECK(rows[2].raw == "3,4");
    CHECK(rows[2].line == 3);
}

TEST_CASE("csv reader: a UTF-8 byte order mark at the start is skipped", "[csv][reader]") {
    auto plain = read_text("\xEF\xBB\xBFname,age\nbob,3\n");
    REQUIRE(plain.size() == 2);
    CHECK(plain[0].fields == fields{"name", "age"});
    CHECK(plain[0].line == 1);

    auto quoted = read_text("\xEF\xBB\xBF\"name\",age\n");
    REQUIRE(quoted.size() == 1);
    CHECK(quoted[0].fields == fields{"name", "age"});

    auto only_bom = read_text("\xEF\xBB\xBF");
    CHECK(only_bom.empty());
}

TEST_CASE("csv reader: a BOM mid-file is data, not skipped", "[csv][reader]") {
    auto rows = read_text("a\n\xEF\xBB\xBF" "b\n");
    REQUIRE(rows.size() == 2);
    CHECK(rows[1].fields == fields{"\xEF\xBB\xBF" "b"});
}

TEST_CASE("csv reader: custom delimiters (semicolon, tab)", "[csv][reader]") {
    auto semi = read_text("a;b,c;\"d;e\"\n", ';');
    REQUIRE(semi.size() == 1);
    CHECK(semi[0].fields == fields{"a", "b,c", "d;e"});

    auto tab = read_text("a\tb c\t,\n", '\t');
    REQUIRE(tab.size() == 1);
    CHECK(tab[0].fields == fields{"a", "b c", ","});
}

TEST_CASE("csv reader: the last line may lack its newline", "[csv][reader]") {
    auto unquoted = read_text("a,b\n1,2");
    REQUIRE(unquoted.size() == 2);
    CHECK(unquoted[1].fields == fields{"1", "2"});
    CHECK(unquoted[1].line == 2);

    auto quoted = read_text("a,b\n1,\"x\"");
    REQUIRE(quoted.size() == 2);
    CHECK(quoted[1].fields == fields{"1", "x"});

    auto trailing_delimiter = read_text("a,");
    REQUIRE(trailing_delimiter.size() == 1);
    CHECK(trailing_delimiter[0].fields == fields{"a", ""});
}

TEST_CASE("csv reader: blank lines are skipped but still counted", "[csv][reader]") {
    auto rows = read_text("a\n\n\r\nb\n\n");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].fields == fields{"a"});
    CHECK(rows[0].line == 1);
    CHECK(rows[1].fields == fields{"b"});
    CHECK(rows[1].line == 4);
}

TEST_CASE("csv reader: an empty quoted field on its own line is a record, not a blank line", "[csv][reader]") {
    auto rows = read_text("\"\"\n");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].fields == fields{""});
}

TEST_CASE("csv reader: records bigger than the 1 MiB initial buffer", "[csv][reader]") {
    const std::string big(1536 * 1024, 'x');
    const std::string ys(800 * 1024, 'y'), zs(800 * 1024, 'z');
    const std::string quoted_cell = "\"" + ys + "\n\"\"" + zs + "\"";  // 1.6 MiB with a newline and a ""
    auto rows = read_text("a,b\n1," + big + "\n2," + quoted_cell + "\n3,end\n");
    REQUIRE(rows.size() == 4);
    CHECK(rows[1].fields[1].size() == big.size());
    CHECK(rows[1].fields[1] == big);
    CHECK(rows[1].line == 2);
    REQUIRE(rows[2].fields.size() == 2);
    CHECK(rows[2].fields[1] == ys + "\n\"" + zs);
    CHECK(rows[2].line == 3);
    CHECK(rows[3].fields == fields{"3", "end"});
    CHECK(rows[3].line == 5);  // the quoted cell spans lines 3 and 4
}

TEST_CASE("csv reader: text after a closing quote is a bad record and reading resumes on the next line",
          "[csv][reader]") {
    auto rows = read_text("a,b\n\"x\"y,2\r\n3,4\n");
    REQUIRE(rows.size() == 3);
    CHECK(rows[1].result == reader::result::bad);
    CHECK(rows[1].line == 2);
    CHECK(rows[1].raw == "\"x\"y,2");
    CHECK(rows[1].why == "unexpected character 'y' after a closing quote in field 1");
    CHECK(rows[2].result == reader::result::record);
    CHECK(rows[2].fields == fields{"3", "4"});
    CHECK(rows[2].line == 3);
}

TEST_CASE("csv reader: a bad record spanning lines keeps the next record's line right", "[csv][reader]") {
    auto rows = read_text("\"multi\nline\"oops\nok\n");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].result == reader::result::bad);
    CHECK(rows[0].line == 1);
    CHECK(rows[0].raw == "\"multi\nline\"oops");
    CHECK(rows[1].fields == fields{"ok"});
    CHECK(rows[1].line == 3);
}

TEST_CASE("csv reader: an unterminated quote at the end of input is a bad record", "[csv][reader]") {
    auto rows = read_text("a\n\"open,1\n2\n");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].fields == fields{"a"});
    CHECK(rows[1].result == reader::result::bad);
    CHECK(rows[1].line == 2);
    CHECK(rows[1].why == "unterminated quoted field");
    CHECK(rows[1].raw == "\"open,1\n2\n");
}

TEST_CASE("csv reader: rewind goes back to the first record (BOM skipped again)", "[csv][reader]") {
    ks_test::temp_dir dir;
    auto rd = reader::open(dir.write("in.csv", "\xEF\xBB\xBFh1,h2\n1,2\n"), ',');
    CHECK(rd->seekable());
    auto first = read_all(*rd);
    rd->rewind();
    auto second = read_all(*rd);
    REQUIRE(second.size() == 2);
    CHECK(second[0].fields == fields{"h1", "h2"});
    CHECK(second[0].line == 1);
    CHECK(second[1].fields == first[1].fields);
    CHECK(second[1].line == 2);
}

TEST_CASE("csv reader: input arriving a byte at a time through a pipe parses the same", "[csv][reader]") {
    const std::string text = "\xEF\xBB\xBFid,\"na\"\"me\"\r\n1,\"a\r\nb\"\r\n\r\n2,\"x\"y\n3,last";
    auto rows = read_through_pipe_bytewise(text);
    REQUIRE(rows.size() == 4);
    CHECK(rows[0].fields == fields{"id", "na\"me"});
    CHECK(rows[1].fields == fields{"1", "a\r\nb"});
    CHECK(rows[1].line == 2);
    CHECK(rows[2].result == reader::result::bad);
    CHECK(rows[2].line == 5);
    CHECK(rows[3].fields == fields{"3", "last"});
    CHECK(rows[3].line == 6);
}

namespace {
// What generate_csv writes: values made of random pieces, and how often it adds a blank line
// before a record or quotes a value that would not need it.
struct csv_shape {
    char delim;
    std::vector<std::string> pieces;
    unsigned blank_one_in, quote_one_in;
    std::function<unsigned()> piece_count;  // pieces in one value
};

// Appends `records` records of `columns` random values to text: quoted when they hold the
// delimiter, a quote or a line break (or at random), CRLF or LF endings, blank lines, and a final
// line break or not. Appends to expected the rows they read back as, with their first line.
void generate_csv(const std::function<unsigned(unsigned)>& pick, const csv_shape& shape, unsigned columns,
                  unsigned records, std::string& text, std::vector<row>& expected) {
    std::uint64_t line = 1;
    const std::string special = std::string("\"\r\n") + shape.delim;
    for (unsigned r = 0; r < records; ++r) {
        while (pick(shape.blank_one_in) == 0) text += pick(2) ? "\r\n" : "\n", ++line;
        row want{reader::result::record, {}, line, {}, {}};
        for (unsigned c = 0; c < columns; ++c) {
            std::string value;
            for (unsigned k = shape.piece_count(); k > 0; --k)
                value += shape.pieces[pick(static_cast<unsigned>(shape.pieces.size()))];
            // A lone empty unquoted value would be a blank line: quote it.
            const bool quote = value.find_first_of(special) != std::string::npos || (columns == 1 && value.empty()) ||
                               pick(shape.quote_one_in) == 0;
            if (c > 0) text += shape.delim;
            if (quote) {
                text += '"';
                for (char ch : value) {
                    if (ch == '"') text += '"';
                    text += ch;
                    if (ch == '\n') ++line;
                }
                text += '"';
            } else {
                text += value;
            }
            want.fields.push_back(value);
        }
        expected.push_back(std::move(want));
        if (r + 1 < records || pick(2)) text += pick(2) ? "\r\n" : "\n", ++line;
    }
}

// Whether the reader gave exactly the expected records, fields and lines.
bool reads_back(const std::vector<row>& rows, const std::vector<row>& expected) {
    bool same = rows.size() == expected.size();
    for (size_t i = 0; same && i < rows.size(); ++i)
        same = rows[i].result == reader::result::record && rows[i].fields == expected[i].fields &&
               rows[i].line == expected[i].line;
    return same;
}
}  // namespace

// Property: any well-formed CSV (random values with delimiters, quotes, LF/CRLF inside quotes, CRLF
// or LF endings, blank lines, optional BOM and final newline) reads back as the values it was written
// from, with the right starting lines, however the bytes are split into reads.
TEST_CASE("csv reader: generated well-formed CSV reads back exactly", "[csv][reader]") {
    std::mt19937 rng(20240115);
    const std::function<unsigned(unsigned)> pick = [&rng](unsigned n) { return static_cast<unsigned>(rng() % n); };
    const csv_shape shape{',', {"a", "b", ",", "\"", "\n", "\r\n", " ", "\xC3\xA9"}, 5, 3, [&] { return pick(5); }};
    int mismatches = 0;
    for (int iteration = 0; iteration < 300; ++iteration) {
        std::string text = pick(4) == 0 ? "\xEF\xBB\xBF" : "";
        std::vector<row> expected;
        const unsigned columns = 1 + pick(4), records = 1 + pick(6);
        generate_csv(pick, shape, columns, records, text, expected);

        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        std::vector<size_t> cuts;  // random write sizes, drawn here: rng is not shared with the thread
        for (size_t at = 0; at < text.size(); at += cuts.emplace_back(1 + pick(7))) {
        }
        std::thread writer([&text, &cuts, fd = fds[1]] {
            size_t at = 0;
            for (size_t n : cuts) {
                n = std::min(n, text.size() - at);
                if (::write(fd, text.data() + at, n) != static_cast<ssize_t>(n)) break;
                at += n;
            }
            ::close(fd);
        });
        reader rd(fds[0], "-", ',');
        auto rows = read_all(rd);
        writer.join();
        if (!reads_back(rows, expected) && ++mismatches <= 3) FAIL_CHECK("mismatch reading: " << text);
    }
    CHECK(mismatches == 0);
}

// The same property for a file read in one buffer, where the parser carries its 64-byte blocks of
// delimiter and line-feed positions from one record to the next: long values (fields and records
// across block boundaries), both delimiters, quoted and unquoted fields side by side.
TEST_CASE("csv reader: generated CSV with long values reads back exactly from a file", "[csv][reader]") {
    std::mt19937 rng(77);
    const std::function<unsigned(unsigned)> pick = [&rng](unsigned n) { return static_cast<unsigned>(rng() % n); };
    ks_test::temp_dir dir;
    int mismatches = 0;
    for (int iteration = 0; iteration < 200; ++iteration) {
        const char delim = pick(2) ? ',' : ';';
        const csv_shape shape{delim,
                              {"a", "bcdefgh", std::string(1, delim), "\"", "\n", "\r\n", " ", "\xC3\xA9", "12", "."},
                              9,
                              5,
                              [&] { return pick(4) == 0 ? pick(40) : pick(4); }};
        std::string text;
        std::vector<row> expected;
        const unsigned columns = 1 + pick(12), records = 1 + pick(40);
        generate_csv(pick, shape, columns, records, text, expected);
        reader rd(dir.write("gen.csv", text), delim);
        if (!reads_back(read_all(rd), expected) && ++mismatches <= 3) FAIL_CHECK("mismatch reading: " << text);
    }
    CHECK(mismatches == 0);
}

TEST_CASE("csv reader: a pipe is not seekable and cannot be rewound", "[csv][reader]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    REQUIRE(::write(fds[1], "a\n", 2) == 2);
    ::close(fds[1]);
    reader rd(fds[0], "-", ',');
    CHECK_FALSE(rd.seekable());
    CHECK(rd.name() == "-");
    auto rows = read_all(rd);
    REQUIRE(rows.size() == 1);
    CHECK_THROWS_AS(rd.rewind(), ks::runtime_failure);
}

TEST_CASE("csv reader: open fails with the path and the reason", "[csv][reader]") {
    ks_test::temp_dir dir;
    const std::string missing = dir.child("missing.csv");
    CHECK_THROWS_WITH(reader::open(missing, ','), missing + ": No such file or directory");
    CHECK_THROWS_AS(reader::open(missing, ','), ks::runtime_failure);
    CHECK_THROWS_WITH(reader::open(dir.path().string(), ','), dir.path().string() + ": is a directory");
}

// ---------------------------------------------------------------------------------------------
// classify and type_tally

TEST_CASE("csv classify: integers exact in a double without leading zeros", "[csv][types]") {
    CHECK(ks::csv::classify("0") == value_kind::integer);
    CHECK(ks::csv::classify("-0") == value_kind::integer);
    CHECK(ks::csv::classify("42") == value_kind::integer);
    CHECK(ks::csv::classify("-17") == value_kind::integer);
    CHECK(ks::csv::classify("9007199254740992") == value_kind::integer);   // 2^53
    CHECK(ks::csv::classify("-9007199254740992") == value_kind::integer);
    CHECK(ks::csv::classify("9007199254740993") == value_kind::text);      // not exact in a double
    CHECK(ks::csv::classify("12345678901234567890") == value_kind::text);
    CHECK(ks::csv::classify("00") == value_kind::text);
    CHECK(ks::csv::classify("00501") == value_kind::text);
    CHECK(ks::csv::classify("-007") == value_kind::text);
    CHECK(ks::csv::classify("+1") == value_kind::text);
    CHECK(ks::csv::classify(" 1") == value_kind::text);
    CHECK(ks::csv::classify("1 ") == value_kind::text);
    CHECK(ks::csv::classify("-") == value_kind::text);
}

TEST_CASE("csv classify: finite JSON numbers, booleans in any case, empty", "[csv][types]") {
    CHECK(ks::csv::classify("1.50") == value_kind::number);
    CHECK(ks::csv::classify("-0.5") == value_kind::number);
    CHECK(ks::csv::classify("1e5") == value_kind::number);
    CHECK(ks::csv::classify("2.5E-3") == value_kind::number);
    CHECK(ks::csv::classify("1e999") == value_kind::text);  // not finite
    CHECK(ks::csv::classify("1.") == value_kind::text);
    CHECK(ks::csv::classify(".5") == value_kind::text);
    CHECK(ks::csv::classify("NaN") == value_kind::text);
    CHECK(ks::csv::classify("Infinity") == value_kind::text);
    CHECK(ks::csv::classify("1,5") == value_kind::text);

    CHECK(ks::csv::classify("true") == value_kind::boolean);
    CHECK(ks::csv::classify("True") == value_kind::boolean);
    CHECK(ks::csv::classify("FALSE") == value_kind::boolean);
    CHECK(ks::csv::classify("yes") == value_kind::text);
    CHECK(ks::csv::classify("truth") == value_kind::text);

    CHECK(ks::csv::classify("") == value_kind::empty);
    CHECK(ks::csv::classify("abc") == value_kind::text);
}

TEST_CASE("csv classify: one pass agrees with the JSON number grammar and the 2^53 rule", "[csv][types]") {
    // The reference: json::is_number and json::is_safe_integer, then the finite check by strtod.
    const auto reference = [](const std::string& v) {
        if (v.empty()) return value_kind::empty;
        if (ks::json::is_safe_integer(v)) return value_kind::integer;
        if (ks::json::is_number(v)) {
            if (v.find_first_of(".eE") == std::string::npos) return value_kind::text;
            return std::isfinite(std::strtod(v.c_str(), nullptr)) ? value_kind::number : value_kind::text;
        }
        std::string lower = v;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return lower == "true" || lower == "false" ? value_kind::boolean : value_kind::text;
    };
    const std::string alphabet = "0123456789-+.eE x";
    std::uint64_t state = 12345;
    for (int n = 0; n < 300000; ++n) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        std::uint64_t bits = state >> 20;
        std::string v;
        for (size_t len = 1 + bits % 9; v.size() < len; bits /= 17) v += alphabet[bits % alphabet.size()];
        REQUIRE(ks::csv::classify(v) == reference(v));
    }
    for (std::string v : {"1e-999", "1E+308", "1e309", "12345678901234567890.5", "-0.0e0", "0.5e", "1e+", "-.5",
                          "1.5.5", "1e5x", "9007199254740992.0"})
        CHECK(ks::csv::classify(v) == reference(v));
    const std::string long_finite = std::string(300, '1') + ".0";   // past the short-number shortcut
    const std::string long_infinite = std::string(400, '9') + ".0";
    CHECK(ks::csv::classify(long_finite) == value_kind::number);
    CHECK(ks::csv::classify(long_infinite) == value_kind::text);
}

TEST_CASE("csv type_tally: the narrowest type that holds every value", "[csv][types]") {
    CHECK(infer({"1", "2", ""}) == column_type::integer);
    CHECK(infer({"1", "2.5"}) == column_type::number);
    CHECK(infer({"1e3", "7"}) == column_type::number);
    CHECK(infer({"true", "", "False"}) == column_type::boolean);
    CHECK(infer({"true", "1"}) == column_type::string);
    CHECK(infer({"false", "1.5"}) == column_type::string);
    CHECK(infer({"1", "00501"}) == column_type::string);
    CHECK(infer({"1", "9007199254740993"}) == column_type::string);
    CHECK(infer({"1.5", "abc"}) == column_type::string);
    CHECK(infer({"", ""}) == column_type::string);
    CHECK(infer({}) == column_type::string);
}

namespace {
// Types of every record after the header, tallied by tally_to_end and, for comparison, one
// record at a time on one thread.
struct tallied {
    std::vector<column_type> split, sequential;
    bool two_halves = false;
};

tallied tally_file(const std::string& path, size_t columns) {
    tallied t;
    ks::csv::record rec;
    std::string why;
    const std::vector<bool> skip(columns, false);
    {
        reader rd(path, ',');
        REQUIRE(rd.next(rec, why) == reader::result::record);  // header
        std::vector<ks::csv::type_tally> tallies(columns);
        t.two_halves = ks::csv::tally_to_end(rd, tallies, skip);
        for (const auto& x : tallies) t.split.push_back(x.result());
    }
    reader rd(path, ',');
    REQUIRE(rd.next(rec, why) == reader::result::record);
    std::vector<ks::csv::type_tally> tallies(columns);
    for (auto r = rd.next(rec, why); r != reader::result::end; r = rd.next(rec, why))
        if (r == reader::result::record && rec.fields.size() == columns)
            for (size_t i = 0; i < columns; ++i) tallies[i].add(rec.fields[i]);
    for (const auto& x : tallies) t.sequential.push_back(x.result());
    return t;
}
}  // namespace

TEST_CASE("csv tally_to_end: a large file is tallied in two halves with the whole file's types", "[csv][types]") {
    // 11 MB. Column b is all integers in the first half and has one float near the end; c has a
    // word in the very last row; d is empty but for one boolean in the second half.
    std::string text = "a,b,c,d\n";
    const int rows = 800000;
    for (int i = 0; i < rows; ++i) {
        text += std::to_string(i) + ",";
        text += (i == rows - 10 ? std::string("2.5") : std::to_string(i % 1000)) + ",";
        text += (i == rows - 1 ? std::string("word") : std::to_string(i % 7)) + ",";
        text += i == rows - 20 ? "true" : "";
        text += "\n";
    }
    REQUIRE(text.size() > (9u << 20));
    ks_test::temp_dir dir;
    const auto t = tally_file(dir.write("big.csv", text), 4);
    CHECK(t.two_halves);
    CHECK(t.split == std::vector<column_type>{column_type::integer, column_type::number, column_type::string,
                                              column_type::boolean});
    CHECK(t.split == t.sequential);
}

TEST_CASE("csv tally_to_end: a quoted field across the middle makes the second half's guess void", "[csv][types]") {
    // The middle of the file is inside one quoted field whose lines look like records with a word
    // in column b. Counted as records they would make b a string; it is an integer column.
    std::string text = "a,b,c\n";
    for (int i = 0; i < 300000; ++i) text += std::to_string(i) + "," + std::to_string(i % 100) + ",x\n";
    text += "1,2,\"";
    for (int i = 0; i < 300000; ++i) text += "7,hello,q\n";
    text += "\"\n";
    for (int i = 0; i < 300000; ++i) text += std::to_string(i) + "," + std::to_string(i % 100) + ",y\n";
    REQUIRE(text.size() > (9u << 20));
    ks_test::temp_dir dir;
    const auto t = tally_file(dir.write("quoted.csv", text), 3);
    CHECK_FALSE(t.two_halves);
    CHECK(t.split == std::vector<column_type>{column_type::integer, column_type::integer, column_type::string});
    CHECK(t.split == t.sequential);
}

TEST_CASE("csv tally_to_end: small files and standard input are read by one thread", "[csv][types]") {
    ks_test::temp_dir dir;
    const auto t = tally_file(dir.write("small.csv", "a,b\n1,x\n2,\n"), 2);
    CHECK_FALSE(t.two_halves);
    CHECK(t.split == std::vector<column_type>{column_type::integer, column_type::string});
}

// tally_to_end reads plain records (ASCII, no quote) through a fast path with its own number test:
// every value must come out as classify says.
TEST_CASE("csv tally_to_end: the fast path classifies every value as classify does", "[csv][types]") {
    std::vector<std::string> values = {"0", "-0", "00", "-00", "01", "-", "--1", "+1", "1", "-1", "0.5", "-0.5",
                                       "00.5", ".5", "5.", "-.5", "1.2.3", "1..2", "1e5", "1E-5", "-2.5e+3",
                                       "1e", "true", "FALSE", "True", "tru", "falsey", "123456789012345",
                                       "1234567890123456", "12345678901234567", "9007199254740993",
                                       "-123456789012345", "-1234567890123456", "12345678901234.5",
                                       "123456789012345.5", "1 2", " 1", "1 ", "abc", "1a", "0x10", "1;5",
                                       "9.", "-9.9", "0.0000001", "1.5e999"};
    std::mt19937 rng(5);
    const std::string alphabet = "0123456789.-eE+ ";
    for (int i = 0; i < 3000; ++i) {
        std::string v;
        const unsigned n = 1 + rng() % 20;
        for (unsigned k = 0; k < n; ++k) v += alphabet[rng() % (k == 0 ? 12 : alphabet.size())];
        values.push_back(v);
    }
    // One record, one value a column, columns in chunks so that values land at every offset of the
    // parser's 64-byte blocks.
    ks_test::temp_dir dir;
    for (size_t from = 0; from < values.size(); from += 500) {
        const size_t to = std::min(values.size(), from + 500);
        std::string text;
        for (size_t i = from; i < to; ++i) text += (i > from ? "," : "") + std::string("c") + std::to_string(i);
        text += "\n";
        for (size_t i = from; i < to; ++i) text += (i > from ? "," : "") + values[i];
        text += "\n";
        reader rd(dir.write("values.csv", text), ',');
        ks::csv::record rec;
        std::string why;
        REQUIRE(rd.next(rec, why) == reader::result::record);
        std::vector<ks::csv::type_tally> tallies(to - from);
        ks::csv::tally_to_end(rd, tallies, std::vector<bool>(to - from, false));
        for (size_t i = from; i < to; ++i) {
            ks::csv::type_tally one;
            one.add(values[i]);
            INFO("value '" << values[i] << "'");
            CHECK(tallies[i - from].result() == one.result());
        }
    }
}

// Property: on any input, tally_to_end (fast path for plain records, the reader for the rest) gives
// the types that tally_record gives over every record the reader returns: quotes, escaped quotes,
// line breaks in quotes, CRLF, blank lines, other field counts, valid and invalid UTF-8, records
// across the reader's 1 MiB buffer.
TEST_CASE("csv tally_to_end: the same types as tally_record over every record, on random input", "[csv][types]") {
    std::mt19937 rng(99);
    const auto pick = [&rng](unsigned n) { return static_cast<unsigned>(rng() % n); };
    ks_test::temp_dir dir;
    const char* const cells[] = {"1", "-7", "2.5", "0.25", "true", "False", "", "x", "007", "1e3", "\"q\"",
                                 "\"a,b\"", "\"l1\nl2\"", "\"\"\"\"", "\xC3\xA9", "\xFF", "12345678901234567", "3."};
    for (int iteration = 0; iteration < 12; ++iteration) {
        const unsigned columns = 2 + pick(6);
        // Each column draws from a few cells so that its type varies between runs.
        std::vector<std::vector<unsigned>> pool(columns);
        for (auto& p : pool)
            for (unsigned k = 1 + pick(3); k > 0; --k) p.push_back(pick(18));
        const unsigned rare = pick(4) == 0 ? 18 : 0;  // sometimes any cell, rarely
        std::string text;
        for (unsigned c = 0; c < columns; ++c) text += (c ? "," : "") + std::string("h") + std::to_string(c);
        text += "\n";
        const size_t size = iteration % 3 == 0 ? (2u << 20) + pick(100000) : 1000 + pick(200000);
        while (text.size() < size) {
            if (pick(200) == 0) text += pick(2) ? "\n" : "\r\n";  // a blank line
            // A record with another field count holds only words: were it counted, every column
            // would be a string.
            const bool other_count = pick(300) == 0;
            const unsigned fields = other_count ? columns + 1 - 2 * pick(2) : columns;
            for (unsigned c = 0; c < fields; ++c) {
                if (c) text += ',';
                const auto& p = pool[c % columns];
                text += other_count ? "x" : cells[rare && pick(5000) == 0 ? pick(rare) : p[pick(static_cast<unsigned>(p.size()))]];
            }
            text += pick(10) == 0 ? "\r\n" : "\n";
        }
        const std::string path = dir.write("random.csv", text);

        std::vector<ks::csv::type_tally> fast(columns), slow(columns);
        const std::vector<bool> skip(columns, false);
        ks::csv::record rec;
        std::string why;
        {
            reader rd(path, ',');
            REQUIRE(rd.next(rec, why) == reader::result::record);
            ks::csv::tally_to_end(rd, fast, skip);
        }
        reader rd(path, ',');
        REQUIRE(rd.next(rec, why) == reader::result::record);
        for (auto r = rd.next(rec, why); r != reader::result::end; r = rd.next(rec, why))
            if (r == reader::result::record) ks::csv::tally_record(slow, rec.fields, rec.raw, skip);
        for (unsigned c = 0; c < columns; ++c) {
            INFO("iteration " << iteration << " column " << c);
            CHECK(fast[c].result() == slow[c].result());
        }
    }
}

TEST_CASE("csv type_name: the names --schema accepts", "[csv][types]") {
    CHECK(ks::csv::type_name(column_type::integer) == "int");
    CHECK(ks::csv::type_name(column_type::number) == "float");
    CHECK(ks::csv::type_name(column_type::boolean) == "bool");
    CHECK(ks::csv::type_name(column_type::string) == "string");
}

// ---------------------------------------------------------------------------------------------
// parse_schema, parse_delimiter, header_names

TEST_CASE("csv parse_schema: types and their aliases", "[csv][schema]") {
    auto s = ks::csv::parse_schema("a:int,b:long,c:integer,d:float,e:double,f:number,g:bool,h:boolean,i:string,"
                                   "j:str,k:text,Day of the week:string,x:y:int");
    REQUIRE(s.size() == 13);
    const std::vector<column_type> expected{
        column_type::integer, column_type::integer, column_type::integer, column_type::number, column_type::number,
        column_type::number,  column_type::boolean, column_type::boolean, column_type::string, column_type::string,
        column_type::string,  column_type::string,  column_type::integer};
    for (size_t i = 0; i < s.size(); ++i) CHECK(s[i].type == expected[i]);
    CHECK(s[0].column == "a");
    CHECK(s[11].column == "Day of the week");
    CHECK(s[12].column == "x:y");  // the last colon separates the type
    CHECK(ks::csv::parse_schema("").empty());
}

TEST_CASE("csv parse_schema: errors are usage errors naming the problem", "[csv][schema]") {
    CHECK_THROWS_AS(ks::csv::parse_schema("a:date"), ks::usage_error);
    CHECK_THROWS_WITH(ks::csv::parse_schema("a:date"),
                      "--schema: unknown type 'date' for 'a' (int, float, bool, string)");
    CHECK_THROWS_WITH(ks::csv::parse_schema("a:int,b"), "--schema: expected column:type, got 'b'");
    CHECK_THROWS_WITH(ks::csv::parse_schema(":int"), "--schema: expected column:type, got ':int'");
    CHECK_THROWS_AS(ks::csv::parse_schema("a:int,,b:int"), ks::usage_error);
    CHECK_THROWS_AS(ks::csv::parse_schema("a:"), ks::usage_error);
}

TEST_CASE("csv parse_delimiter: one byte, or a spelled-out tab", "[csv][schema]") {
    CHECK(ks::csv::parse_delimiter(",") == ',');
    CHECK(ks::csv::parse_delimiter(";") == ';');
    CHECK(ks::csv::parse_delimiter("|") == '|');
    CHECK(ks::csv::parse_delimiter("\t") == '\t');
    CHECK(ks::csv::parse_delimiter("\\t") == '\t');
    CHECK(ks::csv::parse_delimiter("tab") == '\t');
    CHECK_THROWS_AS(ks::csv::parse_delimiter(""), ks::usage_error);
    CHECK_THROWS_WITH(ks::csv::parse_delimiter(";;"), "--delimiter: expected one character, got ';;'");
    CHECK_THROWS_AS(ks::csv::parse_delimiter("\""), ks::usage_error);
    CHECK_THROWS_AS(ks::csv::parse_delimiter("\n"), ks::usage_error);
    CHECK_THROWS_AS(ks::csv::parse_delimiter("\r"), ks::usage_error);
}

TEST_CASE("csv header_names: blank names become column_N, duplicates get _2, _3", "[csv][schema]") {
    std::vector<std::string> notes;
    std::vector<std::string_view> header{"id", "", "id", "Day of the week", "id", "id_2", ""};
    auto names = ks::csv::header_names(header, notes);
    CHECK(names == std::vector<std::string>{"id", "column_2", "id_2", "Day of the week", "id_3", "id_2_2", "column_7"});
    REQUIRE(notes.size() == 5);
    CHECK(notes[0] == "column 2 has no name: called it 'column_2'");
    CHECK(notes[1] == "column 3 repeats the name 'id': called it 'id_2'");

    notes.clear();
    CHECK(ks::csv::header_names({"a", "b"}, notes) == std::vector<std::string>{"a", "b"});
    CHECK(notes.empty());
}

// ---------------------------------------------------------------------------------------------
// encoder

TEST_CASE("csv encoder: typed values, keys in column order, empty cells as null", "[csv][encoder]") {
    auto enc = inferred({"id", "Day of the week", "score", "ok", "note", "zip"},
                        {column_type::integer, column_type::string, column_type::number, column_type::boolean,
                         column_type::string, column_type::string});
    std::string why;
    int widened = 99;
    CHECK(encode(enc, {"7", "Ann \"A\"\t", "1.50", "TRUE", "", "00501"}, why, widened) ==
          R"({"id":7,"Day of the week":"Ann \"A\"\t","score":1.50,"ok":true,"note":null,"zip":"00501"})");
    CHECK(widened == -1);
    CHECK(encode(enc, {"-3", "", "2", "false", "x", ""}, why, widened) ==
          R"({"id":-3,"Day of the week":null,"score":2,"ok":false,"note":"x","zip":null})");
    CHECK(widened == -1);
    CHECK(enc.index_of("score") == 2);
    CHECK(enc.index_of("nope") == -1);
}

TEST_CASE("csv encoder: trusted whole-file types write the same objects without classifying again", "[csv][encoder]") {
    auto enc = inferred({"id", "name", "score", "ok", "zip"}, {column_type::integer, column_type::string,
                                                              column_type::number, column_type::boolean,
                                                              column_type::string});
    enc.trust_inferred_types();
    std::string why;
    int widened = 99;
    CHECK(encode(enc, {"-12", "say \"hi\"\n\x01", "2.5e-3", "False", "00501"}, why, widened) ==
          R"({"id":-12,"name":"say \"hi\"\n\u0001","score":2.5e-3,"ok":false,"zip":"00501"})");
    CHECK(widened == -1);
    CHECK(encode(enc, {"", "", "", "", ""}, why, widened) ==
          R"({"id":null,"name":null,"score":null,"ok":null,"zip":null})");
    // The room reserved for a row is cut back to what was written, and nothing else is touched.
    const std::string long_text(5000, '"');
    std::string out = "kept|";
    std::vector<std::string_view> row{"1", long_text, "1", "true", "x"};
    REQUIRE(enc.encode(row, out, why, widened));
    CHECK(out.size() == 5 + std::string_view(R"({"id":1,"name":"","score":1,"ok":true,"zip":"x"})").size() + 10000);
    CHECK(out.starts_with("kept|{\"id\":1,\"name\":\"\\\"\\\""));
    CHECK(out.ends_with("\\\"\",\"score\":1,\"ok\":true,\"zip\":\"x\"}"));
}

// Keys are copied as 32-byte slots and short numbers as overlapping words: names of every length
// around the slot size and values of every length around the word sizes come out exact.
TEST_CASE("csv encoder: keys and trusted values of every length", "[csv][encoder]") {
    std::vector<std::string> names;
    std::vector<column_type> types;
    for (size_t n = 1; n <= 40; ++n) {
        names.push_back(std::string(n - 1, 'k') + static_cast<char>('a' + n % 26));
        types.push_back(n % 2 ? column_type::integer : column_type::string);
    }
    auto enc = inferred(names, types);
    enc.trust_inferred_types();
    for (size_t length = 1; length <= 20; ++length) {
        std::vector<std::string> values;
        std::string want = "{";
        for (size_t i = 0; i < names.size(); ++i) {
            std::string v;
            for (size_t k = 0; k < length; ++k) v += static_cast<char>('1' + (k + i) % 9);
            if (types[i] == column_type::string) v[length / 2] = 'x';
            values.push_back(v);
            want += (i ? ",\"" : "\"") + names[i] + "\":";
            want += types[i] == column_type::string ? "\"" + v + "\"" : v;
        }
        want += "}";
        std::vector<std::string_view> row(values.begin(), values.end());
        std::string out, why;
        int widened = 0;
        REQUIRE(enc.encode(row, out, why, widened));
        INFO("values of " << length << " bytes");
        CHECK(out == want);
    }
}

TEST_CASE("csv encoder: the object is appended to what the buffer holds", "[csv][encoder]") {
    auto enc = inferred({"a"}, {column_type::integer});
    std::string out = "prefix ";
    std::string why;
    int widened = 0;
    std::vector<std::string_view> row{"1"};
    REQUIRE(enc.encode(row, out, why, widened));
    CHECK(out == R"(prefix {"a":1})");
}

TEST_CASE("csv encoder: a wrong field count is rejected with a reason and nothing written", "[csv][encoder]") {
    auto enc = inferred({"a", "b", "c"}, {column_type::integer, column_type::integer, column_type::integer});
    std::string out = "kept";
    std::string why;
    int widened = 0;
    std::vector<std::string_view> short_row{"1", "2"};
    CHECK_FALSE(enc.encode(short_row, out, why, widened));
    CHECK(why == "expected 3 fields, found 2");
    CHECK(out == "kept");
    std::vector<std::string_view> long_row{"1", "2", "3", "4"};
    CHECK_FALSE(enc.encode(long_row, out, why, widened));
    CHECK(why == "expected 3 fields, found 4");
}

TEST_CASE("csv encoder: --schema types normalise values that fit", "[csv][encoder]") {
    auto enc = forced({"zip", "n", "x", "y", "z", "flag", "s"},
                      {column_type::integer, column_type::integer, column_type::number, column_type::number,
                       column_type::number, column_type::boolean, column_type::string});
    std::string why;
    int widened = 0;
    CHECK(encode(enc, {"00501", "+42", "1.", ".5", "1e3", "yes", "123"}, why, widened) ==
          R"({"zip":501,"n":42,"x":1,"y":0.5,"z":1e3,"flag":true,"s":"123"})");
    CHECK(widened == -1);
    CHECK(encode(enc, {"-0", "-12", "2.50", "-.25", "", "", ""}, why, widened) ==
          R"({"zip":0,"n":-12,"x":2.50,"y":-0.25,"z":null,"flag":null,"s":null})");
}

TEST_CASE("csv encoder: --schema bool accepts true/false, t/f, yes/no, y/n, 1/0 in any case", "[csv][encoder]") {
    auto enc = forced({"b"}, {column_type::boolean});
    std::string why;
    int widened = 0;
    for (std::string v : {"true", "T", "Yes", "y", "1"}) CHECK(encode(enc, {v}, why, widened) == R"({"b":true})");
    for (std::string v : {"FALSE", "f", "no", "N", "0"}) CHECK(encode(enc, {v}, why, widened) == R"({"b":false})");
    CHECK(encode(enc, {"maybe"}, why, widened) == "<rejected>");
    CHECK(why == "column 'b': 'maybe' is not a valid bool");
}

TEST_CASE("csv encoder: a value that does not fit its --schema type is an error naming the column",
          "[csv][encoder]") {
    auto enc = forced({"id", "temp"}, {column_type::integer, column_type::number});
    std::string out = "before";
    std::string why;
    int widened = 0;
    std::vector<std::string_view> bad_int{"12a", "1.5"};
    CHECK_FALSE(enc.encode(bad_int, out, why, widened));
    CHECK(why == "column 'id': '12a' is not a valid int");
    CHECK(out == "before");  // the partly written object is taken back

    for (std::string v : {"1.5", " 5", "99999999999999999999", "abc"}) {
        CHECK(encode(enc, {v, "1"}, why, widened) == "<rejected>");
        CHECK(why == "column 'id': '" + v + "' is not a valid int");
    }
    for (std::string v : {"abc", "1e999", "inf", "nan", "1,5"}) {
        CHECK(encode(enc, {"1", v}, why, widened) == "<rejected>");
        CHECK(why == "column 'temp': '" + v + "' is not a valid float");
    }
}

TEST_CASE("csv encoder: --schema int rejects a sign after a plus sign", "[csv][encoder]") {
    auto enc = forced({"n"}, {column_type::integer});
    std::string why;
    int widened = 0;
    CHECK(encode(enc, {"+-5"}, why, widened) == "<rejected>");
    CHECK(why == "column 'n': '+-5' is not a valid int");
}

TEST_CASE("csv encoder: an inferred column keeps values that do not fit, and says which", "[csv][encoder]") {
    auto enc = inferred({"n", "m"}, {column_type::integer, column_type::integer});
    std::string why;
    int widened = 0;
    CHECK(encode(enc, {"1", "1.5"}, why, widened) == R"({"n":1,"m":1.5})");
    CHECK(widened == 1);
    CHECK(encode(enc, {"abc", "2"}, why, widened) == R"({"n":"abc","m":2})");
    CHECK(widened == 0);
    CHECK(encode(enc, {"00501", "9007199254740993"}, why, widened) == R"({"n":"00501","m":"9007199254740993"})");
    CHECK(widened == 1);
    CHECK(encode(enc, {"3", "4"}, why, widened) == R"({"n":3,"m":4})");
    CHECK(widened == -1);

    auto number = inferred({"x"}, {column_type::number});
    CHECK(encode(number, {"7"}, why, widened) == R"({"x":7})");
    CHECK(widened == -1);
    CHECK(encode(number, {"n/a"}, why, widened) == R"({"x":"n/a"})");
    CHECK(widened == 0);

    auto boolean = inferred({"b"}, {column_type::boolean});
    CHECK(encode(boolean, {"False"}, why, widened) == R"({"b":false})");
    CHECK(widened == -1);
    CHECK(encode(boolean, {"yes"}, why, widened) == R"({"b":"yes"})");
    CHECK(widened == 0);
}
