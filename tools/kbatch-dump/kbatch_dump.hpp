#pragma once

#include "ks/options.hpp"

#include <cstdint>
#include <string>

namespace ks::kbatch_dump {

struct options {
    common_options common;
    std::string input;
    std::string dir;               // -o DIR (--dir DIR, the old spelling)
    std::string format = "jsonl";  // --output-format (--format, the old spelling)
    std::string delimiter = ",";   // -d: the CSV delimiter
    std::uint64_t batch_records = 100000;
    double batch_seconds = 0;
    double idle_timeout = 0;
    std::string instance_id;  // --instance-id: static membership
    char delimiter_char = ',';  // set by setup
};

void declare(CLI::App& app, options& o);
// Checks the options and opens nothing (usage_error).
void setup(options& o);
int run(options& o);

}  // namespace ks::kbatch_dump
