#include "ks/signal.hpp"

#include "ks/options.hpp"

#include <csignal>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace ks::signals {
namespace {
std::atomic<int> signal_count{0};
std::atomic<bool> self_stop{false};
std::atomic<std::int64_t> stop_at_ns{0};  // steady clock; 0 = no deadline
volatile std::sig_atomic_t last = 0;

extern "C" void on_signal(int sig) {
    last = sig;
    signal_count.fetch_add(1);
}
}  // namespace

void install() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: blocking reads return EINTR so the loop sees the flag
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, nullptr);
    sigaction(SIGXFSZ, &ign, nullptr);  // a file size limit: EFBIG from write, reported like a full disk
}

bool stop_requested() {
    if (signal_count.load() > 0 || self_stop.load()) return true;
    const auto at = stop_at_ns.load();
    return at != 0 && std::chrono::steady_clock::now().time_since_epoch().count() >= at;
}

void stop_after(double seconds) {
    if (seconds <= 0) {
        stop_at_ns = 0;
        return;
    }
    const auto at = std::chrono::steady_clock::now() + seconds_span(seconds);
    stop_at_ns = at.time_since_epoch().count();
}
bool abort_requested() { return signal_count.load() > 1; }
void request_stop() { self_stop = true; }
int last_signal() { return last; }

}  // namespace ks::signals
