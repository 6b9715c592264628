#include "ks/http.hpp"

#include "ks/error.hpp"

#include <curl/curl.h>
#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <unordered_set>

namespace ks::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw runtime_failure("cannot initialise libcurl");
    });
}

struct transfer {
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    response resp;
    client::callback done;
    std::size_t max_bytes = 0;
    bool too_large = false;
    char error[CURL_ERROR_SIZE] = {};

    ~transfer() {
        if (easy) curl_easy_cleanup(easy);
        if (headers) curl_slist_free_all(headers);
    }
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<transfer*>(user);
    const std::size_t n = size * count;
    if (t->resp.body.size() + n > t->max_bytes) {
        t->too_large = true;
        return 0;  // fails the transfer (CURLE_WRITE_ERROR)
    }
    if (t->resp.body.empty()) {
        // The announced length (compressed or not) and room for a parser's padding: a body of a
        // few MB is then seldom copied while it grows.
        curl_off_t length = -1;
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        if (length > 0 && static_cast<std::size_t>(length) <= t->max_bytes)
            t->resp.body.reserve(static_cast<std::size_t>(length) + 64);
    }
    t->resp.body.append(data, n);
    return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<transfer*>(user);
    const std::size_t n = size * count;
    const std::string_view line(data, n);
    if (line.starts_with("HTTP/")) {  // a new response (after a redirect or a 100): its own headers
        t->resp.etag.clear();
        t->resp.last_modified.clear();
        t->resp.retry_after.clear();
        return n;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return n;
    const auto name = trim(line.substr(0, colon));
    const auto value = std::string(trim(line.substr(colon + 1)));
    if (iequals(name, "ETag")) t->resp.etag = value;
    else if (iequals(name, "Last-Modified")) t->resp.last_modified = value;
    else if (iequals(name, "Retry-After")) t->resp.retry_after = value;
    return n;
}

}  // namespace

std::string user_agent(std::string_view tool) {
    const auto* v = curl_version_info(CURLVERSION_NOW);
    return fmt::format("{}/{} (kstream tools) libcurl/{}", tool, KS_VERSION, v ? v->version : "?");
}

struct client::impl {
    CURLM* multi = nullptr;
    std::string agent;
    std::unordered_set<transfer*> live;  // started, not yet ended
};

client::client(std::string agent) : impl_(std::make_unique<impl>()) {
    global_init();
    impl_->multi = curl_multi_init();
    if (!impl_->multi) throw runtime_failure("cannot initialise libcurl");
    impl_->agent = std::move(agent);
}

client::~client() {
    // Transfers still running are abandoned (a stop): their callbacks never run.
    for (transfer* t : impl_->live) {
        curl_multi_remove_handle(impl_->multi, t->easy);
        delete t;
    }
    curl_multi_cleanup(impl_->multi);
}

void client::start(const request& r, callback done) {
    auto t = std::make_unique<transfer>();
    t->easy = curl_easy_init();
    if (!t->easy) throw runtime_failure("cannot initialise libcurl");
    t->done = std::move(done);
    t->max_bytes = r.max_bytes;
    for (const auto& h : r.headers) t->headers = curl_slist_append(t->headers, h.c_str());
    if (!r.if_none_match.empty())
        t->headers = curl_slist_append(t->headers, ("If-None-Match: " + r.if_none_match).c_str());
    if (!r.if_modified_since.empty())
        t->headers = curl_slist_append(t->headers, ("If-Modified-Since: " + r.if_modified_since).c_str());
    CURL* e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, impl_->agent.c_str());
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl decodes
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(r.connect_timeout_s, r.timeout_s) * 1000));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    if (curl_multi_add_handle(impl_->multi, e) != CURLM_OK) throw runtime_failure("cannot start an HTTP transfer");
    impl_->live.insert(t.release());
}

void client::run(std::chrono::milliseconds max_wait) {
    int running = 0;
    curl_multi_perform(impl_->multi, &running);
    int fds = 0;
    curl_multi_poll(impl_->multi, nullptr, 0, static_cast<int>(std::max<std::int64_t>(0, max_wait.count())), &fds);
    curl_multi_perform(impl_->multi, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(impl_->multi, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        transfer* raw = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&raw));
        std::unique_ptr<transfer> t(raw);
        const CURLcode result = m->data.result;
        curl_multi_remove_handle(impl_->multi, t->easy);
        impl_->live.erase(raw);
        curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &t->resp.seconds);
        if (result == CURLE_OK) {
            curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->resp.status);
        } else {
            t->resp.status = 0;
            t->resp.body.clear();
            if (t->too_large) t->resp.error = fmt::format("the response is larger than {} bytes", t->max_bytes);
            else t->resp.error = t->error[0] ? std::string(t->error) : std::string(curl_easy_strerror(result));
        }
        auto done = std::move(t->done);
        response resp = std::move(t->resp);
        t.reset();
        done(std::move(resp));
    }
}

