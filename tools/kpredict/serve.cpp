// kpredict serve: models over HTTP (cpp-httplib), the replacement for a Flask scoring app and a
// Streamlit page. The API clients already know (MLflow's /invocations), our own /predict/NAME,
// /health, Prometheus /metrics, and a page per model. Each connection is served by one thread of
// a pool (--threads); each thread scores with its own scorers, the models are shared read-only.
#include "kpredict.hpp"

#include "ks/error.hpp"
#include "ks/json.hpp"
#include "ks/log.hpp"
#include "ks/report.hpp"
#include "ks/signal.hpp"

#include <httplib.h>
#include <sys/socket.h>
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

    void routes(httplib::Server& s) {
        s.Get("/ping", [](const httplib::Request&, httplib::Response& res) { res.set_content("\n", "text/plain"); });
        s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(health_, "application/json");
        });
        s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(metrics(), "text/plain; version=0.0.4");
        });
        s.Get("/", [this](const httplib::Request&, httplib::Response& res) { res.set_content(index_, "text/html; charset=utf-8"); });
        s.Get("/report/([^/]+)", [this](const httplib::Request& req, httplib::Response& res) {
            if (auto* m = find(req.matches[1])) return res.set_content(m->report, "text/html; charset=utf-8");
            fail(res, {404, unknown(req.matches[1])});
        });
        s.Post("/predict/([^/]+)", [this](const httplib::Request& req, httplib::Response& res) {
            served* m = find(req.matches[1]);
            if (!m) return fail(res, {404, unknown(req.matches[1])});
            timed(*m, res, [&] { return predict(*m, req.body); });
        });
        s.Post("/invocations", [this](const httplib::Request& req, httplib::Response& res) {
            served* m = nullptr;
            if (req.has_param("model")) {
                m = find(req.get_param_value("model"));
                if (!m) return fail(res, {404, unknown(req.get_param_value("model"))});
            } else if (models_.size() == 1) {
                m = models_.front().get();
            } else {
                return fail(res, {400, fmt::format("{} models are loaded: name one with /invocations?model=NAME", models_.size())});
            }
            timed(*m, res, [&] { return invocations(*m, req.body); });
        });
        s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return;
            std::string body = "{\"error\":";
            json::append_string(body, res.status == 404 ? fmt::format("no such endpoint: {} {}", req.method, req.path)
                                                         : res.status == 413 ? std::string("request body too large (--max-body)")
                                                                             : fmt::format("HTTP {}", res.status));
            body += "}\n";
            res.set_content(body, "application/json");
        });
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
    static void fail(httplib::Response& res, const http_error& e) {
        std::string body = "{\"error\":";
        json::append_string(body, e.message);
        body += "}\n";
        res.status = e.status;
        res.set_content(body, "application/json");
    }

    // Runs a scoring request, counting it and its latency for /metrics.
    template <typename F>
    void timed(served& m, httplib::Response& res, F&& f) {
        const auto start = std::chrono::steady_clock::now();
        try {
            res.set_content(f(), "application/json");
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
    ml::scorer& scorer_of(thread_state& t, served& m) {
        const std::size_t i = index_of(m);
        if (!t.scorers[i]) t.scorers[i] = std::make_unique<ml::scorer>(m.model);
        return *t.scorers[i];
    }
    std::size_t index_of(const served& m) const {
        for (std::size_t i = 0; i < models_.size(); ++i)
            if (models_[i].get() == &m) return i;
        return 0;
    }

    simdjson::dom::element parse(thread_state& t, const std::string& body) {
        simdjson::dom::element doc;
        if (const auto e = t.parser.parse(body).get(doc); e != simdjson::SUCCESS)
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
    std::string predict(served& m, const std::string& body) {
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
    std::string invocations(served& m, const std::string& body) {
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

    httplib::Server svr;
    const int threads = o.serve.threads;
    svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    svr.set_payload_max_length(o.serve.max_body);
    const auto timeout = std::chrono::microseconds(static_cast<std::int64_t>(o.serve.request_timeout_s * 1e6));
    svr.set_read_timeout(timeout);
    svr.set_write_timeout(timeout);
    svr.set_keep_alive_max_count(1000000);
    // An answer goes out in two writes (headers, body): without TCP_NODELAY the body waits for
    // the client's delayed ACK, 40 ms a request (bench/ml: 22 requests/s on one connection).
    svr.set_tcp_nodelay(true);
    int listening = -1;
    svr.set_socket_options([&listening](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);  // httplib's default options
        listening = sock;
    });
    server api(std::move(models));
    api.routes(svr);
    const int bound = port == 0 ? svr.bind_to_any_port(host) : (svr.bind_to_port(host, port) ? port : -1);
    if (bound < 0) throw runtime_failure(fmt::format("--listen {}: cannot listen there: {}", o.serve.listen, errno_text(errno)));
    // Debian's cpp-httplib is built with a listen backlog of 5: 64 clients connecting at once
    // overflow it, and the dropped ones retry after 1-3 s (bench/ml's p99). Listening again on
    // the bound socket raises the backlog (Linux takes the new value).
    if (listening >= 0) ::listen(listening, SOMAXCONN);
    // Always said (unless -q): with --listen HOST:0 it is how a script learns the port.
    if (!o.common.quiet)
        log::write(log::level::warn, fmt::format("serving {} model{} at http://{}:{}/", o.serve.models.size(),
                                                 o.serve.models.size() == 1 ? "" : "s", host, bound));
    // SIGTERM and SIGINT: stop accepting; the pool finishes the requests in progress.
    std::thread watch([&svr] {
        while (!signals::stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        svr.stop();
    });
    const bool ok = svr.listen_after_bind();
    signals::request_stop();
    watch.join();
    if (!ok && signals::last_signal() == 0) throw runtime_failure("the server stopped unexpectedly");
    return exit_ok;
}

}  // namespace ks::kpredict
