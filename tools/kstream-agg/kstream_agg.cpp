// kstream-agg: group a stream by keys and event-time windows, aggregate, and emit results. State is
// kept per input partition; from Kafka it lives in a compacted changelog topic written in the
// same transaction as the output and the consumed offsets, and is read back on every assignment.
// docs/kstream-agg.md describes windows, watermarks, emission, state and its limits.
#include "kstream_agg.hpp"

#include "ks/cli.hpp"
#include "ks/error.hpp"
#include "ks/json.hpp"
#include "ks/kafka.hpp"
#include "ks/log.hpp"
#include "ks/record.hpp"
#include "ks/record_errors.hpp"
#include "ks/session.hpp"
#include "ks/stats.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace ks::kstream_agg {

void declare(CLI::App& app, options& o) {
    app.add_option("-i,--input", o.inputs, "kafka:TOPIC, kafka://HOST:PORT/TOPIC, JSON-lines files (globs), or - (repeatable)")
        ->allow_extra_args(false);
    app.add_option("-o,--output", o.output, "kafka:TOPIC, kafka://HOST:PORT/TOPIC, a file, or - (JSON lines)")
        ->capture_default_str();
    app.add_option("--group-by", o.group_by, "The groups: 'EXPR [as name], ...' (repeatable)")
        ->group("Aggregation")
        ->allow_extra_args(false);
    app.add_option("--agg", o.aggs,
                   "The aggregates: 'name=FUNC(EXPR), ...'; FUNC: count sum avg min max first last count_distinct "
                   "stddev p50 p95 p99 (repeatable)")
        ->group("Aggregation")
        ->allow_extra_args(false)
        ->required();
    app.add_option("--window", o.window, "tumbling:SIZE, hopping:SIZE,ADVANCE, session:GAP, or none (running totals)")
        ->capture_default_str()
        ->group("Aggregation");
    app.add_option("--time-field", o.time_field, "Event time from this field: epoch s or ms, or ISO-8601")->group("Aggregation");
    app.add_option("--time", o.time, "Event time from EXPR (default @timestamp: the Kafka timestamp, or arrival)")
        ->group("Aggregation");
    app.add_option("--grace", o.grace, "How late a record may be: the watermark is the max event time minus this")
        ->capture_default_str()
        ->group("Aggregation");
    app.add_option("--emit", o.emit, "final: each window once, when the watermark passes its end; update: changed groups at each commit")
        ->check(CLI::IsMember({"final", "update"}))
        ->capture_default_str()
        ->group("Aggregation");
    app.add_option("--idle-close", o.idle_close,
                   "After S seconds without records in a partition, its event time advances with the wall clock")
        ->check(non_negative)
        ->group("Aggregation");
    app.add_option("--having", o.having, "Emit only the results for which EXPR is true (over the output fields)")
        ->group("Aggregation");
    app.add_option("--max-keys", o.max_keys, "Open windows x groups held at most (then exit 1, naming the limit)")
        ->check(positive)
        ->capture_default_str()
        ->group("State");
    app.add_option("--changelog", o.changelog, "Kafka input: the state's compacted changelog topic (default GROUP-changelog)")
        ->group("State");
    app.add_flag("--no-key-check", o.no_key_check,
                 "Do not check that the message key is the first --group-by value (you guarantee that every group "
                 "is in one partition)")
        ->group("State");
    add_delivery_options(app, o.delivery);
    add_common_options(app, o.common, opts_kafka | opts_consume | opts_bound | opts_errors | opts_report);
    app.footer(
        "Output records: window_start, window_end (ISO-8601 UTC; not with --window none), the group fields, the\n"
        "aggregates; the message key is the group (its text, or a JSON array for several fields). From a topic\n"
        "with several partitions every group must be in one partition: the message key must be the first\n"
        "--group-by value (re-key with kstream-filter --key). Semantics and limits: docs/kstream-agg.md.\n"
        "Examples:\n"
        "  kstream-agg -i kafka:velib-enriched -g by-postcode -o kafka:velib-projet-clean --group-by postcode \\\n"
        "      --agg 'bikes=sum(num_bikes_available)' --window tumbling:5m --grace 10m --time-field last_reported\n"
        "  kstream-agg -i traffic.jsonl --group-by 'hour(parse_time(Time, \"%I:%M:%S %p\")) as hour' \\\n"
        "      --agg 'n=count(), avg_total=avg(Total)'");
}

window_spec parse_window(std::string_view text) {
    window_spec w;
    const auto colon = text.find(':');
    const std::string_view kind = text.substr(0, colon);
    const std::string_view arg = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
    if (kind == "none" && colon == std::string_view::npos) return w;
    if (kind == "tumbling" && !arg.empty()) {
        w.kind = window_kind::tumbling;
        w.size_ms = w.advance_ms = parse_duration_ms(arg, "--window tumbling");
        return w;
    }
    if (kind == "hopping" && !arg.empty()) {
        const auto comma = arg.find(',');
        if (comma == std::string_view::npos)
            throw usage_error(fmt::format("--window: hopping needs a size and an advance: hopping:10m,5m (got '{}')", text));
        w.kind = window_kind::hopping;
        w.size_ms = parse_duration_ms(arg.substr(0, comma), "--window hopping size");
        w.advance_ms = parse_duration_ms(arg.substr(comma + 1), "--window hopping advance");
        if (w.advance_ms > w.size_ms)
            throw usage_error(fmt::format("--window: the advance of a hopping window must not exceed its size ('{}')", text));
        return w;
    }
    if (kind == "session" && !arg.empty()) {
        w.kind = window_kind::session;
        w.gap_ms = parse_duration_ms(arg, "--window session gap");
        return w;
    }
    throw usage_error(fmt::format("--window: expected tumbling:SIZE, hopping:SIZE,ADVANCE, session:GAP or none, got '{}'", text));
}

namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

}  // namespace

