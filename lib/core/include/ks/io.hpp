// Bytes in and out of files, pipes and standard streams: a buffered writer that checks every
// write, an input buffer that keeps records contiguous, and the waits that honour signals.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ks {

// Thrown when the reader downstream has gone (EPIPE): the tool stops and exits 0.
struct closed_pipe : std::exception {
    const char* what() const noexcept override { return "closed pipe"; }
};

// Buffered writes to a file descriptor. Errors throw runtime_failure naming the file; EPIPE throws
// closed_pipe. Nothing is written behind the caller's back: flush() and sync() are explicit.
class fd_writer {
public:
    fd_writer(int fd, std::string name, bool owns_fd);
    ~fd_writer();
    fd_writer(const fd_writer&) = delete;
    fd_writer& operator=(const fd_writer&) = delete;

    static std::unique_ptr<fd_writer> open_stdout();
    // Creates or truncates (O_TRUNC) or appends; mode 0644.
    static std::unique_ptr<fd_writer> open_file(const std::string& path, bool append);

    void write(std::string_view bytes) {
        if (buffer_.size() + bytes.size() > capacity) flush_buffer(bytes);
        else buffer_.append(bytes);
    }
    void flush();  // to the kernel
    void sync();   // flush + fsync: durable
    void close();  // flush + close; idempotent
    [[nodiscard]] const std::string& name() const { return name_; }
    [[nodiscard]] std::uint64_t bytes_written() const { return written_; }

private:
    // 256 KiB: writes that large cost the kernel no more per byte than 1 MiB ones, and the
    // buffer is part of every tool's peak RSS.
    static constexpr size_t capacity = 256u << 10;
    void flush_buffer(std::string_view extra);
    void write_all(const char* p, size_t n);
    int fd_;
    std::string name_;
    bool owns_;
    std::string buffer_;
    std::uint64_t written_ = 0;
};

// Work to do before the process waits (a quiet input, a --rate pause): flush buffered output so
// that a slow stream goes downstream at once while bulk output stays in large writes.
// Returns a handle; the hook is removed when the handle is destroyed.
class idle_hook {
public:
    explicit idle_hook(std::function<void()> f);
    ~idle_hook();
    idle_hook(const idle_hook&) = delete;
    idle_hook& operator=(const idle_hook&) = delete;

private:
    friend void run_idle_hooks();
    std::function<void()> f_;
};
void run_idle_hooks();  // called by the waits in io and pacing

// Waits until fd has data (or EOF) in steps of 100 ms; false when a stop was requested first.
// Regular files are always ready. Lets a tool reading a quiet pipe honour signals and --duration.
bool wait_readable(int fd);

// A file or standard input ("-") read through one buffer that keeps the unread bytes [pos, end)
// contiguous, so a record that straddles two reads is still one span for the parser.
struct input_buffer {
    explicit input_buffer(const std::string& path);  // throws runtime_failure (missing, a directory)
    input_buffer(int fd, std::string name);          // takes ownership of fd (a pipe, a socket)
    ~input_buffer();
    input_buffer(const input_buffer&) = delete;
    input_buffer& operator=(const input_buffer&) = delete;

    // Reads more after the unread bytes: moves them to the front (pos becomes 0) and doubles the
    // buffer when they fill it. False at the end of input, or when a stop was requested (a quiet
    // pipe does not hold a signal or --duration back); eof is then set.
    bool refill();
    // True when there is something to parse without waiting longer than timeout_ms: unread
    // bytes, the end of input, or data arriving.
    [[nodiscard]] bool ready(int timeout_ms) const;
    // Whether a read would not block within timeout_ms (data, the end of input, or an error).
    [[nodiscard]] bool readable(int timeout_ms) const;
    [[nodiscard]] bool seekable() const;
    void rewind();               // back to the first byte (seekable inputs only)
    void seek(std::uint64_t offset);  // to a byte offset (seekable inputs only)
    // Byte offset in the input of bytes[pos] (seekable inputs; a pipe counts from its start).
    [[nodiscard]] std::uint64_t offset() const { return base + pos; }

    // Bytes a parser may read past `end` (never past bytes.size()): whole SIMD blocks near the end
    // of the data. Their values are arbitrary; parsers ignore them.
    static constexpr size_t padding = 64;

    std::string name;
    std::vector<char> bytes;  // data in [pos, end); end + padding <= bytes.size() always
    std::uint64_t base = 0;  // input offset of bytes[0]
    size_t pos = 0, end = 0;
    bool eof = false;

private:
    int fd_;
    bool owns_;
};

// Lines from a file or standard input ("-"), without their terminators (LF or CRLF).
class line_reader {
public:
    explicit line_reader(const std::string& path) : in_(path) {}

    // False at the end. The view is valid until the next call.
    bool next(std::string_view& line);
    [[nodiscard]] std::uint64_t line_number() const { return line_; }  // of the last line returned
    [[nodiscard]] const std::string& name() const { return in_.name; }

private:
    input_buffer in_;
    std::uint64_t line_ = 0;
};

}  // namespace ks
