// A helper shared by the unit tests that subscribe real ks::consumer objects (to a broker or to
// librdkafka's mock cluster).
#pragma once

#include "ks/kafka.hpp"

namespace ks_test {

// librdkafka 2.0.2 asserts, or hangs, when a consumer that subscribed is destroyed before its
// first assignment: poll until it has one (at most 10 s), then leave the group.
inline void close_after_assignment(ks::consumer& c) {
    for (int i = 0; i < 100 && c.assignment().empty(); ++i) c.poll(100);
    c.close();
}

}  // namespace ks_test
