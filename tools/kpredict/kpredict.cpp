// kpredict: Spark MLlib's scoring half. Each record gets the model's prediction (and the class
// probabilities) appended; everything else in it is kept as it was. Records are independent, so
// files and pipes are scored on every core, and Kafka to Kafka is exactly-once (the session's
// transactions). `kpredict serve` (serve.cpp) answers HTTP requests instead.
#include "kpredict.hpp"

#include "ks/cli.hpp"
#include "ks/error.hpp"
#include "ks/json.hpp"
#include "ks/log.hpp"
#include "ks/record.hpp"
#include "ks/record_errors.hpp"
#include "ks/stats.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace ks::kpredict {

void declare(CLI::App& app, options& o) {
    app.add_option("-m,--model", o.model, "The model file (made by ktrain)");
    app.add_option("-i,--input", o.inputs, "kafka:TOPIC, kafka://HOST:PORT/TOPIC, JSON-lines files (globs), or - (repeatable)")
        ->allow_extra_args(false);
    app.add_option("-o,--output", o.output, "kafka:TOPIC, kafka://HOST:PORT/TOPIC, a file, or - (JSON lines)")
        ->capture_default_str();
    app.add_option("--field", o.field, "The field that gets the prediction")->capture_default_str()->group("Records");
    app.add_flag("--proba", o.proba, "Classifiers: also the class probabilities, in the field 'probability'")
        ->group("Records");
    add_delivery_options(app, o.delivery);
    add_common_options(app, o.common, opts_kafka | opts_consume | opts_bound | opts_errors | opts_report);
    app.require_subcommand(0, 1);

    auto* s = app.add_subcommand("serve", "Serve models over HTTP: /predict/NAME, MLflow's /invocations, /health, /metrics, a web page at /");
    o.serve_command = s;
    s->fallthrough();  // -v, -q, --duration and the others of kpredict itself work after `serve` too
    s->add_option("-m,--model", o.serve.models, "A model: NAME=FILE, or FILE (named after the file) (repeatable)")
        ->required()
        ->allow_extra_args(false);
    s->add_option("--listen", o.serve.listen, "HOST:PORT to listen on")->capture_default_str();
    s->add_option("--max-body", o.serve.max_body, "Largest request body in bytes (413 above)")->check(positive)->capture_default_str();
    s->add_option("--request-timeout", o.serve.request_timeout_s, "Seconds a client may take to send a request or read the answer")
        ->check(positive)
        ->capture_default_str();
    s->add_option("--threads", o.serve.threads, "Threads serving connections, each any number of them (0: one per core)")
        ->check(CLI::Range(0, 256))
        ->capture_default_str();
    s->footer(
        "Endpoints:\n"
        "  POST /predict/NAME   a JSON record or an array of them -> {\"prediction\": ..., \"probabilities\": {...}}\n"
        "  POST /invocations    MLflow's scoring protocol (?model=NAME when several are loaded): dataframe_split,\n"
        "                       dataframe_records, instances or inputs -> {\"predictions\": [...]}\n"
        "  GET  /ping           200 when ready;  GET /health: the models and their inputs\n"
        "  GET  /metrics        Prometheus text: requests, errors and latency per model\n"
        "  GET  /               a page with a form per model;  GET /report/NAME: the model's report\n"
        "SIGTERM or SIGINT: stop accepting, finish the requests in progress, exit 0.\n"
        "Example:\n"
        "  kpredict serve -m traffic=traffic.model -m density=density.model --listen 127.0.0.1:8080\n"
        "  curl -s localhost:8080/predict/traffic -d '{\"CarCount\": 40, ...}'\n\n"
        "Exit codes: 0 stopped by SIGINT/SIGTERM or --duration; 1 cannot listen or read a model file;\n"
        "2 usage error; 65 a model file that is not a model, of another version, or corrupt.");
    app.footer(
        "The prediction is added to each record (--field, replacing a field of that name); the class\n"
        "probabilities too with --proba. A record without a field the model needs, or with a value it\n"
        "cannot take, is a bad record (--on-error); null is a missing value (imputed). docs/models.md.\n"
        "Examples:\n"
        "  kpredict -m traffic.model -i kafka:traffic -g score -o kafka:traffic_predictions --proba\n"
        "  kpredict -m traffic.model < traffic.jsonl > scored.jsonl\n"
        "  kpredict serve -m traffic=traffic.model");
}

namespace {

session_options session_of(const options& o, const plan& p) {
    return make_session_options(o.common, o.delivery, p.inputs, {p.output});
}

}  // namespace

plan setup(options& o) {
    plan p;
    if (o.model.empty()) throw usage_error("-m MODEL is required (a model file made by ktrain)");
    if (o.field.empty()) throw usage_error("--field: a name is needed");
    if (o.proba && o.field == "probability") throw usage_error("--field probability: the name --proba uses");
    if (o.inputs.empty()) o.inputs.push_back("-");
    for (const auto& i : o.inputs) p.inputs.push_back(parse_spec(i));
    p.output = parse_spec(o.output);
    check_session(o.common, session_of(o, p));
    return p;
}

