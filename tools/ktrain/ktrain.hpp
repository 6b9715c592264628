#pragma once

#include "ks/options.hpp"
#include "ks/model.hpp"
#include "ks/spec.hpp"

#include <string>
#include <vector>

namespace ks::ktrain {

struct options {
    common_options common;
    std::vector<std::string> inputs;  // -i
    std::string output;               // -o MODEL
    std::string label;
    std::vector<std::string> features, exclude, derive;
    std::string model = "logistic";
    ml::hyperparameters h;
    std::string metrics_json, report;
    std::string input_format = "auto";
    std::string delimiter = ",";
    std::string describe;  // --describe MODEL
    bool json = false;     // --describe --json
};

struct plan {
    std::vector<io_spec> files, topics;  // read in this order: files (CSV or JSON lines), then topics
    ml::algorithm algorithm = ml::algorithm::logistic;
    std::vector<ml::derived_feature> derived;
    char delimiter = ',';
};

void declare(CLI::App& app, options& o);
plan setup(options& o);
int run(options& o, plan& p);

}  // namespace ks::ktrain
