#include "ks/io.hpp"

#include "ks/error.hpp"
#include "ks/signal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

namespace ks {

fd_writer::fd_writer(int fd, std::string name, bool owns_fd) : fd_(fd), name_(std::move(name)), owns_(owns_fd) {
    buffer_.reserve(capacity);
}

fd_writer::~fd_writer() {
    if (owns_ && fd_ >= 0) ::close(fd_);  // errors were reported by an explicit close()
}

std::unique_ptr<fd_writer> fd_writer::open_stdout() {
    return std::make_unique<fd_writer>(STDOUT_FILENO, "standard output", false);
}

std::unique_ptr<fd_writer> fd_writer::open_file(const std::string& path, bool append) {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) throw runtime_failure(fmt::format("{}: {}", path, errno_text(errno)));
    return std::make_unique<fd_writer>(fd, path, true);
}

void fd_writer::write_all(const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd_, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EPIPE) throw closed_pipe();
            throw runtime_failure(fmt::format("writing {}: {}", name_, errno_text(errno)));
        }
        p += w;
        n -= static_cast<size_t>(w);
        written_ += static_cast<std::uint64_t>(w);
    }
}

void fd_writer::flush_buffer(std::string_view extra) {
    write_all(buffer_.data(), buffer_.size());
    buffer_.clear();
    if (extra.size() >= capacity) write_all(extra.data(), extra.size());
    else buffer_.append(extra);
}

void fd_writer::flush() {
    if (!buffer_.empty()) flush_buffer({});
}

void fd_writer::sync() {
    flush();
    if (::fsync(fd_) != 0 && errno != EINVAL && errno != EROFS)  // pipes and ttys cannot be synced
        throw runtime_failure(fmt::format("syncing {}: {}", name_, errno_text(errno)));
}

void fd_writer::close() {
    if (fd_ < 0) return;
    flush();
    int fd = fd_;
    fd_ = -1;
    if (owns_ && ::close(fd) != 0) throw runtime_failure(fmt::format("closing {}: {}", name_, errno_text(errno)));
}

namespace {
std::vector<idle_hook*>& idle_hooks() {
    static std::vector<idle_hook*> hooks;
    return hooks;
}
}  // namespace

idle_hook::idle_hook(std::function<void()> f) : f_(std::move(f)) { idle_hooks().push_back(this); }
idle_hook::~idle_hook() { std::erase(idle_hooks(), this); }

void run_idle_hooks() {
    for (auto* h : idle_hooks()) h->f_();
}

bool wait_readable(int fd) {
    for (bool first = true;; first = false) {
        if (signals::stop_requested()) return false;
        pollfd p{fd, POLLIN, 0};
        if (first && ::poll(&p, 1, 0) > 0) return true;  // no wait, no flush
        if (first) run_idle_hooks();
        const int n = ::poll(&p, 1, 100);
        if (n > 0) return true;  // data, EOF or an error that read() will report
        if (n < 0 && errno != EINTR) return true;
    }
}

input_buffer::input_buffer(const std::string& path) : name(path), bytes((1 << 20) + padding), fd_(STDIN_FILENO), owns_(false) {
    if (path == "-") return;
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw runtime_failure(fmt::format("{}: {}", path, errno_text(errno)));
    owns_ = true;
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && S_ISDIR(st.st_mode)) {
        ::close(fd_);
        throw runtime_failure(fmt::format("{}: is a directory", path));
    }
}

input_buffer::input_buffer(int fd, std::string name) : name(std::move(name)), bytes((1 << 20) + padding), fd_(fd), owns_(true) {}

input_buffer::~input_buffer() {
    if (owns_) ::close(fd_);
}

bool input_buffer::seekable() const {
    struct stat st {};
    return ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
}

void input_buffer::rewind() {
    seek(0);
}

void input_buffer::seek(std::uint64_t offset) {
    if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0)
        throw runtime_failure(fmt::format("{}: {}", name, errno_text(errno)));
    base = offset;
    pos = end = 0;
    eof = false;
}

bool input_buffer::ready(int timeout_ms) const {
    if (pos < end || eof) return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) != 0;
}

bool input_buffer::readable(int timeout_ms) const {
    if (eof) return true;
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, timeout_ms);
    return n != 0 && !(n < 0 && errno == EINTR);
}

bool input_buffer::refill() {
    if (eof) return false;
    if (pos > 0) {
        std::memmove(bytes.data(), bytes.data() + pos, end - pos);
        base += pos;
        end -= pos;
        pos = 0;
    }
    if (end + padding == bytes.size()) bytes.resize(2 * bytes.size() - padding);  // a record larger than the buffer
    for (;;) {
        if (!wait_readable(fd_)) break;
        const ssize_t n = ::read(fd_, bytes.data() + end, bytes.size() - padding - end);
        if (n > 0) {
            end += static_cast<size_t>(n);
            return true;
        }
        if (n == 0) break;
        if (errno != EINTR) throw runtime_failure(fmt::format("reading {}: {}", name, errno_text(errno)));
    }
    eof = true;
    return false;
}

bool line_reader::next(std::string_view& line) {
    for (;;) {
        const char* base = in_.bytes.data();
        const char* nl = in_.pos < in_.end ? static_cast<const char*>(std::memchr(base + in_.pos, '\n', in_.end - in_.pos)) : nullptr;
        if (nl || (in_.eof && in_.pos < in_.end)) {
            const size_t stop = nl ? static_cast<size_t>(nl - base) : in_.end;
            size_t len = stop - in_.pos;
            if (len > 0 && base[in_.pos + len - 1] == '\r') --len;
            line = std::string_view(base + in_.pos, len);
            in_.pos = nl ? stop + 1 : in_.end;
            ++line_;
            return true;
        }
        if (!in_.refill() && in_.pos == in_.end) return false;
    }
}

}  // namespace ks
