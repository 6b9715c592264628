// The learners behind a model, on encoded vectors (row-major, one row per record). Private to
// lib/ml: the model file stores what save() writes (dlib's serialisation) after the metadata.
#pragma once

#include "ks/model.hpp"

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <vector>

namespace ks::ml {

struct rows_view {
    const double* data = nullptr;
    std::size_t n = 0, d = 0;
    [[nodiscard]] const double* row(std::size_t i) const { return data + i * d; }
};

class learner {
public:
    virtual ~learner() = default;
    // out: the classes' probabilities (classes() of them) or one value.
    virtual void predict(const double* x, double* out) const = 0;
    virtual void save(std::ostream& out) const = 0;
    // Forests: each encoded column's share of the impurity decrease (sums to 1).
    [[nodiscard]] virtual std::vector<double> importances() const { return {}; }
    [[nodiscard]] virtual std::size_t outputs() const = 0;
};

// Logistic regression: binary (one weight vector) or multinomial (softmax), L-BFGS on the mean
// log loss plus l2/2 |w|^2 (the intercepts are not penalised).
std::unique_ptr<learner> train_logistic(const rows_view& x, const std::vector<int>& y, int classes, double l2,
                                        int max_iter);
// Least squares with an optional ridge penalty l2 (mean squared error + l2 |w|^2, intercept free).
std::unique_ptr<learner> train_linear(const rows_view& x, const std::vector<double>& y, double l2);
// Random forests as Spark MLlib grows them: features binned at quantiles (max_bins), bootstrap
// samples, sqrt(d) (classification) or d/3 (regression) features tried per node, Gini or variance,
// max_depth. classes == 0: regression on y; otherwise y holds class indices.
std::unique_ptr<learner> train_forest(const rows_view& x, const std::vector<double>& y, int classes,
                                      const hyperparameters& h);

// Read what save() wrote. Throw std::runtime_error or dlib::serialization_error (corrupt data).
std::unique_ptr<learner> load_linear(std::istream& in, std::size_t width, int classes, bool logistic);
std::unique_ptr<learner> load_forest(std::istream& in, std::size_t width, int classes);

}  // namespace ks::ml
