#include "kstream_filter.hpp"

#include "ks/cli.hpp"

int main(int argc, char** argv) {
    ks::kstream_filter::options o;
    CLI::App app{"Filter, reshape and enrich a stream of JSON records, from a topic or stdin to a topic or stdout.",
                 "kstream-filter"};
    ks::kstream_filter::declare(app, o);
    return ks::run_tool(app, argc, argv, o.common, [&] {
        auto p = ks::kstream_filter::setup(o);
        return ks::kstream_filter::run(o, p);
    });
}
