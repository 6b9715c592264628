#pragma once

#include "ks/options.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ks::csv2kafka {

struct options {
    common_options common;
    std::vector<std::string> inputs;  // files, "-" = stdin: the positional shorthand of -i
    std::vector<std::string> input_specs;  // -i
    std::string output = "-";
    std::string format = "csv";
    std::string columns;  // names when there is no header row
    std::string delimiter = ",";
    std::string schema;
    std::string key;
    bool loop = false;
    std::string replay_time;
    double speed = 1;
    std::uint64_t infer_rows = 10000;
};

void declare(CLI::App& app, options& o);
// Checks the options and opens nothing (usage_error); merges -i into `inputs`.
void setup(options& o);
int run(options& o);

}  // namespace ks::csv2kafka
