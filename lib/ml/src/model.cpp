// A model's feature preparation, training, metadata and file (docs/models.md has the format).
#include "learner.hpp"

#include "ks/error.hpp"
#include "ks/json.hpp"
#include "ks/metrics.hpp"
#include "ks/model.hpp"

#include <dlib/serialize.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

namespace ks::ml {

std::string_view algorithm_name(algorithm a) {
    switch (a) {
        case algorithm::logistic: return "logistic";
        case algorithm::linear: return "linear";
        case algorithm::rf_classifier: return "rf-classifier";
        case algorithm::rf_regressor: return "rf-regressor";
    }
    return "?";
}

std::optional<algorithm> parse_algorithm(std::string_view name) {
    for (auto a : {algorithm::logistic, algorithm::linear, algorithm::rf_classifier, algorithm::rf_regressor})
        if (algorithm_name(a) == name) return a;
    return std::nullopt;
}

bool classifies(algorithm a) { return a == algorithm::logistic || a == algorithm::rf_classifier; }

namespace {

constexpr std::string_view magic = "kstream-model";
constexpr int format_version = 1;

// A number as JSON: shortest exact form, non-finite as null.
void append_number(std::string& out, double v) {
    if (std::isfinite(v)) fmt::format_to(std::back_inserter(out), "{}", v);
    else out += "null";
}

std::string number_text(double v) { return fmt::format("{}", v); }

std::uint64_t fnv1a(std::string_view bytes) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

// One value read for a feature.
struct item {
    cell::kind what = cell::kind::missing;
    double number = 0;
    std::string_view text;
    bool absent = false;  // the record has no such field (not even null)
};

item number_item(double v) {
    item it;
    it.what = cell::kind::number;
    it.number = v;
    return it;
}

item text_item(std::string_view v) {
    item it;
    it.what = cell::kind::text;
    it.text = v;
    return it;
}

bool from_element(simdjson::dom::element e, item& out) {
    switch (e.type()) {
        case simdjson::dom::element_type::INT64: out = number_item(static_cast<double>(e.get_int64().value_unsafe())); return true;
        case simdjson::dom::element_type::UINT64: out = number_item(static_cast<double>(e.get_uint64().value_unsafe())); return true;
        case simdjson::dom::element_type::DOUBLE: out = number_item(e.get_double().value_unsafe()); return true;
        case simdjson::dom::element_type::BOOL: out = number_item(e.get_bool().value_unsafe() ? 1.0 : 0.0); return true;
        case simdjson::dom::element_type::STRING: out = text_item(e.get_string().value_unsafe()); return true;
        case simdjson::dom::element_type::NULL_VALUE: out = {}; return true;
        default: return false;
    }
}

bool from_value(const expr::value& v, item& out) {
    switch (v.type) {
        case expr::kind::null: out = {}; return true;
        case expr::kind::boolean: out = number_item(v.boolean ? 1.0 : 0.0); return true;
        case expr::kind::integer: out = number_item(static_cast<double>(v.integer)); return true;
        case expr::kind::number: out = number_item(v.number); return true;
        case expr::kind::time: out = number_item(static_cast<double>(v.integer) / 1e6); return true;
        case expr::kind::string: out = text_item(v.string); return true;
        case expr::kind::json: return from_element(v.json, out);
        case expr::kind::list: return false;
    }
    return false;
}

}  // namespace

// Reads named values of a record: derived fields (expressions, each seeing the ones before it)
// and the record's own top-level fields.
struct field_reader_impl {
    field_reader_impl(const std::vector<std::string>& names, const std::vector<derived_feature>& derived) {
        std::vector<std::string> bound;
        for (const auto& d : derived) {
            programs.push_back(expr::program::compile(d.expression));
            programs.back().bind(bound);
            bound.push_back(d.name);
        }
        locals.resize(bound.size());
        for (const auto& n : names) {
            auto it = std::find(bound.begin(), bound.end(), n);
            slots.push_back({n, it == bound.end() ? -1 : static_cast<int>(it - bound.begin())});
        }
        items.resize(names.size());
        elements.resize(names.size());
    }

