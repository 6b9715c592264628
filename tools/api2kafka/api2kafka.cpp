// api2kafka: the producer for data behind a web API. Every --interval it requests each URL (all at
// once, through one curl multi handle), picks the records out of the response (--records), keeps,
// dedupes, computes and keys them (--where, --dedupe, --add, --key) and publishes them. Polls keep
// their schedule: poll k of a URL is due at start + k x interval whatever the earlier ones took.
#include "api2kafka.hpp"

#include "ks/cli.hpp"
#include "ks/error.hpp"
#include "ks/kafka.hpp"
#include "ks/json.hpp"
#include "ks/log.hpp"
#include "ks/record_errors.hpp"
#include "ks/signal.hpp"
#include "ks/sink.hpp"
#include "ks/stats.hpp"

#include <fmt/core.h>
#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <unordered_map>

namespace ks::api2kafka {

void declare(CLI::App& app, options& o) {
    app.add_option("urls", o.urls, "URLs to poll (http or https); {name} takes each value of --param name=...")
        ->required();
    app.add_option("-o,--output", o.output, "kafka:TOPIC, kafka://HOST:PORT/TOPIC, a file, or - (JSON lines)")
        ->capture_default_str();
    app.add_option("--interval", o.interval, "Time between two polls of a URL: 500ms, 30s, 5m, 1h")
        ->capture_default_str();
    app.add_option("--records", o.records,
                   "Where the records are in a response: a path such as data.stations (default: the whole "
                   "response is one record; a top-level array: its elements)")
        ->group("Records");
    app.add_option("--where", o.where, "Keep the records for which EXPR is true")->group("Records");
    app.add_option("--dedupe", o.dedupe,
                   "Publish a record only when it changed since the last poll of its EXPR value (its id)")
        ->group("Records");
    app.add_option("--dedupe-state", o.dedupe_state,
                   "Keep --dedupe's memory in FILE across runs (read at start, written at a clean exit)")
        ->group("Records");
    app.add_option("--add", o.add, "Add or replace a field: 'name=EXPR' (repeatable, in order)")
        ->group("Records")
        ->allow_extra_args(false);
    app.add_option("--key", o.key, "The message key: EXPR (default: none)")->group("Records");
    app.add_option("--header", o.headers, "Request header 'Name: value' (repeatable; ${ENV} expands)")
        ->group("HTTP")
        ->allow_extra_args(false);
    app.add_option("--param", o.params, "name=v1,v2,...: one request per value for {name} in the URLs (repeatable)")
        ->group("HTTP")
        ->allow_extra_args(false);
    app.add_option("--timeout", o.timeout_s, "Seconds one HTTP request may take in all")
        ->group("HTTP")
        ->check(positive)
        ->capture_default_str();
    app.add_option("--connect-timeout", o.connect_timeout_s, "Seconds to connect")
        ->group("HTTP")
        ->check(positive)
        ->capture_default_str();
    app.add_option("--retries", o.retries,
                   "Retries of a request that failed to connect, timed out, or got 408, 429 or 5xx")
        ->group("HTTP")
        ->check(CLI::Range(0, 100))
        ->capture_default_str();
    app.add_option("--backoff", o.backoff,
                   "First wait before a retry; doubles each retry up to 60s, with jitter (Retry-After wins)")
        ->group("HTTP")
        ->capture_default_str();
    app.add_option("--polls", o.polls, "Stop after N polls of every URL (exit 0; 0 = no limit)")
        ->group("Bounds")
        ->check(non_negative);
    app.add_flag("--fail-fast", o.fail_fast,
                 "Exit 1 at the first poll that fails (after its retries) instead of waiting for the next")
        ->group("HTTP");
    app.add_option("--kafka-timeout", o.common.timeout_s, "Seconds the broker may stay unreachable before giving up (exit 1)")
        ->group("Kafka")
        ->check(positive)
        ->capture_default_str();
    add_common_options(app, o.common, opts_kafka | opts_no_timeout | opts_bound | opts_errors | opts_report);
    app.footer(
        "Each poll requests every URL at once; a poll that fails (connection, timeout, 408, 429, 5xx\n"
        "after --retries; another 4xx; invalid JSON; no --records in the response) is logged with\n"
        "its URL, counted and skipped until the next one. Exit 1 when polls failed and none\n"
        "succeeded, or at the first failure with --fail-fast. Secrets (appid, key, token... in URLs;\n"
        "Authorization, X-Api-Key... headers; every ${ENV} value) are printed as ***.\n"
        "Order per record: --where, --dedupe, --add (in order), --key. Expressions: docs/expressions.md.\n"
        "Examples:\n"
        "  api2kafka 'https://velib-metropole-opendata.smovengo.cloud/opendata/Velib_Metropole/station_status.json' \\\n"
        "      --interval 1s --records data.stations --dedupe stationCode --key stationCode -o kafka:velib-projet\n"
        "  api2kafka 'https://api.openweathermap.org/data/2.5/weather?q={city}&units=metric&appid=${OWM_API_KEY}' \\\n"
        "      --param city=Paris,London,Tokyo --key name --add 'fetched_at=now()' -o kafka:topic-weather");
}

namespace {

struct param {
    std::string name;
    std::vector<std::string> values;
    bool used = false;
};

// The {name} references of a URL, in order, each once.
std::vector<std::string> references(std::string_view url) {
    std::vector<std::string> names;
    for (std::size_t at = url.find('{'); at != std::string_view::npos; at = url.find('{', at + 1)) {
        if (at > 0 && url[at - 1] == '$') continue;  // ${ENV}
        const auto close = url.find('}', at);
        if (close == std::string_view::npos) throw usage_error(fmt::format("URL '{}': '{{' without its '}}'", url));
        std::string name(url.substr(at + 1, close - at - 1));
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
    }
    return names;
}

std::string substitute(std::string url, const std::string& name, const std::string& value) {
    const std::string ref = "{" + name + "}";
    const std::string escaped = http::escape(value);
    for (auto at = url.find(ref); at != std::string::npos; at = url.find(ref, at + escaped.size()))
        if (at == 0 || url[at - 1] != '$') url.replace(at, ref.size(), escaped);
    return url;
}

}  // namespace

plan setup(options& o) {
    check_properties(make_kafka_settings(o.common));
    plan p;
    p.output = parse_spec(o.output);
    p.interval_ms = parse_duration_ms(o.interval, "--interval");
    p.backoff_ms = parse_duration_ms(o.backoff, "--backoff");
    if (!o.records.empty()) {
        std::string_view rest = o.records;
        while (true) {
            const auto dot = rest.find('.');
            const auto step = rest.substr(0, dot);
            if (step.empty()) throw usage_error(fmt::format("--records: expected a path like data.stations, got '{}'", o.records));
            p.records_path.emplace_back(step);
            if (dot == std::string_view::npos) break;
            rest.remove_prefix(dot + 1);
        }
    }
    if (!o.where.empty()) p.where = expr::compile_option(o.where, "--where");
    if (!o.dedupe.empty()) p.dedupe = expr::compile_option(o.dedupe, "--dedupe");
    if (!o.dedupe_state.empty() && o.dedupe.empty()) throw usage_error("--dedupe-state is for --dedupe");
    std::vector<std::string> names;
    for (const auto& item : o.add) {
        auto [name, text] = expr::split_named(item, "--add");
        auto prog = expr::compile_option(text, "--add");
        prog.bind(names);  // an --add sees the fields added before it
        names.push_back(name);
        p.add.push_back({name, std::move(prog)});
    }
    if (!o.key.empty()) {
        p.key = expr::compile_option(o.key, "--key");
        p.key->bind(names);
    }

    // ${ENV}: each value is a secret from the moment it is read, so that no message shows it.
    const auto expand = [&](std::string_view text, std::string_view what) {
        std::vector<std::string> found;
        auto expanded = http::expand_env(text, what, found);
        for (const auto& s : found) p.redact.add(s);
        return expanded;
    };
    for (const auto& h : o.headers) {
        const auto colon = h.find(':');
        if (colon == std::string::npos || colon == 0)
            throw usage_error(fmt::format("--header: expected 'Name: value', got '{}'", h.substr(0, h.find(':'))));
        auto expanded = expand(h, "--header");
        p.redact.learn_header(expanded);
        p.headers.push_back(std::move(expanded));
    }
    std::vector<param> params;
    for (const auto& text : o.params) {
        const auto eq = text.find('=');
        if (eq == std::string::npos || eq == 0) throw usage_error(fmt::format("--param: expected name=v1,v2,..., got '{}'", text));
        param pr{text.substr(0, eq), {}, false};
        if (std::any_of(params.begin(), params.end(), [&](const param& q) { return q.name == pr.name; }))
            throw usage_error(fmt::format("--param: '{}' twice", pr.name));
        std::string_view values = std::string_view(text).substr(eq + 1);
        while (true) {
            const auto comma = values.find(',');
            pr.values.push_back(expand(values.substr(0, comma), "--param"));
            if (comma == std::string_view::npos) break;
            values.remove_prefix(comma + 1);
        }
        params.push_back(std::move(pr));
    }
    for (const auto& raw : o.urls) {
        // One URL per combination of the values of the parameters it names.
        std::vector<std::string> urls{expand(raw, "URL")};
        for (const auto& name : references(raw)) {
            auto it = std::find_if(params.begin(), params.end(), [&](const param& q) { return q.name == name; });
            if (it == params.end())
                throw usage_error(fmt::format("URL '{}' has {{{}}}: give its values with --param {}=v1,v2", p.redact.apply(raw), name, name));
            it->used = true;
            std::vector<std::string> next;
            for (const auto& u : urls)
                for (const auto& v : it->values) next.push_back(substitute(u, name, v));
            urls = std::move(next);
        }
        for (auto& u : urls) {
            if (!u.starts_with("http://") && !u.starts_with("https://"))
                throw usage_error(fmt::format("URL '{}': only http:// and https:// URLs are polled", p.redact.apply(u)));
            p.targets.push_back({u, {}});
        }
    }
    for (const auto& pr : params)
        if (!pr.used) throw usage_error(fmt::format("--param {}: no URL has {{{}}}", pr.name, pr.name));
    for (auto& t : p.targets) t.shown = p.redact.learn_url(t.url);
    for (auto& t : p.targets) t.shown = p.redact.apply(t.shown);  // secrets learnt from later URLs too
    return p;
}

namespace {

using steady = std::chrono::steady_clock;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now().time_since_epoch()).count();
}