void windows_of(const window_spec& w, std::int64_t t, std::vector<std::pair<std::int64_t, std::int64_t>>& out) {
    out.clear();
    if (w.kind == window_kind::none) {
        out.emplace_back(0, 0);
        return;
    }
    // The latest window starting at or before t, then the earlier ones that still hold t.
    for (std::int64_t start = floor_div(t, w.advance_ms) * w.advance_ms; start > t - w.size_ms; start -= w.advance_ms)
        out.emplace_back(start, start + w.size_ms);
    std::reverse(out.begin(), out.end());
}

std::pair<std::string, std::string> split_group_item(std::string_view item) {
    // "EXPR as name": the last " as " outside quotes and brackets.
    int depth = 0;
    char quote = 0;
    size_t as = std::string_view::npos;
    for (size_t i = 0; i < item.size(); ++i) {
        const char c = item[i];
        if (quote) {
            if (c == '\\' && quote != '`') ++i;
            else if (c == quote) quote = 0;
            continue;
        }
        if (c == '"' || c == '\'' || c == '`') quote = c;
        else if (c == '(' || c == '[') ++depth;
        else if (c == ')' || c == ']') --depth;
        else if (depth == 0 && i > 0 && item.substr(i).starts_with(" as ")) as = i;
    }
    if (as != std::string_view::npos) {
        std::string_view name = item.substr(as + 4);
        while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
        while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
        if (name.size() >= 2 && name.front() == '`' && name.back() == '`') name = name.substr(1, name.size() - 2);
        if (name.empty()) throw usage_error(fmt::format("--group-by: '{}' has no name after 'as'", item));
        return {std::string(name), std::string(item.substr(0, as))};
    }
    return expr::split_named(item, "--group-by");
}

namespace {

bool kafka_input(const plan& p) { return !p.inputs.empty() && p.inputs.front().is_kafka(); }

session_options session_of(const options& o, const plan& p) {
    std::vector<io_spec> outputs = {p.output};
    if (kafka_input(p)) {  // the changelog: on the input's cluster, in the transaction
        auto changelog = p.inputs.front();
        changelog.topic = p.changelog;
        outputs.push_back(changelog);
    }
    return make_session_options(o.common, o.delivery, p.inputs, std::move(outputs));
}

}  // namespace

plan setup(options& o) {
    plan p;
    if (o.inputs.empty()) o.inputs.push_back("-");
    for (const auto& i : o.inputs) p.inputs.push_back(parse_spec(i));
    p.output = parse_spec(o.output);
    if (kafka_input(p) && p.inputs.size() > 1)
        throw usage_error("kstream-agg reads one topic (its state is kept per partition of that topic)");
    std::vector<std::string> names;
    const auto add_name = [&](const std::string& name, std::string_view option) {
        if (name == "window_start" || name == "window_end" || std::find(names.begin(), names.end(), name) != names.end())
            throw usage_error(fmt::format("{}: the output field '{}' twice", option, name));
        names.push_back(name);
    };
    for (const auto& list : o.group_by)
        for (const auto& item : expr::split_list(list)) {
            auto [name, text] = split_group_item(item);
            add_name(name, "--group-by");
            p.group.push_back({name, expr::compile_option(text, "--group-by")});
        }
    for (const auto& list : o.aggs)
        for (const auto& item : expr::split_list(list)) {
            auto s = agg::parse_spec(item);
            add_name(s.name, "--agg");
            p.aggs.push_back(std::move(s));
        }
    if (p.aggs.empty()) throw usage_error("--agg: at least one aggregate, e.g. --agg 'n=count()'");
    p.window = parse_window(o.window);
    p.grace_ms = parse_duration_ms(o.grace, "--grace", true);
    p.emit_final = o.emit == "final";
    if (!p.emit_final && p.window.kind == window_kind::session)
        throw usage_error("--emit update cannot be used with session windows: a session that merges into another would "
                          "leave its earlier results behind as windows that do not exist; use --emit final");
    if (!o.time_field.empty() && !o.time.empty()) throw usage_error("--time-field and --time exclude each other");
    const std::string time = !o.time_field.empty() ? o.time_field : o.time;
    if (!time.empty() && time != "@timestamp") p.time = expr::compile_option(time, o.time_field.empty() ? "--time" : "--time-field");
    if (!o.having.empty()) p.having = expr::compile_option(o.having, "--having");
    if (o.idle_close > 0 && p.window.kind == window_kind::none)
        throw usage_error("--idle-close closes windows: it needs --window tumbling, hopping or session");
    if (kafka_input(p)) {
        if (o.common.group.empty()) throw usage_error("a consumer group is needed to read a topic: -g GROUP");
        p.changelog = o.changelog.empty() ? o.common.group + "-changelog" : o.changelog;
        if (p.changelog == p.inputs.front().topic || (p.output.is_kafka() && p.changelog == p.output.topic))
            throw usage_error(fmt::format("--changelog: '{}' is the input or the output topic", p.changelog));
    } else if (!o.changelog.empty()) {
        throw usage_error("--changelog is for a Kafka input (from files and stdin the state is in memory)");
    }
    check_session(o.common, session_of(o, p));
    return p;
}

namespace {

using clock = std::chrono::steady_clock;
constexpr std::int64_t no_time = std::numeric_limits<std::int64_t>::min();
constexpr std::string_view watermark_key = "\x01watermark";
constexpr std::int64_t arrival_time = no_time + 1;  // "the arrival time": set on the reading thread

std::string entry_key(std::string_view group, std::int64_t start) {
    char b[9];
    b[0] = '\0';
    for (int i = 0; i < 8; ++i) b[1 + i] = static_cast<char>((static_cast<std::uint64_t>(start) >> (8 * (7 - i))) & 0xff);
    std::string k(group);
    k.append(b, 9);
    return k;
}

// One group in one window, with its aggregates' states. Its key in the changelog, by_end and
// dirty_keys is entry_key(group, start).
struct window_entry {
    std::int64_t start = 0, end = 0;
    std::string group;  // the group values' JSON texts, joined by \x1f (never raw in JSON text)
    std::vector<agg::state> aggs;
    bool dirty = false;  // changed since the last flush (and listed in dirty_keys)