    bool read(simdjson::dom::object object, const record* meta, std::string& why) {
        ev.reset();
        expr::context ctx{object, meta, locals};
        for (std::size_t i = 0; i < programs.size(); ++i) {
            if (!ev.evaluate(programs[i], ctx, locals[i], why)) return false;
            ctx.locals = locals;
        }
        find_fields(object);
        for (std::size_t i = 0; i < slots.size(); ++i) {
            const auto& [name, local] = slots[i];
            item& it = items[i];
            bool ok;
            if (local >= 0) {
                ok = from_value(locals[static_cast<std::size_t>(local)], it);
            } else {
                if (!found[i]) {
                    it = {};
                    it.absent = true;
                    continue;
                }
                ok = from_element(elements[i], it);
            }
            if (!ok) {
                why = fmt::format("'{}' is an object or a list, not a feature value", name);
                return false;
            }
        }
        return true;
    }

    // The record's fields of the slots, in one pass over the object (the first of repeated keys).
    // A stream's records have their fields in one order, so the field at each position is first
    // compared with the key seen there in the previous record: one comparison per field instead of
    // a search per slot (a quarter of kpredict's time went to searching).
    void find_fields(simdjson::dom::object object) {
        found.assign(slots.size(), false);
        std::size_t pos = 0;
        for (auto field : object) {
            if (pos == seen.size()) seen.emplace_back(std::string(1, '\0'), -1);
            auto& [key, slot] = seen[pos++];
            if (field.key != key) {
                key = std::string(field.key);
                slot = -1;
                for (std::size_t i = 0; i < slots.size(); ++i)
                    if (slots[i].second < 0 && slots[i].first == key) {
                        slot = static_cast<int>(i);
                        break;
                    }
            }
            if (slot >= 0 && !found[static_cast<std::size_t>(slot)]) {
                found[static_cast<std::size_t>(slot)] = true;
                elements[static_cast<std::size_t>(slot)] = field.value;
            }
        }
    }

