// ktrain: Spark MLlib's training half. Records from CSV or JSON-lines files, standard input or
// topics (read up to their end) become a dataset; the model learns from a seeded split of it and is
// measured on the rest; the model file keeps the feature preparation, so kpredict needs only it.
#include "ktrain.hpp"

#include "ks/cli.hpp"
#include "ks/csv.hpp"
#include "ks/error.hpp"
#include "ks/json.hpp"
#include "ks/log.hpp"
#include "ks/metrics.hpp"
#include "ks/record_errors.hpp"
#include "ks/report.hpp"
#include "ks/session.hpp"
#include "ks/signal.hpp"
#include "ks/source.hpp"
#include "ks/stats.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>

namespace ks::ktrain {

void declare(CLI::App& app, options& o) {
    app.add_option("-i,--input", o.inputs,
                   "CSV or JSON-lines files (globs), - (stdin), or kafka:TOPIC read up to its end with -e (repeatable)")
        ->allow_extra_args(false);
    app.add_option("-o,--output", o.output, "The model file to write");
    app.add_option("--label", o.label, "The field to predict")->group("Model");
    app.add_option("--model", o.model, "logistic, linear, rf-classifier or rf-regressor")
        ->check(CLI::IsMember({"logistic", "linear", "rf-classifier", "rf-regressor"}))
        ->capture_default_str()
        ->group("Model");
    app.add_option("--features", o.features, "The fields to learn from: a,b,... (default: every field but the label)")
        ->delimiter(',')
        ->group("Model");
    app.add_option("--exclude", o.exclude, "Every field but these (and the label): a,b,...")->delimiter(',')->group("Model");
    app.add_option("--derive", o.derive, "A computed feature: 'name=EXPR' (repeatable; kept in the model)")
        ->allow_extra_args(false)
        ->group("Model");
    app.add_option("--split", o.h.split, "Share of the rows trained on; the rest measures the model")
        ->check(CLI::Range(0.0, 1.0).description("") & positive)
        ->capture_default_str()
        ->group("Model");
    app.add_option("--seed", o.h.seed, "Seed of the split and the forests")->capture_default_str()->group("Model");
    app.add_option("--trees", o.h.trees, "Forests: number of trees")->check(CLI::Range(1, 10000))->capture_default_str()->group("Model");
    app.add_option("--max-depth", o.h.max_depth, "Forests: maximum depth")->check(CLI::Range(1, 30))->capture_default_str()->group("Model");
    app.add_option("--max-bins", o.h.max_bins, "Forests: thresholds tried per feature")
        ->check(CLI::Range(2, 256))
        ->capture_default_str()
        ->group("Model");
    app.add_option("--l2", o.h.l2, "L2 strength (logistic default 1/rows, as scikit-learn's C=1; linear default 0)")
        ->check(non_negative)
        ->group("Model");
    app.add_option("--max-iter", o.h.max_iter, "Logistic: L-BFGS iterations")->check(CLI::Range(1, 100000))->capture_default_str()->group("Model");
    app.add_option("--metrics-json", o.metrics_json, "Also write the metrics to FILE as JSON")->group("Output");
    app.add_option("--report", o.report, "Also write an HTML page with the metrics in pictures")->group("Output");
    app.add_option("--describe", o.describe, "Print what a model file holds, and exit")->group("Output");
    app.add_flag("--json", o.json, "With --describe: the metadata as JSON")->group("Output");
    app.add_option("--input-format", o.input_format, "auto (.csv/.tsv files are CSV), csv or jsonl")
        ->check(CLI::IsMember({"auto", "csv", "jsonl"}))
        ->capture_default_str()
        ->group("Input");
    app.add_option("--delimiter", o.delimiter, "CSV delimiter (tab for .tsv)")->capture_default_str()->group("Input");
    o.common.from_text = "earliest";  // a model learns from the whole topic
    add_common_options(app, o.common, opts_kafka | opts_consume | opts_bound | opts_errors | opts_report);
    app.footer(
        "Numbers are standardised, text is one-hot encoded (with a bucket for values not seen in training),\n"
        "nulls and absent fields are imputed (the mean; the unknown bucket); rows without a label are skipped.\n"
        "Forests grow as Spark MLlib's (binned thresholds, bootstrap, Gini or variance). docs/models.md.\n"
        "Examples:\n"
        "  ktrain -i datasets/traffic.csv --label 'Traffic Situation' --model rf-classifier -o traffic.model \\\n"
        "      --features CarCount,BikeCount,BusCount,TruckCount,hour,'Day of the week' \\\n"
        "      --derive 'hour=hour(parse_time(Time, \"%I:%M:%S %p\"))' --report traffic.html\n"
        "  ktrain -i 'batches/*.csv' -i kafka:traffic -g train -e --label Total --model linear -o total.model\n"
        "  ktrain --describe traffic.model");
}

namespace {

bool is_csv(const std::string& path, const std::string& format) {
    if (format != "auto") return format == "csv";
    std::string lower = path;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    return lower.ends_with(".csv") || lower.ends_with(".tsv");
}

}  // namespace

plan setup(options& o) {
    plan p;
    if (!o.describe.empty()) return p;
    if (o.output.empty()) throw usage_error("-o MODEL is required (the model file to write)");
    if (o.label.empty()) throw usage_error("--label is required (the field to predict)");
    if (!o.features.empty() && !o.exclude.empty()) throw usage_error("--features and --exclude exclude each other");
    p.algorithm = *ml::parse_algorithm(o.model);
    if (o.inputs.empty()) o.inputs.push_back("-");
    for (const auto& i : o.inputs) {
        auto spec = parse_spec(i);
        (spec.is_kafka() ? p.topics : p.files).push_back(std::move(spec));
    }
    if (std::count_if(p.files.begin(), p.files.end(), [](const io_spec& s) { return s.is_stdio(); }) > 1)
        throw usage_error("-i: standard input (-) can be read only once");
    if (!p.topics.empty()) {
        check_inputs(p.topics, o.common);
        if (!o.common.exit_at_end && o.common.duration_s <= 0 && o.common.limit == 0)
            throw usage_error(fmt::format("-i {}: a topic has no end: add -e (read up to its end), --duration or --limit",
                                          p.topics.front().text));
    }
    check_properties(make_kafka_settings(o.common));
    p.delimiter = csv::parse_delimiter(o.delimiter);
    std::vector<std::string> names;
    for (const auto& d : o.derive) {
        auto [name, text] = expr::split_named(d, "--derive");
        (void)expr::compile_option(text, "--derive");
        if (std::find(names.begin(), names.end(), name) != names.end())
            throw usage_error(fmt::format("--derive: '{}' twice", name));
        if (name == o.label) throw usage_error(fmt::format("--derive: '{}' is the label", name));
        names.push_back(name);
        p.derived.push_back({name, text});
    }
    if (std::find(o.features.begin(), o.features.end(), o.label) != o.features.end())
        throw usage_error(fmt::format("--features: '{}' is the label", o.label));
    return p;
}

namespace {

// Records -> the dataset. The features are named by --features, or else are the first record's
// fields (and the derived ones) but the label and --exclude.
class collector final : public processor {
public:
    collector(const options& o, const plan& p, error_policy& errors) : o_(o), p_(p), errors_(errors) {
        data_.feature_names = o.features;
    }

