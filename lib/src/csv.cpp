#include "ks/csv.hpp"

#include "ks/error.hpp"
#include "ks/io.hpp"
#include "ks/json.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <set>
#include <thread>

#include <sys/stat.h>

namespace ks::csv {

// ---------------------------------------------------------------------------------------------
// reader

reader::reader(const std::string& path, char delimiter) : in_(path), delim_(delimiter), reopenable_(path != "-") {}
reader::reader(int fd, std::string name, char delimiter) : in_(fd, std::move(name)), delim_(delimiter) {}

void reader::rewind() {
    in_.rewind();
    started_ = false;
    line_ = 1;
}

bool reader::start_after_line_break(std::uint64_t offset) {
    in_.seek(offset);
    started_ = true;  // a BOM exists only at the start
    line_ = 0;
    for (;;) {
        if (in_.pos == in_.end && !in_.refill()) return false;
        const void* nl = std::memchr(in_.bytes.data() + in_.pos, '\n', in_.end - in_.pos);
        if (nl) {
            in_.pos = static_cast<size_t>(static_cast<const char*>(nl) - in_.bytes.data()) + 1;
            return true;
        }
        in_.pos = in_.end;
    }
}

bool reader::refill() {
    const bool more = in_.refill();
    if (!started_ && (in_.end - in_.pos >= 3 || in_.eof)) {
        started_ = true;
        if (in_.end - in_.pos >= 3 && std::memcmp(in_.bytes.data() + in_.pos, "\xEF\xBB\xBF", 3) == 0) in_.pos += 3;
    }
    return more;
}

namespace {
// Bit 7 of each byte of the result is set where word has the byte that `pattern` repeats; the
// lowest set bit is exact (higher ones may be false positives, which are never looked at).
inline std::uint64_t bytes_equal(std::uint64_t word, std::uint64_t pattern) {
    const std::uint64_t x = word ^ pattern;
    return (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
}

// First position in [q, end) holding delim or '\n', or end: eight bytes a step.
inline size_t scan_field(const char* b, size_t q, size_t end, char delim) {
    const std::uint64_t delims = 0x0101010101010101ULL * static_cast<unsigned char>(delim);
    const std::uint64_t newlines = 0x0101010101010101ULL * static_cast<unsigned char>('\n');
    for (; q + 8 <= end; q += 8) {
        std::uint64_t word;
        std::memcpy(&word, b + q, 8);
        if (const std::uint64_t hit = bytes_equal(word, delims) | bytes_equal(word, newlines))
            return q + (static_cast<size_t>(__builtin_ctzll(hit)) >> 3);
    }
    while (q < end && b[q] != delim && b[q] != '\n') ++q;
    return q;
}
}  // namespace

// Parses one record starting at in_.pos. `next` receives where the following record starts.
// Fields go straight into r.fields: unquoted ones and quoted ones without "" point into the input
// buffer, unescaped ones into arena_, which is reserved up front so that it never moves mid-record
// (an unescaped field is never longer than the input left). Counts the line breaks inside quoted
// fields in quoted_newlines_.
reader::parse_status reader::parse(record& r, std::string& why, size_t& next) {
    r.fields.clear();
    arena_.clear();
    quoted_newlines_ = 0;
    const char* const b = in_.bytes.data();
    const size_t end = in_.end;
    const bool eof = in_.eof;
    const char delim = delim_;
    if (arena_.capacity() < end - in_.pos) arena_.reserve(end - in_.pos);
    size_t p = in_.pos;
    size_t record_end = 0;
    for (;;) {  // one field per iteration
        if (p < end && b[p] == '"') {
            size_t seg = p + 1;
            size_t q = seg;
            bool escaped = false;
            const size_t arena_start = arena_.size();
            for (;;) {
                const void* hit = q < end ? std::memchr(b + q, '"', end - q) : nullptr;
                if (!hit) {
                    if (!eof) return parse_status::need_more;
                    why = "unterminated quoted field";
                    record_end = next = end;
                    r.raw = std::string_view(b + in_.pos, record_end - in_.pos);
                    return parse_status::bad;
                }
                q = static_cast<size_t>(static_cast<const char*>(hit) - b);
                if (q + 1 == end && !eof) return parse_status::need_more;
                if (q + 1 < end && b[q + 1] == '"') {
                    arena_.append(b + seg, q + 1 - seg);
                    escaped = true;
                    q += 2;
                    seg = q;
                    continue;
                }
                break;
            }
            quoted_newlines_ += static_cast<std::uint64_t>(std::count(b + p + 1, b + q, '\n'));
            if (escaped) {
                arena_.append(b + seg, q - seg);
                r.fields.emplace_back(arena_.data() + arena_start, arena_.size() - arena_start);
            } else {
                r.fields.emplace_back(b + p + 1, q - p - 1);
            }
            p = q + 1;
            if (p == end) {
                if (!eof) return parse_status::need_more;
                record_end = next = p;
                break;
            }
            const char c = b[p];
            if (c == delim) {
                ++p;
                continue;
            }
            if (c == '\n') {
                record_end = p;
                next = p + 1;
                break;
            }
            if (c == '\r') {
                if (p + 1 == end && !eof) return parse_status::need_more;
                if (p + 1 == end || b[p + 1] == '\n') {
                    record_end = p;
                    next = std::min(p + 2, end);
                    break;
                }
            }
            // Text after a closing quote: resynchronise at the end of the physical line.
            const void* nl = std::memchr(b + p, '\n', end - p);
            if (!nl && !eof) return parse_status::need_more;
            record_end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - b) : end;
            next = nl ? record_end + 1 : end;
            why = fmt::format("unexpected character '{}' after a closing quote in field {}", c, r.fields.size());
            if (record_end > in_.pos && b[record_end - 1] == '\r') --record_end;
            r.raw = std::string_view(b + in_.pos, record_end - in_.pos);
            return parse_status::bad;
        }
        // Unquoted field: up to the delimiter or the end of the line.
        const size_t q = scan_field(b, p, end, delim);
        if (q == end && !eof) return parse_status::need_more;
        if (q < end && b[q] == delim) {
            r.fields.emplace_back(b + p, q - p);
            p = q + 1;
            continue;
        }
        size_t field_end = q;
        if (field_end > p && b[field_end - 1] == '\r') --field_end;  // CRLF
        r.fields.emplace_back(b + p, field_end - p);
        record_end = field_end;
        next = q < end ? q + 1 : q;
        break;
    }
    r.raw = std::string_view(b + in_.pos, record_end - in_.pos);
    return parse_status::done;
}

reader::result reader::next(record& r, std::string& why) {
    for (;;) {
        if (in_.pos == in_.end && !refill()) return result::end;
        if (in_.pos == in_.end) {
            if (in_.eof) return result::end;
            continue;
        }
        size_t next_pos = 0;
        const auto status = parse(r, why, next_pos);
        if (status == parse_status::need_more) {
            if (!refill()) in_.eof = true;  // parse again with in_.eof: the tail becomes the last record
            continue;
        }
        r.line = line_;
        if (status == parse_status::bad) {  // resynchronised at a line break or the end: count them all
            line_ += static_cast<std::uint64_t>(std::count(in_.bytes.data() + in_.pos, in_.bytes.data() + next_pos, '\n'));
        } else {  // the line breaks inside quotes, plus the record's own (none at the end of input)
            line_ += quoted_newlines_ + (in_.bytes[next_pos - 1] == '\n' ? 1 : 0);
        }
        in_.pos = next_pos;
        if (status == parse_status::bad) return result::bad;
        if (r.fields.size() == 1 && r.raw.empty()) continue;  // blank line
        return result::record;
    }
}

// ---------------------------------------------------------------------------------------------
// types

std::string_view type_name(column_type t) {
    switch (t) {
        case column_type::integer: return "int";
        case column_type::number: return "float";
        case column_type::boolean: return "bool";
        case column_type::string: return "string";
    }
    return "?";
}

namespace {
bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return (x | 0x20) == (y | 0x20); });
}
bool finite_number(std::string_view s) {
    // is_number() already holds: only the range remains (1e999 is not a double). Short numbers
    // with small exponents are always finite; only the rest pay for strtod.
    size_t e = 0;
    while (e < s.size() && s[e] != 'e' && s[e] != 'E') ++e;
    int exponent = 0;
    if (e < s.size()) {
        auto digits = s.substr(e + 1);
        if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) digits.remove_prefix(1);
        if (digits.size() > 3) exponent = 1000;
        else std::from_chars(digits.data(), digits.data() + digits.size(), exponent);
    }
    if (s.size() < 250 && exponent < 50) return true;
    std::string copy(s);
    return std::isfinite(std::strtod(copy.c_str(), nullptr));
}
}  // namespace

