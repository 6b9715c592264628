// CSV in: an RFC 4180 reader (quotes, embedded newlines, custom delimiters, BOM, CRLF), per-column
// type inference that never loses information, --schema overrides, and rows encoded as JSON objects.
#pragma once

#include "ks/io.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ks::csv {

struct record {
    std::vector<std::string_view> fields;  // valid until the next call to reader::next
    std::uint64_t line = 0;                // physical line where the record starts (1-based)
    std::string_view raw;                  // the record's bytes without its line terminator
};

class type_tally;

class reader {
public:
    enum class result { record, bad, end };

    // "-" is standard input. Throws runtime_failure when the file cannot be opened.
    reader(const std::string& path, char delimiter);
    reader(int fd, std::string name, char delimiter);  // takes ownership of fd
    static std::unique_ptr<reader> open(const std::string& path, char delimiter) {
        return std::make_unique<reader>(path, delimiter);
    }

    // record: r is filled. bad: r.line and r.raw say where, `why` says what (broken quoting);
    // reading goes on after the bad record. end: no more input.
    result next(record& r, std::string& why);

    [[nodiscard]] bool seekable() const { return in_.seekable(); }
    // True when next() has something to work on without waiting longer than timeout_ms.
    [[nodiscard]] bool ready(int timeout_ms) const { return in_.ready(timeout_ms); }
    void rewind();  // back to the first byte (seekable inputs only)
    // Byte offset where the next record (or blank line) starts.
    [[nodiscard]] std::uint64_t tell() const { return in_.offset(); }
    // Moves to the first line break at or after `offset` and just past it (seekable inputs only;
    // line numbers are then unknown and reported as 0). False when no line break follows.
    bool start_after_line_break(std::uint64_t offset);
    [[nodiscard]] const std::string& name() const { return in_.name; }
    [[nodiscard]] char delimiter() const { return delim_; }
    // A second reader can open the same input by name (a named file, not standard input).
    [[nodiscard]] bool reopenable() const { return reopenable_; }

private:
    friend bool tally_to_end(reader&, std::vector<type_tally>&, const std::vector<bool>&);
    // tally_to_end's fast path (a block scanner, in csv.cpp).
    void tally_plain(std::vector<type_tally>& tallies, const std::vector<bool>& skip, std::uint64_t stop);
    bool refill();  // input_buffer::refill, plus dropping a BOM at the start
    enum class parse_status { done, need_more, bad };
    parse_status parse(record& r, std::string& why, size_t& next);

    input_buffer in_;
    char delim_;
    bool reopenable_ = false;
    bool started_ = false;  // BOM checked
    std::uint64_t line_ = 1;
    std::string arena_;  // unescaped quoted fields ("" -> ")
    std::uint64_t quoted_newlines_ = 0;
    // parse's block of structural bits, kept for the next record while the buffer stays put.
    bool scan_valid_ = false;
    size_t scan_block_ = 0;
    std::uint64_t scan_bits_ = 0;
};

enum class column_type { integer, number, boolean, string };
[[nodiscard]] std::string_view type_name(column_type t);

enum class value_kind { empty, integer, number, boolean, text };
// What a single value looks like. integer: exact in a double, no leading zeros; number: JSON
// number syntax, finite; boolean: true/false in any case; text: anything else.
[[nodiscard]] value_kind classify(std::string_view value);

// Collects what a column's values look like and names the narrowest type that holds them all.
class type_tally {
public:
    void add(std::string_view value) {
        if (!text_ && !value.empty()) note(classify(value));  // a string column stays a string
    }
    void merge(const type_tally& other);  // as if other's values had been added here
    // As if values of these kinds had been added: bit k set for value_kind k.
    void add_kinds(unsigned kinds);
    [[nodiscard]] bool is_text() const { return text_; }  // further values change nothing
    [[nodiscard]] column_type result() const;

private:
    void note(value_kind k);
    bool integer_ = false, number_ = false, boolean_ = false, text_ = false;
};

// Adds one record's values to tallies (one per column; columns with skip[i] are left alone). A
// record with another field count, or that is not valid UTF-8, does not vote: it will be rejected.
void tally_record(std::vector<type_tally>& tallies, const std::vector<std::string_view>& fields, std::string_view raw,
                  const std::vector<bool>& skip);

// Tallies the types of every record from rd's position to the end of the input with
// tally_record. A large named file is split in two: a second thread reads
// the second half from a line break on, and its tally counts only when the first half ends
// exactly there (else the split fell inside a quoted field and this thread reads on alone).
// True when the two halves were used.
bool tally_to_end(reader& rd, std::vector<type_tally>& tallies, const std::vector<bool>& skip);

struct schema_entry {
    std::string column;
    column_type type;
};
// "col:type,col2:type" with types int, float, bool, string (and long/double/str aliases).
// Throws usage_error.
std::vector<schema_entry> parse_schema(std::string_view spec);

// Encodes rows of one input as JSON objects: keys in column order, values typed by column.
class encoder {
public:
    // `forced[i]`: the type came from --schema (values that do not fit are errors); otherwise it
    // was inferred and a value that does not fit is written without loss as a number or a string.
    encoder(std::vector<std::string> columns, std::vector<column_type> types, std::vector<bool> forced);

    // The inferred types were drawn from every row that encode() will see (a whole-file pass),
    // so each value fits its column's type and need not be classified again.
    void trust_inferred_types();

    // Appends the object to out. Returns false with `why` set when the row is bad (field count,
    // schema). `widened` is set to the index of an inferred column whose type the value did not
    // fit, or -1.
    bool encode(const std::vector<std::string_view>& fields, std::string& out, std::string& why, int& widened) const;

    [[nodiscard]] const std::vector<std::string>& columns() const { return columns_; }
    [[nodiscard]] const std::vector<column_type>& types() const { return types_; }
    // -1 when absent.
    [[nodiscard]] int index_of(std::string_view column) const;

private:
    // What encode does with a column's non-empty values, decided once.
    enum class plan : std::uint8_t {
        text,           // a JSON string
        copy,           // trusted number: the bytes as they are
        boolean,        // trusted bool: true/false from the first letter
        classify,       // inferred from rows read ahead: classified again, widened when it does not fit
        forced_integer, // --schema: checked and normalised; a value that does not fit is a bad row
        forced_number,
        forced_boolean,
    };
    void make_plans();
    std::vector<std::string> columns_;
    std::vector<column_type> types_;
    std::vector<bool> forced_;
    bool trusted_ = false;
    std::vector<plan> plans_;
    std::vector<std::string> keys_;  // precomputed "\"name\":" (with a leading ',' after the first)
    size_t keys_size_ = 0;           // their total length
    // Key i in key_slots_[32 i, 32 i + 32) when it fits, so that encode copies 32 bytes whatever its
    // length (the value written after it overwrites the rest).
    std::string key_slots_;
};

// Column names from a header row: blanks become column_N, duplicates get _2, _3...; Returns the
// names and, for each change, a message for the log.
std::vector<std::string> header_names(const std::vector<std::string_view>& fields, std::vector<std::string>& notes);

// "," "\t", "tab", ";" ... -> the delimiter byte. Throws usage_error.
char parse_delimiter(std::string_view text);

}  // namespace ks::csv