    void process(const record& r) override {
        if (parser_.parse(r) != json_status::ok) return errors_.handle(r, parser_.error_text());
        if (!add(r, parser_.object())) errors_.handle(r, why_);
    }
    void tick() override { progress_.update(data_.rows_read); }

    // A CSV row as a JSON object (r.value); bad ones are reported with the row's own bytes.
    void add_csv(const record& r, std::string_view raw) {
        if (parser_.parse(r.value, false) != json_status::ok) return errors_.handle(record_origin::of(r), parser_.error_text(), raw);
        if (!add(r, parser_.object()))
            errors_.handle(record_origin::of(r), why_, raw);
    }

    ml::dataset& data() { return data_; }
    void finish_progress() { progress_.finish(); }

private:
    // false: the record is bad (why_ says why).
    bool add(const record& r, simdjson::dom::object object) {
        if (!rows_) {
            if (data_.feature_names.empty()) {
                for (auto field : object) {
                    const std::string name(field.key);
                    if (name != o_.label && std::find(o_.exclude.begin(), o_.exclude.end(), name) == o_.exclude.end())
                        data_.feature_names.push_back(name);
                }
                for (const auto& d : p_.derived)
                    if (std::find(o_.exclude.begin(), o_.exclude.end(), d.name) == o_.exclude.end() &&
                        std::find(data_.feature_names.begin(), data_.feature_names.end(), d.name) == data_.feature_names.end())
                        data_.feature_names.push_back(d.name);
                if (data_.feature_names.empty())
                    throw usage_error(fmt::format("{}: no fields besides the label '{}' to learn from", r.describe(), o_.label));
            }
            rows_ = std::make_unique<ml::row_reader>(data_, p_.derived, o_.label);
        }
        return rows_->read(object, &r, why_);
    }