value_kind classify(std::string_view v) {
    // One pass over the JSON number grammar (json::is_number) that also tells an integer from a
    // number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    if (v.empty()) return value_kind::empty;
    const char* p = v.data();
    const char* const end = p + v.size();
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (!digit(*p) && *p != '-') {
        if (iequals(v, "true") || iequals(v, "false")) return value_kind::boolean;
        return value_kind::text;
    }
    if (*p == '-') ++p;
    const char* const int_start = p;
    while (p != end && digit(*p)) ++p;
    const size_t int_digits = static_cast<size_t>(p - int_start);
    if (int_digits == 0 || (int_digits > 1 && *int_start == '0')) return value_kind::text;  // "-", "00501"
    if (p == end) {
        // Fewer than 16 digits are always exact in a double; json::is_safe_integer has the 2^53
        // rule for the rest (a longer integer stays text so that no reader rounds it).
        if (int_digits < 16 || json::is_safe_integer(v)) return value_kind::integer;
        return value_kind::text;
    }
    if (*p == '.') {
        const char* const fraction = ++p;
        while (p != end && digit(*p)) ++p;
        if (p == fraction) return value_kind::text;
    }
    int exponent = 0;
    if (p != end && (*p == 'e' || *p == 'E')) {
        ++p;
        if (p != end && (*p == '+' || *p == '-')) ++p;
        const char* const exp_start = p;
        while (p != end && digit(*p)) ++p;
        if (p == exp_start) return value_kind::text;
        if (p - exp_start > 3) exponent = 1000;
        else
            for (const char* d = exp_start; d != p; ++d) exponent = exponent * 10 + (*d - '0');
    }
    if (p != end) return value_kind::text;
    // Short numbers with small exponents are always finite; only the rest pay for strtod.
    if (v.size() < 250 && exponent < 50) return value_kind::number;
    return finite_number(v) ? value_kind::number : value_kind::text;
}

