// One record on its way out: a key (nullopt = null key) and a value, both borrowed.
#pragma once

#include <optional>
#include <string_view>

namespace ks {

struct outgoing {
    std::optional<std::string_view> key;
    std::string_view value;
};

}  // namespace ks
