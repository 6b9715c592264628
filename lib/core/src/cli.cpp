#include "ks/cli.hpp"

#include "ks/error.hpp"
#include "ks/io.hpp"
#include "ks/log.hpp"
#include "ks/signal.hpp"

#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace ks {

std::string exit_codes_help(const CLI::App& app) {
    const auto has = [&](const char* name) { return app.get_option_no_throw(name) != nullptr; };
    // A tool whose -o takes "-" (stdout) writes a pipe and produces to Kafka; kbatch-dump's -o is
    // a directory.
    const auto* output = app.get_option_no_throw("--output");
    const bool writes = output && output->get_default_str() == "-";
    std::string zero = "0 success (also --help";
    for (const char* flag : {"-e", "--duration", "--limit", "--polls"})
        if (has(flag)) zero += fmt::format(", {}", flag);
    zero += ", SIGINT/SIGTERM";
    if (writes) zero += ", closed pipe";
    zero += ")";
    std::string one = "1 runtime failure (broker unreachable";
    if (writes) one += ", undelivered messages";
    one += ", I/O error)";
    std::string text = "Exit codes: " + zero + ";\n" + one + "; 2 usage error";
    text += has("--on-error") ? ";\n65 bad record under --on-error fail." : ".";
    return text;
}

namespace {
CLI::Validator number_at_least(double low, bool inclusive, const char* description) {
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            double v = 0;
            try {
                size_t used = 0;
                v = std::stod(text, &used);
                if (used != text.size()) return fmt::format("'{}' is not a number", text);
            } catch (const std::exception&) {
                return fmt::format("'{}' is not a number", text);
            }
            if (!std::isfinite(v)) return fmt::format("'{}' is not a finite number", text);
            if (inclusive ? v < low : v <= low) return fmt::format("'{}' must be a number {}", text, description);
            return {};
        },
        inclusive ? "NUMBER>=0" : "NUMBER>0");
}
}  // namespace

const CLI::Validator positive = number_at_least(0, false, "> 0");
const CLI::Validator non_negative = number_at_least(0, true, ">= 0");

void add_common_options(CLI::App& app, common_options& o, unsigned groups) {
    if (groups & opts_kafka) {
        app.add_option("-b,--brokers", o.brokers,
                       "Kafka bootstrap servers (default: $KAFKA_BROKERS, else localhost:9092)")
            ->group("Kafka");
        app.add_option("-X", o.properties, "librdkafka property prop=value (repeatable; topic.* for topic properties)")
            ->group("Kafka")
            ->allow_extra_args(false);
        app.add_option("-F", o.property_files, "Read librdkafka properties from FILE (prop=value lines)")
            ->group("Kafka")
            ->allow_extra_args(false);
        if (!(groups & opts_no_timeout))
            app.add_option("--timeout", o.timeout_s,
                           "Seconds the broker may stay unreachable before giving up (exit 1)")
                ->group("Kafka")
                ->check(positive)
                ->capture_default_str();
    }
    if (groups & opts_consume) {
        app.add_option("-g,--group", o.group,
                       "Consumer group id, required to read a topic (processes with the same group share partitions)")
            ->group("Consuming");
        app.add_option("--from", o.from_text,
                       "Where to start: committed (else earliest), earliest or latest; earliest/latest apply the "
                       "first time this process is assigned a partition")
            ->group("Consuming")
            ->check(CLI::IsMember({"committed", "earliest", "latest"}))
            ->capture_default_str();
        app.add_flag("-e,--exit-at-end", o.exit_at_end,
                     "Exit 0 once every assigned partition reaches the high watermark seen at start")
            ->group("Consuming");
    }
    if (groups & opts_bound) {
        app.add_option("--duration", o.duration_s, "Stop after SECONDS (exit 0; 0 = no limit)")
            ->group("Bounds")
            ->check(non_negative);
        app.add_option("--limit", o.limit, "Stop after N records (exit 0; 0 = no limit)")
            ->group("Bounds")
            ->check(non_negative);
    }
    if (groups & opts_rate) {
        app.add_option("--rate", o.rate, "Records per second, evenly spaced (0 = as fast as possible)")
            ->group("Bounds")
            ->check(non_negative);
    }
    if (groups & opts_errors) {
        app.add_option("--on-error", o.on_error_text,
                       "Bad records: fail (exit 65), skip (count and report), dead-letter (keep them)")
            ->group("Bad records")
            ->check(CLI::IsMember({"fail", "skip", "dead-letter"}))
            ->capture_default_str();
        app.add_option("--dead-letter", o.dead_letter,
                       "Where --on-error dead-letter sends bad records: FILE or kafka:TOPIC (JSON envelope)")
            ->group("Bad records");
    }
    if (groups & opts_report) {
        app.add_flag("-v,--verbose", o.verbose, "More messages on stderr (repeat for debug)")->group("Reporting");
        app.add_flag("-q,--quiet", o.quiet, "Only errors on stderr")->group("Reporting");
        app.add_flag("--stats", o.stats, "Print a JSON summary to stderr at exit")->group("Reporting");
    }
}