// What one URL's polls have come to.
struct url_state {
    std::uint64_t poll = 0;       // the poll due next (or running): due at start + poll x interval
    std::uint64_t polls_done = 0;
    std::int64_t due_ms = 0;
    int attempt = 0;              // retries of the running poll so far
    bool busy = false;            // a request is in flight
    std::string etag, last_modified;
};

class poller {
public:
    poller(options& o, plan& p)
        : o_(o),
          p_(p),
          sink_(open_sink(p.output, o.common)),
          errors_(o.common, "api2kafka"),
          http_(http::user_agent("api2kafka")),
          urls_(p.targets.size()),
          rng_(std::random_device{}()) {}

    int run() {
        load_dedupe_state();
        produce_through(*sink_, errors_, [&] { loop(); }, [&](const sink_counts& c) { report(c); });
        save_dedupe_state();  // what was delivered only: a failed run publishes its records again
        if (polls_failed_ > 0 && polls_ok_ == 0)
            throw runtime_failure(fmt::format("no poll succeeded ({} failed); the last: {}", polls_failed_, last_failure_));
        return exit_ok;
    }

private:
    void loop() {
        start_ms_ = now_ms();
        for (auto& u : urls_) u.due_ms = start_ms_;
        while (!signals::stop_requested() && !done()) {
            const std::int64_t now = now_ms();
            std::int64_t next = now + 200;  // at least 5 looks a second at the stop flag
            for (std::size_t i = 0; i < urls_.size(); ++i) {
                auto& u = urls_[i];
                if (u.busy || finished(u)) continue;
                if (u.due_ms <= now) launch(i);
                else next = std::min(next, u.due_ms);
            }
            http_.run(std::chrono::milliseconds(std::max<std::int64_t>(0, next - now_ms())));
            sink_->poll();
        }
    }

