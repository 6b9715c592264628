// The HTTP/1.1 server of kpredict serve: a few threads, each an epoll loop over its own
// listening socket (SO_REUSEPORT: the kernel spreads the connections) and any number of
// connections. Requests are small and answered in microseconds, so a handler runs on the loop's
// thread; a thread per connection (cpp-httplib's model) put 64 threads on 2 cores and a p99 of
// 7-13 ms under wrk at 64 connections.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace ks::kpredict {

struct http_request {
    std::string_view method, path, query;  // path percent-decoded; query as sent
    std::string_view body;
    // A query parameter, percent-decoded ("" when absent).
    [[nodiscard]] std::string param(std::string_view name) const;
    [[nodiscard]] bool has_param(std::string_view name) const;
};

struct http_response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
};

using http_handler = std::function<void(const http_request&, http_response&)>;

struct http_limits {
    std::size_t max_body = 1 << 20;  // larger: 413
    double timeout_s = 10;           // to send a request, to read an answer, to stay idle
    unsigned threads = 0;            // 0: one per core
};

class http_server {
public:
    // Binds HOST:PORT (port 0: a free one) on every thread's socket. Throws runtime_failure.
    http_server(const std::string& host, int port, http_limits limits, http_handler handler);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    [[nodiscard]] int port() const;
    // Serves until signals::stop_requested(): then stops accepting, answers the requests already
    // read, and closes every connection.
    void run();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace ks::kpredict