void check_common_options(common_options& o) {
    if (o.brokers.empty()) {
        const char* env = std::getenv("KAFKA_BROKERS");
        o.brokers = (env && *env) ? env : "localhost:9092";
    }
    if (o.from_text == "earliest") o.from = start_from::earliest;
    else if (o.from_text == "latest") o.from = start_from::latest;
    else o.from = start_from::committed;

    if (o.on_error_text == "skip") o.on_error = on_error_mode::skip;
    else if (o.on_error_text == "dead-letter") o.on_error = on_error_mode::dead_letter;
    else o.on_error = on_error_mode::fail;
    if (o.on_error == on_error_mode::dead_letter && o.dead_letter.empty())
        throw usage_error("--on-error dead-letter needs --dead-letter FILE|kafka:TOPIC");
    if (o.on_error != on_error_mode::dead_letter && !o.dead_letter.empty())
        throw usage_error("--dead-letter is only used with --on-error dead-letter");
    if (o.quiet && o.verbose > 0) throw usage_error("-q and -v exclude each other");

    if (o.quiet) log::set_level(log::level::error);
    else if (o.verbose >= 2) log::set_level(log::level::debug);
    else if (o.verbose == 1) log::set_level(log::level::info);
    else log::set_level(log::level::warn);
}

void parse_args(CLI::App& app, std::vector<std::string> args, common_options& options) {
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    app.parse(args);
    check_common_options(options);
}

namespace {

// A full disk or a closed pipe shows up when stdout is finally flushed.
int close_stdout(int code) {
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        if (errno == EPIPE) return code;
        log::error("writing standard output: {}", errno_text(errno));
        return code == exit_ok ? exit_runtime : code;
    }
    return code;
}

}  // namespace

int run_tool(CLI::App& app, int argc, char** argv, common_options& options, const std::function<int()>& run) {
    log::set_tool(app.get_name());
    signals::install();  // before anything is printed: a closed pipe must be EPIPE, not SIGPIPE
    const std::string tool_footer = app.get_footer();
    const std::string codes = exit_codes_help(app);
    app.footer(tool_footer.empty() ? codes : tool_footer + "\n\n" + codes);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return close_stdout(exit_ok);
    } catch (const CLI::CallForAllHelp&) {
        std::cout << app.help("", CLI::AppFormatMode::All);
        return close_stdout(exit_ok);
    } catch (const CLI::CallForVersion&) {
        std::cout << app.version() << '\n';
        return close_stdout(exit_ok);
    } catch (const CLI::ParseError& e) {
        log::error("{}", e.what());
        log::error("run '{} --help' for the options", app.get_name());
        return exit_usage;
    }
    try {
        check_common_options(options);
        signals::stop_after(options.duration_s);  // also ends a read that waits on a quiet pipe
        return close_stdout(run());
    } catch (const closed_pipe&) {  // the reader downstream has gone: a clean stop
        log::debug("output closed downstream");
        return exit_ok;
    } catch (const error& e) {
        log::error("{}", e.what());
        return close_stdout(e.code());
    } catch (const CLI::Error& e) {  // validation done after parse, e.g. in a tool's setup
        log::error("{}", e.what());
        return exit_usage;
    } catch (const std::exception& e) {
        log::error("{}", e.what());
        return close_stdout(exit_runtime);
    }
}

std::int64_t parse_duration_ms(std::string_view text, std::string_view option, bool allow_zero) {
    std::string t(text);
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    const std::string_view unit(end);
    double scale = 0;
    if (unit.empty() || unit == "s") scale = 1000;
    else if (unit == "ms") scale = 1;
    else if (unit == "m" || unit == "min") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    const double ms = v * scale;
    if (allow_zero && end != t.c_str() && scale != 0 && v == 0) return 0;
    if (end == t.c_str() || scale == 0 || !std::isfinite(ms) || ms < 1 || ms > 1e15)
        throw usage_error(fmt::format("{}: '{}' is not a duration (examples: 500ms, 30s, 5m, 2h, 1d)", option, text));
    return static_cast<std::int64_t>(std::llround(ms));
}

std::chrono::steady_clock::duration seconds_span(double seconds) {
    constexpr double longest = 1e9;  // 31 years: "no limit", and far from the clock's overflow
    const double s = std::isfinite(seconds) ? std::clamp(seconds, 0.0, longest) : longest;
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace ks