    [[nodiscard]] std::string key() const { return entry_key(group, start); }
};

// A record looks its entry up by group and start, with the group's hash computed on a worker
// thread, so the reading thread neither builds the key nor hashes the group again.
std::uint64_t group_hash(std::string_view group) { return std::hash<std::string_view>{}(group); }

std::size_t entry_hash_of(std::uint64_t group_hash, std::int64_t start) {
    std::uint64_t h = group_hash ^ (static_cast<std::uint64_t>(start) * 0x9e3779b97f4a7c15ULL);
    h ^= h >> 29;
    return static_cast<std::size_t>(h);
}

std::int64_t start_of_key(std::string_view key) {
    std::uint64_t v = 0;
    for (size_t i = key.size() - 8; i < key.size(); ++i) v = (v << 8) | static_cast<unsigned char>(key[i]);
    return static_cast<std::int64_t>(v);
}

// The entries of one partition by group and start: an open-addressing index (linear probing, a
// power-of-two size, at most half full) of hashes and entries. Looking a record's entry up reads
// one slot and the entry; std::unordered_map divided by a prime, then read a bucket, a node and
// the key's heap text, cache misses that were most of the reading thread's time. Entries stay at
// their address until erased.
class entry_store {
public:
    [[nodiscard]] window_entry* find(std::string_view group, std::int64_t start, std::size_t hash) const {
        if (size_ == 0) return nullptr;
        for (size_t i = hash & mask();; i = (i + 1) & mask()) {
            const slot& s = slots_[i];
            if (!s.entry) return nullptr;
            if (s.hash == hash && s.entry->start == start && s.entry->group == group) return s.entry.get();
        }
    }
    // By entry_key's bytes.
    [[nodiscard]] window_entry* find(std::string_view key) const {
        if (key.size() < 9 || key[key.size() - 9] != '\0') return nullptr;
        const auto group = key.substr(0, key.size() - 9);
        const auto start = start_of_key(key);
        return find(group, start, entry_hash_of(group_hash(group), start));
    }
    // A new entry for a group and start that have none.
    window_entry& insert(std::string_view group, std::int64_t start, std::size_t hash) {
        if (2 * (size_ + 1) > slots_.size()) grow();
        size_t i = hash & mask();
        while (slots_[i].entry) i = (i + 1) & mask();
        slots_[i] = {hash, std::make_unique<window_entry>()};
        ++size_;
        auto& e = *slots_[i].entry;
        e.group = group;
        e.start = start;
        return e;
    }
    void erase(const window_entry* e) {
        size_t i = entry_hash_of(group_hash(e->group), e->start) & mask();
        while (slots_[i].entry.get() != e) i = (i + 1) & mask();
        slots_[i] = {};
        --size_;
        // Backward shift: each later entry of the run moves into the hole when its home slot is
        // not between the hole and it, so that no probe meets an empty slot before its entry.
        for (size_t j = (i + 1) & mask(); slots_[j].entry; j = (j + 1) & mask()) {
            const size_t home = slots_[j].hash & mask();
            if (((j - home) & mask()) >= ((j - i) & mask())) {
                slots_[i] = std::move(slots_[j]);
                i = j;
            }
        }
    }
    [[nodiscard]] size_t size() const { return size_; }
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& s : slots_)
            if (s.entry) f(*s.entry);  // entries are the caller's to change, not their group or start
    }

private:
    struct slot {
        std::size_t hash = 0;
        std::unique_ptr<window_entry> entry;
    };
    [[nodiscard]] size_t mask() const { return slots_.size() - 1; }
    void grow() {
        std::vector<slot> old(std::max<size_t>(64, 2 * slots_.size()));
        old.swap(slots_);
        for (auto& s : old) {
            if (!s.entry) continue;
            size_t i = s.hash & mask();
            while (slots_[i].entry) i = (i + 1) & mask();
            slots_[i] = std::move(s);
        }
    }
    std::vector<slot> slots_;
    size_t size_ = 0;
};

// The state of one input partition (files and stdin: one, numbered -1).
struct partition_store {
    std::int64_t max_event = no_time;  // the watermark is this minus --grace
    entry_store entries;
    std::multimap<std::int64_t, std::string> by_end;                    // windows by their end, to close them
    std::unordered_map<std::string, std::set<std::int64_t>> sessions;  // session windows: starts per group
    std::vector<std::string> dirty_keys;  // changed or evicted since the last flush (may repeat)
    bool watermark_dirty = false;
    std::uint64_t records = 0, records_at_tick = 0;  // --idle-close looks at the clock per tick
    clock::time_point last_record = clock::now();
    clock::time_point idle_since_wall{};  // --idle-close: when the event time started to advance alone
    std::int64_t idle_base = no_time;     //   and the max event time then

    [[nodiscard]] std::int64_t watermark(std::int64_t grace) const { return max_event == no_time ? no_time : max_event - grace; }

    void index(const window_entry& e, bool sessions_too) {
        by_end.emplace(e.end, e.key());
        if (sessions_too) this->sessions[e.group].insert(e.start);
    }
    void unindex_end(const std::string& key, std::int64_t end) {
        auto [b, e] = by_end.equal_range(end);
        for (auto it = b; it != e; ++it)
            if (it->second == key) {
                by_end.erase(it);
                return;
            }
    }
};

// What a worker makes of one record: its event time, group and the aggregates' inputs, encoded.
struct prepared {
    std::int64_t time = 0;
    std::string_view group;  // in group_buffer, or in the encoded bytes
    std::uint64_t group_hash = 0;
    std::string group_buffer;
    std::vector<agg::input> inputs;
};

bool get_view(std::string_view& in, std::string_view& s) {
    std::int64_t n = 0;
    if (!agg::get_i64(in, n) || n < 0 || static_cast<std::uint64_t>(n) > in.size()) return false;
    s = in.substr(0, static_cast<size_t>(n));
    in.remove_prefix(static_cast<size_t>(n));
    return true;
}

