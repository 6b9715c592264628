// kstream-filter: the stateless half of Spark Structured Streaming. Per record, in this order: a
// lookup join (--lookup), a filter (--where), a projection (--select or --drop), computed fields
// (--set) and a new key (--key). Kafka to Kafka is exactly-once (the session's transactions).
#include "kstream_filter.hpp"

#include "lookup.hpp"

#include "ks/cli.hpp"
#include "ks/error.hpp"
#include "ks/json.hpp"
#include "ks/log.hpp"
#include "ks/record.hpp"
#include "ks/record_errors.hpp"
#include "ks/session.hpp"
#include "ks/stats.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace ks::kstream_filter {

void declare(CLI::App& app, options& o) {
    app.add_option("-i,--input", o.inputs, "kafka:TOPIC, kafka://HOST:PORT/TOPIC, JSON-lines files (globs), or - (repeatable)")
        ->allow_extra_args(false);
    app.add_option("-o,--output", o.output, "kafka:TOPIC, kafka://HOST:PORT/TOPIC, a file, or - (JSON lines)")
        ->capture_default_str();
    app.add_option("--where", o.where, "Keep the records for which EXPR is true (false and null drop them)")
        ->group("Records");
    app.add_option("--select", o.select, "Only these fields: 'name=EXPR, field, ...' (repeatable)")
        ->group("Records")
        ->allow_extra_args(false);
    app.add_option("--drop", o.drop, "Remove these top-level fields: f1,f2")->group("Records")->delimiter(',');
    app.add_option("--set", o.set, "Add or replace a field: 'name=EXPR' (repeatable, in order)")
        ->group("Records")
        ->allow_extra_args(false);
    app.add_option("--lookup", o.lookup, "Join a static CSV table (header row) to each record")->group("Records");
    app.add_option("--on", o.on, "The join: 'FIELD=COLUMN', a record field and the table's column")->group("Records");
    app.add_flag("--inner", o.inner, "Drop records the table has no row for (default: keep them, nulls)")->group("Records");
    app.add_option("--key", o.key, "The output message key: EXPR (default: the input key)")->group("Records");
    add_delivery_options(app, o.delivery);
    add_common_options(app, o.common, opts_kafka | opts_consume | opts_bound | opts_errors | opts_report);
    app.footer(
        "Order per record: --lookup, --where, --select or --drop, --set (in order), --key. Names refer\n"
        "to fields computed before them (lookup columns, earlier --select/--set), then to the record.\n"
        "A field copied as it is (--select 'x' or 'y=x') keeps its exact text; --where alone forwards\n"
        "the record's bytes untouched. Expressions: docs/expressions.md.\n"
        "Examples:\n"
        "  kstream-filter -i kafka:traffic -g busy -o kafka:traffic_busy --where 'Total > 50'\n"
        "  tail -f log.jsonl | kstream-filter --where 'level == \"error\"'\n"
        "  kstream-filter -i kafka:velib -g enrich -o kafka:velib-enriched \\\n"
        "      --lookup stations.csv --on station_id=station_id --set 'ebike=coalesce(num_bikes_available_types[*].ebike)'");
}

namespace {

session_options session_of(const options& o, const plan& p) {
    return make_session_options(o.common, o.delivery, p.inputs, {p.output});
}

}  // namespace

plan setup(options& o) {
    plan p;
    if (o.inputs.empty()) o.inputs.push_back("-");
    for (const auto& i : o.inputs) p.inputs.push_back(parse_spec(i));
    p.output = parse_spec(o.output);
    if (!o.select.empty() && !o.drop.empty()) throw usage_error("--select and --drop exclude each other");
    if (!o.lookup.empty() && o.on.empty()) throw usage_error("--lookup needs --on 'FIELD=COLUMN'");
    if (o.lookup.empty() && (!o.on.empty() || o.inner)) throw usage_error("--on and --inner are for --lookup");
    if (!o.where.empty()) p.where = expr::compile_option(o.where, "--where");
    if (!o.key.empty()) p.key = expr::compile_option(o.key, "--key");
    if (!o.on.empty()) {
        const auto eq = o.on.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == o.on.size())
            throw usage_error(fmt::format("--on: expected FIELD=COLUMN, got '{}'", o.on));
        p.join_field = expr::compile_option(o.on.substr(0, eq), "--on");
        p.join_column = o.on.substr(eq + 1);
    }
    std::vector<std::string> names;
    for (const auto& list : o.select)
        for (const auto& item : expr::split_list(list)) {
            auto [name, text] = expr::split_named(item, "--select");
            if (std::find(names.begin(), names.end(), name) != names.end())
                throw usage_error(fmt::format("--select: '{}' twice", name));
            names.push_back(name);
            p.select.push_back({name, expr::compile_option(text, "--select")});
        }
    for (const auto& item : o.set) {
        auto [name, text] = expr::split_named(item, "--set");
        p.set.push_back({name, expr::compile_option(text, "--set")});
    }
    for (const auto& d : o.drop)
        if (!d.empty()) p.drop.push_back(d);
    check_session(o.common, session_of(o, p));
    return p;
}

