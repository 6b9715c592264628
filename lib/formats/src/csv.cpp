#include "ks/csv.hpp"

#include "ks/error.hpp"
#include "ks/io.hpp"
#include "ks/json.hpp"
#include "json_write.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <set>
#include <thread>

#include <sys/stat.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ks::csv {

// ---------------------------------------------------------------------------------------------
// reader

reader::reader(const std::string& path, char delimiter) : in_(path), delim_(delimiter), reopenable_(path != "-") {}
reader::reader(int fd, std::string name, char delimiter) : in_(fd, std::move(name)), delim_(delimiter) {}

void reader::rewind() {
    scan_valid_ = false;
    in_.rewind();
    started_ = false;
    line_ = 1;
}

bool reader::start_after_line_break(std::uint64_t offset) {
    scan_valid_ = false;
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
    scan_valid_ = false;  // the bytes move, and end moves
    const bool more = in_.refill();
    if (!started_ && (in_.end - in_.pos >= 3 || in_.eof)) {
        started_ = true;
        if (in_.end - in_.pos >= 3 && std::memcmp(in_.bytes.data() + in_.pos, "\xEF\xBB\xBF", 3) == 0) in_.pos += 3;
    }
    return more;
}

namespace {
// Bit i of bits(s) is set where s[i] is the delimiter or a line feed, for i in [0, 64). Reads 64
// bytes: the input buffer's padding (input_buffer::padding) keeps that inside the buffer.
class structural_bits {
public:
#if defined(__SSE2__)
    explicit structural_bits(char delim) : delims_(_mm_set1_epi8(delim)), newlines_(_mm_set1_epi8('\n')) {}
    [[nodiscard]] std::uint64_t operator()(const char* s) const {
        return part(s) | part(s + 16) << 16 | part(s + 32) << 32 | part(s + 48) << 48;
    }
    // The same, and in `special` the bits of quotes and of bytes outside ASCII.
    [[nodiscard]] std::uint64_t operator()(const char* s, std::uint64_t& special) const {
        std::uint64_t sp0, sp1, sp2, sp3;
        const std::uint64_t bits = part(s, sp0) | part(s + 16, sp1) << 16 | part(s + 32, sp2) << 32 | part(s + 48, sp3) << 48;
        special = sp0 | sp1 << 16 | sp2 << 32 | sp3 << 48;
        return bits;
    }

private:
    [[nodiscard]] std::uint64_t part(const char* s) const {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
        const int hits = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, delims_), _mm_cmpeq_epi8(v, newlines_)));
        return static_cast<std::uint32_t>(hits);
    }
    [[nodiscard]] std::uint64_t part(const char* s, std::uint64_t& special) const {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
        const int hits = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, delims_), _mm_cmpeq_epi8(v, newlines_)));
        const int odd = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quotes_), v));  // high bit: not ASCII
        special = static_cast<std::uint32_t>(odd);
        return static_cast<std::uint32_t>(hits);
    }
    __m128i delims_, newlines_, quotes_ = _mm_set1_epi8('"');
#else
    explicit structural_bits(char delim) : delim_(delim) {}
    [[nodiscard]] std::uint64_t operator()(const char* s) const {
        std::uint64_t bits = 0;
        for (int i = 0; i < 64; ++i)
            if (s[i] == delim_ || s[i] == '\n') bits |= std::uint64_t{1} << i;
        return bits;
    }
    [[nodiscard]] std::uint64_t operator()(const char* s, std::uint64_t& special) const {
        special = 0;
        for (int i = 0; i < 64; ++i)
            if (s[i] == '"' || static_cast<unsigned char>(s[i]) >= 0x80) special |= std::uint64_t{1} << i;
        return (*this)(s);
    }

private:
    char delim_;
#endif
};

// The bits of a 64-byte block at `at` that hold data, not the padding past `end` (at < end).
inline std::uint64_t data_bits(size_t at, size_t end) {
    return end - at < 64 ? (std::uint64_t{1} << (end - at)) - 1 : ~std::uint64_t{0};
}
}  // namespace

