#include "kpredict.hpp"

#include "ks/cli.hpp"

int main(int argc, char** argv) {
    ks::kpredict::options o;
    CLI::App app{"Score a stream of JSON records with a model trained by ktrain, or serve it over HTTP.", "kpredict"};
    ks::kpredict::declare(app, o);
    return ks::run_tool(app, argc, argv, o.common, [&] {
        if (o.serve_command->parsed()) return ks::kpredict::serve(o);
        auto p = ks::kpredict::setup(o);
        return ks::kpredict::run(o, p);
    });
}