void encode(const prepared& p, std::string& out) {
    // One allocation-free pass: the size first, then plain copies (this runs for every record).
    size_t n = 24 + p.group.size();
    for (const auto& in : p.inputs) n += 1 + (in.present ? 25 + in.json.size() : 0);
    out.resize(n);
    char* w = out.data();
    const auto put = [&w](const void* src, size_t len) {
        if (len == 0) return;  // src may be null (an empty view): memcpy must not see it
        std::memcpy(w, src, len);
        w += len;
    };
    const auto put_i64 = [&put](std::int64_t v) { put(&v, 8); };
    put_i64(p.time);
    put(&p.group_hash, 8);
    put_i64(static_cast<std::int64_t>(p.group.size()));
    put(p.group.data(), p.group.size());
    for (const auto& in : p.inputs) {
        *w++ = static_cast<char>((in.present ? 1 : 0) | (in.is_integer ? 2 : 0));
        if (!in.present) continue;
        put_i64(in.integer);
        put(&in.number, 8);
        *w++ = static_cast<char>(in.rank);
        put_i64(static_cast<std::int64_t>(in.json.size()));
        put(in.json.data(), in.json.size());
    }
}

void decode(std::string_view in, prepared& p) {
    agg::get_i64(in, p.time);
    std::memcpy(&p.group_hash, in.data(), 8);
    in.remove_prefix(8);
    get_view(in, p.group);
    for (auto& i : p.inputs) {
        const auto flags = static_cast<std::uint8_t>(in.front());
        in.remove_prefix(1);
        i.present = flags & 1;
        i.is_integer = flags & 2;
        if (!i.present) continue;
        agg::get_i64(in, i.integer);
        agg::get_f64(in, i.number);
        i.rank = static_cast<std::uint8_t>(in.front());
        in.remove_prefix(1);
        get_view(in, i.json);
    }
}

// Per record, on any thread: parse, event time, group, the aggregates' inputs.
class agg_worker final : public record_worker {
public:
    agg_worker(const plan& p, bool check_key) : p_(p), check_key_(check_key) {
        prepared_.inputs.resize(p.aggs.size());
        values_.resize(p.aggs.size());
        // An argument that an earlier aggregate has too (sum(x) and avg(x)) is evaluated once.
        for (size_t i = 0; i < p.aggs.size(); ++i) {
            same_as_.push_back(i);
            if (!p.aggs[i].argument) continue;
            for (size_t j = 0; j < i; ++j)
                if (p.aggs[j].argument && p.aggs[j].argument->text() == p.aggs[i].argument->text()) {
                    same_as_.back() = j;
                    break;
                }
        }
        parse_time_ = expr::program::compile("parse_time(t)");
        const std::string local = "t";
        parse_time_.bind(std::span<const std::string>(&local, 1));
    }

    void map(const record& r, mapped& m) override {
        m.what = mapped::kind::bad;
        if (!prepare(r)) {
            m.why = error_;
            return;
        }
        encode(prepared_, out_);
        m.what = mapped::kind::out;
        m.value = out_;
    }

    // The same without encoding, for the one-record-at-a-time path.
    bool prepare(const record& r) {
        ev_.reset();
        if (parser_.parse(r) != json_status::ok) return fail(parser_.error_text());
        ctx_.root = parser_.object();
        ctx_.meta = &r;
        ctx_.locals = {};
        if (!event_time(r, prepared_.time)) return false;
        auto& g = prepared_.group_buffer;
        g.clear();
        for (size_t i = 0; i < p_.group.size(); ++i) {
            expr::value v;
            if (!ev_.evaluate(p_.group[i].program, ctx_, v, error_)) return false;
            if (i > 0) g.push_back('\x1f');
            expr::append_json(g, v);
            if (i == 0 && check_key_) {
                key_text_.clear();
                const bool has = expr::append_text(key_text_, v);
                if (!r.key || !has || *r.key != key_text_)
                    return fail(fmt::format(
                        "the message key {} is not the first --group-by value {}: from a topic with several partitions "
                        "every group must be in one partition (re-key with kstream-filter --key '{}'; docs/kstream-agg.md)",
                        r.key ? fmt::format("'{}'", *r.key) : std::string("null"), has ? fmt::format("'{}'", key_text_) : "null",
                        p_.group[0].program.text()));
            }
        }
        for (size_t i = 0; i < p_.aggs.size(); ++i) {
            const auto& a = p_.aggs[i];
            auto& in = prepared_.inputs[i];
            if (!a.argument) {
                in.present = true;  // count(): every record
                continue;
            }
            auto& v = values_[i];
            if (same_as_[i] != i) v = values_[same_as_[i]];
            else if (!ev_.evaluate(*a.argument, ctx_, v, error_)) return false;
            if (!agg::make_input(a.function, v, in, error_)) return fail(fmt::format("--agg {}: {}", a.name, error_));
        }
        prepared_.group = g;
        prepared_.group_hash = group_hash(g);
        return true;
    }

    [[nodiscard]] prepared& last() { return prepared_; }
    [[nodiscard]] const std::string& error() const { return error_; }

private:
    bool fail(std::string why) {
        error_ = std::move(why);
        return false;
    }

    bool event_time(const record& r, std::int64_t& t) {
        if (!p_.time) {
            // No timestamp (files, stdin): the arrival time, taken in input order by apply().
            t = r.timestamp_ms >= 0 ? r.timestamp_ms : arrival_time;
            return true;
        }
        expr::value v;
        if (!ev_.evaluate(*p_.time, ctx_, v, error_)) return false;
        if (v.type == expr::kind::string) {
            expr::value parsed;
            expr::context c = ctx_;
            c.locals = std::span<const expr::value>(&v, 1);
            if (!ev_.evaluate(parse_time_, c, parsed, error_)) return false;
            if (parsed.is_null()) return fail(fmt::format("event time: '{}' is not an ISO-8601 time", v.string));
            v = parsed;
        }
        // Epoch numbers: seconds below 1e11 (the year 5138), milliseconds from there.
        switch (v.type) {
            case expr::kind::time: t = floor_div(v.integer, 1000); return true;
            case expr::kind::integer:
                t = std::abs(v.integer) >= 100'000'000'000 ? v.integer : v.integer * 1000;
                return true;
            case expr::kind::number:
                if (!std::isfinite(v.number) || std::abs(v.number) > 9e15) break;
                t = static_cast<std::int64_t>(std::floor(std::abs(v.number) >= 1e11 ? v.number : v.number * 1000));
                return true;
            case expr::kind::null:
                return fail(fmt::format("no event time: {} is missing or null", p_.time->text()));
            default: break;
        }
        std::string text;
        expr::append_json(text, v);
        return fail(fmt::format("event time: {} is not a time, an epoch number or an ISO-8601 string", text));
    }

