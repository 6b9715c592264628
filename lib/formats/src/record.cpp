#include "ks/record.hpp"

#include <fmt/core.h>

namespace ks {

std::string record::describe() const {
    if (from_kafka) return fmt::format("{} [{}] at offset {}", source, partition, offset);
    return fmt::format("{}:{}", source, line);
}

std::string json_error_text(json_status status, simdjson::error_code error) {
    switch (status) {
        case json_status::ok: return {};
        case json_status::not_object: return "not a JSON object";
        case json_status::invalid: break;
    }
    return fmt::format("invalid JSON: {}", simdjson::error_message(error));
}

json_status json_parser::parse(std::string_view bytes, bool padded) {
    simdjson::dom::element doc;
    error_ = padded ? parser_.parse(bytes.data(), bytes.size(), false).get(doc)
                    : parser_.parse(copy_.load(bytes)).get(doc);
    if (error_) return status_ = json_status::invalid;
    if (doc.get_object().get(object_) != simdjson::SUCCESS) return status_ = json_status::not_object;
    return status_ = json_status::ok;
}

simdjson::padded_string_view field_reader::load(std::string_view bytes, bool padded) {
    if (padded) return simdjson::padded_string_view(bytes.data(), bytes.size(), bytes.size() + simdjson::SIMDJSON_PADDING);
    return copy_.load(bytes);
}

json_status field_reader::fail(simdjson::error_code e, std::string_view bytes, bool padded) {
    error_ = e;
    status_ = json_status::invalid;
    if (e != simdjson::INCORRECT_TYPE) return status_;
    // Not an object to On-Demand, which reads lazily: whether the text is JSON at all (and another
    // kind of value) is for the DOM parser to say. Only bad records come here.
    simdjson::dom::element doc;
    const auto full = padded ? checker_.parse(bytes.data(), bytes.size(), false).get(doc)
                             : checker_.parse(copy_.load(bytes)).get(doc);
    if (full) error_ = full;
    else if (!doc.is_object()) status_ = json_status::not_object;
    return status_;
}

std::optional<std::string_view> field_reader::find(std::string_view bytes, bool padded, std::span<const path_step> path) {
    namespace od = simdjson::ondemand;
    od::document doc;
    if (parser_.iterate(load(bytes, padded)).get(doc)) return std::nullopt;
    od::value v;
    if (doc.get_value().get(v)) return std::nullopt;
    for (const auto& step : path) {
        od::value next;
        if (step.index >= 0) {
            od::array a;
            if (v.get_array().get(a) || a.at(static_cast<size_t>(step.index)).get(next)) return std::nullopt;
        } else {
            od::object o;
            if (v.get_object().get(o) || o.find_field_unordered(step.name).get(next)) return std::nullopt;
        }
        v = next;
    }
    od::json_type type;
    if (v.type().get(type)) return std::nullopt;
    std::string_view raw;
    if (type == od::json_type::object) {
        od::object o;
        if (v.get_object().get(o) || o.raw_json().get(raw)) return std::nullopt;
    } else if (type == od::json_type::array) {
        od::array a;
        if (v.get_array().get(a) || a.raw_json().get(raw)) return std::nullopt;
    } else {
        raw = trim_token(v.raw_json_token());
    }
    // When the input was copied into the padded buffer, the view points there: valid until the
    // next call, like everything this reader returns.
    return raw;
}

}  // namespace ks