    std::vector<expr::program> programs;
    std::vector<expr::value> locals;
    std::vector<std::pair<std::string, int>> slots;  // name, derived index or -1
    std::vector<item> items;
    std::vector<simdjson::dom::element> elements;  // per slot: the record's field
    std::vector<bool> found;
    std::vector<std::pair<std::string, int>> seen;  // per position in the last record: key, slot
    expr::evaluator ev;
};

// ---- training ---------------------------------------------------------------------------------

namespace {

// The fields a prediction needs from a record: the features that are not derived, then what the
// derived expressions read (in order of first appearance).
std::vector<std::string> input_names(const std::vector<std::string>& features,
                                     const std::vector<derived_feature>& derived) {
    std::vector<std::string> names, derived_names;
    for (const auto& d : derived) derived_names.push_back(d.name);
    const auto add = [&](const std::string& n) {
        if (std::find(derived_names.begin(), derived_names.end(), n) == derived_names.end() &&
            std::find(names.begin(), names.end(), n) == names.end())
            names.push_back(n);
    };
    for (const auto& f : features) add(f);
    std::vector<std::string> bound;
    for (const auto& d : derived) {
        auto p = expr::program::compile(d.expression);
        p.bind(bound);
        for (const auto& f : p.fields()) add(f);
        bound.push_back(d.name);
    }
    return names;
}

}  // namespace

row_reader::row_reader(dataset& data, const std::vector<derived_feature>& derived, const std::string& label)
    : data_(data) {
    auto names = data.feature_names;
    names.push_back(label);
    impl_ = std::make_unique<field_reader_impl>(names, derived);
    for (const auto& n : input_names(data.feature_names, derived)) data_.inputs.emplace_back(n, "");
    seen_input_.assign(data_.inputs.size(), false);
}

row_reader::~row_reader() = default;

bool row_reader::read(simdjson::dom::object object, const record* meta, std::string& why) {
    ++data_.rows_read;
    if (!impl_->read(object, meta, why)) return false;
    const auto to_cell = [](const item& it) {
        cell c;
        c.what = it.what;
        c.number = it.number;
        if (it.what == cell::kind::text) c.text = std::string(it.text);
        return c;
    };
    const std::size_t features = data_.feature_names.size();
    const item& label = impl_->items[features];
    if (label.what == cell::kind::missing) {
        ++data_.skipped;
        return true;
    }
    std::vector<cell> row;
    row.reserve(features);
    for (std::size_t j = 0; j < features; ++j) row.push_back(to_cell(impl_->items[j]));
    data_.rows.push_back(std::move(row));
    data_.labels.push_back(to_cell(label));
    // One example per input for kpredict serve's form: the first non-null value seen.
    for (std::size_t i = 0; i < data_.inputs.size(); ++i) {
        if (seen_input_[i]) continue;
        simdjson::dom::element e;
        if (object.at_key(data_.inputs[i].first).get(e) != simdjson::SUCCESS || e.is_null()) continue;
        data_.inputs[i].second.clear();
        json::append_element(data_.inputs[i].second, e);
        seen_input_[i] = true;
    }
    return true;
}

namespace {

std::string cell_text(const cell& c) { return c.what == cell::kind::text ? c.text : number_text(c.number); }

// Writes feature f's columns for value v into x. false: a text the feature cannot take.
bool encode(const feature& f, const item& v, double* x, std::string& why) {
    if (!f.categorical) {
        double number = f.mean;
        if (v.what == cell::kind::number) {
            number = v.number;
        } else if (v.what == cell::kind::text) {
            const auto* end = v.text.data() + v.text.size();
            const auto [ptr, ec] = std::from_chars(v.text.data(), end, number);
            if (v.text.empty() || ec != std::errc{} || ptr != end || !std::isfinite(number)) {
                why = fmt::format("'{}' is \"{}\", where the model learnt numbers", f.name, v.text);
                return false;
            }
        }
        *x = (number - f.mean) / f.scale;
        return true;
    }
    std::fill(x, x + f.width(), 0.0);
    std::size_t column = f.categories.size();  // unknown (and missing)
    if (v.what != cell::kind::missing) {
        thread_local std::string text;
        std::string_view key = v.text;
        if (v.what == cell::kind::number) key = text = number_text(v.number);
        auto it = std::lower_bound(f.categories.begin(), f.categories.end(), key);
        if (it != f.categories.end() && *it == key) column = static_cast<std::size_t>(it - f.categories.begin());
    }
    x[column] = 1;
    return true;
}

item as_item(const cell& c) {
    item it;
    it.what = c.what;
    it.number = c.number;
    it.text = c.text;
    return it;
}

// The encoders, fitted on the training rows.
std::vector<feature> fit_features(const dataset& data, const std::vector<std::size_t>& train) {
    std::vector<feature> out;
    for (std::size_t j = 0; j < data.feature_names.size(); ++j) {
        feature f;
        f.name = data.feature_names[j];
        f.categorical = std::any_of(data.rows.begin(), data.rows.end(),
                                    [&](const auto& row) { return row[j].what == cell::kind::text; });
        if (f.categorical) {
            std::vector<std::string> seen;
            for (std::size_t i : train)
                if (data.rows[i][j].what != cell::kind::missing) seen.push_back(cell_text(data.rows[i][j]));
            std::sort(seen.begin(), seen.end());
            seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
            f.categories = std::move(seen);
        } else {
            double sum = 0, sq = 0, n = 0;
            for (std::size_t i : train)
                if (data.rows[i][j].what == cell::kind::number) {
                    sum += data.rows[i][j].number;
                    ++n;
                }
            f.mean = n > 0 ? sum / n : 0;
            for (std::size_t i : train)
                if (data.rows[i][j].what == cell::kind::number) sq += std::pow(data.rows[i][j].number - f.mean, 2);
            const double sd = n > 0 ? std::sqrt(sq / n) : 0;
            f.scale = sd > 0 ? sd : 1;
        }
        out.push_back(std::move(f));
    }
    return out;
}

void append_strings(std::string& out, const std::vector<std::string>& list) {
    out += '[';
    for (std::size_t i = 0; i < list.size(); ++i) {
        if (i) out += ',';
        json::append_string(out, list[i]);
    }
    out += ']';
}

template <typename T>
void append_numbers(std::string& out, const std::vector<T>& list) {
    out += '[';
    for (std::size_t i = 0; i < list.size(); ++i) {
        if (i) out += ',';
        append_number(out, static_cast<double>(list[i]));
    }
    out += ']';
}

std::string utc_now() {
    const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec);
}

}  // namespace

model::model() = default;
model::model(model&&) noexcept = default;
model& model::operator=(model&&) noexcept = default;
model::~model() = default;

