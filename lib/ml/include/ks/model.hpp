// Models (DESIGN.md "Models"; the reference is docs/models.md): what ktrain learns and kpredict
// applies. A model is its feature preparation (derived fields, encoders), the label's classes and
// a learner on the encoded vectors, written to one file: a versioned header line, one line of
// JSON metadata (which also carries the held-out metrics), and the learner's dlib-serialised
// parameters, checked by length and hash when the file is read.
#pragma once

#include "ks/expr.hpp"
#include "ks/record.hpp"

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ks::ml {

enum class algorithm : std::uint8_t { logistic, linear, rf_classifier, rf_regressor };
[[nodiscard]] std::string_view algorithm_name(algorithm a);
[[nodiscard]] std::optional<algorithm> parse_algorithm(std::string_view name);
[[nodiscard]] bool classifies(algorithm a);

struct hyperparameters {
    int trees = 20;         // forests (Spark's numTrees)
    int max_depth = 5;      // forests (Spark's maxDepth)
    int max_bins = 256;     // forests: bins per feature (Spark's maxBins is 32: docs/models.md)
    double l2 = -1;         // logistic and linear: L2 strength; < 0: the default (docs/models.md)
    int max_iter = 100;     // logistic: L-BFGS iterations
    std::uint64_t seed = 42;
    double split = 0.8;     // share of rows trained on; the rest is held out for the metrics
};

// How one feature becomes columns of the vector a learner sees.
struct feature {
    std::string name;
    bool categorical = false;
    double mean = 0, scale = 1;           // numbers: (x - mean) / scale; null -> mean
    std::vector<std::string> categories;  // one column each (sorted), then one for anything else
    [[nodiscard]] std::size_t width() const { return categorical ? categories.size() + 1 : 1; }
};

struct derived_feature {
    std::string name, expression;
};

// One value of one feature in one row while training.
struct cell {
    enum class kind : std::uint8_t { missing, number, text } what = kind::missing;
    double number = 0;
    std::string text;
};

// What ktrain read: per row, the features' cells and the label's.
struct dataset {
    std::vector<std::string> feature_names;
    std::vector<std::vector<cell>> rows;  // rows[i][j]: feature j of row i
    std::vector<cell> labels;
    // The record fields a prediction needs (features read from the record, the fields derived
    // expressions read) with one example value each, as JSON: kpredict serve's forms.
    std::vector<std::pair<std::string, std::string>> inputs;
    std::uint64_t rows_read = 0, skipped = 0;  // skipped: no label
    std::vector<std::string> sources;
};

class learner;
struct field_reader_impl;

// Reads records into a dataset (ktrain): the derived fields, then each feature and the label.
// Absent fields and nulls are missing values.
class row_reader {
public:
    row_reader(dataset& data, const std::vector<derived_feature>& derived, const std::string& label);
    ~row_reader();
    // false with `why` when a derived expression fails or a value is an object or a list.
    bool read(simdjson::dom::object object, const record* meta, std::string& why);

private:
    dataset& data_;
    std::unique_ptr<field_reader_impl> impl_;
    std::vector<bool> seen_input_;
};

// The outcome of one prediction. proba: the classes' probabilities (classifiers), in class order.
struct prediction {
    double value = 0;  // regressors
    int klass = -1;    // classifiers: index into model::classes()
    std::vector<double> proba;
};

class model {
public:
    model();
    model(model&&) noexcept;
    model& operator=(model&&) noexcept;
    ~model();

    // Learns from `data` (rows in input order). Throws data_error for data it cannot learn from
    // (fewer than 2 rows, one class, a non-numeric regression label), usage_error for no features. The held-out metrics are part of
    // the metadata.
    static model train(const dataset& data, algorithm a, const hyperparameters& h,
                       std::vector<derived_feature> derived, const std::string& label);

    // Throws runtime_failure (cannot open or write) or data_error naming the file (not a model,
    // another version, corrupt, truncated).
    static model load(const std::string& path);
    void save(const std::string& path) const;

    [[nodiscard]] algorithm kind() const { return algorithm_; }
    [[nodiscard]] const std::string& label() const { return label_; }
    [[nodiscard]] const std::vector<std::string>& classes() const { return classes_; }
    // Whether every class was a JSON number in the training data (a prediction is then written as
    // a number).
    [[nodiscard]] bool numeric_classes() const { return numeric_classes_; }
    [[nodiscard]] const std::vector<feature>& features() const { return features_; }
    [[nodiscard]] const std::vector<derived_feature>& derived() const { return derived_; }
    [[nodiscard]] const std::vector<std::string>& inputs() const { return input_names_; }
    // The metadata as one JSON object (what the file holds and --describe prints).
    [[nodiscard]] const std::string& metadata() const { return metadata_; }

    // Predicts from an encoded vector (encoded_width() values).
    void predict(std::span<const double> x, prediction& out) const;
    [[nodiscard]] std::size_t encoded_width() const { return width_; }

private:
    friend class scorer;
    algorithm algorithm_ = algorithm::logistic;
    std::string label_;
    std::vector<std::string> classes_;
    bool numeric_classes_ = false;
    std::vector<feature> features_;
    std::vector<derived_feature> derived_;
    std::vector<std::string> input_names_;
    std::size_t width_ = 0;
    std::unique_ptr<learner> learner_;
    std::string metadata_;
};

// What a model file holds, for people: the model, its features, the training and the held-out
// metrics as tables (ktrain prints it after training and for --describe).
std::string describe(std::string_view metadata_json, std::string_view name);

// Scores records with a model: one per thread (it holds an evaluator and buffers); the model is
// shared read-only.
class scorer {
public:
    explicit scorer(const model& m);
    ~scorer();
    // A record's object -> prediction. false with `why` when a feature's field is absent, or has a
    // value of the wrong kind (an object, a text where a number was learnt), or a derived
    // expression fails. A field that is null is a missing value: imputed (docs/models.md).
    bool score(simdjson::dom::object object, const record* meta, prediction& out, std::string& why);
    // The prediction as JSON: the class (a string, or a number for numeric classes) or the value.
    void append_prediction(std::string& out, const prediction& p) const;
    // The class probabilities as a JSON object {"class": p, ...}.
    void append_probabilities(std::string& out, const prediction& p) const;

private:
    const model& m_;
    std::unique_ptr<field_reader_impl> impl_;
    std::vector<double> x_;
};

}  // namespace ks::ml