    const plan& p_;
    bool check_key_;
    json_parser parser_;
    expr::evaluator ev_;
    expr::context ctx_;
    expr::program parse_time_ = expr::program::compile("null");
    prepared prepared_;
    std::vector<expr::value> values_;  // the aggregates' argument values of this record
    std::vector<size_t> same_as_;      // the aggregate whose argument value each one reuses
    std::string out_, error_, key_text_;
};

class aggregator final : public processor {
public:
    aggregator(const options& o, plan& p, session& s, record_sink& out, error_policy& errors, bool check_key)
        : o_(o), p_(p), s_(s), out_(out), errors_(errors), worker_(p, check_key) {
        decoded_.inputs.resize(p.aggs.size());
        if (p.having) p.having->bind({});
        kafka_ = kafka_input(p);
        track_ = kafka_ || !p.emit_final;
        fingerprint_ = fmt::format("w{}:{}:{}:{}", static_cast<int>(p.window.kind), p.window.size_ms, p.window.advance_ms,
                                   p.window.gap_ms);
        for (const auto& g : p.group) fingerprint_ += fmt::format("|g:{}={}", g.name, g.program.text());
        for (const auto& a : p.aggs)
            fingerprint_ += fmt::format("|a:{}={}({})", a.name, agg::name_of(a.function), a.argument ? a.argument->text() : "");
        if (kafka_) {
            settings_ = make_kafka_settings(o.common, p.inputs.front().brokers);
            if (!s.transactional()) {
                own_producer_ = std::make_unique<producer>(settings_, property_list{});
                changelog_producer_ = own_producer_.get();
            } else {
                changelog_producer_ = s.transactional_producer();
            }
            changelog_topic_ = changelog_producer_->open_topic(p.changelog);
        }
    }

    // --- processor ---------------------------------------------------------------------------

    void process(const record& r) override {
        restore_if_needed();
        if (!worker_.prepare(r)) return errors_.handle(r, worker_.error());
        apply(r, worker_.last());
    }
    std::unique_ptr<record_worker> make_worker() override { return std::make_unique<agg_worker>(p_, false); }
    void emit(const record& r, const mapped& m) override {
        if (m.what == mapped::kind::bad) return errors_.handle(r, m.why);
        decode(m.value, decoded_);
        apply(r, decoded_);
    }

    void tick() override {
        progress_.update(s_.records_in());
        restore_if_needed();
        if (o_.idle_close <= 0) return;
        const auto now = clock::now();
        const auto idle = std::chrono::duration<double>(o_.idle_close);
        for (auto& [part, ps] : parts_) {
            if (ps.records != ps.records_at_tick) {  // records came since the last tick
                ps.records_at_tick = ps.records;
                ps.last_record = now;
                ps.idle_base = no_time;
            }
            if (ps.max_event == no_time || now - ps.last_record < idle) continue;
            // Quiet for --idle-close: the partition's event time moves on with the wall clock.
            if (ps.idle_base == no_time) {
                ps.idle_base = ps.max_event;
                ps.idle_since_wall = ps.last_record;
            }
            const auto advanced =
                ps.idle_base + std::chrono::duration_cast<std::chrono::milliseconds>(now - ps.idle_since_wall).count();
            if (advanced <= ps.max_event) continue;
            const auto wm = advanced - p_.grace_ms;
            if (ps.by_end.empty() || ps.by_end.begin()->first > wm) continue;
            s_.begin_output();
            ps.max_event = advanced;
            ps.watermark_dirty = true;
            close_due(part, ps);
        }
    }

    void flush() override {
        restore_if_needed();
        for (auto& [part, ps] : parts_) {
            if (kafka_ && (!ps.dirty_keys.empty() || ps.watermark_dirty)) s_.begin_output();
            for (const auto& key : ps.dirty_keys) {
                window_entry* e = ps.entries.find(key);
                if (!e) {  // evicted: a tombstone
                    if (kafka_) changelog_producer_->produce(changelog_topic_, key, std::string_view(nullptr, 0), part);
                    continue;
                }
                if (!e->dirty) continue;  // listed twice
                e->dirty = false;
                if (!p_.emit_final) output(*e);
                if (kafka_) write_entry(part, key, *e);
            }
            if (kafka_ && ps.watermark_dirty) write_watermark(part, ps);
            ps.dirty_keys.clear();
            ps.watermark_dirty = false;
        }
        if (own_producer_) {
            own_producer_->flush();
            if (own_producer_->failed() > 0)
                throw runtime_failure(fmt::format("{} state changes not written to {}: {}", own_producer_->failed(),
                                                  p_.changelog, own_producer_->first_error()));
        }
        errors_.flush();
    }

    void finishing() override {
        restore_if_needed();
        finished_ = true;
        entries_at_end_ = total_entries_;
        // Files and stdin: every window's result at the end. --window none with --emit final: the
        // totals at the end of every run (from Kafka too: they stay in the state and go on).
        const bool all = !kafka_ || p_.window.kind == window_kind::none;
        if (!all || !p_.emit_final) return;
        for (auto& [part, ps] : parts_) {
            std::vector<const window_entry*> open;
            ps.entries.for_each([&](const window_entry& e) { open.push_back(&e); });
            std::sort(open.begin(), open.end(), [](const window_entry* a, const window_entry* b) {
                return a->end != b->end ? a->end < b->end : a->start != b->start ? a->start < b->start : a->group < b->group;
            });
            for (const auto* e : open) output(*e);
        }
    }

    void assigned(rd_kafka_topic_partition_list_t* parts) override {
        std::vector<std::int32_t> restore;
        for (int i = 0; i < parts->cnt; ++i) {
            drop_partition(parts->elems[i].partition);
            std::erase(to_restore_, parts->elems[i].partition);
            restore.push_back(parts->elems[i].partition);
        }
        restore_partitions(restore);
    }

