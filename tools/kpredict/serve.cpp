// kpredict serve: models over HTTP (http_server.hpp), the replacement for a Flask scoring app and a
// Streamlit page. The API clients already know (MLflow's /invocations), our own /predict/NAME,
// /health, Prometheus /metrics, and a page per model. Each serving thread (--threads) scores with
// its own scorers; the models are shared read-only.
#include "kpredict.hpp"

#include "ks/error.hpp"
#include "ks/json.hpp"
#include "ks/log.hpp"
#include "ks/report.hpp"
#include "ks/signal.hpp"

#include "http_server.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

namespace ks::kpredict {

namespace {

// Latency buckets of /metrics, in seconds.
constexpr std::array<double, 11> buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};

struct counters {
    std::atomic<std::uint64_t> requests{0}, errors{0}, predictions{0};
    std::array<std::atomic<std::uint64_t>, buckets.size()> le{};
    std::atomic<std::uint64_t> micros{0};  // sum of latencies
};

struct served {
    std::string name;
    std::size_t index = 0;  // among the models: the thread's scorer of it
    ml::model model;
    std::string report;  // report_html, drawn once
    counters count;
};

// A request's failure: its HTTP status and message (sent as {"error": message}).
struct http_error {
    int status;
    std::string message;
};

// What one thread needs per model, made on first use.
struct thread_state {
    std::vector<std::unique_ptr<ml::scorer>> scorers;
    simdjson::dom::parser parser, rows_parser;
    ml::prediction p;
    std::string why, rows;
};

class server {
public:
    explicit server(std::vector<std::unique_ptr<served>> models) : models_(std::move(models)) {
        std::vector<ml::served_model> pages;
        for (const auto& m : models_) pages.push_back({m->name, m->model.metadata()});
        index_ = ml::index_html(pages);
        health_ = "{\"status\":\"ok\",\"models\":[";
        for (std::size_t i = 0; i < models_.size(); ++i) {
            simdjson::dom::parser parser;
            simdjson::dom::object md = parser.parse(models_[i]->model.metadata()).get_object().value();
            health_ += i ? ",{\"name\":" : "{\"name\":";
            json::append_string(health_, models_[i]->name);
            for (const char* key : {"algorithm", "task", "label", "classes", "features", "derived", "inputs"}) {
                simdjson::dom::element e;
                if (md[key].get(e) != simdjson::SUCCESS) continue;
                fmt::format_to(std::back_inserter(health_), ",\"{}\":", key);
                json::append_element(health_, e);
            }
            health_ += '}';
        }
        health_ += "]}\n";
    }

    // One request: the endpoint by method and path.
    void handle(const http_request& req, http_response& res) {
        const std::string_view path = req.path;
        const auto html = "text/html; charset=utf-8";
        if (req.method == "GET") {
            if (path == "/ping") return text(res, "\n", "text/plain");
            if (path == "/health") return text(res, health_, "application/json");
            if (path == "/metrics") return text(res, metrics(), "text/plain; version=0.0.4");
            if (path == "/") return text(res, index_, html);
            if (path.starts_with("/report/")) {
                const std::string name(path.substr(8));
                if (auto* m = find(name)) return text(res, m->report, html);
                return fail(res, {404, unknown(name)});
            }
        } else if (req.method == "POST") {
            if (path.starts_with("/predict/") && path.find('/', 9) == std::string_view::npos) {
                const std::string name(path.substr(9));
                served* m = find(name);
                if (!m) return fail(res, {404, unknown(name)});
                return timed(*m, res, [&] { return predict(*m, req.body); });
            }
            if (path == "/invocations") {
                served* m = nullptr;
                if (req.has_param("model")) {
                    m = find(req.param("model"));
                    if (!m) return fail(res, {404, unknown(req.param("model"))});
                } else if (models_.size() == 1) {
                    m = models_.front().get();
                } else {
                    return fail(res, {400, fmt::format("{} models are loaded: name one with /invocations?model=NAME", models_.size())});
                }
                return timed(*m, res, [&] { return invocations(*m, req.body); });
            }
        }
        fail(res, {404, fmt::format("no such endpoint: {} {}", req.method, req.path)});
    }

private:
    served* find(const std::string& name) {
        for (auto& m : models_)
            if (m->name == name) return m.get();
        return nullptr;
    }
    std::string unknown(const std::string& name) const {
        std::string loaded;
        for (const auto& m : models_) loaded += (loaded.empty() ? "" : ", ") + m->name;
        return fmt::format("no model named '{}' (loaded: {})", name, loaded);
    }
    static void fail(http_response& res, const http_error& e) {
        res.status = e.status;
        res.content_type = "application/json";
        res.body = "{\"error\":";
        json::append_string(res.body, e.message);
        res.body += "}\n";
    }
    static void text(http_response& res, std::string body, const char* type) {
        res.body = std::move(body);
        res.content_type = type;
    }

