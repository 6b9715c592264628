#include "http_server.hpp"

#include "ks/error.hpp"
#include "ks/signal.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ks::kpredict {

namespace {

using clock = std::chrono::steady_clock;
constexpr std::size_t max_head = 64 * 1024;  // request line and headers

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string decode(std::string_view s, bool plus_is_space) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out += plus_is_space && s[i] == '+' ? ' ' : s[i];
        }
    }
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string_view reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 408: return "Request Timeout";
        case 411: return "Length Required";
        case 413: return "Payload Too Large";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 505: return "HTTP Version Not Supported";
        default: return "Status";
    }
}

struct connection {
    int fd = -1;
    std::string in;   // received, not yet answered
    std::string out;  // answers not yet sent
    std::size_t sent = 0;
    clock::time_point deadline;
    bool close_after = false;  // Connection: close, or an error: close once `out` is sent
    bool continued = false;    // 100 Continue sent for the request in `in`
    bool writing = false;      // EPOLLOUT armed
};

}  // namespace

namespace {

// The value of a query parameter, percent-decoded; nullopt when absent.
std::optional<std::string> find_param(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (decode(pair.substr(0, eq), true) == name) return eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1), true);
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

}  // namespace

std::string http_request::param(std::string_view name) const { return find_param(query, name).value_or(""); }

bool http_request::has_param(std::string_view name) const { return find_param(query, name).has_value(); }

struct http_server::impl {
    http_limits limits;
    http_handler handler;
    std::vector<int> listeners;  // one per thread
    int port = 0;

    ~impl() {
        for (int fd : listeners)
            if (fd >= 0) ::close(fd);
    }

    [[nodiscard]] clock::duration timeout() const {
        return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(limits.timeout_s));
    }

    // One thread: its listening socket and its connections.
    void loop(int listener) {
        const int ep = ::epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0) return;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = listener;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
        std::unordered_map<int, connection> conns;
        std::vector<epoll_event> events(256);
        auto last_sweep = clock::now();
        bool accepting = true;
        while (true) {
            if (accepting && signals::stop_requested()) {
                accepting = false;
                ::epoll_ctl(ep, EPOLL_CTL_DEL, listener, nullptr);
                // Requests already read are answered; idle connections close now.
                for (auto it = conns.begin(); it != conns.end();) {
                    if (it->second.in.empty() && it->second.sent == it->second.out.size()) {
                        ::close(it->first);
                        it = conns.erase(it);
                    } else {
                        it->second.close_after = true;
                        ++it;
                    }
                }
            }
            if (!accepting && conns.empty()) break;
            const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
            const auto now = clock::now();
            for (int i = 0; i < n; ++i) {
                const int fd = events[static_cast<std::size_t>(i)].data.fd;
                if (fd == listener) {
                    accept_all(ep, listener, conns, now);
                    continue;
                }
                auto it = conns.find(fd);
                if (it == conns.end()) continue;
                connection& c = it->second;
                bool alive = true;
                if (events[static_cast<std::size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) alive = receive(c, now);
                if (alive) alive = answer(c, now) && send_out(ep, c);
                if (!alive) {
                    ::close(fd);
                    conns.erase(it);
                }
            }
            // Slow or idle clients: closed at their deadline (a partial request gets a 408 first).
            if (now - last_sweep > std::chrono::milliseconds(200) || !accepting) {
                last_sweep = now;
                for (auto it = conns.begin(); it != conns.end();) {
                    connection& c = it->second;
                    if (now >= c.deadline || (!accepting && c.in.empty() && c.sent == c.out.size())) {
                        if (!c.in.empty() && c.sent == c.out.size()) {
                            const std::string late = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                            [[maybe_unused]] auto ignored = ::send(c.fd, late.data(), late.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                        }
                        ::close(it->first);
                        it = conns.erase(it);
                    } else {
                        ++it;
                    }
                }
            }
        }
        ::close(ep);
    }

    void accept_all(int ep, int listener, std::unordered_map<int, connection>& conns, clock::time_point now) {
        for (;;) {
            const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;  // EAGAIN: all taken; other errors: the client is gone
            int yes = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.fd = fd;
            if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
                ::close(fd);
                continue;
            }
            connection& c = conns[fd];
            c = connection{};
            c.fd = fd;
            c.deadline = now + timeout();
        }
    }

    // Reads what is there. false: the client closed or failed (and nothing is owed to it).
    bool receive(connection& c, clock::time_point now) {
        char buf[16384];
        for (;;) {
            const ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
            if (got > 0) {
                if (c.in.empty()) c.deadline = now + timeout();  // a new request: its time starts
                c.in.append(buf, static_cast<std::size_t>(got));
                if (c.in.size() > max_head + limits.max_body + 4096) return false;  // beyond any request we take
                continue;
            }
            if (got == 0) {  // the client is done sending: what it sent is answered, then it is closed
                if (c.in.empty()) return false;
                c.close_after = true;
                return true;
            }
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
    }

    void respond(connection& c, const http_response& r, bool close) {
        c.out += fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n", r.status, reason(r.status),
                             r.content_type, r.body.size(), close ? "Connection: close\r\n" : "");
        c.out += r.body;
        if (close) c.close_after = true;
    }

    void error(connection& c, int status, std::string_view message) {
        http_response r;
        r.status = status;
        r.body = fmt::format("{{\"error\":\"{}\"}}\n", message);
        respond(c, r, true);
        c.in.clear();
    }

    // Answers every complete request in `in`. false: the connection is to be dropped at once.
    bool answer(connection& c, clock::time_point now) {
        while (!c.in.empty()) {
            const auto head_end = c.in.find("\r\n\r\n");
            if (head_end == std::string::npos) {
                if (c.in.size() > max_head) error(c, 431, "request headers too large");
                return true;
            }
            const std::string_view head(c.in.data(), head_end);
            const auto line_end = head.find("\r\n");
            const std::string_view line = head.substr(0, line_end);
            const auto sp1 = line.find(' '), sp2 = line.rfind(' ');
            if (sp1 == std::string_view::npos || sp2 == sp1) {
                error(c, 400, "malformed request line");
                return true;
            }
            const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                                   version = line.substr(sp2 + 1);
            if (version != "HTTP/1.1" && version != "HTTP/1.0") {
                error(c, 505, "HTTP/1.0 or HTTP/1.1 only");
                return true;
            }
            bool keep_alive = version == "HTTP/1.1", expect_continue = false;
            std::size_t length = 0;
            std::string_view rest = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
            while (!rest.empty()) {
                const auto eol = rest.find("\r\n");
                const std::string_view h = rest.substr(0, eol);
                rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
                const auto colon = h.find(':');
                if (colon == std::string_view::npos) continue;
                const auto name = h.substr(0, colon);
                const auto value = trim(h.substr(colon + 1));
                if (iequals(name, "content-length")) {
                    length = 0;
                    for (char ch : value) {
                        if (ch < '0' || ch > '9' || length > (std::size_t{1} << 40)) {
                            error(c, 400, "bad Content-Length");
                            return true;
                        }
                        length = length * 10 + static_cast<std::size_t>(ch - '0');
                    }
                } else if (iequals(name, "transfer-encoding")) {
                    error(c, 411, "send the body with a Content-Length (chunked requests are not taken)");
                    return true;
                } else if (iequals(name, "connection")) {
                    if (iequals(value, "close")) keep_alive = false;
                    else if (iequals(value, "keep-alive")) keep_alive = true;
                } else if (iequals(name, "expect")) {
                    expect_continue = iequals(value, "100-continue");
                }
            }
            if (length > limits.max_body) {
                error(c, 413, "request body too large (--max-body)");
                return true;
            }
            const std::size_t total = head_end + 4 + length;
            if (c.in.size() < total) {
                if (expect_continue && !c.continued) {
                    c.out += "HTTP/1.1 100 Continue\r\n\r\n";
                    c.continued = true;
                }
                return true;
            }
            const auto q = target.find('?');
            const std::string path = decode(target.substr(0, q), false);
            http_request req{method, path, q == std::string_view::npos ? std::string_view{} : target.substr(q + 1),
                             std::string_view(c.in).substr(head_end + 4, length)};
            http_response res;
            try {
                handler(req, res);
            } catch (const std::exception& e) {
                res = http_response{};
                res.status = 500;
                res.body = "{\"error\":\"internal error\"}\n";
            }
            respond(c, res, !keep_alive || c.close_after);
            c.in.erase(0, total);
            c.continued = false;
            c.deadline = now + timeout();
            if (c.close_after) {
                c.in.clear();
                break;
            }
        }
        return true;
    }

    // Sends what is owed; arms EPOLLOUT when the socket is full. false: drop the connection.
    bool send_out(int ep, connection& c) {
        while (c.sent < c.out.size()) {
            const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
            if (n > 0) {
                c.sent += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if (!c.writing) {
                    epoll_event ev{};
                    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
                    ev.data.fd = c.fd;
                    ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
                    c.writing = true;
                }
                return true;
            }
            if (n < 0 && errno == EINTR) continue;
            return false;
        }
        c.out.clear();
        c.sent = 0;
        if (c.writing) {
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.fd = c.fd;
            ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
            c.writing = false;
        }
        return !c.close_after;
    }
};

