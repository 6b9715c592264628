// --lookup: a static CSV table joined to every record (Spark's stream joined with a static frame).
#pragma once

#include "ks/expr.hpp"

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ks::kstream_filter {

class lookup_table {
public:
    struct row {
        std::vector<expr::value> values;  // one per column(), for expressions
        std::vector<std::string> json;    // the same as JSON text, for output (numbers as written)
    };

    // Reads `path` (CSV with a header row; types inferred over the whole file like csv2kafka's) and
    // indexes it by the text of `join_column`. Throws usage_error for a missing file or column, a
    // bad row, or an empty table; a repeated key keeps its first row (with a warning).
    lookup_table(const std::string& path, const std::string& join_column);
    lookup_table(const lookup_table&) = delete;
    lookup_table& operator=(const lookup_table&) = delete;

    // Every column but the join column, in the file's order.
    [[nodiscard]] const std::vector<std::string>& columns() const { return columns_; }
    // The row whose join column reads `key`, or nullptr.
    [[nodiscard]] const row* find(std::string_view key) const {
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &rows_[it->second];
    }
    [[nodiscard]] size_t size() const { return rows_.size(); }

private:
    struct text_hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::vector<std::string> columns_;
    std::vector<std::vector<std::string>> cells_;  // the file's text, owned: values point into it
    std::vector<row> rows_;
    std::unordered_map<std::string, size_t, text_hash, std::equal_to<>> index_;
};

}  // namespace ks::kstream_filter