void type_tally::note(value_kind k) {
    switch (k) {
        case value_kind::empty: break;
        case value_kind::integer: integer_ = true; break;
        case value_kind::number: number_ = true; break;
        case value_kind::boolean: boolean_ = true; break;
        case value_kind::text: text_ = true; break;
    }
}

void type_tally::merge(const type_tally& other) {
    integer_ |= other.integer_;
    number_ |= other.number_;
    boolean_ |= other.boolean_;
    text_ |= other.text_;
}

column_type type_tally::result() const {
    if (text_ || (boolean_ && (integer_ || number_))) return column_type::string;
    if (boolean_) return column_type::boolean;
    if (number_) return column_type::number;
    if (integer_) return column_type::integer;
    return column_type::string;  // only empty values: nulls
}

void tally_record(std::vector<type_tally>& tallies, const std::vector<std::string_view>& fields, std::string_view raw,
                  const std::vector<bool>& skip) {
    if (fields.size() != tallies.size() || !json::valid_utf8(raw)) return;
    // Locals: classify is a call, after which anything in memory would be loaded again.
    const std::string_view* const values = fields.data();
    type_tally* const into = tallies.data();
    const size_t n = fields.size();
    auto fixed = skip.begin();
    for (size_t i = 0; i < n; ++i, ++fixed)
        if (!*fixed) into[i].add(values[i]);
}