    [[nodiscard]] bool finished(const url_state& u) const { return o_.polls > 0 && u.polls_done >= o_.polls; }
    [[nodiscard]] bool done() const {
        if (o_.common.limit_reached(produced_)) return true;
        return std::all_of(urls_.begin(), urls_.end(), [&](const url_state& u) { return finished(u); });
    }

    void launch(std::size_t i) {
        auto& u = urls_[i];
        http::request r;
        r.url = p_.targets[i].url;
        r.headers = p_.headers;
        r.if_none_match = u.etag;
        r.if_modified_since = u.last_modified;
        r.timeout_s = o_.timeout_s;
        r.connect_timeout_s = o_.connect_timeout_s;
        u.busy = true;
        ++requests_;
        http_.start(r, [this, i](http::response&& resp) { answered(i, std::move(resp)); });
    }

    static bool retryable(const http::response& r) {
        return r.status == 0 || r.status == 408 || r.status == 425 || r.status == 429 || (r.status >= 500 && r.status <= 599);
    }

    static std::string reason(const http::response& r) {
        if (r.status == 0) return r.error;
        std::string snippet = r.body.substr(0, 120);
        std::replace(snippet.begin(), snippet.end(), '\n', ' ');
        return snippet.empty() ? fmt::format("HTTP {}", r.status) : fmt::format("HTTP {}: {}", r.status, snippet);
    }

