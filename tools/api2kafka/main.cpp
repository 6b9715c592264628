#include "api2kafka.hpp"

#include "ks/cli.hpp"

#include <malloc.h>

int main(int argc, char** argv) {
    // Response bodies are MB-sized and freed after each poll: a fixed mmap threshold gives their
    // memory back at once (glibc's adaptive one keeps ~10 MB of them around: bench/api's RSS).
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    ks::api2kafka::options o;
    CLI::App app{"Poll HTTP JSON APIs on an interval and publish their records to a Kafka topic or stdout.", "api2kafka"};
    ks::api2kafka::declare(app, o);
    return ks::run_tool(app, argc, argv, o.common, [&] {
        auto p = ks::api2kafka::setup(o);
        return ks::api2kafka::run(o, p);
    });
}
