#include "lookup.hpp"

#include "ks/csv.hpp"
#include "ks/error.hpp"
#include "ks/json.hpp"
#include "ks/log.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace ks::kstream_filter {

namespace {

expr::value typed_value(std::string_view text, csv::column_type type) {
    if (text.empty()) return expr::value::null();
    switch (type) {
        case csv::column_type::integer: {
            std::int64_t i = 0;
            auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
            if (ec == std::errc() && p == text.data() + text.size()) return expr::value::of_int(i);
            break;
        }
        case csv::column_type::number: return expr::value::of_number(std::strtod(std::string(text).c_str(), nullptr));
        case csv::column_type::boolean: return expr::value::of_bool(text[0] == 't' || text[0] == 'T');
        case csv::column_type::string: break;
    }
    return expr::value::of_string(text);
}

std::string json_text(std::string_view text, csv::column_type type) {
    if (text.empty()) return "null";
    switch (type) {
        case csv::column_type::integer:
        case csv::column_type::number: return std::string(text);  // inferred: valid JSON numbers, kept as written
        case csv::column_type::boolean: return text[0] == 't' || text[0] == 'T' ? "true" : "false";
        case csv::column_type::string: break;
    }
    std::string out;
    json::append_string(out, text);
    return out;
}

}  // namespace

lookup_table::lookup_table(const std::string& path, const std::string& join_column) {
    std::unique_ptr<csv::reader> rd;
    try {
        rd = csv::reader::open(path, ',');
    } catch (const error& e) {
        throw usage_error(fmt::format("--lookup {}", e.what()));
    }
    csv::record rec;
    std::string why;
    auto r = rd->next(rec, why);
    if (r != csv::reader::result::record) throw usage_error(fmt::format("--lookup {}: no header row", path));
    std::vector<std::string> notes;
    const auto names = csv::header_names(rec.fields, notes);
    for (const auto& n : notes) log::warn("--lookup {}: {}", path, n);
    const auto join = std::find(names.begin(), names.end(), join_column);
    if (join == names.end())
        throw usage_error(fmt::format("--on: no column '{}' in {} (columns: {})", join_column, path, fmt::join(names, ", ")));
    const size_t join_index = static_cast<size_t>(join - names.begin());

    std::vector<csv::type_tally> tallies(names.size());
    csv::tally_to_end(*rd, tallies, std::vector<bool>(names.size(), false));
    rd->rewind();
    rd->next(rec, why);  // the header again
    std::vector<csv::column_type> types;
    for (const auto& t : tallies) types.push_back(t.result());

    std::vector<std::uint64_t> lines;
    for (r = rd->next(rec, why); r != csv::reader::result::end; r = rd->next(rec, why)) {
        if (r == csv::reader::result::bad) throw usage_error(fmt::format("--lookup {}:{}: {}", path, rec.line, why));
        if (rec.fields.size() != names.size())
            throw usage_error(fmt::format("--lookup {}:{}: expected {} fields, found {}", path, rec.line, names.size(),
                                          rec.fields.size()));
        if (!json::valid_utf8(rec.raw)) throw usage_error(fmt::format("--lookup {}:{}: not valid UTF-8", path, rec.line));
        cells_.emplace_back(rec.fields.begin(), rec.fields.end());
        lines.push_back(rec.line);
    }
    if (cells_.empty()) throw usage_error(fmt::format("--lookup {}: no rows", path));

    for (size_t c = 0; c < names.size(); ++c)
        if (c != join_index) columns_.push_back(names[c]);
    // cells_ is complete: the values may now point into its strings.
    rows_.resize(cells_.size());
    for (size_t i = 0; i < cells_.size(); ++i) {
        const auto& cells = cells_[i];
        for (size_t c = 0; c < names.size(); ++c) {
            if (c == join_index) continue;
            rows_[i].values.push_back(typed_value(cells[c], types[c]));
            rows_[i].json.push_back(json_text(cells[c], types[c]));
        }
        if (!index_.emplace(cells[join_index], i).second)
            log::warn("--lookup {}:{}: '{}' is there already: its first row is used", path, lines[i], cells[join_index]);
    }
    log::info("--lookup {}: {} rows, joined on {}", path, rows_.size(), join_column);
}

}  // namespace ks::kstream_filter