    void answered(std::size_t i, http::response&& r) {
        auto& u = urls_[i];
        u.busy = false;
        const auto& shown = p_.targets[i].shown;
        const std::int64_t now = now_ms();
        if (retryable(r) && u.attempt < o_.retries) {
            ++u.attempt;
            ++retries_;
            double wait_s = std::min(60.0, static_cast<double>(p_.backoff_ms) / 1000 * std::pow(2.0, u.attempt - 1));
            wait_s *= std::uniform_real_distribution<double>(0.5, 1.0)(rng_);  // jitter: clients spread out
            if (auto after = http::retry_after_seconds(r.retry_after, std::chrono::system_clock::now()))
                wait_s = std::min(*after, 3600.0);
            log::info("{}", p_.redact.apply(fmt::format("{}: {}; retry {} of {} in {:.1f} s", shown, reason(r), u.attempt,
                                                         o_.retries, wait_s)));
            u.due_ms = now + static_cast<std::int64_t>(wait_s * 1000);
            return;
        }
        bool ok = false;
        if (r.status == 304) {
            ++not_modified_;
            ok = true;
        } else if (r.status >= 200 && r.status < 300) {
            response_bytes_ += r.body.size();
            ok = publish(i, r);
            if (ok) {  // a validator of a body that could not be used would turn the next answers into 304s
                u.etag = r.etag;
                u.last_modified = r.last_modified;
            }
        } else {
            if (!retryable(r)) ++http_errors_;
            failed(shown, reason(r) + (retryable(r) && o_.retries > 0 ? fmt::format(" (after {} retries)", o_.retries) : ""));
        }
        if (ok) ++polls_ok_;
        ++u.polls_done;
        u.attempt = 0;
        // The next poll is due at start + k x interval: a slow poll does not shift the later ones;
        // polls whose time passed while this one ran are skipped, not run in a burst.
        const std::uint64_t elapsed = static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - start_ms_));
        std::uint64_t next = u.poll + 1;
        const std::uint64_t due_by_now = elapsed / static_cast<std::uint64_t>(p_.interval_ms) + 1;
        if (due_by_now > next) {
            skipped_ += due_by_now - next;
            next = due_by_now;
        }
        u.poll = next;
        u.due_ms = start_ms_ + static_cast<std::int64_t>(next) * p_.interval_ms;
    }

    void failed(const std::string& shown, const std::string& why) {
        ++polls_failed_;
        last_failure_ = p_.redact.apply(fmt::format("{}: {}", shown, why));
        if (o_.fail_fast) throw runtime_failure(last_failure_);
        log::warn("{}", last_failure_);
    }

    // The records of one response. false: the response was not usable (the poll failed).
    bool publish(std::size_t i, http::response& r) {
        const auto& shown = p_.targets[i].shown;
        simdjson::dom::element root;
        // Parsed where it is (the body keeps simdjson's padding free after it); the parser's own
        // buffers grow before the clock starts, so that parse_mb_per_s is the parsing alone.
        if (r.body.capacity() < r.body.size() + simdjson::SIMDJSON_PADDING)
            r.body.reserve(r.body.size() + simdjson::SIMDJSON_PADDING);
        if (parser_.capacity() < r.body.size() && parser_.allocate(r.body.size()) != simdjson::SUCCESS)
            throw runtime_failure(fmt::format("no memory to parse a response of {} bytes", r.body.size()));
        const stopwatch parse_clock;
        const auto parsed = parser_.parse(r.body.data(), r.body.size(), false).get(root);
        parse_s_ += parse_clock.seconds();
        if (auto err = parsed; err != simdjson::SUCCESS) {
            ++bad_responses_;
            failed(shown, fmt::format("invalid JSON in the response: {}", simdjson::error_message(err)));
            return false;
        }
        simdjson::dom::element at = root;
        for (const auto& step : p_.records_path) {
            simdjson::dom::element next;
            bool found = false;
            if (at.is_object()) {
                found = at.get_object().value().at_key(step).get(next) == simdjson::SUCCESS;
            } else if (at.is_array() && !step.empty() && std::all_of(step.begin(), step.end(), ::isdigit)) {
                found = at.get_array().value().at(std::stoull(step)).get(next) == simdjson::SUCCESS;
            }
            if (!found) {
                ++bad_responses_;
                failed(shown, fmt::format("no '{}' in the response (--records)", o_.records));
                return false;
            }
            at = next;
        }
        if (at.is_array()) {
            std::uint64_t n = 0;
            const simdjson::dom::array records = at.get_array().value();
            for (auto element : records) {
                if (!one(shown, ++n, element)) break;
            }
        } else if (at.is_object()) {
            one(shown, 1, at);
        } else {
            ++bad_responses_;
            failed(shown, fmt::format("{} in the response is neither an array nor an object",
                                      p_.records_path.empty() ? std::string("the JSON") : "'" + o_.records + "'"));
            return false;
        }
        return true;
    }

    // One record: the n-th of its response. false: --limit reached.
    bool one(const std::string& shown, std::uint64_t n, simdjson::dom::element element) {
        if (o_.common.limit_reached(produced_)) return false;
        ++records_seen_;
        // The record as served, written out only when something needs it (not for the records
        // --where drops): the output without --add, --dedupe's hash, a bad record's bytes.
        bool written = false;
        const auto served = [&]() -> const std::string& {
            if (!written) {
                text_.clear();
                json::append_element(text_, element);
                written = true;
            }
            return text_;
        };
        const auto bad = [&](std::string_view why) {
            record_origin origin;
            origin.source = shown;
            origin.line = n;
            errors_.handle(origin, why, served());
            return true;
        };
        simdjson::dom::object object;
        if (element.get_object().get(object) != simdjson::SUCCESS) return bad("a record is not a JSON object");
        expr::context ctx{object, nullptr, {}};
        eval_.reset();
        if (p_.where) {
            bool keep = false;
            if (!eval_.test(*p_.where, ctx, keep, why_)) return bad(why_);
            if (!keep) {
                ++filtered_;
                return true;
            }
        }
        bool remember = false;  // --dedupe: once the record is handed to the output
        std::size_t hash = 0;
        if (p_.dedupe) {
            expr::value id;
            if (!eval_.evaluate(*p_.dedupe, ctx, id, why_)) return bad(why_);
            id_.clear();
            if (expr::append_text(id_, id)) {  // a null id: never a duplicate
                hash = std::hash<std::string>{}(served());
                if (auto it = seen_.find(id_); it != seen_.end() && it->second == hash) {
                    ++unchanged_;
                    return true;
                }
                remember = true;
            }
        }
        values_.resize(p_.add.size());
        for (std::size_t a = 0; a < p_.add.size(); ++a) {
            ctx.locals = std::span<const expr::value>(values_.data(), a);
            if (!eval_.evaluate(p_.add[a].program, ctx, values_[a], why_)) return bad(why_);
        }
        ctx.locals = values_;
        key_.clear();
        bool has_key = false;
        if (p_.key) {
            expr::value k;
            if (!eval_.evaluate(*p_.key, ctx, k, why_)) return bad(why_);
            has_key = expr::append_text(key_, k);
        }
        std::string_view value;
        if (!p_.add.empty()) {
            // The record's fields in order, those --add replaces in their place, then the new ones.
            out_.assign("{");
            const auto last_add = [&](std::string_view name) {  // a name added twice: the last --add wins
                for (std::size_t j = p_.add.size(); j-- > 0;)
                    if (p_.add[j].name == name) return j;
                return p_.add.size();
            };
            const auto field_name = [&](std::string_view name) {
                if (out_.size() > 1) out_.push_back(',');
                json::append_string(out_, name);
                out_.push_back(':');
            };
            placed_.assign(p_.add.size(), false);
            for (auto field : object) {
                const std::size_t a = last_add(field.key);
                if (a == p_.add.size()) {
                    field_name(field.key);
                    json::append_element(out_, field.value);
                } else if (!placed_[a]) {  // written once, even when the record repeats the name
                    placed_[a] = true;
                    field_name(field.key);
                    expr::append_json(out_, values_[a]);
                }
            }
            for (std::size_t a = 0; a < p_.add.size(); ++a) {
                if (placed_[a] || last_add(p_.add[a].name) != a) continue;
                field_name(p_.add[a].name);
                expr::append_json(out_, values_[a]);
            }
            out_.push_back('}');
            value = out_;
        } else {
            value = served();
        }
        sink_->write({has_key ? std::optional<std::string_view>(key_) : std::nullopt, value});
        ++produced_;
        if (remember) seen_[id_] = hash;
        return true;
    }

    void report(const sink_counts& c) {
        if (o_.common.stats) {
            const double secs = clock_.seconds();
            stats_report(log::tool())
                .add("urls", static_cast<std::uint64_t>(urls_.size()))
                .add("requests", requests_)
                .add("polls_ok", polls_ok_)
                .add("polls_failed", polls_failed_)
                .add("polls_skipped", skipped_)
                .add("retries", retries_)
                .add("not_modified", not_modified_)
                .add("http_errors", http_errors_)
                .add("bad_responses", bad_responses_)
                .add("response_bytes", response_bytes_)
                .add("parse_s", parse_s_)
                .add("parse_mb_per_s", static_cast<double>(response_bytes_) / 1e6 / std::max(parse_s_, 1e-9))
                .add("records_seen", records_seen_)
                .add("filtered", filtered_)
                .add("unchanged", unchanged_)
                .add("bad", errors_.count())
                .add("produced", c.written)
                .add("delivered", c.delivered)
                .add("failed", c.failed)
                .add("elapsed_s", secs)
                .print();
        }
    }

    // --dedupe-state: one line per id, "HASH<TAB>ID" with ID as a JSON string.
    void load_dedupe_state() {
        if (o_.dedupe_state.empty()) return;
        std::ifstream in(o_.dedupe_state);
        if (!in) {
            if (errno == ENOENT) return;  // the first run
            throw runtime_failure(fmt::format("--dedupe-state {}: {}", o_.dedupe_state, errno_text(errno)));
        }
        std::string line;
        std::uint64_t n = 0;
        simdjson::dom::parser parser;
        while (std::getline(in, line)) {
            ++n;
            const auto tab = line.find('\t');
            std::string_view id;
            std::size_t hash = 0;
            bool ok = tab != std::string::npos;
            if (ok) {
                auto [end, ec] = std::from_chars(line.data(), line.data() + tab, hash, 16);
                ok = ec == std::errc() && end == line.data() + tab &&
                     parser.parse(line.substr(tab + 1)).get_string().get(id) == simdjson::SUCCESS;
            }
            if (!ok) throw runtime_failure(fmt::format("--dedupe-state {}:{}: not a line of api2kafka's dedupe state", o_.dedupe_state, n));
            seen_[std::string(id)] = hash;
        }
        log::debug("--dedupe-state {}: {} ids", o_.dedupe_state, seen_.size());
    }
    void save_dedupe_state() {
        if (o_.dedupe_state.empty()) return;
        const std::string tmp = o_.dedupe_state + ".tmp";
        {
            std::ofstream out(tmp, std::ios::trunc);
            std::string line;
            for (const auto& [id, hash] : seen_) {
                line = fmt::format("{:x}\t", hash);
                json::append_string(line, id);
                line.push_back('\n');
                out << line;
            }
            out.flush();
            if (!out) throw runtime_failure(fmt::format("--dedupe-state {}: cannot write {}", o_.dedupe_state, tmp));
        }
        if (std::rename(tmp.c_str(), o_.dedupe_state.c_str()) != 0)
            throw runtime_failure(fmt::format("--dedupe-state {}: {}", o_.dedupe_state, errno_text(errno)));
    }

    options& o_;
    plan& p_;
    std::unique_ptr<record_sink> sink_;
    error_policy errors_;
    http::client http_;
    std::vector<url_state> urls_;
    std::mt19937_64 rng_;
    simdjson::dom::parser parser_;
    expr::evaluator eval_;
    std::vector<expr::value> values_;
    std::vector<bool> placed_;
    std::unordered_map<std::string, std::size_t> seen_;  // --dedupe: id -> hash of the record served
    std::string text_, key_, id_, out_, why_, last_failure_;
    std::int64_t start_ms_ = 0;
    stopwatch clock_;
    double parse_s_ = 0;  // in simdjson: --stats parse_mb_per_s
    std::uint64_t requests_ = 0, polls_ok_ = 0, polls_failed_ = 0, skipped_ = 0, retries_ = 0, not_modified_ = 0,
                  http_errors_ = 0, bad_responses_ = 0, response_bytes_ = 0, records_seen_ = 0, filtered_ = 0,
                  unchanged_ = 0, produced_ = 0;
};

}  // namespace

int run(options& o, plan& p) {
    poller run(o, p);
    return run.run();
}

}  // namespace ks::api2kafka