    const options& o_;
    const plan& p_;
    error_policy& errors_;
    ml::dataset data_;
    std::unique_ptr<ml::row_reader> rows_;
    json_parser parser_;
    std::string why_;
    progress progress_{o_.common.quiet, "records"};
};

// A CSV file's rows as JSON objects: each value typed on its own (numbers, true/false, empty as
// null, the rest strings), so that a column's type is decided over the whole dataset.
void read_csv(const std::string& path, char delimiter, collector& c, error_policy& errors, std::uint64_t& count,
              const common_options& o) {
    csv::reader rd(path, delimiter);
    csv::record row;
    std::string why;
    std::vector<std::string> columns;
    std::string json;
    for (;;) {
        if (signals::stop_requested() || o.limit_reached(count)) return;
        const auto res = rd.next(row, why);
        if (res == csv::reader::result::end) return;
        record r;
        r.source = path;
        r.line = row.line;
        if (res == csv::reader::result::bad) {
            errors.handle(record_origin::of(r), why, row.raw);
            continue;
        }
        if (columns.empty()) {
            std::vector<std::string> notes;
            columns = csv::header_names(row.fields, notes);
            for (const auto& n : notes) log::info("{}: {}", path, n);
            continue;
        }
        ++count;
        if (row.fields.size() != columns.size()) {
            errors.handle(record_origin::of(r),
                          fmt::format("{} fields, the header has {}", row.fields.size(), columns.size()), row.raw);
            continue;
        }
        json = "{";
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (i) json += ',';
            json::append_string(json, columns[i]);
            json += ':';
            const auto v = row.fields[i];
            switch (csv::classify(v)) {
                case csv::value_kind::empty: json += "null"; break;
                case csv::value_kind::integer:
                case csv::value_kind::number: json += v; break;
                case csv::value_kind::boolean: json += (v[0] == 't' || v[0] == 'T') ? "true" : "false"; break;
                case csv::value_kind::text: json::append_string(json, v); break;
            }
        }
        json += '}';
        r.value = json;
        c.add_csv(r, row.raw);
    }
}

void write_file(const std::string& path, const std::string& text, std::string_view what) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw runtime_failure(fmt::format("{}: cannot write the {}: {}", path, what, errno_text(errno)));
}

// The metrics file: the model's training summary and held-out metrics.
std::string metrics_json(const ml::model& m, const std::string& path) {
    simdjson::dom::parser parser;
    simdjson::dom::object md = parser.parse(m.metadata()).get_object().value();
    std::string out = "{\"model\":";
    json::append_string(out, path);
    for (const char* key : {"algorithm", "task", "label", "classes", "hyperparameters", "training", "metrics"}) {
        simdjson::dom::element e;
        if (md[key].get(e) != simdjson::SUCCESS) continue;
        fmt::format_to(std::back_inserter(out), ",\"{}\":", key);
        json::append_element(out, e);
    }
    out += "}\n";
    return out;
}

}  // namespace

int run(options& o, plan& p) {
    if (!o.describe.empty()) {
        const auto m = ml::model::load(o.describe);
        std::fputs(o.json ? (m.metadata() + "\n").c_str() : ml::describe(m.metadata(), o.describe).c_str(), stdout);
        return exit_ok;
    }
    stopwatch clock;
    error_policy errors(o.common, "ktrain");
    collector c(o, p, errors);
    std::uint64_t count = 0;
    for (const auto& spec : p.files) {
        for (const auto& path : expand_paths(spec)) {
            c.data().sources.push_back(path);
            if (path != "-" ? is_csv(path, o.input_format) : o.input_format == "csv") {
                const char delim = o.delimiter == "," && path.ends_with(".tsv") ? '\t' : p.delimiter;
                read_csv(path, delim, c, errors, count, o.common);
                continue;
            }
            auto src = open_source({path == "-" ? parse_spec("-") : parse_spec(path)}, o.common);
            record r;
            for (;;) {
                if (signals::stop_requested() || o.common.limit_reached(count)) break;
                const auto st = src->next(r, 100);
                if (st == source::status::end) break;
                if (st == source::status::idle) {
                    c.tick();
                    continue;
                }
                ++count;
                c.process(r);
            }
        }
    }
    std::uint64_t from_topics = 0;
    if (!p.topics.empty() && !signals::stop_requested() && !o.common.limit_reached(count)) {
        for (const auto& t : p.topics) c.data().sources.push_back(t.text);
        auto so = make_session_options(o.common, delivery_options{}, p.topics, {});
        so.delivery = guarantee::at_least_once;
        session s(o.common, so);
        s.run(c);
        from_topics = s.records_in();
    }
    c.finish_progress();
    errors.close();
    auto& data = c.data();
    if (signals::abort_requested()) throw runtime_failure("stopped before training");
    // On a terminal the wait for a long training is announced (the records' progress line ends here).
    const auto announce = fmt::format("training {} on {} rows ({} features)", o.model, data.rows.size(), data.feature_names.size());
    if (!o.common.quiet && ::isatty(STDERR_FILENO)) log::write(log::level::warn, announce);
    else log::info("{}", announce);
    auto m = ml::model::train(data, p.algorithm, o.h, p.derived, o.label);
    m.save(o.output);
    std::fputs(ml::describe(m.metadata(), o.output).c_str(), stdout);
    std::fflush(stdout);
    if (!o.metrics_json.empty()) write_file(o.metrics_json, metrics_json(m, o.output), "metrics");
    if (!o.report.empty()) write_file(o.report, ml::report_html(m.metadata(), o.output), "report");
    if (o.common.stats)
        stats_report("ktrain")
            .add("records_in", count + from_topics)
            .add("rows", static_cast<std::uint64_t>(data.rows.size()))
            .add("skipped_no_label", data.skipped)
            .add("bad", errors.count())
            .add("elapsed_s", clock.seconds())
            .print();
    return exit_ok;
}

}  // namespace ks::ktrain