bool tally_to_end(reader& rd, std::vector<type_tally>& tallies, const std::vector<bool>& skip) {
    const size_t columns = tallies.size();
    const auto add = [&](std::vector<type_tally>& into, const record& r) { tally_record(into, r.fields, r.raw, skip); };
    record rec;
    std::string why;
    constexpr std::uint64_t min_split = 8u << 20;  // below this a second thread is not worth it
    struct stat st {};
    const std::uint64_t from = rd.tell();
    if (rd.seekable() && rd.reopenable() && ::stat(rd.name().c_str(), &st) == 0 &&
        static_cast<std::uint64_t>(st.st_size) >= from + min_split) {
        reader second(rd.name(), rd.delimiter());
        if (second.start_after_line_break(from + (static_cast<std::uint64_t>(st.st_size) - from) / 2)) {
            const std::uint64_t split = second.tell();
            std::vector<type_tally> tail(columns);
            std::exception_ptr failure;
            std::thread worker([&] {
                try {
                    record r2;
                    std::string why2;
                    for (auto r = second.next(r2, why2); r != reader::result::end; r = second.next(r2, why2))
                        if (r == reader::result::record) add(tail, r2);
                } catch (...) {
                    failure = std::current_exception();
                }
            });
            std::uint64_t at = from;
            for (;;) {
                at = rd.tell();
                if (at >= split) break;
                const auto r = rd.next(rec, why);
                if (r == reader::result::end) break;
                if (r == reader::result::record) add(tallies, rec);
            }
            worker.join();
            if (at == split && !failure) {
                for (size_t i = 0; i < columns; ++i) tallies[i].merge(tail[i]);
                return true;
            }
            // The halves do not meet (a quoted field spans the split) or the second half could
            // not be read: this thread reads on from where it is, and reports any read error.
        }
    }
    for (auto r = rd.next(rec, why); r != reader::result::end; r = rd.next(rec, why))
        if (r == reader::result::record) add(tallies, rec);
    return false;
}

std::vector<schema_entry> parse_schema(std::string_view spec) {
    std::vector<schema_entry> out;
    while (!spec.empty()) {
        auto comma = spec.find(',');
        auto item = spec.substr(0, comma);
        spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
        auto colon = item.rfind(':');
        if (colon == std::string_view::npos || colon == 0)
            throw usage_error(fmt::format("--schema: expected column:type, got '{}'", item));
        auto type = item.substr(colon + 1);
        column_type t;
        if (type == "int" || type == "long" || type == "integer") t = column_type::integer;
        else if (type == "float" || type == "double" || type == "number") t = column_type::number;
        else if (type == "bool" || type == "boolean") t = column_type::boolean;
        else if (type == "string" || type == "str" || type == "text") t = column_type::string;
        else throw usage_error(fmt::format("--schema: unknown type '{}' for '{}' (int, float, bool, string)", type, item.substr(0, colon)));
        out.push_back({std::string(item.substr(0, colon)), t});
    }
    return out;
}

char parse_delimiter(std::string_view text) {
    if (text == "\\t" || text == "tab" || text == "\t") return '\t';
    if (text.size() != 1) throw usage_error(fmt::format("--delimiter: expected one character, got '{}'", text));
    if (text[0] == '"' || text[0] == '\n' || text[0] == '\r') throw usage_error("--delimiter cannot be a quote or a line break");
    return text[0];
}

std::vector<std::string> header_names(const std::vector<std::string_view>& fields, std::vector<std::string>& notes) {
    std::vector<std::string> names;
    std::set<std::string> used;
    for (size_t i = 0; i < fields.size(); ++i) {
        std::string name(fields[i]);
        if (name.empty()) {
            name = fmt::format("column_{}", i + 1);
            notes.push_back(fmt::format("column {} has no name: called it '{}'", i + 1, name));
        }
        if (used.contains(name)) {
            std::string unique;
            for (int k = 2; used.contains(unique = fmt::format("{}_{}", name, k)); ++k) {
            }
            notes.push_back(fmt::format("column {} repeats the name '{}': called it '{}'", i + 1, name, unique));
            name = unique;
        }
        used.insert(name);
        names.push_back(std::move(name));
    }
    return names;
}

// ---------------------------------------------------------------------------------------------
// encoder

encoder::encoder(std::vector<std::string> columns, std::vector<column_type> types, std::vector<bool> forced)
    : columns_(std::move(columns)), types_(std::move(types)), forced_(std::move(forced)) {
    for (size_t i = 0; i < columns_.size(); ++i) {
        std::string key = i == 0 ? "" : ",";
        json::append_string(key, columns_[i]);
        key.push_back(':');
        keys_size_ += key.size();
        keys_.push_back(std::move(key));
    }
    make_plans();
}

void encoder::trust_inferred_types() {
    trusted_ = true;
    make_plans();
}

void encoder::make_plans() {
    plans_.clear();
    for (size_t i = 0; i < columns_.size(); ++i) {
        const column_type t = types_[i];
        plan p = plan::text;
        if (forced_[i]) {
            if (t == column_type::integer) p = plan::forced_integer;
            else if (t == column_type::number) p = plan::forced_number;
            else if (t == column_type::boolean) p = plan::forced_boolean;
        } else if (t != column_type::string) {
            p = !trusted_ ? plan::classify : t == column_type::boolean ? plan::boolean : plan::copy;
        }
        plans_.push_back(p);
    }
}

