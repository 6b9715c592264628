#include "ktrain.hpp"

#include "ks/cli.hpp"

int main(int argc, char** argv) {
    ks::ktrain::options o;
    CLI::App app{"Train a model (logistic or linear regression, random forests) from CSV or JSON-lines files or topics.",
                 "ktrain"};
    ks::ktrain::declare(app, o);
    return ks::run_tool(app, argc, argv, o.common, [&] {
        auto p = ks::ktrain::setup(o);
        return ks::ktrain::run(o, p);
    });
}
