#pragma once

#include "ks/cli.hpp"

#include <cstdint>
#include <string>

namespace ks::kbatch_dump {

struct options {
    common_options common;
    std::string input;
    std::string dir;
    std::string format = "jsonl";
    std::uint64_t batch_records = 100000;
    double batch_seconds = 0;
    double idle_timeout = 0;
};

void declare(CLI::App& app, options& o);
int run(options& o);

}  // namespace ks::kbatch_dump