// Parses one record starting at in_.pos. `next` receives where the following record starts.
// Fields go straight into r.fields: unquoted ones and quoted ones without "" point into the input
// buffer, unescaped ones into arena_, which is reserved up front so that it never moves mid-record
// (an unescaped field is never longer than the input left). Counts the line breaks inside quoted
// fields in quoted_newlines_. Unquoted fields end at the next set bit of a 64-byte block's
// structural_bits, so a row of short fields costs a block or two and a few instructions a field.
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
    // The delimiters and line feeds of [block, block + 64) at or after p, carried over from the
    // previous record when it ended on one of them (scan_*: the buffer has not moved since).
    const structural_bits structural(delim);
    size_t block = scan_block_;
    std::uint64_t bits = scan_bits_;
    bool loaded = scan_valid_ && p >= block && p < block + 64;
    scan_valid_ = false;
    const auto load = [&](size_t at) {
        block = at;
        bits = structural(b + at);
        bits &= data_bits(at, end);
    };
    for (;;) {  // one field per iteration
        if (p < end && b[p] == '"') {
            loaded = false;  // the quoted field ends anywhere: a new block after it
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
        // Unquoted field: up to the delimiter or the end of the line (the next structural bit).
        if (!loaded) {
            loaded = true;
            if (p < end) load(p);
            else block = end, bits = 0;
        }
        while (bits == 0 && block + 64 < end) load(block + 64);
        const size_t q = bits ? block + static_cast<size_t>(__builtin_ctzll(bits)) : end;
        bits &= bits - 1;
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
        if (q < end) {  // the next record starts right after this bit: keep the block
            scan_valid_ = true;
            scan_block_ = block;
            scan_bits_ = bits;
        }
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

namespace {
#if defined(__SSE2__)
// classify for a value that has at least 16 readable bytes from its start (the input buffer's
// padding): the usual short numbers (digits with at most one '.', an optional '-') are told from
// 16 bytes at once; anything else goes to classify.
inline value_kind classify_padded(const char* s, size_t n) {
    if (n == 0) return value_kind::empty;
    if (n < 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
        const __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
        // Digits are the bytes that stay 0..9 after subtracting '0' (unsigned: min(d, 9) == d).
        const unsigned digits = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d)));
        const unsigned dots = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('.'))));
        const unsigned all = (1u << n) - 1;
        const unsigned sign = s[0] == '-' ? 1u : 0u;  // bit 0 when the value starts with '-'
        const unsigned body = all & ~sign;            // the bytes after the sign
        const unsigned first = sign;                   // index of the first digit
        if (body != 0 && (digits & body) == body) {    // -?[0-9]+: no leading zero unless alone
            if (s[first] == '0' && n - first > 1) return value_kind::text;
            return value_kind::integer;  // at most 15 digits: exact in a double
        }
        const unsigned dot = dots & body;
        if (dot != 0 && (dot & (dot - 1)) == 0 && ((digits | dot) & body) == body) {
            // One '.' and digits: digits on both sides of it, and no leading zero unless alone.
            const unsigned at = static_cast<unsigned>(__builtin_ctz(dot));
            if (at > first && at + 1 < n && !(s[first] == '0' && at - first > 1)) return value_kind::number;
            return value_kind::text;
        }
    }
    return classify({s, n});
}
#else
inline value_kind classify_padded(const char* s, size_t n) { return classify({s, n}); }
#endif
}  // namespace