model model::train(const dataset& data, algorithm a, const hyperparameters& h, std::vector<derived_feature> derived,
                   const std::string& label) {
    model m;
    m.algorithm_ = a;
    m.label_ = label;
    m.derived_ = std::move(derived);
    const std::size_t n = data.rows.size();
    if (n < 2) throw data_error(fmt::format("{} rows with a '{}' to learn from; at least 2 are needed", n, label));
    const bool classifier = classifies(a);

    // Labels: class indices, or numbers.
    std::vector<int> klass(n, 0);
    std::vector<double> target(n, 0);
    if (classifier) {
        m.numeric_classes_ = std::all_of(data.labels.begin(), data.labels.end(),
                                         [](const cell& c) { return c.what == cell::kind::number; });
        std::vector<std::pair<double, std::string>> seen;
        for (const auto& c : data.labels) seen.emplace_back(m.numeric_classes_ ? c.number : 0, cell_text(c));
        std::sort(seen.begin(), seen.end());
        seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
        for (auto& s : seen) m.classes_.push_back(std::move(s.second));
        if (m.classes_.size() < 2)
            throw data_error(fmt::format("'{}' has one class only ({}): nothing to learn", label, m.classes_.front()));
        if (m.classes_.size() > 1000) throw data_error(fmt::format("'{}' has {} classes (at most 1000)", label, m.classes_.size()));
        std::map<std::string, int, std::less<>> index;
        for (std::size_t c = 0; c < m.classes_.size(); ++c) index[m.classes_[c]] = static_cast<int>(c);
        for (std::size_t i = 0; i < n; ++i) klass[i] = index.at(cell_text(data.labels[i]));
    } else {
        std::size_t not_numbers = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (data.labels[i].what == cell::kind::number) target[i] = data.labels[i].number;
            else ++not_numbers;
        }
        if (not_numbers)
            throw data_error(fmt::format("'{}' is not a number in {} of {} rows ({} learns numbers; \"{}\" for example)",
                                         label, not_numbers, n, algorithm_name(a),
                                         std::find_if(data.labels.begin(), data.labels.end(), [](const cell& c) {
                                             return c.what != cell::kind::number;
                                         })->text));
    }

    // The split: a seeded shuffle, the first part trains.
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::mt19937_64 rng(h.seed);
    for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[std::uniform_int_distribution<std::size_t>(0, i)(rng)]);
    const auto train_rows = std::clamp<std::size_t>(static_cast<std::size_t>(std::llround(h.split * static_cast<double>(n))), 1, n);
    const std::vector<std::size_t> train(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(train_rows));
    const std::vector<std::size_t> test(order.begin() + static_cast<std::ptrdiff_t>(train_rows), order.end());

    m.features_ = fit_features(data, train);
    m.width_ = 0;
    for (const auto& f : m.features_) m.width_ += f.width();
    if (m.width_ == 0) throw usage_error("no features: name them with --features");
    const auto encode_rows = [&](const std::vector<std::size_t>& rows, std::vector<double>& x) {
        x.assign(rows.size() * m.width_, 0.0);
        std::string why;
        for (std::size_t r = 0; r < rows.size(); ++r) {
            double* out = &x[r * m.width_];
            for (std::size_t j = 0; j < m.features_.size(); ++j) {
                (void)encode(m.features_[j], as_item(data.rows[rows[r]][j]), out, why);  // fitted on these values
                out += m.features_[j].width();
            }
        }
    };
    std::vector<double> xtrain, xtest;
    encode_rows(train, xtrain);
    encode_rows(test, xtest);
    const rows_view tv{xtrain.data(), train.size(), m.width_};

    if (classifier && train.size() > 0) {
        std::vector<bool> present(m.classes_.size(), false);
        for (std::size_t i : train) present[static_cast<std::size_t>(klass[i])] = true;
        if (std::count(present.begin(), present.end(), true) < 2)
            throw data_error(fmt::format("the training rows hold one class of '{}' only: use more rows or another --split", label));
    }
    double l2 = h.l2;
    if (l2 < 0) l2 = a == algorithm::logistic ? 1.0 / static_cast<double>(train.size()) : 0;
    const auto started = std::chrono::steady_clock::now();
    std::vector<int> ytrain_class;
    std::vector<double> ytrain;
    for (std::size_t i : train) {
        ytrain_class.push_back(klass[i]);
        ytrain.push_back(classifier ? klass[i] : target[i]);
    }
    const int k = static_cast<int>(m.classes_.size());
    switch (a) {
        case algorithm::logistic: m.learner_ = train_logistic(tv, ytrain_class, k, l2, h.max_iter); break;
        case algorithm::linear: m.learner_ = train_linear(tv, ytrain, l2); break;
        case algorithm::rf_classifier: m.learner_ = train_forest(tv, ytrain, k, h); break;
        case algorithm::rf_regressor: m.learner_ = train_forest(tv, ytrain, 0, h); break;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    // Held-out metrics.
    std::string metrics = "{";
    const std::size_t outputs = m.learner_->outputs();
    std::vector<double> out(outputs);
    if (!test.empty()) {
        if (classifier) {
            std::vector<double> proba;
            std::vector<int> truth;
            for (std::size_t r = 0; r < test.size(); ++r) {
                m.learner_->predict(&xtest[r * m.width_], out.data());
                proba.insert(proba.end(), out.begin(), out.end());
                truth.push_back(klass[test[r]]);
            }
            const auto cm = classify_metrics(truth, proba, k);
            metrics += "\"accuracy\":";
            append_number(metrics, cm.accuracy);
            metrics += ",\"log_loss\":";
            append_number(metrics, cm.log_loss);
            if (cm.roc_auc >= 0) {
                metrics += ",\"roc_auc\":";
                append_number(metrics, cm.roc_auc);
            }
            metrics += ",\"per_class\":[";
            for (std::size_t c = 0; c < m.classes_.size(); ++c) {
                if (c) metrics += ',';
                metrics += "{\"class\":";
                json::append_string(metrics, m.classes_[c]);
                fmt::format_to(std::back_inserter(metrics), ",\"precision\":{},\"recall\":{},\"f1\":{},\"support\":{}}}",
                               cm.precision[c], cm.recall[c], cm.f1[c], cm.support[c]);
            }
            metrics += "],\"confusion\":[";
            for (std::size_t c = 0; c < cm.confusion.size(); ++c) {
                if (c) metrics += ',';
                append_numbers(metrics, cm.confusion[c]);
            }
            metrics += ']';
            if (!cm.roc.empty()) {
                metrics += ",\"roc\":[";
                for (std::size_t i = 0; i < cm.roc.size(); ++i)
                    fmt::format_to(std::back_inserter(metrics), "{}[{},{}]", i ? "," : "", cm.roc[i].first, cm.roc[i].second);
                metrics += ']';
            }
        } else {
            std::vector<double> truth, predicted;
            for (std::size_t r = 0; r < test.size(); ++r) {
                m.learner_->predict(&xtest[r * m.width_], out.data());
                predicted.push_back(out[0]);
                truth.push_back(target[test[r]]);
            }
            const auto rm = regress_metrics(truth, predicted);
            metrics += "\"rmse\":";
            append_number(metrics, rm.rmse);
            metrics += ",\"mae\":";
            append_number(metrics, rm.mae);
            metrics += ",\"r2\":";
            append_number(metrics, rm.r2);
            metrics += ",\"predictions\":[";
            for (std::size_t i = 0; i < std::min<std::size_t>(truth.size(), 1000); ++i) {
                if (i) metrics += ',';
                metrics += '[';
                append_number(metrics, truth[i]);
                metrics += ',';
                append_number(metrics, predicted[i]);
                metrics += ']';
            }
            metrics += ']';
        }
    }
    if (const auto imp = m.learner_->importances(); !imp.empty()) {
        // Per feature: the sum over its columns (a category's one-hot columns together).
        std::vector<std::pair<double, std::string>> per_feature;
        std::size_t at = 0;
        for (const auto& f : m.features_) {
            double sum = 0;
            for (std::size_t c = 0; c < f.width(); ++c) sum += imp[at + c];
            at += f.width();
            per_feature.emplace_back(sum, f.name);
        }
        std::stable_sort(per_feature.begin(), per_feature.end(), [](const auto& l, const auto& r) { return l.first > r.first; });
        metrics += metrics.size() > 1 ? "," : "";
        metrics += "\"importances\":[";
        for (std::size_t i = 0; i < per_feature.size(); ++i) {
            metrics += i ? ",{\"feature\":" : "{\"feature\":";
            json::append_string(metrics, per_feature[i].second);
            metrics += ",\"importance\":";
            append_number(metrics, per_feature[i].first);
            metrics += '}';
        }
        metrics += ']';
    }
    metrics += '}';

    // The metadata (save() adds the payload's size and hash).
    std::string& md = m.metadata_;
    md = fmt::format("{{\"format\":\"{}\",\"version\":{},\"algorithm\":\"{}\",\"task\":\"{}\",\"label\":", magic,
                     format_version, algorithm_name(a), classifier ? "classification" : "regression");
    json::append_string(md, label);
    if (classifier) {
        md += ",\"classes\":";
        append_strings(md, m.classes_);
        md += m.numeric_classes_ ? ",\"numeric_classes\":true" : ",\"numeric_classes\":false";
    }
    md += ",\"width\":" + std::to_string(m.width_) + ",\"features\":[";
    for (std::size_t j = 0; j < m.features_.size(); ++j) {
        const auto& f = m.features_[j];
        md += j ? ",{\"name\":" : "{\"name\":";
        json::append_string(md, f.name);
        if (f.categorical) {
            md += ",\"type\":\"category\",\"categories\":";
            append_strings(md, f.categories);
        } else {
            md += ",\"type\":\"number\",\"mean\":";
            append_number(md, f.mean);
            md += ",\"scale\":";
            append_number(md, f.scale);
        }
        md += '}';
    }
    md += "],\"derived\":[";
    for (std::size_t i = 0; i < m.derived_.size(); ++i) {
        md += i ? ",{\"name\":" : "{\"name\":";
        json::append_string(md, m.derived_[i].name);
        md += ",\"expression\":";
        json::append_string(md, m.derived_[i].expression);
        md += '}';
    }
    md += "],\"inputs\":[";
    for (std::size_t i = 0; i < data.inputs.size(); ++i) {
        const auto& [name, example] = data.inputs[i];
        m.input_names_.push_back(name);
        md += i ? ",{\"name\":" : "{\"name\":";
        json::append_string(md, name);
        auto f = std::find_if(m.features_.begin(), m.features_.end(), [&](const feature& x) { return x.name == name; });
        if (f != m.features_.end() && f->categorical) {
            md += ",\"type\":\"category\",\"categories\":";
            append_strings(md, f->categories);
        } else if (f != m.features_.end() || (!example.empty() && example[0] != '"')) {
            md += ",\"type\":\"number\"";
        } else {
            md += ",\"type\":\"text\"";
        }
        if (!example.empty()) md += ",\"example\":" + example;
        md += '}';
    }
    md += "],\"hyperparameters\":{";
    if (a == algorithm::rf_classifier || a == algorithm::rf_regressor)
        fmt::format_to(std::back_inserter(md), "\"trees\":{},\"max_depth\":{},\"max_bins\":{},", h.trees, h.max_depth, h.max_bins);
    else {
        md += "\"l2\":";
        append_number(md, l2);
        if (a == algorithm::logistic) fmt::format_to(std::back_inserter(md), ",\"max_iter\":{}", h.max_iter);
        md += ',';
    }
    fmt::format_to(std::back_inserter(md), "\"seed\":{},\"split\":{}}}", h.seed, h.split);
    fmt::format_to(std::back_inserter(md),
                   ",\"training\":{{\"rows_read\":{},\"rows_train\":{},\"rows_test\":{},\"skipped\":{},\"seconds\":{:.6f},"
                   "\"sources\":",
                   data.rows_read, train.size(), test.size(), data.skipped, seconds);
    append_strings(md, data.sources);
    md += ",\"trained_at\":\"" + utc_now() + "\"},\"metrics\":" + metrics + "}";
    return m;
}