namespace {

// Where an output field's value comes from.
struct output_plan {
    std::string name;
    const expr::program* program = nullptr;
    std::optional<std::vector<path_step>> record_path;  // copied byte for byte from the record:
    size_t top = 0;                                     //   its top-level field (layout::tops)
    std::vector<path_step> rest;                        //   and the steps below it
    int lookup_column = -1;                             // copied from the table's JSON text
    size_t local = 0;                                   // its slot among the locals
};

enum drop_reason : std::uint8_t { dropped_by_where, no_table_row };

// How outputs are made, decided once (programs bound to their names) and shared by the workers.
struct layout {
    std::vector<output_plan> select, set;
    std::vector<std::string> tops;  // top-level fields that outputs copy
    // The table's columns read from the record instead, when it has a field of that name.
    std::vector<expr::program> record_columns;
    size_t locals = 0;
    bool pass_through = true;  // --where and --key at most: the record's bytes go out as they are

    layout(plan& p, const lookup_table* table) {
        // Locals: the table's columns, then the --select outputs, then the --set outputs. Each
        // program sees the names defined before it; a later name hides an earlier one.
        std::vector<std::string> names;
        if (table) names = table->columns();
        const size_t lookup_count = names.size();
        const auto bind = [&](expr::program& prog) {
            std::vector<std::string> visible = names;
            for (size_t i = 0; i < visible.size(); ++i)
                for (size_t j = i + 1; j < visible.size(); ++j)
                    if (visible[j] == visible[i]) visible[i] = std::string(1, '\0');
            prog.bind(visible);
        };
        if (p.join_field) p.join_field->bind({});
        if (p.where) bind(*p.where);
        const auto add = [&](std::vector<output_field>& fields, std::vector<output_plan>& plans) {
            for (auto& f : fields) {
                bind(f.program);
                output_plan op;
                op.name = f.name;
                op.program = &f.program;
                op.record_path = f.program.field_path();
                // A bare name of a table column (not hidden by an output before it) copies the
                // record's field of that name, or else the table's text.
                if (!op.record_path && table) {
                    const auto& text = f.program.text();
                    for (size_t c = 0; c < lookup_count; ++c) {
                        const auto& col = names[c];
                        const bool hidden = std::find(names.begin() + static_cast<std::ptrdiff_t>(lookup_count),
                                                      names.end(), col) != names.end();
                        if (!hidden && (text == col || text == "`" + col + "`")) {
                            op.lookup_column = static_cast<int>(c);
                            op.record_path = std::vector<path_step>{{col, -1}};
                        }
                    }
                }
                op.local = names.size();
                names.push_back(f.name);
                plans.push_back(std::move(op));
            }
        };
        add(p.select, select);
        add(p.set, set);
        if (p.key) bind(*p.key);
        // Fields copied from the record are found in one pass over its top level.
        for (auto* plans : {&select, &set})
            for (auto& op : *plans) {
                if (!op.record_path || op.record_path->empty() || op.record_path->front().index >= 0) {
                    op.record_path.reset();  // an index at the top: not an object field, computed instead
                    continue;
                }
                const auto& top = op.record_path->front().name;
                auto it = std::find(tops.begin(), tops.end(), top);
                op.top = static_cast<size_t>(it - tops.begin());
                if (it == tops.end()) tops.push_back(top);
                op.rest.assign(op.record_path->begin() + 1, op.record_path->end());
            }
        for (size_t c = 0; c < lookup_count; ++c) {
            std::string quoted = "`";
            for (char ch : names[c]) quoted += ch == '`' ? std::string("``") : std::string(1, ch);
            record_columns.push_back(expr::program::compile(quoted + "`"));
            record_columns.back().bind({});
        }
        locals = names.size();
        pass_through = p.select.empty() && p.set.empty() && p.drop.empty() && !table;
    }
};

// One record at a time: lookup, --where, --select/--drop, --set, --key. Each worker thread has its
// own (parsers, evaluator, buffers); the plan, the layout and the table are shared, read-only.
class filter_core final : public record_worker {
public:
    filter_core(const plan& p, const layout& l, const options& o, const lookup_table* table)
        : p_(p), l_(l), o_(o), table_(table), locals_(l.locals, expr::value::null()), top_raw_(l.tops.size()) {
        ctx_.locals = locals_;
    }