    // Runs a scoring request, counting it and its latency for /metrics.
    template <typename F>
    void timed(served& m, http_response& res, F&& f) {
        const auto start = std::chrono::steady_clock::now();
        try {
            res.body = f();
        } catch (const http_error& e) {
            m.count.errors.fetch_add(1, std::memory_order_relaxed);
            fail(res, e);
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        m.count.requests.fetch_add(1, std::memory_order_relaxed);
        m.count.micros.fetch_add(static_cast<std::uint64_t>(s * 1e6), std::memory_order_relaxed);
        for (std::size_t b = 0; b < buckets.size(); ++b)
            if (s <= buckets[b]) m.count.le[b].fetch_add(1, std::memory_order_relaxed);
    }

    thread_state& state() {
        thread_local thread_state t;
        if (t.scorers.size() < models_.size()) t.scorers.resize(models_.size());
        return t;
    }
    static ml::scorer& scorer_of(thread_state& t, served& m) {
        auto& sc = t.scorers[m.index];
        if (!sc) sc = std::make_unique<ml::scorer>(m.model);
        return *sc;
    }

    simdjson::dom::element parse(thread_state& t, std::string_view body) {
        simdjson::dom::element doc;
        if (const auto e = t.parser.parse(body.data(), body.size()).get(doc); e != simdjson::SUCCESS)
            throw http_error{400, fmt::format("invalid JSON: {}", simdjson::error_message(e))};
        return doc;
    }

    // Scores one record (the n-th of the request); `full` adds the probabilities.
    void score(thread_state& t, served& m, simdjson::dom::element e, std::size_t n, std::string& out, bool full) {
        simdjson::dom::object o;
        if (e.get(o) != simdjson::SUCCESS) throw http_error{400, fmt::format("record {}: not a JSON object", n)};
        auto& sc = scorer_of(t, m);
        if (!sc.score(o, nullptr, t.p, t.why)) throw http_error{400, fmt::format("record {}: {}", n, t.why)};
        m.count.predictions.fetch_add(1, std::memory_order_relaxed);
        if (!full) return sc.append_prediction(out, t.p);
        out += "{\"prediction\":";
        sc.append_prediction(out, t.p);
        if (t.p.klass >= 0) {
            out += ",\"probabilities\":";
            sc.append_probabilities(out, t.p);
        }
        out += '}';
    }

    // /predict/NAME: a record, or an array of records.
    std::string predict(served& m, std::string_view body) {
        auto& t = state();
        const auto doc = parse(t, body);
        std::string out;
        simdjson::dom::array list;
        if (doc.get(list) == simdjson::SUCCESS) {
            out += '[';
            std::size_t n = 0;
            for (auto e : list) {
                if (n) out += ',';
                score(t, m, e, n++, out, true);
            }
            out += ']';
        } else {
            score(t, m, doc, 0, out, true);
        }
        out += '\n';
        return out;
    }

    // MLflow's scoring protocol: {"dataframe_split": {"columns": [...], "data": [[...]]}},
    // {"dataframe_records": [{...}]}, {"instances": [{...}]} or {"inputs": [{...}] | {"col": [...]}}.
    std::string invocations(served& m, std::string_view body) {
        auto& t = state();
        const auto doc = parse(t, body);
        simdjson::dom::object top;
        if (doc.get(top) != simdjson::SUCCESS)
            throw http_error{400, "expected a JSON object with dataframe_split, dataframe_records, instances or inputs"};
        simdjson::dom::element rows;
        simdjson::dom::object split;
        simdjson::dom::element value;
        if (top["dataframe_split"].get(split) == simdjson::SUCCESS) {
            rows = columns_to_records(t, split);
        } else if (top["dataframe_records"].get(value) == simdjson::SUCCESS || top["instances"].get(value) == simdjson::SUCCESS) {
            rows = value;
        } else if (top["inputs"].get(value) == simdjson::SUCCESS) {
            simdjson::dom::object by_column;
            rows = value.get(by_column) == simdjson::SUCCESS ? columns_to_records(t, by_column, true) : value;
        } else {
            throw http_error{400, "expected dataframe_split, dataframe_records, instances or inputs"};
        }
        simdjson::dom::array list;
        if (rows.get(list) != simdjson::SUCCESS) throw http_error{400, "the records must be a JSON array"};
        std::string out = "{\"predictions\":[";
        std::size_t n = 0;
        for (auto e : list) {
            if (n) out += ',';
            score(t, m, e, n++, out, false);
        }
        out += "]}\n";
        return out;
    }

    // dataframe_split (columns and rows of values) or inputs by column ({"col": [values]}) -> an
    // array of records, parsed with the thread's second parser.
    simdjson::dom::element columns_to_records(thread_state& t, simdjson::dom::object o, bool by_column = false) {
        std::vector<std::string_view> names;
        std::vector<simdjson::dom::array> columns;
        simdjson::dom::array data;
        std::size_t count = 0;
        if (by_column) {
            for (auto field : o) {
                simdjson::dom::array values;
                if (field.value.get(values) != simdjson::SUCCESS)
                    throw http_error{400, fmt::format("inputs: '{}' is not an array of values", field.key)};
                if (!columns.empty() && values.size() != count)
                    throw http_error{400, "inputs: the columns have different lengths"};
                count = values.size();
                names.push_back(field.key);
                columns.push_back(values);
            }
        } else {
            simdjson::dom::array cols;
            if (o["columns"].get(cols) != simdjson::SUCCESS || o["data"].get(data) != simdjson::SUCCESS)
                throw http_error{400, "dataframe_split needs \"columns\" and \"data\""};
            for (auto c : cols) {
                std::string_view name;
                if (c.get(name) != simdjson::SUCCESS) throw http_error{400, "dataframe_split: a column name is not a string"};
                names.push_back(name);
            }
        }
        std::string& text = t.rows;
        text = "[";
        const auto row = [&](std::size_t r, auto&& value_at) {
            text += r ? ",{" : "{";
            for (std::size_t c = 0; c < names.size(); ++c) {
                if (c) text += ',';
                json::append_string(text, names[c]);
                text += ':';
                json::append_element(text, value_at(c));
            }
            text += '}';
        };
        if (by_column) {
            std::vector<simdjson::dom::array::iterator> at;
            for (auto& col : columns) at.push_back(col.begin());
            for (std::size_t r = 0; r < count; ++r) {
                row(r, [&](std::size_t c) { return *at[c]; });
                for (auto& it : at) ++it;
            }
        } else {
            std::size_t r = 0;
            for (auto values : data) {
                simdjson::dom::array list;
                if (values.get(list) != simdjson::SUCCESS || list.size() != names.size())
                    throw http_error{400, fmt::format("dataframe_split: row {} does not have {} values", r, names.size())};
                std::vector<simdjson::dom::element> cells(list.begin(), list.end());
                row(r++, [&](std::size_t c) { return cells[c]; });
            }
        }
        text += ']';
        simdjson::dom::element out;
        if (t.rows_parser.parse(text).get(out) != simdjson::SUCCESS) throw http_error{400, "dataframe: cannot read the values"};
        return out;
    }

    std::string metrics() const {
        std::string out =
            "# HELP kpredict_requests_total Scoring requests (/predict and /invocations), by model.\n"
            "# TYPE kpredict_requests_total counter\n";
        const auto label = [](const served& m) {
            std::string l;
            for (char c : m.name) {
                if (c == '\\' || c == '"') l += '\\';
                l += c == '\n' ? 'n' : c;
            }
            return l;
        };
        for (const auto& m : models_)
            fmt::format_to(std::back_inserter(out), "kpredict_requests_total{{model=\"{}\"}} {}\n", label(*m), m->count.requests.load());
        out += "# HELP kpredict_errors_total Scoring requests answered with an error, by model.\n"
               "# TYPE kpredict_errors_total counter\n";
        for (const auto& m : models_)
            fmt::format_to(std::back_inserter(out), "kpredict_errors_total{{model=\"{}\"}} {}\n", label(*m), m->count.errors.load());
        out += "# HELP kpredict_predictions_total Records scored, by model.\n"
               "# TYPE kpredict_predictions_total counter\n";
        for (const auto& m : models_)
            fmt::format_to(std::back_inserter(out), "kpredict_predictions_total{{model=\"{}\"}} {}\n", label(*m),
                           m->count.predictions.load());
        out += "# HELP kpredict_request_seconds Time to answer a scoring request, by model.\n"
               "# TYPE kpredict_request_seconds histogram\n";
        for (const auto& m : models_) {
            const auto l = label(*m);
            for (std::size_t b = 0; b < buckets.size(); ++b)
                fmt::format_to(std::back_inserter(out), "kpredict_request_seconds_bucket{{model=\"{}\",le=\"{}\"}} {}\n", l,
                               buckets[b], m->count.le[b].load());
            const auto n = m->count.requests.load();
            fmt::format_to(std::back_inserter(out), "kpredict_request_seconds_bucket{{model=\"{}\",le=\"+Inf\"}} {}\n", l, n);
            fmt::format_to(std::back_inserter(out), "kpredict_request_seconds_sum{{model=\"{}\"}} {}\n", l,
                           static_cast<double>(m->count.micros.load()) / 1e6);
            fmt::format_to(std::back_inserter(out), "kpredict_request_seconds_count{{model=\"{}\"}} {}\n", l, n);
        }
        return out;
    }

    std::vector<std::unique_ptr<served>> models_;
    std::string index_, health_;
};

}  // namespace

int serve(options& o) {
    std::vector<std::unique_ptr<served>> models;
    for (const auto& spec : o.serve.models) {
        auto m = std::make_unique<served>();
        const auto eq = spec.find('=');
        const std::string path = eq == std::string::npos ? spec : spec.substr(eq + 1);
        m->name = eq == std::string::npos ? std::filesystem::path(path).stem().string() : spec.substr(0, eq);
        if (m->name.empty() || m->name.find_first_of("/?#% ") != std::string::npos)
            throw usage_error(fmt::format("-m {}: a model name is needed, without / ? # % or spaces", spec));
        for (const auto& other : models)
            if (other->name == m->name) throw usage_error(fmt::format("-m: two models named '{}'", m->name));
        m->model = ml::model::load(path);
        m->report = ml::report_html(m->model.metadata(), m->name);
        m->index = models.size();
        models.push_back(std::move(m));
    }
    const auto colon = o.serve.listen.rfind(':');
    int port = -1;
    if (colon != std::string::npos) {
        try {
            port = std::stoi(o.serve.listen.substr(colon + 1));
        } catch (const std::exception&) {
        }
    }
    if (colon == std::string::npos || port < 0 || port > 65535)
        throw usage_error(fmt::format("--listen {}: expected HOST:PORT", o.serve.listen));
    const std::string host = o.serve.listen.substr(0, colon);

    server api(std::move(models));
    http_limits limits;
    limits.max_body = o.serve.max_body;
    limits.timeout_s = o.serve.request_timeout_s;
    limits.threads = static_cast<unsigned>(o.serve.threads);
    http_server http(host, port, limits, [&api](const http_request& req, http_response& res) { api.handle(req, res); });
    // Always said (unless -q): with --listen HOST:0 it is how a script learns the port.
    if (!o.common.quiet)
        log::write(log::level::warn, fmt::format("serving {} model{} at http://{}:{}/", o.serve.models.size(),
                                                 o.serve.models.size() == 1 ? "" : "s", host, http.port()));
    http.run();
    return exit_ok;
}

}  // namespace ks::kpredict