// ---- the file ---------------------------------------------------------------------------------

void model::save(const std::string& path) const {
    std::ostringstream payload;
    learner_->save(payload);
    const std::string bytes = payload.str();
    // The payload's size and hash, last in the metadata (a loaded model has them already).
    std::string md = metadata_;
    const auto at = md.find(",\"payload\":");
    md.resize(at == std::string::npos ? md.size() - 1 : at);
    md += fmt::format(",\"payload\":{{\"bytes\":{},\"fnv1a64\":\"{:016x}\"}}}}", bytes.size(), fnv1a(bytes));
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << magic << ' ' << format_version << '\n' << md << '\n' << bytes;
        out.flush();
        if (!out) throw runtime_failure(fmt::format("{}: cannot write the model: {}", path, errno_text(errno)));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        throw runtime_failure(fmt::format("{}: cannot write the model: {}", path, errno_text(errno)));
}

namespace {

std::string get_string(simdjson::dom::object o, std::string_view key, const std::string& path) {
    std::string_view s;
    if (o[key].get(s) != simdjson::SUCCESS) throw data_error(fmt::format("{}: corrupt model: no \"{}\"", path, key));
    return std::string(s);
}

std::vector<std::string> get_strings(simdjson::simdjson_result<simdjson::dom::element> e) {
    std::vector<std::string> out;
    simdjson::dom::array a;
    if (e.get(a) != simdjson::SUCCESS) return out;
    for (auto v : a) {
        std::string_view s;
        if (v.get(s) == simdjson::SUCCESS) out.emplace_back(s);
    }
    return out;
}

}  // namespace