    void map(const record& r, mapped& m) override {
        ev_.reset();
        if (parser_.parse(r) != json_status::ok) return bad(m, error_ = parser_.error_text());
        ctx_.root = parser_.object();
        ctx_.meta = &r;
        const lookup_table::row* row = nullptr;
        if (table_) {
            expr::value k;
            if (!ev_.evaluate(*p_.join_field, ctx_, k, error_)) return bad(m, error_);
            text_.clear();
            if (expr::append_text(text_, k)) row = table_->find(text_);
            if (!row && o_.inner) return drop(m, no_table_row);
            // The record's own fields come first: a column only fills in what the record lacks.
            const auto& columns = table_->columns();
            for (size_t c = 0; c < columns.size(); ++c) {
                simdjson::dom::element present;
                if (ctx_.root.at_key(columns[c]).get(present) == simdjson::SUCCESS) {
                    if (!ev_.evaluate(l_.record_columns[c], ctx_, locals_[c], error_)) return bad(m, error_);
                } else {
                    locals_[c] = row ? row->values[c] : expr::value::null();
                }
            }
        }
        if (p_.where) {
            bool keep = false;
            if (!ev_.test(*p_.where, ctx_, keep, error_)) return bad(m, error_);
            if (!keep) return drop(m, dropped_by_where);
        }
        for (auto* plans : {&l_.select, &l_.set})
            for (const auto& op : *plans)
                if (!ev_.evaluate(*op.program, ctx_, locals_[op.local], error_)) return bad(m, error_);
        m.key = r.key;
        if (p_.key) {
            expr::value k;
            if (!ev_.evaluate(*p_.key, ctx_, k, error_)) return bad(m, error_);
            key_.clear();
            m.key = expr::append_text(key_, k) ? std::optional<std::string_view>(key_) : std::nullopt;
        }
        m.value = r.value;
        if (!l_.pass_through) {
            if (!build(r, row)) return bad(m, error_ = fields_.error_text());
            m.value = writer_.end();
        }
        m.what = mapped::kind::out;
    }

private:
    void bad(mapped& m, std::string_view why) {
        m.what = mapped::kind::bad;
        m.why = why;
    }
    static void drop(mapped& m, drop_reason reason) {
        m.what = mapped::kind::drop;
        m.reason = reason;
    }

    // An output field: the record's or the table's exact text, or the computed value.
    void field(const output_plan& op, const lookup_table::row* row) {
        std::string& out = writer_.field(op.name);
        if (op.record_path) {
            // Below the top level, the field's own text is searched: it lies in the record's
            // buffer, which keeps the parser's padding past the record, so it is padded too.
            auto raw = top_raw_[op.top];
            if (raw && !op.rest.empty()) raw = fields_.find(*raw, true, op.rest);
            if (raw) out.append(*raw);
            else if (op.lookup_column >= 0 && row) out.append(row->json[static_cast<size_t>(op.lookup_column)]);
            else out.append("null");
        } else if (op.lookup_column >= 0) {
            out.append(row ? std::string_view(row->json[static_cast<size_t>(op.lookup_column)]) : "null");
        } else {
            expr::append_json(out, locals_[op.local]);
        }
    }

    // The top-level fields that outputs copy, as written (the first of repeated keys).
    bool collect_tops(const record& r) {
        std::fill(top_raw_.begin(), top_raw_.end(), std::nullopt);
        return fields_.read(r, false, [&](const raw_field& f) {
            for (size_t i = 0; i < l_.tops.size(); ++i)
                if (!top_raw_[i] && f.key == l_.tops[i]) top_raw_[i] = f.raw;
        }) == json_status::ok;
    }

    [[nodiscard]] bool dropped(std::string_view name) const {
        return std::find(p_.drop.begin(), p_.drop.end(), name) != p_.drop.end();
    }

    const output_plan* set_named(std::string_view name) const {
        for (const auto& op : l_.set)
            if (op.name == name) return &op;
        return nullptr;
    }

