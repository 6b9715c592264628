// A record (DESIGN.md "Records"): one JSON object with where it came from and its Kafka metadata.
// The exact input bytes are kept; they are parsed only when a tool needs to look inside, through
// a parser that is reused from record to record. Parsing returns a status, never throws.
#pragma once

#include "ks/json.hpp"
#include "ks/message.hpp"

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ks {

struct record {
    std::string_view value;  // the exact bytes
    // simdjson::SIMDJSON_PADDING readable bytes follow `value` (an input buffer keeps them), so it
    // is parsed where it is; otherwise it is copied into the parser's padded buffer first.
    bool padded = false;
    std::optional<std::string_view> key;  // nullopt: a null key (and every record not from Kafka)
    std::span<const header> headers;
    std::string_view source;  // the topic, a file name, or "-" for standard input
    bool from_kafka = false;
    std::int32_t partition = -1;    // Kafka
    std::int64_t offset = -1;       // Kafka
    std::int64_t timestamp_ms = -1; // Kafka message timestamp; -1 when there is none
    std::uint64_t line = 0;         // files and standard input: the line number
    // Set by a reader that parsed a whole batch of records at once (session's workers): this
    // record's object, checked to be exactly its bytes; valid during the call it is passed to.
    const simdjson::dom::object* parsed = nullptr;
    // "file.jsonl:12", "-:3" or "topic [2] at offset 17": where a bad record is.
    [[nodiscard]] std::string describe() const;
};

enum class json_status : std::uint8_t { ok, invalid, not_object };

// Why a record could not be read as a JSON object: "invalid JSON: <simdjson's reason>" or "not a
// JSON object". The one wording every tool uses.
[[nodiscard]] std::string json_error_text(json_status status, simdjson::error_code error);

// Parses records into simdjson's DOM: the whole object is validated, and its fields can then be
// looked up in any order. Numbers must fit a 64-bit integer or a double (simdjson rejects others).
class json_parser {
public:
    json_status parse(std::string_view bytes, bool padded);
    json_status parse(const record& r) {
        if (r.parsed) {
            object_ = *r.parsed;
            return status_ = json_status::ok;
        }
        return parse(r.value, r.padded);
    }
    // The object of the last successful parse, valid until the next parse.
    [[nodiscard]] simdjson::dom::object object() const { return object_; }
    // Why the last parse failed.
    [[nodiscard]] std::string error_text() const { return json_error_text(status_, error_); }

private:
    simdjson::dom::parser parser_;
    json::padded_buffer copy_;
    simdjson::dom::object object_;
    json_status status_ = json_status::ok;
    simdjson::error_code error_ = simdjson::SUCCESS;
};

// Parses many records at once: records laid out one per line are read as one stream of JSON
// documents (one stage 1 for all of them instead of one per record: about a quarter less parsing
// for small records). A record gets its object only when its document is exactly its bytes,
// blanks around it aside; from the first record that is not so (invalid JSON anywhere, not an
// object, two documents on its line, one document over two lines) on, the caller parses each
// record alone, so bad records are found and worded as always.
class batch_parser {
public:
    // `text` holds the records at [at(i), at(i) + size(i)) for i < count, in order, each followed
    // by a newline, and simdjson::SIMDJSON_PADDING readable bytes after text. Calls
    // f(i, const simdjson::dom::object&) for records 0, 1, ... while they parse (the object is
    // valid during the call); returns how many it did.
    template <typename At, typename Size, typename F>
    size_t parse(std::string_view text, size_t count, At&& at, Size&& size, F&& f);

private:
    simdjson::dom::parser parser_;
};

template <typename At, typename Size, typename F>
size_t batch_parser::parse(std::string_view text, size_t count, At&& at, Size&& size, F&& f) {
    simdjson::dom::document_stream docs;
    if (count == 0 || parser_.parse_many(text.data(), text.size(), text.size()).get(docs) != simdjson::SUCCESS) return 0;
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    size_t i = 0;
    for (auto it = docs.begin(); it != docs.end() && i < count; ++it) {
        simdjson::dom::element doc;
        simdjson::dom::object object;
        if ((*it).get(doc) != simdjson::SUCCESS || doc.get_object().get(object) != simdjson::SUCCESS) break;
        const char* begin = text.data() + at(i);
        const char* const end = begin + size(i);
        while (begin < end && blank(*begin)) ++begin;
        // The document starts where the record's text does and ends inside it, with only blanks
        // after it: every record before it was exactly one document too, so stage 1 saw this one
        // as it would alone.
        const std::string_view source = it.source();
        if (source.data() != begin || source.size() > static_cast<size_t>(end - begin)) break;
        const char* rest = begin + source.size();
        while (rest < end && blank(*rest)) ++rest;
        if (rest != end) break;
        f(i, object);
        ++i;
    }
    return i;
}

// One top-level field of an object as it is written.
struct raw_field {
    std::string_view key;      // unescaped
    std::string_view raw_key;  // as written, quotes included (copied to output without escaping again)
    simdjson::ondemand::json_type type;
    std::string_view raw;   // the value's exact JSON text (objects and arrays whole)
    std::string_view text;  // strings: the unescaped text (when asked for); others: raw
};

// A step of a field path: a name, or an index into an array.
struct path_step {
    std::string name;
    std::int64_t index = -1;  // >= 0: an array element, name unused
};

// Reads the top-level fields of a JSON object in order, with their exact text (simdjson
// On-Demand: numbers keep their digits, nothing is re-serialised). The object's structure and its
// top-level values are checked; what is nested in objects and arrays is passed on as raw text.
class field_reader {
public:
    // Calls f(const raw_field&) for each field; unescape_strings fills raw_field::text for strings.
    // Stops at the first problem: error_text() then says what it was. f has seen the fields before
    // it, so act on what f collected only when read returns ok.
    template <typename F>
    json_status read(std::string_view bytes, bool padded, bool unescape_strings, F&& f);
    json_status read(const record& r, bool unescape_strings, auto&& f) {
        return read(r.value, r.padded, unescape_strings, f);
    }
    [[nodiscard]] std::string error_text() const { return json_error_text(status_, error_); }

    // The exact JSON text at `path` inside the object `bytes` (which must be valid JSON), or
    // nullopt when there is nothing there. Used to copy a field to the output byte for byte.
    std::optional<std::string_view> find(std::string_view bytes, bool padded, std::span<const path_step> path);

private:
    simdjson::padded_string_view load(std::string_view bytes, bool padded);
    json_status fail(simdjson::error_code e, std::string_view bytes, bool padded);
    simdjson::ondemand::parser parser_;
    json::padded_buffer copy_;
    simdjson::dom::parser checker_;  // tells "not an object" from "not JSON" on the error path
    json_status status_ = json_status::ok;
    simdjson::error_code error_ = simdjson::SUCCESS;
};

// Builds output objects: fields copied from a record exactly as written (numbers keep their
// digits, keys and strings their escapes), fields replaced where they stand or dropped (see
// copy_fields), and fields added. One reused buffer.
class object_writer {
public:
    // Starts a new object; what end() returned before is gone.
    void begin() {
        text_.clear();
        text_.push_back('{');
    }
    // A field as a record has it.
    void copy(const raw_field& f) {
        separate();
        text_.append(f.raw_key);
        text_.push_back(':');
        text_.append(f.raw);
    }
    // "key": for a value the caller appends to text() next (one JSON value).
    std::string& field(std::string_view key) {
        separate();
        json::append_string(text_, key);
        text_.push_back(':');
        return text_;
    }
    // A field whose value is JSON text already.
    void field(std::string_view key, std::string_view json_value) { field(key).append(json_value); }
    // Closes the object: its text, valid until the next begin().
    std::string_view end() {
        text_.push_back('}');
        return text_;
    }

private:
    void separate() {
        if (text_.size() > 1) text_.push_back(',');
    }
    std::string text_;
};

// Copies the record's top-level fields to the writer in order, each as written unless
// edit(const raw_field&) returns true: it dropped the field, or wrote its replacement itself.
template <typename Edit>
json_status copy_fields(field_reader& reader, const record& r, object_writer& w, Edit&& edit) {
    return reader.read(r, false, [&](const raw_field& f) {
        if (!edit(f)) w.copy(f);
    });
}

// The exact text of a scalar token: simdjson's raw token may carry the whitespace after it.
[[nodiscard]] inline std::string_view trim_token(std::string_view token) {
    while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\r' || token.back() == '\t'))
        token.remove_suffix(1);
    return token;
}

template <typename F>
json_status field_reader::read(std::string_view bytes, bool padded, bool unescape_strings, F&& f) {
    namespace od = simdjson::ondemand;
    od::document doc;
    od::object obj;
    if (auto e = parser_.iterate(load(bytes, padded)).get(doc)) return fail(e, bytes, padded);
    if (doc.get_object().get(obj) != simdjson::SUCCESS) return fail(simdjson::INCORRECT_TYPE, bytes, padded);
    simdjson::error_code e = simdjson::SUCCESS;
    for (auto member : obj) {
        raw_field field;
        od::field entry;
        if ((e = std::move(member).get(entry))) break;
        // The key as written ends at the first quote that no backslash escapes (stage 1 checked
        // the string); only a key with an escape needs unescaping.
        const char* const key = entry.key().raw();
        const char* end = key;
        bool escaped = false;
        while (*end != '"') {
            if (*end == '\\') {
                escaped = true;
                ++end;
            }
            ++end;
        }
        field.raw_key = std::string_view(key - 1, static_cast<size_t>(end - key) + 2);
        if (!escaped) field.key = std::string_view(key, static_cast<size_t>(end - key));
        else if ((e = entry.unescaped_key().get(field.key))) break;
        od::value& v = entry.value();
        if ((e = v.type().get(field.type))) break;
        switch (field.type) {
            case od::json_type::string:
                field.raw = trim_token(v.raw_json_token());
                if (unescape_strings) e = v.get_string().get(field.text);
                else field.text = field.raw;
                break;
            case od::json_type::number:
            case od::json_type::null:
                field.raw = field.text = trim_token(v.raw_json_token());
                if (field.type == od::json_type::null) {
                    bool is_null = false;
                    if (!(e = v.is_null().get(is_null)) && !is_null) e = simdjson::N_ATOM_ERROR;
                }
                break;
            case od::json_type::boolean: {
                field.raw = field.text = trim_token(v.raw_json_token());
                bool ignored;
                e = v.get_bool().get(ignored);  // checks the literal
                break;
            }
            case od::json_type::object: {
                od::object inner;
                if (!(e = v.get_object().get(inner))) e = inner.raw_json().get(field.raw);
                field.text = field.raw;
                break;
            }
            case od::json_type::array: {
                od::array inner;
                if (!(e = v.get_array().get(inner))) e = inner.raw_json().get(field.raw);
                field.text = field.raw;
                break;
            }
        }
        if (e) break;
        f(static_cast<const raw_field&>(field));
    }
    const char* rest = nullptr;  // a location is left only when something follows the object
    if (!e && doc.current_location().get(rest) == simdjson::SUCCESS) e = simdjson::TRAILING_CONTENT;
    if (e) return fail(e, bytes, padded);
    return status_ = json_status::ok;
}

}  // namespace ks
