#include "api2kafka.hpp"

int main(int argc, char** argv) {
    ks::api2kafka::options o;
    CLI::App app{"Poll HTTP JSON APIs on an interval and publish their records to a Kafka topic or stdout.", "api2kafka"};
    ks::api2kafka::declare(app, o);
    return ks::run_tool(app, argc, argv, o.common, [&] {
        auto p = ks::api2kafka::setup(o);
        return ks::api2kafka::run(o, p);
    });
}
