// Option parsing and exit codes of the real binaries (tools' .cpp files are not linked into
// ks_unit): --help, bad flags, usage errors, data errors, I/O errors and a closed pipe downstream.
// No broker is needed: every case stops before connecting, or writes to stdout.
#include "ks/cli.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace {

struct outcome {
    int exit_code = -1;  // -1 when killed by a signal or the timeout
    int signal = 0;
    bool timed_out = false;
    std::string out, err;
};

struct run_options {
    std::string stdin_data{};
    std::string cwd{};
    bool close_stdout_after_first_line = false;  // like `| head -1`
    bool close_stdout_at_start = false;          // like `| true`: nobody ever reads
    double timeout_s = 10;
};

// Runs KS_BIN_DIR/args[0] with args, feeds stdin, captures stdout and stderr, and kills it after
// the timeout.
outcome run(const std::vector<std::string>& args, const run_options& opts = {}) {
    std::signal(SIGPIPE, SIG_IGN);  // a child that exits early must not kill the test runner
    int in[2], out[2], err[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    const std::string program = std::string(KS_BIN_DIR) + "/" + args.front();
    INFO("running " << program << " (built by `ninja -C build " << args.front() << "`)");
    REQUIRE(::access(program.c_str(), X_OK) == 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);

    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::signal(SIGPIPE, SIG_DFL);  // as a shell would start it
        if (!opts.cwd.empty() && ::chdir(opts.cwd.c_str()) != 0) ::_exit(126);
        ::dup2(in[0], STDIN_FILENO);
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(err[1], STDERR_FILENO);
        ::execv(program.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (opts.close_stdout_at_start) {
        ::close(out[0]);
        out[0] = -1;
    }

    outcome result;
    int in_fd = in[1], out_fd = out[0], err_fd = err[0];
    size_t fed = 0;
    if (opts.stdin_data.empty()) {
        ::close(in_fd);
        in_fd = -1;
    } else {
        ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(opts.timeout_s);
    while (out_fd >= 0 || err_fd >= 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
        if (::poll(fds, 3, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
        char buf[65536];
        for (int i = 0; i < 2; ++i) {
            int& fd = i == 0 ? out_fd : err_fd;
            if (fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n > 0) (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
            if (n <= 0 || (i == 0 && opts.close_stdout_after_first_line && result.out.find('\n') != std::string::npos)) {
                ::close(fd);
                fd = -1;
            }
        }
        if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            const ssize_t n = ::write(in_fd, opts.stdin_data.data() + fed, opts.stdin_data.size() - fed);
            if (n > 0) fed += static_cast<size_t>(n);
            if (n < 0 || fed == opts.stdin_data.size()) {
                ::close(in_fd);
                in_fd = -1;
            }
        }
    }
    for (int fd : {in_fd, out_fd, err_fd})
        if (fd >= 0) ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
    return result;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < text.size()) {
        auto nl = text.find('\n', start);
        if (nl == std::string::npos) nl = text.size();
        out.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return out;
}

// Every stderr line of a failing tool reads "tool: ...".
void check_error_lines(const outcome& r, const std::string& tool) {
    INFO("stderr: " << r.err);
    REQUIRE_FALSE(r.err.empty());
    CHECK(r.err.back() == '\n');
    for (const auto& line : lines(r.err)) CHECK_THAT(line, Catch::StartsWith(tool + ": "));
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

TEST_CASE("cli: csv2kafka --help exits 0 with usage and the exit codes on stdout", "[cli]") {
    auto r = run({"csv2kafka", "--help"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("Usage: ") && Catch::Contains("csv2kafka"));
    CHECK_THAT(r.out, Catch::EndsWith("Exit codes: 0 success (also --help, --duration, --limit, SIGINT/SIGTERM, closed pipe);\n"
                                      "1 runtime failure (broker unreachable, undelivered messages, I/O error); 2 usage error;\n"
                                      "65 bad record under --on-error fail.\n"));
    CHECK_THAT(r.out, Catch::Contains("--on-error") && Catch::Contains("--rate"));
    CHECK(r.err.empty());
}

TEST_CASE("cli: kbatch-dump --help exits 0 with usage and the exit codes on stdout", "[cli]") {
    auto r = run({"kbatch-dump", "--help"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("Usage: ") && Catch::Contains("kbatch-dump"));
    CHECK_THAT(r.out, Catch::EndsWith("Exit codes: 0 success (also --help, -e, --duration, --limit, SIGINT/SIGTERM);\n"
                                      "1 runtime failure (broker unreachable, I/O error); 2 usage error;\n"
                                      "65 bad record under --on-error fail.\n"));
    CHECK_THAT(r.out, Catch::Contains("--group") && Catch::Contains("--exit-at-end"));
    CHECK_THAT(r.out, Catch::Contains("required to read a topic"));
    CHECK(r.err.empty());
}

TEST_CASE("cli: kstream-filter --help exits 0 with usage, the order of the steps and the exit codes", "[cli]") {
    auto r = run({"kstream-filter", "--help"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("Usage: ") && Catch::Contains("kstream-filter"));
    CHECK_THAT(r.out, Catch::EndsWith("Exit codes: 0 success (also --help, -e, --duration, --limit, SIGINT/SIGTERM, closed pipe);\n"
                                      "1 runtime failure (broker unreachable, undelivered messages, I/O error); 2 usage error;\n"
                                      "65 bad record under --on-error fail.\n"));
    CHECK_THAT(r.out, Catch::Contains("--where") && Catch::Contains("--guarantee") && Catch::Contains("--lookup"));
    CHECK_THAT(r.out, Catch::Contains("Order per record: --lookup, --where, --select or --drop, --set"));
    CHECK(r.err.empty());
}

TEST_CASE("cli: --help exits 0 when nobody reads standard output", "[cli]") {
    auto r = run({"csv2kafka", "--help"}, {.close_stdout_at_start = true});
    CHECK(r.signal == 0);
    CHECK(r.exit_code == 0);
}

TEST_CASE("cli: an unknown flag exits 2 with a message naming the tool and the flag", "[cli]") {
    // kbatch-dump gets its required options, so that the unknown flag is what it complains about.
    for (std::vector<std::string> args : {std::vector<std::string>{"csv2kafka", "--no-such-flag"},
                                          {"kbatch-dump", "-i", "kafka:t", "-o", ".", "-g", "g", "--no-such-flag"},
                                          {"kstream-filter", "--no-such-flag"}}) {
        const std::string tool = args.front();
        auto r = run(args);
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        check_error_lines(r, tool);
        CHECK_THAT(first_line(r.err), Catch::Contains("--no-such-flag"));
    }
}

TEST_CASE("cli: --on-error dead-letter without --dead-letter exits 2", "[cli]") {
    auto r = run({"csv2kafka", "--on-error", "dead-letter"});
    CHECK(r.exit_code == 2);
    check_error_lines(r, "csv2kafka");
    CHECK(r.err == "csv2kafka: --on-error dead-letter needs --dead-letter FILE|kafka:TOPIC\n");
}

TEST_CASE("cli: csv2kafka --rate -1 exits 2 naming --rate", "[cli]") {
    auto r = run({"csv2kafka", "--rate", "-1"});
    CHECK(r.exit_code == 2);
    check_error_lines(r, "csv2kafka");
    CHECK_THAT(first_line(r.err), Catch::StartsWith("csv2kafka: --rate"));
}

TEST_CASE("cli: an --on-error value that is not fail, skip or dead-letter exits 2", "[cli]") {
    auto r = run({"csv2kafka", "--on-error", "ignore"});
    CHECK(r.exit_code == 2);
    check_error_lines(r, "csv2kafka");
    CHECK_THAT(first_line(r.err), Catch::Contains("--on-error"));
}

TEST_CASE("cli: kbatch-dump without -i or -o exits 2", "[cli]") {
    auto none = run({"kbatch-dump"});
    CHECK(none.exit_code == 2);
    check_error_lines(none, "kbatch-dump");

    auto no_dir = run({"kbatch-dump", "-i", "kafka:t", "-g", "g"});
    CHECK(no_dir.exit_code == 2);
    CHECK(no_dir.err == "kbatch-dump: -o DIR is required: the directory for the batch files\n");

    // -d named the directory before it meant the CSV delimiter (as in csv2kafka): a hint.
    auto old_spelling = run({"kbatch-dump", "-i", "kafka:t", "-g", "g", "-d", "out/"});
    CHECK(old_spelling.exit_code == 2);
    CHECK(old_spelling.err == "kbatch-dump: -d is the CSV delimiter (as in csv2kafka): write the directory as -o out/\n");
}

TEST_CASE("cli: kbatch-dump without -g exits 2", "[cli]") {
    ks_test::temp_dir dir;
    auto r = run({"kbatch-dump", "-i", "kafka:t", "-o", dir.path().string(), "-b", "127.0.0.1:1"});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "kbatch-dump: -g GROUP is required: offsets are committed for the group\n");
}

TEST_CASE("cli: kbatch-dump with a missing output directory exits 1 naming it, before any broker", "[cli]") {
    ks_test::temp_dir dir;
    const std::string missing = dir.child("no-such-dir");
    const auto start = std::chrono::steady_clock::now();
    auto r = run({"kbatch-dump", "-i", "kafka:t", "-o", missing, "-g", "g", "-b", "127.0.0.1:1"});
    CHECK(r.exit_code == 1);
    CHECK(r.err == "kbatch-dump: output directory " + missing + ": No such file or directory\n");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));  // the broker timeout is 60 s
}

TEST_CASE("cli: kbatch-dump -o naming a file exits 1", "[cli]") {
    ks_test::temp_dir dir;
    const auto file = dir.write("plain.txt", "x");
    auto r = run({"kbatch-dump", "-i", "kafka:t", "-o", file, "-g", "g", "-b", "127.0.0.1:1"});
    CHECK(r.exit_code == 1);
    CHECK(r.err == "kbatch-dump: output directory " + file + ": not a directory\n");
}

TEST_CASE("cli: kbatch-dump -i that is not a Kafka topic exits 2", "[cli]") {
    ks_test::temp_dir dir;
    auto r = run({"kbatch-dump", "-i", "data.csv", "-o", dir.path().string(), "-g", "g"});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "kbatch-dump: -i must be kafka:TOPIC or kafka://HOST:PORT/TOPIC\n");
}

TEST_CASE("cli: --dead-letter without --on-error dead-letter, and -q with -v, exit 2", "[cli]") {
    auto dead_letter = run({"csv2kafka", "--dead-letter", "bad.jsonl"});
    CHECK(dead_letter.exit_code == 2);
    CHECK(dead_letter.err == "csv2kafka: --dead-letter is only used with --on-error dead-letter\n");

    auto quiet_verbose = run({"csv2kafka", "-q", "-v"});
    CHECK(quiet_verbose.exit_code == 2);
    CHECK(quiet_verbose.err == "csv2kafka: -q and -v exclude each other\n");
}

TEST_CASE("cli: csv2kafka --loop on standard input exits 2", "[cli]") {
    auto r = run({"csv2kafka", "--loop", "-"}, {.stdin_data = "a\n1\n"});
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err == "csv2kafka: --loop needs files: standard input cannot be read twice\n");
}

TEST_CASE("cli: csv2kafka writes typed JSON lines for a small CSV", "[cli]") {
    ks_test::temp_dir dir;
    const auto csv = dir.write("in.csv",
                               "id,name,temp,ok,zip,note\n"
                               "1,Ann,20.5,true,00501,\n"
                               "2,\"Bob, Jr.\",-3,FALSE,02134,\"said \"\"hi\"\"\"\n");
    auto r = run({"csv2kafka", csv, "-o", "-"});
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(r.out ==
          "{\"id\":1,\"name\":\"Ann\",\"temp\":20.5,\"ok\":true,\"zip\":\"00501\",\"note\":null}\n"
          "{\"id\":2,\"name\":\"Bob, Jr.\",\"temp\":-3,\"ok\":false,\"zip\":\"02134\",\"note\":\"said \\\"hi\\\"\"}\n");
}

TEST_CASE("cli: csv2kafka reads standard input by default", "[cli]") {
    auto r = run({"csv2kafka"}, {.stdin_data = "a,b\n1,x\n2,\n"});
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(r.out == "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":null}\n");
}

TEST_CASE("cli: csv2kafka stops with 65 at a bad row under --on-error fail, naming file:line", "[cli]") {
    ks_test::temp_dir dir;
    const auto csv = dir.write("in.csv", "a,b\n1,2\n3\n4,5\n");
    auto r = run({"csv2kafka", csv});
    CHECK(r.exit_code == 65);
    CHECK(r.err == "csv2kafka: " + csv + ":3: expected 2 fields, found 1 (--on-error skip or dead-letter to go on)\n");
    CHECK(r.out == "{\"a\":1,\"b\":2}\n");  // the rows before the bad one are kept
}

TEST_CASE("cli: csv2kafka --on-error skip goes on past a bad row", "[cli]") {
    ks_test::temp_dir dir;
    const auto csv = dir.write("in.csv", "a,b\n1,2\n3\n4,5\n");
    auto r = run({"csv2kafka", csv, "--on-error", "skip"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "{\"a\":1,\"b\":2}\n{\"a\":4,\"b\":5}\n");
    check_error_lines(r, "csv2kafka");
    CHECK_THAT(r.err, Catch::Contains(csv + ":3: expected 2 fields, found 1"));
}

TEST_CASE("cli: csv2kafka on a missing file exits 1 with the file and the reason", "[cli]") {
    ks_test::temp_dir dir;
    auto r = run({"csv2kafka", "missing.csv"}, {.cwd = dir.path().string()});
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(r.err == "csv2kafka: missing.csv: No such file or directory\n");
}

TEST_CASE("cli: csv2kafka exits 0 when the reader downstream closes the pipe", "[cli]") {
    ks_test::temp_dir dir;
    std::string csv = "id,name,value\n";
    for (int i = 0; i < 200000; ++i) csv += std::to_string(i) + ",sensor-" + std::to_string(i % 97) + ",1.25\n";
    const auto path = dir.write("big.csv", csv);
    auto r = run({"csv2kafka", path}, {.close_stdout_after_first_line = true});
    CHECK_FALSE(r.timed_out);
    CHECK(r.signal == 0);
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(first_line(r.out) == "{\"id\":0,\"name\":\"sensor-0\",\"value\":1.25}");
}

TEST_CASE("cli: non-finite or negative bounds exit 2, in every tool", "[cli]") {
    for (const char* tool : {"csv2kafka", "kbatch-dump", "kstream-filter", "kstream-agg", "ktrain", "kpredict"})
        for (const auto& [option, value] : std::vector<std::pair<std::string, std::string>>{
                 {"--duration", "inf"}, {"--duration", "nan"}, {"--duration", "-1"}, {"--limit", "-5"}, {"--limit", "x"}}) {
            INFO(tool << " " << option << " " << value);
            auto r = run({tool, option, value});
            CHECK(r.exit_code == 2);
            check_error_lines(r, tool);
            CHECK_THAT(first_line(r.err), Catch::Contains(option));
        }
}

TEST_CASE("cli: a huge --duration means no limit: the whole input is read", "[cli]") {
    for (const char* duration : {"1e10", "1e300"}) {
        INFO(duration);
        auto r = run({"csv2kafka", "--duration", duration}, {.stdin_data = "a,b\n1,x\n2,\n"});
        CHECK(r.exit_code == 0);
        CHECK(r.err.empty());
        CHECK(r.out == "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":null}\n");
    }
}

TEST_CASE("cli: a huge --idle-timeout means no limit: kstream-filter reads its input to the end", "[cli]") {
    auto r = run({"kstream-filter", "--idle-timeout", "1e10", "--where", "a > 1"}, {.stdin_data = "{\"a\":1}\n{\"a\":2}\n"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "{\"a\":2}\n");
}

TEST_CASE("cli: seconds_span turns huge and non-finite seconds into 31 years, without overflow", "[cli]") {
    using namespace std::chrono;
    CHECK(ks::seconds_span(1.5) == duration_cast<steady_clock::duration>(milliseconds(1500)));
    CHECK(ks::seconds_span(-3) == steady_clock::duration::zero());
    for (double huge : {1e10, 1e300, std::numeric_limits<double>::infinity()})
        CHECK(ks::seconds_span(huge) == duration_cast<steady_clock::duration>(seconds(1'000'000'000)));
    CHECK(steady_clock::now() + ks::seconds_span(1e300) > steady_clock::now());
}

TEST_CASE("cli: an output that is an input file exits 2 and leaves the input as it was", "[cli]") {
    ks_test::temp_dir dir;
    const std::string csv_text = "a,b\n1,x\n";
    const auto csv = dir.write("t.csv", csv_text);
    auto r = run({"csv2kafka", csv, "-o", csv});
    CHECK(r.exit_code == 2);
    CHECK_THAT(first_line(r.err), Catch::Contains("the output is the input file"));
    const std::string jsonl_text = "{\"a\":1}\n";
    const auto jsonl = dir.write("t.jsonl", jsonl_text);
    for (const char* tool : {"kstream-filter", "kstream-agg"}) {
        INFO(tool);
        std::vector<std::string> args = {tool, "-i", dir.child("*.jsonl"), "-o", jsonl};
        if (std::string(tool) == "kstream-agg") args.insert(args.end(), {"--agg", "n=count()"});
        auto t = run(args);
        CHECK(t.exit_code == 2);
        CHECK_THAT(first_line(t.err), Catch::Contains("the output is the input file"));
    }
    std::ifstream a(csv), b(jsonl);
    CHECK(std::string(std::istreambuf_iterator<char>(a), {}) == csv_text);
    CHECK(std::string(std::istreambuf_iterator<char>(b), {}) == jsonl_text);
}

TEST_CASE("cli: csv2kafka refuses a header that is not valid UTF-8 under every --on-error, naming file:1", "[cli]") {
    ks_test::temp_dir dir;
    const auto csv = dir.write("h.csv", "a\xff,b\n1,2\n");
    for (const char* mode : {"fail", "skip", "dead-letter"}) {
        INFO(mode);
        std::vector<std::string> args = {"csv2kafka", csv, "--on-error", mode};
        if (std::string(mode) == "dead-letter") args.insert(args.end(), {"--dead-letter", dir.child("dl.jsonl")});
        auto r = run(args);
        CHECK(r.exit_code == 65);
        CHECK(r.out.empty());
        CHECK_THAT(first_line(r.err), Catch::Contains("h.csv:1: header row: a column name is not valid UTF-8"));
    }
}

TEST_CASE("cli: csv2kafka refuses a file with CR-only line endings instead of reading no rows", "[cli]") {
    ks_test::temp_dir dir;
    const auto csv = dir.write("cr.csv", "a,b\r1,2\r3,4\r");
    auto r = run({"csv2kafka", csv});
    CHECK(r.exit_code == 65);
    CHECK(r.out.empty());
    CHECK_THAT(first_line(r.err), Catch::Contains("cr.csv:1: header row: it holds a carriage return"));
    CHECK_THAT(first_line(r.err), Catch::Contains("CR-only (old Mac) line endings"));
    // CRLF files are read as they always were.
    const auto crlf = dir.write("crlf.csv", "a,b\r\n1,2\r\n");
    auto ok = run({"csv2kafka", crlf});
    CHECK(ok.exit_code == 0);
    CHECK(ok.out == "{\"a\":1,\"b\":2}\n");
}

TEST_CASE("cli: a bad -X is a usage error even when the output is stdout", "[cli]") {
    auto r = run({"csv2kafka", "-X", "no.such.property=1", "/dev/null"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::StartsWith("csv2kafka: -X no.such.property: "));
    r = run({"csv2kafka", "-X", "linger.ms=soon", "/dev/null"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("-X linger.ms: "));
    r = run({"kstream-filter", "-X", "no.such.property=1", "--where", "true"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("-X no.such.property: "));
    r = run({"csv2kafka", "-X", "linger.ms=5", "/dev/null"});  // a good one changes nothing
    CHECK(r.exit_code == 0);
}

TEST_CASE("cli: ktrain and kpredict --help exit 0 with their options and the exit codes", "[cli]") {
    auto train = run({"ktrain", "--help"});
    CHECK(train.exit_code == 0);
    CHECK_THAT(train.out, Catch::Contains("--label") && Catch::Contains("--derive") && Catch::Contains("--report") &&
                              Catch::Contains("--describe") && Catch::Contains("Exit codes: 0 success"));
    auto predict = run({"kpredict", "--help"});
    CHECK(predict.exit_code == 0);
    CHECK_THAT(predict.out, Catch::Contains("--proba") && Catch::Contains("serve") && Catch::Contains("Exit codes: 0 success"));
    auto serve = run({"kpredict", "serve", "--help"});
    CHECK(serve.exit_code == 0);
    CHECK_THAT(serve.out, Catch::Contains("POST /invocations") && Catch::Contains("--listen") &&
                              Catch::Contains("Exit codes: 0 stopped by SIGINT/SIGTERM"));
}

TEST_CASE("cli: ktrain usage errors exit 2 before reading anything", "[cli]") {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"ktrain", "--label", "y"}, "ktrain: -o MODEL is required (the model file to write)\n"},
        {{"ktrain", "-o", "m"}, "ktrain: --label is required (the field to predict)\n"},
        {{"ktrain", "-o", "m", "--label", "y", "--features", "a", "--exclude", "b"},
         "ktrain: --features and --exclude exclude each other\n"},
        {{"ktrain", "-o", "m", "--label", "y", "--features", "a,y"}, "ktrain: --features: 'y' is the label\n"},
        {{"ktrain", "-o", "m", "--label", "y", "--derive", "y=a*2"}, "ktrain: --derive: 'y' is the label\n"},
    };
    for (const auto& [args, message] : cases) {
        auto r = run(args);
        CHECK(r.exit_code == 2);
        CHECK(r.err == message);
    }
    auto bad = run({"ktrain", "-o", "m", "--label", "y", "--derive", "h=hour("});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.err, Catch::StartsWith("ktrain: --derive: ") && Catch::Contains("^"));
    for (const auto& [option, value] : std::vector<std::pair<std::string, std::string>>{
             {"--model", "svm"}, {"--split", "0"}, {"--split", "1.5"}, {"--trees", "0"}, {"--max-bins", "300"}, {"--l2", "-1"}}) {
        INFO(option << " " << value);
        auto r = run({"ktrain", "-o", "m", "--label", "y", option, value});
        CHECK(r.exit_code == 2);
        CHECK_THAT(first_line(r.err), Catch::Contains(option));
    }
}

TEST_CASE("cli: ktrain learns from CSV on standard input and kpredict scores JSON lines with it", "[cli]") {
    ks_test::temp_dir tmp;
    const std::string model = tmp.child("line.model");
    // y = 2x + 1 exactly: least squares finds it.
    std::string csv = "x,y\n";
    for (int x = 0; x < 50; ++x) csv += std::to_string(x) + "," + std::to_string(2 * x + 1) + "\n";
    auto train = run({"ktrain", "--input-format", "csv", "--label", "y", "--model", "linear", "-o", model}, {.stdin_data = csv});
    CHECK(train.exit_code == 0);
    CHECK_THAT(train.out, Catch::Contains("linear regression of 'y'") && Catch::Contains("R2          1.0000"));
    auto predict = run({"kpredict", "-m", model}, {.stdin_data = "{\"x\":100,\"id\":\"a\"}\n{\"x\":-3}\n"});
    CHECK(predict.exit_code == 0);
    CHECK(predict.err.empty());
    const auto out = lines(predict.out);
    REQUIRE(out.size() == 2);
    CHECK_THAT(out[0], Catch::StartsWith("{\"x\":100,\"id\":\"a\",\"prediction\":201"));
    CHECK_THAT(out[1], Catch::StartsWith("{\"x\":-3,\"prediction\":-5") || Catch::StartsWith("{\"x\":-3,\"prediction\":-4.99999"));
    auto describe = run({"ktrain", "--describe", model});
    CHECK(describe.exit_code == 0);
    CHECK_THAT(describe.out, Catch::Contains("features    x") && Catch::Contains("R2"));
}

TEST_CASE("cli: kpredict refuses a missing model (1), a file that is no model (65) and a bad --listen (2)", "[cli]") {
    ks_test::temp_dir tmp;
    const std::string nope = tmp.child("nope.model");
    auto missing = run({"kpredict", "-m", nope}, {.stdin_data = "{}\n"});
    CHECK(missing.exit_code == 1);
    CHECK_THAT(missing.err, Catch::StartsWith("kpredict: " + nope + ": cannot open the model"));
    const std::string text = tmp.write("text.model", "x,y\n1,2\n");
    auto not_model = run({"kpredict", "-m", text}, {.stdin_data = "{}\n"});
    CHECK(not_model.exit_code == 65);
    CHECK(not_model.err == "kpredict: " + text + ": not a kstream model file (made by ktrain -o)\n");
    auto serve = run({"kpredict", "serve", "-m", text});
    CHECK(serve.exit_code == 65);
    auto listen = run({"kpredict", "serve", "-m", text, "--listen", "localhost"});
    CHECK(listen.exit_code == 65);  // the models are read first
    auto no_model = run({"kpredict"}, {.stdin_data = "{}\n"});
    CHECK(no_model.exit_code == 2);
    CHECK(no_model.err == "kpredict: -m MODEL is required (a model file made by ktrain)\n");
}
