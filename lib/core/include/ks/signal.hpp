// SIGINT/SIGTERM: the first asks the loop to stop (finish, flush, commit); the second skips the
// flush. SIGPIPE and SIGXFSZ are ignored so that a closed pipe downstream and a file size limit
// show up as EPIPE and EFBIG on write, where they are handled.
#pragma once

namespace ks::signals {

void install();
[[nodiscard]] bool stop_requested();  // one signal or more, or request_stop()
[[nodiscard]] bool abort_requested();  // two signals or more: skip the flush
void request_stop();                   // the tool itself stops (limit, duration, closed pipe)
void stop_after(double seconds);       // --duration: stop_requested() turns true then (0: no deadline)
int last_signal();                     // 0 when stopped by the tool itself

}  // namespace ks::signals
