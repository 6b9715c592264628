// HTTP client side (libcurl): many transfers at once on the calling thread, and the rules that
// keep secrets out of what the tools print (docs/api2kafka.md, "Secrets").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ks::http {

struct request {
    std::string url;
    std::vector<std::string> headers;      // "Name: value"
    std::string if_none_match;             // a previous ETag: If-None-Match
    std::string if_modified_since;         // a previous Last-Modified: If-Modified-Since
    double timeout_s = 30;                 // the whole transfer
    double connect_timeout_s = 10;
    std::size_t max_bytes = std::size_t{1} << 30;  // a larger body fails the transfer
};

struct response {
    long status = 0;            // 0: no HTTP response (see error)
    std::string error;          // transport failure (connect, timeout, reset...), empty otherwise
    std::string body;           // decompressed
    std::string etag, last_modified, retry_after;
    double seconds = 0;         // the transfer's total time
};

// "api2kafka/0.1.0 (kstream tools) libcurl/7.88.1"
std::string user_agent(std::string_view tool);

// Transfers through one curl multi handle: HTTPS with the system's CA store, gzip and deflate,
// up to 5 redirects, proxies from the environment (http_proxy, https_proxy, no_proxy).
class client {
public:
    explicit client(std::string user_agent);
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    using callback = std::function<void(response&&)>;
    // Starts a transfer; `done` runs inside a later run() when it ends, however it ends.
    void start(const request& r, callback done);
    // Waits at most `max_wait` for network activity, then calls `done` of the transfers that ended.
    void run(std::chrono::milliseconds max_wait);
    [[nodiscard]] std::size_t active() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Retry-After: delta seconds or an HTTP date -> seconds from `now` (>= 0); nullopt if neither.
std::optional<double> retry_after_seconds(std::string_view value, std::chrono::system_clock::time_point now);

// Expands ${NAME} with the environment's value; `secrets` receives every value it put in. Throws
// usage_error naming `what` for an unset variable or an unclosed ${.
std::string expand_env(std::string_view text, std::string_view what, std::vector<std::string>& secrets);

// Percent-encodes a query value or path segment (RFC 3986 unreserved characters stay).
std::string escape(std::string_view text);

// Replaces secrets with *** in anything printed: the values of query parameters with a secret's
// name (appid, api_key, apikey, key, token, access_token, password, secret, signature, ...; any
// case), the values of secret headers (Authorization, X-Api-Key, Cookie, ...), and values given
// by add() (those that came from the environment).
class redactor {
public:
    void add(std::string_view secret);
    // Learns the secrets of a URL's query and returns the URL with them replaced.
    std::string learn_url(std::string_view url);
    // Learns a header's value when its name is a secret's.
    void learn_header(std::string_view header);
    [[nodiscard]] std::string apply(std::string_view text) const;
    static bool secret_parameter(std::string_view name);
    static bool secret_header(std::string_view name);

private:
    std::vector<std::string> secrets_;
};

}  // namespace ks::http