model model::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw runtime_failure(fmt::format("{}: cannot open the model: {}", path, errno_text(errno)));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto first = text.find('\n');
    const std::string_view header = std::string_view(text).substr(0, first == std::string::npos ? 0 : first);
    if (!header.starts_with(std::string(magic) + " "))
        throw data_error(fmt::format("{}: not a kstream model file (made by ktrain -o)", path));
    int version = 0;
    const auto vtext = header.substr(magic.size() + 1);
    const auto [vend, vec] = std::from_chars(vtext.data(), vtext.data() + vtext.size(), version);
    if (vec != std::errc{} || vend != vtext.data() + vtext.size())
        throw data_error(fmt::format("{}: not a kstream model file (made by ktrain -o)", path));
    if (version != format_version)
        throw data_error(fmt::format("{}: model file version {}; this build reads version {} (train it again with this ktrain)",
                                     path, version, format_version));
    const auto second = text.find('\n', first + 1);
    if (second == std::string::npos) throw data_error(fmt::format("{}: corrupt model: truncated", path));
    model m;
    m.metadata_ = text.substr(first + 1, second - first - 1);
    const std::string_view payload = std::string_view(text).substr(second + 1);
    simdjson::dom::parser parser;
    simdjson::dom::object md;
    if (parser.parse(m.metadata_).get(md) != simdjson::SUCCESS)
        throw data_error(fmt::format("{}: corrupt model: the metadata is not a JSON object", path));
    std::uint64_t bytes = 0;
    std::string_view hash;
    if (md["payload"]["bytes"].get(bytes) != simdjson::SUCCESS || md["payload"]["fnv1a64"].get(hash) != simdjson::SUCCESS)
        throw data_error(fmt::format("{}: corrupt model: no payload size", path));
    if (payload.size() != bytes || fmt::format("{:016x}", fnv1a(payload)) != hash)
        throw data_error(fmt::format("{}: corrupt model: the parameters are damaged or truncated ({} bytes, {} expected)",
                                     path, payload.size(), bytes));
    const auto a = parse_algorithm(get_string(md, "algorithm", path));
    if (!a) throw data_error(fmt::format("{}: corrupt model: unknown algorithm", path));
    m.algorithm_ = *a;
    m.label_ = get_string(md, "label", path);
    m.classes_ = get_strings(md["classes"]);
    bool numeric = false;
    if (md["numeric_classes"].get(numeric) == simdjson::SUCCESS) m.numeric_classes_ = numeric;
    simdjson::dom::array list;
    if (md["features"].get(list) != simdjson::SUCCESS) throw data_error(fmt::format("{}: corrupt model: no features", path));
    for (auto e : list) {
        feature f;
        simdjson::dom::object o;
        if (e.get(o) != simdjson::SUCCESS) throw data_error(fmt::format("{}: corrupt model: a feature", path));
        f.name = get_string(o, "name", path);
        f.categorical = get_string(o, "type", path) == "category";
        if (f.categorical) {
            f.categories = get_strings(o["categories"]);
        } else if (o["mean"].get(f.mean) != simdjson::SUCCESS || o["scale"].get(f.scale) != simdjson::SUCCESS || f.scale == 0) {
            throw data_error(fmt::format("{}: corrupt model: feature '{}'", path, f.name));
        }
        m.width_ += f.width();
        m.features_.push_back(std::move(f));
    }
    if (md["derived"].get(list) == simdjson::SUCCESS)
        for (auto e : list) {
            simdjson::dom::object o;
            if (e.get(o) != simdjson::SUCCESS) continue;
            m.derived_.push_back({get_string(o, "name", path), get_string(o, "expression", path)});
        }
    if (md["inputs"].get(list) == simdjson::SUCCESS)
        for (auto e : list) {
            simdjson::dom::object o;
            if (e.get(o) == simdjson::SUCCESS) m.input_names_.push_back(get_string(o, "name", path));
        }
    std::uint64_t width = 0;
    if (md["width"].get(width) != simdjson::SUCCESS || width != m.width_)
        throw data_error(fmt::format("{}: corrupt model: the features do not add up to its width", path));
    const int k = static_cast<int>(m.classes_.size());
    if (classifies(m.algorithm_) && k < 2) throw data_error(fmt::format("{}: corrupt model: no classes", path));
    for (const auto& d : m.derived_) {
        try {
            (void)expr::program::compile(d.expression);
        } catch (const expr::syntax_error& e) {
            throw data_error(fmt::format("{}: derived feature '{}' does not compile here: {}", path, d.name, e.what()));
        }
    }
    try {
        std::istringstream p{std::string(payload)};
        if (m.algorithm_ == algorithm::rf_classifier || m.algorithm_ == algorithm::rf_regressor)
            m.learner_ = load_forest(p, m.width_, classifies(m.algorithm_) ? k : 0);
        else
            m.learner_ = load_linear(p, m.width_, k, m.algorithm_ == algorithm::logistic);
    } catch (const std::exception& e) {
        throw data_error(fmt::format("{}: corrupt model: {}", path, e.what()));
    }
    return m;
}