    void revoked(const rd_kafka_topic_partition_list_t* parts, bool) override {
        for (int i = 0; i < parts->cnt; ++i) {
            drop_partition(parts->elems[i].partition);
            std::erase(to_restore_, parts->elems[i].partition);
        }
    }

    // The counts too: an aborted transaction's records are read and counted again.
    void committed() override { kept_ = {written_, late_, closed_, filtered_}; }

    void aborted(bool output_discarded) override {
        if (output_discarded) std::tie(written_, late_, closed_, filtered_) = kept_;
        if (!kafka_) return;
        // Back to the last commit: the changelog holds exactly the committed state. It is read
        // again before the next record (not now: a session that stops after a failure aborts too).
        for (const auto& [part, ps] : parts_) to_restore_.push_back(part);
        for (auto part : to_restore_) drop_partition(part);
    }

    void restore_if_needed() {
        if (to_restore_.empty()) return;
        restore_partitions(std::exchange(to_restore_, {}));
    }

    // --- report ---------------------------------------------------------------------------------

    void report(bool stats) {
        progress_.finish();
        if (!stats) return;
        stats_report r(log::tool());
        r.add("records_in", s_.records_in())
            .add("records_out", written_)
            .add("late", late_)
            .add("bad", errors_.count())  // late records included
            .add("tombstones", s_.tombstones())
            .add("windows_closed", closed_)
            .add("state_entries", finished_ ? entries_at_end_ : total_entries_)
            .add("state_entries_peak", peak_entries_)
            .add("restored_entries", restored_)
            .add("restore_s", restore_seconds_);
        add_session_stats(r, s_, clock_.seconds()).print();
    }

private:
    partition_store& store_of(const record& r) {
        const std::int32_t part = r.from_kafka ? r.partition : -1;
        if (part == last_part_ && last_store_) return *last_store_;
        last_part_ = part;
        last_store_ = &parts_[part];
        return *last_store_;
    }

    // A new entry for a group and start that have none.
    window_entry& new_entry(partition_store& ps, std::string_view group, std::int64_t start, std::int64_t end,
                            std::size_t hash) {
        if (total_entries_ >= o_.max_keys)
            throw runtime_failure(fmt::format(
                "--max-keys {}: that many groups x windows are open; raise --max-keys, use shorter windows or less "
                "--grace (closed windows are evicted)",
                o_.max_keys));
        ++total_entries_;
        peak_entries_ = std::max(peak_entries_, total_entries_);
        auto& e = ps.entries.insert(group, start, hash);
        e.end = end;
        e.aggs.resize(p_.aggs.size());
        return e;
    }

    void add_all(window_entry& e, const prepared& in) {
        for (size_t i = 0; i < p_.aggs.size(); ++i) agg::add(p_.aggs[i].function, e.aggs[i], in.inputs[i], in.time);
    }

    void late(const record& r, std::int64_t t, std::int64_t wm) {
        ++late_;
        std::string when, mark;
        expr::append_text(when, expr::value::of_time_us(t * 1000));
        expr::append_text(mark, expr::value::of_time_us(wm * 1000));
        errors_.handle(r, fmt::format("late record: its event time {} is behind the watermark {} (max event time minus "
                                      "--grace): its window is closed",
                                      when, mark));
    }

