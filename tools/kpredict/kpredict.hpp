#pragma once

#include "ks/options.hpp"
#include "ks/model.hpp"
#include "ks/session.hpp"
#include "ks/spec.hpp"

#include <string>
#include <vector>

namespace ks::kpredict {

struct serve_options {
    std::vector<std::string> models;  // NAME=MODEL or MODEL
    std::string listen = "127.0.0.1:8080";
    std::size_t max_body = 1 << 20;
    double request_timeout_s = 10;
    int threads = 0;  // 0: one per core
};

struct options {
    common_options common;
    std::string model;                // -m
    std::vector<std::string> inputs;  // -i
    std::string output = "-";
    std::string field = "prediction";
    bool proba = false;
    delivery_options delivery;
    serve_options serve;
    CLI::App* serve_command = nullptr;
};

struct plan {
    std::vector<io_spec> inputs;
    io_spec output;
};

void declare(CLI::App& app, options& o);
plan setup(options& o);
int run(options& o, plan& p);

// kpredict serve (serve.cpp).
int serve(options& o);

}  // namespace ks::kpredict
