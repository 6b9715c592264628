#include "csv2kafka.hpp"

#include "ks/cli.hpp"

int main(int argc, char** argv) {
    ks::csv2kafka::options o;
    CLI::App app{"Publish CSV (or JSON-lines) rows as JSON messages to a Kafka topic or stdout.", "csv2kafka"};
    ks::csv2kafka::declare(app, o);
    return ks::run_tool(app, argc, argv, o.common, [&] {
        ks::csv2kafka::setup(o);
        return ks::csv2kafka::run(o);
    });
}