    // The output object in writer_; false when the record's fields cannot be read (fields_ says why).
    bool build(const record& r, const lookup_table::row* row) {
        writer_.begin();
        set_written_.assign(l_.set.size(), false);
        // --set replaces a field where it stands, once (a repeated key is written once).
        const auto replaced = [&](std::string_view name) {
            const auto* s = set_named(name);
            if (!s) return false;
            const auto i = static_cast<size_t>(s - l_.set.data());
            if (!set_written_[i]) {
                set_written_[i] = true;
                field(*s, row);
            }
            return true;
        };
        // Values copied from fields further on must be found before the copy pass writes.
        if (!l_.tops.empty() && !collect_tops(r)) return false;
        if (!l_.select.empty()) {
            for (const auto& op : l_.select)
                if (!replaced(op.name)) field(op, row);
        } else {
            seen_.clear();
            const auto status = copy_fields(fields_, r, writer_, [&](const raw_field& f) {
                seen_.push_back(f.key);
                return dropped(f.key) || replaced(f.key);
            });
            if (status != json_status::ok) return false;
            if (table_) {
                const auto& columns = table_->columns();
                for (size_t c = 0; c < columns.size(); ++c) {
                    if (dropped(columns[c]) || std::find(seen_.begin(), seen_.end(), columns[c]) != seen_.end()) continue;
                    if (replaced(columns[c])) continue;
                    output_plan op;
                    op.name = columns[c];
                    op.lookup_column = static_cast<int>(c);
                    field(op, row);
                }
            }
        }
        for (size_t i = 0; i < l_.set.size(); ++i)
            if (!set_written_[i]) field(l_.set[i], row);
        return true;
    }

    const plan& p_;
    const layout& l_;
    const options& o_;
    const lookup_table* table_;
    std::vector<expr::value> locals_;
    std::vector<std::optional<std::string_view>> top_raw_;
    std::vector<bool> set_written_;
    std::vector<std::string_view> seen_;
    json_parser parser_;
    field_reader fields_;
    object_writer writer_;
    expr::evaluator ev_;
    expr::context ctx_;
    std::string text_, key_, error_;
};

class filter final : public processor {
public:
    filter(plan& p, const options& o, const lookup_table* table, record_sink& out, error_policy& errors)
        : p_(p), o_(o), table_(table), layout_(p, table), core_(p, layout_, o, table), out_(out), errors_(errors) {}

    void process(const record& r) override {
        mapped m;
        core_.map(r, m);
        emit(r, m);
    }
    std::unique_ptr<record_worker> make_worker() override {
        return std::make_unique<filter_core>(p_, layout_, o_, table_);
    }
    void emit(const record& r, const mapped& m) override {
        switch (m.what) {
            case mapped::kind::out:
                out_.write({m.key, m.value, r.headers, r.timestamp_ms});
                ++written_;
                break;
            case mapped::kind::drop: ++(m.reason == no_table_row ? unmatched_ : dropped_); break;
            case mapped::kind::bad: errors_.handle(r, m.why); break;
        }
    }

    void flush() override { errors_.flush(); }
    void tick() override { progress_.update(written_); }
    void committed() override { kept_ = {written_, dropped_, unmatched_}; }
    void aborted(bool output_discarded) override {
        if (output_discarded) std::tie(written_, dropped_, unmatched_) = kept_;
    }

    void report(const session& s, bool stats) {
        progress_.finish();
        if (!stats) return;
        stats_report r(log::tool());
        r.add("records_in", s.records_in())
            .add("records_out", written_)
            .add("dropped", dropped_)
            .add("unmatched", unmatched_)
            .add("bad", errors_.count())
            .add("tombstones", s.tombstones());
        add_session_stats(r, s, clock_.seconds()).print();
    }

private:
    plan& p_;
    const options& o_;
    const lookup_table* table_;
    layout layout_;
    filter_core core_;
    record_sink& out_;
    error_policy& errors_;
    std::uint64_t written_ = 0, dropped_ = 0, unmatched_ = 0;
    std::tuple<std::uint64_t, std::uint64_t, std::uint64_t> kept_{};  // at the last commit
    progress progress_{o_.common.quiet, "records"};
    stopwatch clock_;
};

}  // namespace

int run(options& o, plan& p) {
    std::unique_ptr<lookup_table> table;
    if (!o.lookup.empty()) table = std::make_unique<lookup_table>(o.lookup, p.join_column);
    session s(o.common, session_of(o, p));
    auto out = s.open_sink(p.output);
    error_policy errors(o.common, "kstream-filter", s.sink_opener());
    filter f(p, o, table.get(), *out, errors);
    consume_through(s, f, *out, errors, [&] { f.report(s, o.common.stats); });
    return exit_ok;
}

}  // namespace ks::kstream_filter
