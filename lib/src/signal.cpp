#include "ks/signal.hpp"

#include <csignal>

#include <atomic>

namespace ks::signals {
namespace {
std::atomic<int> signal_count{0};
std::atomic<bool> self_stop{false};
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
}

bool stop_requested() { return signal_count.load() > 0 || self_stop.load(); }
bool abort_requested() { return signal_count.load() > 1; }
void request_stop() { self_stop = true; }
int last_signal() { return last; }

}  // namespace ks::signals