void model::predict(std::span<const double> x, prediction& out) const {
    const std::size_t outputs = learner_->outputs();
    out.proba.resize(outputs);
    learner_->predict(x.data(), out.proba.data());
    if (classifies(algorithm_)) {
        out.klass = static_cast<int>(std::max_element(out.proba.begin(), out.proba.end()) - out.proba.begin());
    } else {
        out.klass = -1;  // a prediction object may have served a classifier before
        out.value = out.proba[0];
        out.proba.clear();
    }
}

// ---- scoring ----------------------------------------------------------------------------------

scorer::scorer(const model& m) : m_(m), x_(m.width_) {
    std::vector<std::string> names;
    for (const auto& f : m.features_) names.push_back(f.name);
    // The inputs that are not features (what derived expressions read) are only checked for.
    for (const auto& n : m.input_names_)
        if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    impl_ = std::make_unique<field_reader_impl>(names, m.derived_);
}

scorer::~scorer() = default;

bool scorer::score(simdjson::dom::object object, const record* meta, prediction& out, std::string& why) {
    if (!impl_->read(object, meta, why)) return false;
    for (std::size_t i = 0; i < impl_->slots.size(); ++i)
        if (impl_->items[i].absent) {
            why = fmt::format("no field '{}' (the model needs it)", impl_->slots[i].first);
            return false;
        }
    double* x = x_.data();
    for (std::size_t j = 0; j < m_.features_.size(); ++j) {
        if (!encode(m_.features_[j], impl_->items[j], x, why)) return false;
        x += m_.features_[j].width();
    }
    m_.predict(x_, out);
    return true;
}

void scorer::append_prediction(std::string& out, const prediction& p) const {
    if (p.klass < 0) return append_number(out, p.value);
    const auto& c = m_.classes_[static_cast<std::size_t>(p.klass)];
    if (m_.numeric_classes_) out += c;
    else json::append_string(out, c);
}

void scorer::append_probabilities(std::string& out, const prediction& p) const {
    out += '{';
    for (std::size_t c = 0; c < p.proba.size(); ++c) {
        if (c) out += ',';
        json::append_string(out, m_.classes_[c]);
        out += ':';
        append_number(out, p.proba[c]);
    }
    out += '}';
}

}  // namespace ks::ml
