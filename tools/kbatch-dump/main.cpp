#include "kbatch_dump.hpp"

#include "ks/cli.hpp"

int main(int argc, char** argv) {
    ks::kbatch_dump::options o;
    CLI::App app{"Consume a Kafka topic into rotated batch files (JSON lines or CSV), exactly once.", "kbatch-dump"};
    ks::kbatch_dump::declare(app, o);
    return ks::run_tool(app, argc, argv, o.common, [&] {
        ks::kbatch_dump::setup(o);
        return ks::kbatch_dump::run(o);
    });
}