    void apply(const record& r, prepared& in) {
        auto& ps = store_of(r);
        ++ps.records;
        if (in.time == arrival_time) {  // never backwards, so that input order is time order
            arrival_ = std::max(arrival_, std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
            in.time = arrival_;
        }
        const std::int64_t t = in.time;
        const std::int64_t wm = ps.watermark(p_.grace_ms);
        if (p_.window.kind == window_kind::session) {
            if (!apply_session(ps, in, wm)) return late(r, t, wm);
        } else {
            windows_of(p_.window, t, windows_);
            bool any = false;
            for (const auto& [start, end] : windows_) {
                if (p_.window.kind != window_kind::none && wm != no_time && end <= wm) continue;  // closed
                any = true;
                const std::size_t hash = entry_hash_of(in.group_hash, start);
                window_entry* e = ps.entries.find(in.group, start, hash);
                if (!e) {
                    e = &new_entry(ps, in.group, start, end, hash);
                    if (p_.window.kind != window_kind::none) ps.by_end.emplace(end, e->key());
                }
                add_all(*e, in);
                mark(ps, *e);
            }
            if (!any) return late(r, t, wm);
        }
        if (t > ps.max_event) {
            ps.max_event = t;
            ps.watermark_dirty = true;
            if (!ps.by_end.empty() && ps.by_end.begin()->first <= ps.watermark(p_.grace_ms))
                close_due(r.from_kafka ? r.partition : -1, ps);
        }
    }

    // Session windows: a record opens [t, t + gap) and merges every session of its group that
    // overlaps it. false: no open session takes it and its own would be closed already (late).
    bool apply_session(partition_store& ps, const prepared& in, std::int64_t wm) {
        const std::int64_t t = in.time, gap = p_.window.gap_ms;
        // Every start listed in `sessions` has its entry.
        const auto session = [&](std::int64_t start) -> window_entry& {
            return *ps.entries.find(in.group, start, entry_hash_of(in.group_hash, start));
        };
        group_text_.assign(in.group);
        auto& starts = ps.sessions[group_text_];
        std::vector<std::int64_t> overlapping;
        for (auto it = starts.begin(); it != starts.end() && *it < t + gap; ++it)
            if (session(*it).end > t) overlapping.push_back(*it);
        if (overlapping.empty() && wm != no_time && t + gap <= wm) {
            if (starts.empty()) ps.sessions.erase(group_text_);
            return false;
        }
        if (overlapping.size() == 1 && overlapping.front() <= t) {  // the common case: grows one session
            auto& e = session(overlapping.front());
            if (t + gap > e.end) {
                const auto key = e.key();
                ps.unindex_end(key, e.end);
                e.end = t + gap;
                ps.by_end.emplace(e.end, key);
            }
            add_all(e, in);
            mark(ps, e);
            return true;
        }
        std::int64_t start = t, end = t + gap;
        for (auto s : overlapping) {
            const auto& e = session(s);
            start = std::min(start, e.start);
            end = std::max(end, e.end);
        }
        window_entry merged;
        merged.start = start;
        merged.end = end;
        merged.group = group_text_;
        merged.aggs.resize(p_.aggs.size());
        add_all(merged, in);
        for (auto s : overlapping) {
            auto& e = session(s);
            for (size_t i = 0; i < p_.aggs.size(); ++i) agg::merge(p_.aggs[i].function, merged.aggs[i], e.aggs[i]);
            auto key = e.key();
            ps.unindex_end(key, e.end);
            ps.entries.erase(&e);
            --total_entries_;
            starts.erase(s);
            mark_evicted(ps, std::move(key));  // a tombstone, unless the merged session has the same start
        }
        const std::size_t hash = entry_hash_of(in.group_hash, start);
        window_entry* e = ps.entries.find(in.group, start, hash);
        if (!e) e = &new_entry(ps, in.group, start, end, hash);
        *e = std::move(merged);
        ps.by_end.emplace(end, e->key());
        starts.insert(start);
        mark(ps, *e);
        return true;
    }

    void close_due(std::int32_t, partition_store& ps) {
        const auto wm = ps.watermark(p_.grace_ms);
        while (!ps.by_end.empty() && ps.by_end.begin()->first <= wm) {
            std::string key = std::move(ps.by_end.begin()->second);
            ps.by_end.erase(ps.by_end.begin());
            window_entry* e = ps.entries.find(key);
            if (!e) continue;
            if (p_.emit_final || e->dirty) output(*e);
            if (p_.window.kind == window_kind::session) {
                auto s = ps.sessions.find(e->group);
                if (s != ps.sessions.end()) {
                    s->second.erase(e->start);
                    if (s->second.empty()) ps.sessions.erase(s);
                }
            }
            ps.entries.erase(e);
            --total_entries_;
            ++closed_;
            mark_evicted(ps, std::move(key));  // a tombstone in the changelog
        }
    }

    // The result record of one group and window, through --having, to the output.
    void output(const window_entry& e) {
        auto& out = result_;
        out.clear();
        out.push_back('{');
        bool first = true;
        const auto field = [&](std::string_view name) {
            if (!first) out.push_back(',');
            first = false;
            json::append_string(out, name);
            out.push_back(':');
        };
        if (p_.window.kind != window_kind::none) {
            // The groups of a window close one after another: its times are written once.
            if (window_fields_.empty() || e.start != window_fields_start_ || e.end != window_fields_end_) {
                window_fields_ = "\"window_start\":";
                expr::append_json(window_fields_, expr::value::of_time_us(e.start * 1000));
                window_fields_ += ",\"window_end\":";
                expr::append_json(window_fields_, expr::value::of_time_us(e.end * 1000));
                window_fields_start_ = e.start;
                window_fields_end_ = e.end;
            }
            out.append(window_fields_);
            first = false;
        }
        size_t from = 0;
        for (size_t i = 0; i < p_.group.size(); ++i) {
            const auto to = std::min(e.group.find('\x1f', from), e.group.size());
            field(p_.group[i].name);
            out.append(e.group, from, to - from);
            from = to + 1;
        }
        for (size_t i = 0; i < p_.aggs.size(); ++i) {
            field(p_.aggs[i].name);
            agg::result(p_.aggs[i].function, e.aggs[i], out);
        }
        out.push_back('}');
        if (p_.having) {
            if (having_parser_.parse(out, false) != json_status::ok)
                throw runtime_failure(fmt::format("internal: a result is not JSON: {}", out));
            expr::context ctx;
            ctx.root = having_parser_.object();
            bool keep = false;
            having_ev_.reset();
            if (!having_ev_.test(*p_.having, ctx, keep, error_))
                throw data_error(fmt::format("--having: {} (result {})", error_, out));
            if (!keep) {
                ++filtered_;
                return;
            }
        }
        const auto key = group_key(e.group);
        out_.write({key, out, {}, -1});
        ++written_;
    }

    // The message key of a group: the text of its one value, or a JSON array of its values.
    std::optional<std::string_view> group_key(const std::string& group) {
        key_out_.clear();
        if (p_.group.empty()) return std::nullopt;
        if (p_.group.size() == 1) {
            if (group == "null") return std::nullopt;
            if (!group.empty() && group.front() == '"') {
                if (group.find('\\') == std::string::npos) {  // nothing escaped: the text between the quotes
                    key_out_.assign(group, 1, group.size() - 2);
                    return key_out_;
                }
                // The parser reads objects: the string through a one-field wrapper.
                wrapped_ = "{\"k\":" + group + "}";
                if (key_parser_.parse(wrapped_, false) == json_status::ok) {
                    std::string_view s;
                    if (key_parser_.object()["k"].get_string().get(s) == simdjson::SUCCESS) key_out_.assign(s);
                }
                return key_out_;
            }
            key_out_ = group;
            return key_out_;
        }
        key_out_.push_back('[');
        for (char c : group) key_out_.push_back(c == '\x1f' ? ',' : c);
        key_out_.push_back(']');
        return key_out_;
    }

    // --- changelog ----------------------------------------------------------------------------

    void write_entry(std::int32_t part, const std::string& key, const window_entry& e) {
        value_.clear();
        agg::put_i64(value_, e.start);
        agg::put_i64(value_, e.end);
        agg::put_str(value_, e.group);
        for (size_t i = 0; i < p_.aggs.size(); ++i) agg::write_state(p_.aggs[i].function, e.aggs[i], value_);
        changelog_producer_->produce(changelog_topic_, key, value_, part);
    }

    void write_watermark(std::int32_t part, const partition_store& ps) {
        value_.clear();
        agg::put_i64(value_, ps.max_event);
        agg::put_str(value_, fingerprint_);
        changelog_producer_->produce(changelog_topic_, watermark_key, value_, part);
    }

    // Changes to remember for the next flush: the changelog, and --emit update's output.
    void mark(partition_store& ps, window_entry& e) {
        if (!track_ || e.dirty) return;
        e.dirty = true;
        ps.dirty_keys.push_back(e.key());
    }
    void mark_evicted(partition_store& ps, std::string key) {
        if (track_) ps.dirty_keys.push_back(std::move(key));
    }

    void drop_partition(std::int32_t part) {
        auto it = parts_.find(part);
        if (it == parts_.end()) return;
        total_entries_ -= it->second.entries.size();
        parts_.erase(it);
        last_store_ = nullptr;
        last_part_ = std::numeric_limits<std::int32_t>::min();
    }

    void restore_partitions(const std::vector<std::int32_t>& partitions) {
        last_store_ = nullptr;
        last_part_ = std::numeric_limits<std::int32_t>::min();
        if (partitions.empty()) return;
        stopwatch watch;
        std::uint64_t records = 0;
        read_partitions(settings_, p_.changelog, partitions, [&](const rd_kafka_message_t* m) {
            ++records;
            auto& ps = parts_[m->partition];
            const auto key = message_key(m);
            if (!key) return;
            const std::string k(*key);
            if (k == watermark_key) {
                std::string_view v = payload(m);
                std::int64_t t = no_time;
                std::string print;
                if (!agg::get_i64(v, t) || !agg::get_str(v, print) || print != fingerprint_)
                    throw runtime_failure(fmt::format(
                        "the changelog {} [{}] holds the state of another aggregation (other --group-by, --agg or "
                        "--window): use another -g GROUP or --changelog",
                        p_.changelog, m->partition));
                ps.max_event = t;
                return;
            }
            if (!m->payload) {
                if (window_entry* e = ps.entries.find(k)) ps.entries.erase(e);
                return;
            }
            std::string_view v = payload(m);
            window_entry e;
            bool ok = agg::get_i64(v, e.start) && agg::get_i64(v, e.end) && agg::get_str(v, e.group);
            e.aggs.resize(p_.aggs.size());
            for (size_t i = 0; ok && i < p_.aggs.size(); ++i) ok = agg::read_state(p_.aggs[i].function, e.aggs[i], v);
            if (!ok || !v.empty() || k != e.key())
                throw runtime_failure(fmt::format(
                    "the changelog {} [{}] at offset {} is not this aggregation's state (other --agg or --group-by?): "
                    "use another -g GROUP or --changelog",
                    p_.changelog, m->partition, m->offset));
            const std::size_t hash = entry_hash_of(group_hash(e.group), e.start);  // k is e.key(): checked above
            window_entry* into = ps.entries.find(e.group, e.start, hash);
            if (!into) into = &ps.entries.insert(e.group, e.start, hash);
            *into = std::move(e);
        });
        std::uint64_t entries = 0;
        for (auto part : partitions) {
            auto& ps = parts_[part];
            ps.last_record = clock::now();
            ps.entries.for_each([&](window_entry& e) {
                e.dirty = false;
                if (p_.window.kind != window_kind::none) ps.index(e, p_.window.kind == window_kind::session);
            });
            entries += ps.entries.size();
        }
        total_entries_ += entries;
        peak_entries_ = std::max(peak_entries_, total_entries_);
        restored_ += entries;
        restore_seconds_ += watch.seconds();
        log::info("restored {} window(s) of {} partition(s) from {} ({} records) in {:.3f} s", entries, partitions.size(),
                  p_.changelog, records, watch.seconds());
    }

    const options& o_;
    plan& p_;
    session& s_;
    record_sink& out_;
    error_policy& errors_;
    agg_worker worker_;
    prepared decoded_;
    bool kafka_ = false, track_ = false;
    std::string fingerprint_;  // the configuration whose state the changelog holds
    kafka_settings settings_;
    std::unique_ptr<producer> own_producer_;
    producer* changelog_producer_ = nullptr;
    producer::topic changelog_topic_;
    std::map<std::int32_t, partition_store> parts_;
    std::vector<std::int32_t> to_restore_;  // partitions whose state an abort dropped
    partition_store* last_store_ = nullptr;
    std::int32_t last_part_ = std::numeric_limits<std::int32_t>::min();
    std::vector<std::pair<std::int64_t, std::int64_t>> windows_;
    std::string result_, value_, key_out_, wrapped_, error_, group_text_;
    std::string window_fields_;  // "window_start":...,"window_end":... of the window below
    std::int64_t window_fields_start_ = 0, window_fields_end_ = 0;
    json_parser having_parser_, key_parser_;
    expr::evaluator having_ev_;
    std::uint64_t written_ = 0, late_ = 0, closed_ = 0, filtered_ = 0, restored_ = 0;
    std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t> kept_{};  // at the last commit
    std::uint64_t total_entries_ = 0, peak_entries_ = 0;
    double restore_seconds_ = 0;
    std::int64_t arrival_ = 0;  // the last arrival time given
    bool finished_ = false;
    std::uint64_t entries_at_end_ = 0;  // open windows when the input ended (before partitions are let go)
    progress progress_{o_.common.quiet, "records"};
    stopwatch clock_;
};

}  // namespace

int run(options& o, plan& p) {
    bool check_key = false;
    if (kafka_input(p)) {
        const auto settings = make_kafka_settings(o.common, p.inputs.front().brokers);
        const int partitions = topic_partitions(settings, p.inputs.front().topic);
        check_key = partitions > 1 && !o.no_key_check && !p.group.empty();
        const int have = ensure_topic(settings, p.changelog, partitions,
                                      {{"cleanup.policy", "compact"}, {"min.compaction.lag.ms", "0"}, {"segment.ms", "600000"}});
        if (have < partitions)
            throw usage_error(fmt::format("--changelog {} has {} partitions, the input {} has {}: use another changelog",
                                          p.changelog, have, p.inputs.front().topic, partitions));
    }
    session s(o.common, session_of(o, p));
    auto out = s.open_sink(p.output);
    error_policy errors(o.common, "kstream-agg", s.sink_opener());
    aggregator a(o, p, s, *out, errors, check_key);
    consume_through(s, a, *out, errors, [&] { a.report(o.common.stats); });
    return exit_ok;
}

}  // namespace ks::kstream_agg