namespace {

// One record: parse, score, append. Each worker thread has its own; the model is shared.
class predictor final : public record_worker {
public:
    predictor(const ml::model& m, const options& o) : m_(m), o_(o), scorer_(m) {
        json::append_string(quoted_field_, o.field);
    }

    void map(const record& r, mapped& m) override {
        if (parser_.parse(r) != json_status::ok) return bad(m, error_ = parser_.error_text());
        const auto object = parser_.object();
        if (!scorer_.score(object, &r, p_, error_)) return bad(m, error_);
        // The record's bytes, the closing brace replaced by the new fields; a record that has
        // fields of those names already is rebuilt without them.
        const bool clash = has_field(r, object, quoted_field_, o_.field) ||
                           (want_proba() && has_field(r, object, "\"probability\"", "probability"));
        out_.clear();
        if (!clash) {
            std::string_view v = r.value;
            while (!v.empty() && v.back() != '}') v.remove_suffix(1);
            v.remove_suffix(1);
            out_.append(v);
            if (object.size() > 0) out_ += ',';
        } else {
            writer_.begin();
            const auto status = copy_fields(fields_, r, writer_, [&](const raw_field& f) {
                return f.key == o_.field || (want_proba() && f.key == "probability");
            });
            if (status != json_status::ok) return bad(m, error_ = fields_.error_text());
            const auto text = writer_.end();
            out_.append(text.substr(0, text.size() - 1));
            if (text.size() > 2) out_ += ',';
        }
        json::append_string(out_, o_.field);
        out_ += ':';
        scorer_.append_prediction(out_, p_);
        if (want_proba()) {
            out_ += ",\"probability\":";
            scorer_.append_probabilities(out_, p_);
        }
        out_ += '}';
        m.what = mapped::kind::out;
        m.key = r.key;
        m.value = out_;
    }

private:
    // Whether the record has a field of that name. Searching the bytes for the quoted name first
    // rules out nearly every record at the cost of one memmem (a key written with escapes is found
    // by the exact lookup only when the bytes match, which a plain name's escapes never need).
    static bool has_field(const record& r, simdjson::dom::object object, std::string_view quoted, std::string_view name) {
        if (r.value.find(quoted) == std::string_view::npos) return false;
        simdjson::dom::element e;
        return object.at_key(name).get(e) == simdjson::SUCCESS;
    }
    [[nodiscard]] bool want_proba() const { return o_.proba && ml::classifies(m_.kind()); }
    void bad(mapped& m, std::string_view why) {
        m.what = mapped::kind::bad;
        m.why = why;
    }

    const ml::model& m_;
    const options& o_;
    ml::scorer scorer_;
    ml::prediction p_;
    json_parser parser_;
    field_reader fields_;
    object_writer writer_;
    std::string out_, error_, quoted_field_;
};

class scoring final : public processor {
public:
    scoring(const ml::model& m, const options& o, record_sink& out, error_policy& errors)
        : m_(m), o_(o), core_(m, o), out_(out), errors_(errors) {}

    void process(const record& r) override {
        mapped m;
        core_.map(r, m);
        emit(r, m);
    }
    std::unique_ptr<record_worker> make_worker() override { return std::make_unique<predictor>(m_, o_); }
    void emit(const record& r, const mapped& m) override {
        if (m.what == mapped::kind::out) {
            out_.write({m.key, m.value, r.headers, r.timestamp_ms});
            ++written_;
        } else if (m.what == mapped::kind::bad) {
            errors_.handle(r, m.why);
        }
    }
    void flush() override { errors_.flush(); }
    void tick() override { progress_.update(written_); }
    void committed() override { kept_ = written_; }
    void aborted(bool output_discarded) override {
        if (output_discarded) written_ = kept_;  // its records are read again
    }

    void report(const session& s, bool stats) {
        progress_.finish();
        if (!stats) return;
        stats_report r(log::tool());
        r.add("records_in", s.records_in())
            .add("records_out", written_)
            .add("bad", errors_.count())
            .add("tombstones", s.tombstones());
        add_session_stats(r, s, clock_.seconds()).print();
    }

private:
    const ml::model& m_;
    const options& o_;
    predictor core_;
    record_sink& out_;
    error_policy& errors_;
    std::uint64_t written_ = 0, kept_ = 0;  // kept_: at the last commit
    progress progress_{o_.common.quiet, "records"};
    stopwatch clock_;
};

}  // namespace

int run(options& o, plan& p) {
    const auto m = ml::model::load(o.model);
    session s(o.common, session_of(o, p));
    auto out = s.open_sink(p.output);
    error_policy errors(o.common, "kpredict", s.sink_opener());
    scoring sc(m, o, *out, errors);
    consume_through(s, sc, *out, errors, [&] { sc.report(s, o.common.stats); });
    return exit_ok;
}

}  // namespace ks::kpredict
