// Command lines (DESIGN.md "Inputs and outputs", "Exit codes"): the common options declared on a
// CLI11 app, the one place where command lines are parsed and exceptions become exit codes.
// CLI11 is header-only and costs seconds per file that includes it: only the files that declare
// or parse options include this header; the rest use ks/options.hpp.
#pragma once

#include "ks/options.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ks {

// Option checks with plain messages ("must be a number >= 0").
extern const CLI::Validator positive;
extern const CLI::Validator non_negative;

void add_common_options(CLI::App& app, common_options& options, unsigned groups);

// Checks the common options and resolves their defaults (brokers, modes, log level). Throws
// usage_error. run_tool calls it after parsing; tests call it through parse_args.
void check_common_options(common_options& options);

// Parses args (without the program name) into the options declared on app and checks the common
// options: what run_tool does before it calls the tool, for tests of a tool's setup in-process.
// Throws CLI::ParseError or usage_error.
void parse_args(CLI::App& app, std::vector<std::string> args, common_options& options);

// Parses argv, sets up logging and signals, validates the common options, arms --duration, then
// calls `run` (which starts with the tool's setup).
// Maps: --help -> 0; parse or usage errors -> 2; ks::error -> its code; anything else -> 1.
// The tool name prefixes every error line.
int run_tool(CLI::App& app, int argc, char** argv, common_options& options,
             const std::function<int()>& run);

// The exit codes, last in every --help: the general rule, worded for the tool's options (-e,
// --duration, --limit, --polls, a stdout/Kafka output, --on-error).
std::string exit_codes_help(const CLI::App& app);

}  // namespace ks
