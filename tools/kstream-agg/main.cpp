#include "kstream_agg.hpp"

#include "ks/cli.hpp"

int main(int argc, char** argv) {
    ks::kstream_agg::options o;
    CLI::App app{"Group a stream of JSON records by keys and event-time windows and aggregate them, from a topic or "
                 "stdin to a topic or stdout, exactly once.",
                 "kstream-agg"};
    ks::kstream_agg::declare(app, o);
    return ks::run_tool(app, argc, argv, o.common, [&] {
        auto p = ks::kstream_agg::setup(o);
        return ks::kstream_agg::run(o, p);
    });
}