int encoder::index_of(std::string_view column) const {
    for (size_t i = 0; i < columns_.size(); ++i)
        if (columns_[i] == column) return static_cast<int>(i);
    return -1;
}

namespace {

// Room for one value in encode besides its escaped text: a normalised integer or a double in
// shortest form (at most 24 bytes), null, true, false.
constexpr size_t value_room = 32;

char* put(char* p, std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
}

// A value classified as a boolean (true/false in any case).
char* write_boolean(char* p, std::string_view v) { return (v[0] | 0x20) == 't' ? put(p, "true") : put(p, "false"); }

// The --schema conversions: the end of what was written, or nullptr when the value does not fit.
char* write_forced_integer(char* p, std::string_view v) {
    if (!v.empty() && v.front() == '+') {
        v.remove_prefix(1);
        if (v.empty() || v.front() < '0' || v.front() > '9') return nullptr;  // "+-5"
    }
    std::int64_t x = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || ptr != v.data() + v.size()) return nullptr;
    return std::to_chars(p, p + value_room, x).ptr;
}

char* write_forced_number(char* p, std::string_view v) {
    if (json::is_number(v)) return finite_number(v) ? put(p, v) : nullptr;
    std::string copy(v);
    char* end = nullptr;
    double d = std::strtod(copy.c_str(), &end);
    if (copy.empty() || end != copy.c_str() + copy.size() || !std::isfinite(d)) return nullptr;
    return fmt::format_to(p, "{}", d);
}

char* write_forced_boolean(char* p, std::string_view v) {
    for (std::string_view t : {"true", "t", "yes", "y", "1"})
        if (iequals(v, t)) return put(p, "true");
    for (std::string_view f : {"false", "f", "no", "n", "0"})
        if (iequals(v, f)) return put(p, "false");
    return nullptr;
}

}  // namespace

bool encoder::encode(const std::vector<std::string_view>& fields, std::string& out, std::string& why,
                     int& widened) const {
    widened = -1;
    if (fields.size() != columns_.size()) {
        why = fmt::format("expected {} fields, found {}", columns_.size(), fields.size());
        return false;
    }
    // Room for the worst case first, then one pointer writes the object; the string is cut to
    // what was written at the end.
    const size_t start = out.size();
    size_t room = keys_size_ + 2;
    for (const auto v : fields) room += json::max_string_size(v.size()) + value_room;
    out.resize(start + room);
    char* p = out.data() + start;
    *p++ = '{';
    for (size_t i = 0; i < fields.size(); ++i) {
        p = put(p, keys_[i]);
        const std::string_view v = fields[i];
        if (v.empty()) {
            p = put(p, "null");
            continue;
        }
        char* end = p;
        switch (plans_[i]) {
            case plan::text: end = json::write_string(p, v); break;
            case plan::copy: end = put(p, v); break;
            case plan::boolean: end = write_boolean(p, v); break;
            case plan::forced_integer: end = write_forced_integer(p, v); break;
            case plan::forced_number: end = write_forced_number(p, v); break;
            case plan::forced_boolean: end = write_forced_boolean(p, v); break;
            case plan::classify: {
                const column_type t = types_[i];
                const value_kind k = classify(v);
                const bool fits = (t == column_type::integer && k == value_kind::integer) ||
                                  (t == column_type::number && (k == value_kind::integer || k == value_kind::number)) ||
                                  (t == column_type::boolean && k == value_kind::boolean);
                if (!fits) widened = static_cast<int>(i);
                if (k == value_kind::integer || k == value_kind::number) end = put(p, v);
                else if (k == value_kind::boolean) end = write_boolean(p, v);
                else end = json::write_string(p, v);
                break;
            }
        }
        if (!end) {
            out.resize(start);
            why = fmt::format("column '{}': '{}' is not a valid {}", columns_[i], v, type_name(types_[i]));
            return false;
        }
        p = end;
    }
    *p++ = '}';
    out.resize(static_cast<size_t>(p - out.data()));
    return true;
}

}  // namespace ks::csv