http_server::http_server(const std::string& host, int port, http_limits limits, http_handler handler)
    : impl_(std::make_unique<impl>()) {
    impl_->limits = limits;
    impl_->handler = std::move(handler);
    const unsigned threads = limits.threads ? limits.threads : std::max(1u, std::thread::hardware_concurrency());
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    for (unsigned t = 0; t < threads; ++t) {
        addrinfo* found = nullptr;
        const std::string service = std::to_string(t == 0 ? port : impl_->port);
        if (const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); rc != 0)
            throw runtime_failure(fmt::format("--listen {}:{}: {}", host, port, ::gai_strerror(rc)));
        const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int yes = 1;
        const bool ok = fd >= 0 && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) == 0 &&
                        ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes) == 0 &&
                        ::bind(fd, found->ai_addr, found->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0;
        const int err = errno;
        ::freeaddrinfo(found);
        if (!ok) {
            if (fd >= 0) ::close(fd);
            throw runtime_failure(fmt::format("--listen {}:{}: cannot listen there: {}", host, port, errno_text(err)));
        }
        impl_->listeners.push_back(fd);
        if (t == 0) {
            sockaddr_storage addr{};
            socklen_t len = sizeof addr;
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
            impl_->port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                            : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
        }
    }
}

http_server::~http_server() = default;

int http_server::port() const { return impl_->port; }

void http_server::run() {
    std::vector<std::thread> threads;
    for (std::size_t t = 1; t < impl_->listeners.size(); ++t) threads.emplace_back([this, t] { impl_->loop(impl_->listeners[t]); });
    impl_->loop(impl_->listeners.front());
    for (auto& th : threads) th.join();
}

}  // namespace ks::kpredict