// Tallies (as tally_record does) the records that start before the input offset `stop` and are
// plain: wholly in the buffer, ASCII, without a quote. Returns at the first other record, which
// next() then reads; reads nothing from the input itself.
void reader::tally_plain(std::vector<type_tally>& tallies, const std::vector<bool>& skip, std::uint64_t stop) {
    scan_valid_ = false;  // in_.pos moves
    const size_t columns = tallies.size();
    const char* const b = in_.bytes.data();
    const size_t end = in_.end;
    const std::uint64_t base = in_.base;
    const structural_bits structural(delim_);
    constexpr unsigned text_kind = 1u << static_cast<unsigned>(value_kind::text);
    // Per column: the kinds seen in the records tallied, in the current record, and whether
    // classifying is still worth it (not skipped, not text yet).
    std::vector<std::uint8_t> kinds_v(columns, 0), seen_v(columns, 0), open_v(columns, 0);
    std::uint8_t* const kinds = kinds_v.data();
    std::uint8_t* const seen = seen_v.data();
    std::uint8_t* const open = open_v.data();
    for (size_t c = 0; c < columns; ++c) open[c] = !skip[c] && !tallies[c].is_text();

    size_t p = in_.pos;  // where the current record starts
    // The structural and special bits of [block, block + 64) not yet consumed.
    size_t block = p;
    std::uint64_t bits = 0, special = 0;
    std::uint64_t records = 0;
    bool loaded = false;
    while (p < end && base + p < stop) {
        std::memset(seen, 0, columns);
        size_t field = p, column = 0;
        bool complete = false;
        for (;;) {
            if (!loaded || bits == 0) {
                // The rest of the block (or none) is inside this field: on to the next block, unless
                // this record has a quote or a byte outside ASCII, or goes past the buffer.
                if (loaded && special != 0) break;
                size_t at = loaded ? block + 64 : p;
                bool found = false;
                for (; at < end; at += 64) {
                    bits = structural(b + at, special);
                    const std::uint64_t data = data_bits(at, end);
                    bits &= data;
                    special &= data;
                    if (bits != 0 || special != 0) {
                        found = true;
                        break;
                    }
                }
                block = at;
                loaded = found;
                if (!found || bits == 0) break;
            }
            const size_t q = block + static_cast<size_t>(__builtin_ctzll(bits));
            const std::uint64_t upto = (std::uint64_t{2} << (q - block)) - 1;  // bits of [block, q]
            if (special & upto) break;
            special &= ~upto;
            bits &= bits - 1;
            const char c = b[q];
            if (column < columns && open[column]) {
                size_t n = q - field;
                if (c == '\n' && n > 0 && b[q - 1] == '\r') --n;  // CRLF
                seen[column] |= static_cast<std::uint8_t>(1u << static_cast<unsigned>(classify_padded(b + field, n)));
            }
            ++column;
            field = q + 1;
            if (c == '\n') {
                complete = true;
                break;
            }
        }
        if (!complete) break;  // next() reads this record
        if (column == columns) {  // another field count does not vote (tally_record)
            for (size_t c = 0; c < columns; ++c) {
                const std::uint8_t k = kinds[c] | seen[c];
                kinds[c] = k;
                open[c] &= (k & text_kind) == 0;
            }
        }
        ++records;
        p = field;
    }
    in_.pos = p;
    line_ += records;
    for (size_t c = 0; c < columns; ++c) tallies[c].add_kinds(kinds[c]);
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

void type_tally::add_kinds(unsigned kinds) {
    integer_ |= (kinds >> static_cast<unsigned>(value_kind::integer)) & 1;
    number_ |= (kinds >> static_cast<unsigned>(value_kind::number)) & 1;
    boolean_ |= (kinds >> static_cast<unsigned>(value_kind::boolean)) & 1;
    text_ |= (kinds >> static_cast<unsigned>(value_kind::text)) & 1;
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
    constexpr std::uint64_t no_stop = ~std::uint64_t{0};
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
                    for (;;) {
                        second.tally_plain(tail, skip, no_stop);
                        const auto r = second.next(r2, why2);
                        if (r == reader::result::end) break;
                        if (r == reader::result::record) add(tail, r2);
                    }
                } catch (...) {
                    failure = std::current_exception();
                }
            });
            std::uint64_t at = from;
            for (;;) {
                rd.tally_plain(tallies, skip, split);
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
    for (;;) {
        rd.tally_plain(tallies, skip, no_stop);
        const auto r = rd.next(rec, why);
        if (r == reader::result::end) break;
        if (r == reader::result::record) add(tallies, rec);
    }
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

namespace {
constexpr size_t key_slot = 32;  // bytes of a key slot (encoder::key_slots_)
}  // namespace

encoder::encoder(std::vector<std::string> columns, std::vector<column_type> types, std::vector<bool> forced)
    : columns_(std::move(columns)), types_(std::move(types)), forced_(std::move(forced)) {
    for (size_t i = 0; i < columns_.size(); ++i) {
        std::string key = i == 0 ? "" : ",";
        json::append_string(key, columns_[i]);
        key.push_back(':');
        keys_size_ += key.size();
        keys_.push_back(std::move(key));
    }
    key_slots_.assign(key_slot * columns_.size(), ' ');
    for (size_t i = 0; i < keys_.size(); ++i)
        if (keys_[i].size() <= key_slot) key_slots_.replace(key_slot * i, keys_[i].size(), keys_[i]);
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
// shortest form (at most 24 bytes), null, true, false. At least key_slot: a key is written as
// key_slot bytes.
constexpr size_t value_room = 32;
static_assert(value_room >= key_slot);

char* put(char* p, std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
}

// put, inline for up to 16 bytes instead of a call.
inline char* put_small(char* p, std::string_view s) {
    const size_t n = s.size();
    if (n >= 4 && n <= 16) {
        json::copy_4_to_16(p, s.data(), n);
        return p + n;
    }
    if (n < 4) {
        for (size_t i = 0; i < n; ++i) p[i] = s[i];
        return p + n;
    }
    return put(p, s);
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
    const char* const slots = key_slots_.data();
    for (size_t i = 0; i < fields.size(); ++i) {
        const size_t key_size = keys_[i].size();
        if (key_size <= key_slot) {
            std::memcpy(p, slots + key_slot * i, key_slot);
            p += key_size;
        } else {
            p = put(p, keys_[i]);
        }
        const std::string_view v = fields[i];
        if (v.empty()) {
            p = put(p, "null");
            continue;
        }
        char* end = p;
        switch (plans_[i]) {
            case plan::text: end = json::write_string(p, v); break;
            case plan::copy: end = put_small(p, v); break;
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
