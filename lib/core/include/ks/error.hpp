// Exit codes and the exceptions that carry them (DESIGN.md "Exit codes and signals").
// Exceptions are for setup and configuration; per-record errors are values (see record_errors.hpp).
#pragma once

#include <stdexcept>
#include <string>

namespace ks {

enum exit_code : int {
    exit_ok = 0,
    exit_runtime = 1,  // broker unreachable, undelivered messages, I/O error
    exit_usage = 2,    // bad option or configuration
    exit_data = 65,    // bad record under --on-error fail (EX_DATAERR)
};

// Base: the message is the whole one-line error after "tool: ".
class error : public std::runtime_error {
public:
    error(exit_code code, const std::string& message) : std::runtime_error(message), code_(code) {}
    [[nodiscard]] exit_code code() const noexcept { return code_; }

private:
    exit_code code_;
};

struct usage_error : error {
    explicit usage_error(const std::string& m) : error(exit_usage, m) {}
};
struct runtime_failure : error {
    explicit runtime_failure(const std::string& m) : error(exit_runtime, m) {}
};
struct data_error : error {
    explicit data_error(const std::string& m) : error(exit_data, m) {}
};

// strerror for errno values, thread-safe.
std::string errno_text(int err);

}  // namespace ks