std::size_t client::active() const { return impl_->live.size(); }

std::optional<double> retry_after_seconds(std::string_view value, std::chrono::system_clock::time_point now) {
    value = trim(value);
    if (value.empty()) return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (value.size() > 9) return 1e9;
        return std::stod(std::string(value));
    }
    const time_t when = curl_getdate(std::string(value).c_str(), nullptr);
    if (when < 0) return std::nullopt;
    const double delta = static_cast<double>(when) -
                         std::chrono::duration<double>(now.time_since_epoch()).count();
    return std::max(0.0, delta);
}

std::string expand_env(std::string_view text, std::string_view what, std::vector<std::string>& secrets) {
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        if (text.substr(i, 2) != "${") {
            out.push_back(text[i++]);
            continue;
        }
        const auto close = text.find('}', i + 2);
        if (close == std::string_view::npos) throw usage_error(fmt::format("{}: '${{' without its '}}'", what));
        const std::string name(text.substr(i + 2, close - i - 2));
        const bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                           std::all_of(name.begin(), name.end(), [](char c) {
                               return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                           });
        if (!valid) throw usage_error(fmt::format("{}: '${{{}}}' is not an environment variable's name", what, name));
        const char* v = std::getenv(name.c_str());
        if (!v) throw usage_error(fmt::format("{}: the environment variable {} is not set", what, name));
        out += v;
        secrets.emplace_back(v);
        i = close + 1;
    }
    return out;
}

std::string escape(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

bool redactor::secret_parameter(std::string_view name) {
    static constexpr std::string_view names[] = {
        "appid",   "app_id",  "api_key",      "apikey", "api-key",       "key",       "access_key",
        "token",   "access_token", "auth",    "password", "passwd",      "secret",    "client_secret",
        "signature", "sig",   "session",      "code",   "refresh_token", "private_key"};
    return std::any_of(std::begin(names), std::end(names), [&](std::string_view n) { return iequals(n, name); });
}

bool redactor::secret_header(std::string_view name) {
    static constexpr std::string_view names[] = {"authorization", "proxy-authorization", "x-api-key", "api-key",
                                                 "x-auth-token",  "cookie",              "x-access-token",
                                                 "apikey",        "x-apikey"};
    return std::any_of(std::begin(names), std::end(names), [&](std::string_view n) { return iequals(n, name); });
}

void redactor::add(std::string_view secret) {
    if (secret.empty()) return;
    if (std::find(secrets_.begin(), secrets_.end(), secret) == secrets_.end()) secrets_.emplace_back(secret);
    // A --param value goes into its URL percent-encoded: that form is the same secret.
    if (auto escaped = escape(secret); escaped != secret &&
                                       std::find(secrets_.begin(), secrets_.end(), escaped) == secrets_.end())
        secrets_.push_back(std::move(escaped));
    // Longest first, so that a secret containing another is replaced whole.
    std::sort(secrets_.begin(), secrets_.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::string redactor::learn_url(std::string_view url) {
    const auto q = url.find('?');
    if (q == std::string_view::npos) return std::string(url);
    const auto hash = url.find('#', q);
    const auto query = url.substr(q + 1, hash == std::string_view::npos ? std::string_view::npos : hash - q - 1);
    std::string out(url.substr(0, q + 1));
    std::size_t start = 0;
    while (start <= query.size()) {
        auto amp = query.find('&', start);
        if (amp == std::string_view::npos) amp = query.size();
        const auto item = query.substr(start, amp - start);
        const auto eq = item.find('=');
        if (eq != std::string_view::npos && secret_parameter(item.substr(0, eq)) && eq + 1 < item.size()) {
            add(item.substr(eq + 1));
            out.append(item.substr(0, eq + 1)).append("***");
        } else {
            out.append(item);
        }
        if (amp < query.size()) out.push_back('&');
        start = amp + 1;
    }
    if (hash != std::string_view::npos) out.append(url.substr(hash));
    return apply(out);
}

void redactor::learn_header(std::string_view header) {
    const auto colon = header.find(':');
    if (colon == std::string_view::npos) return;
    if (!secret_header(trim(header.substr(0, colon)))) return;
    const auto value = trim(header.substr(colon + 1));
    add(value);
    // "Bearer abc": the credentials alone too, wherever they show up.
    if (const auto space = value.find(' '); space != std::string_view::npos) add(trim(value.substr(space + 1)));
}

std::string redactor::apply(std::string_view text) const {
    std::string out(text);
    for (const auto& s : secrets_) {
        if (s.size() < 3) continue;  // "1" would hide every 1 in a message, not a secret
        for (auto at = out.find(s); at != std::string::npos; at = out.find(s, at + 3)) out.replace(at, s.size(), "***");
    }
    return out;
}

}  // namespace ks::http
