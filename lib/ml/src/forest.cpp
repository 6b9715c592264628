// Random forests as Spark MLlib grows them (dlib's forest has no classifier and no depth limit:
// NOTES.md). Each feature is cut into at most max_bins bins at quantiles of the training values, so
// a node's best split is found from one histogram per feature (Spark's algorithm). Trees grow on
// bootstrap samples, trying sqrt(d) (classification) or d/3 (regression) features per node,
// splitting on Gini impurity or variance down to max_depth. Trees are independent: they are grown
// on every core, each with its own random stream, so the forest does not depend on the thread
// count.
#include "learner.hpp"

#include <dlib/serialize.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <thread>

namespace ks::ml {

namespace {

struct tree {
    // Node i: a split (feature[i] >= 0: x[feature] <= threshold goes to left[i], else right[i]) or
    // a leaf with its outputs at values[i * outputs].
    std::vector<int> feature, left, right;
    std::vector<double> threshold, values;
};

class forest final : public learner {
public:
    forest(std::vector<tree> trees, std::size_t outputs, std::vector<double> importances)
        : trees_(std::move(trees)), outputs_(outputs), importances_(std::move(importances)) {}

    void predict(const double* x, double* out) const override {
        std::fill(out, out + outputs_, 0.0);
        for (const auto& t : trees_) {
            std::size_t n = 0;
            while (t.feature[n] >= 0)
                n = static_cast<std::size_t>(x[t.feature[n]] <= t.threshold[n] ? t.left[n] : t.right[n]);
            const double* v = &t.values[n * outputs_];
            for (std::size_t k = 0; k < outputs_; ++k) out[k] += v[k];
        }
        for (std::size_t k = 0; k < outputs_; ++k) out[k] /= static_cast<double>(trees_.size());
    }
    void save(std::ostream& out) const override {
        dlib::serialize(static_cast<int>(outputs_), out);
        dlib::serialize(importances_, out);
        dlib::serialize(static_cast<int>(trees_.size()), out);
        for (const auto& t : trees_) {
            dlib::serialize(t.feature, out);
            dlib::serialize(t.left, out);
            dlib::serialize(t.right, out);
            dlib::serialize(t.threshold, out);
            dlib::serialize(t.values, out);
        }
    }
    [[nodiscard]] std::vector<double> importances() const override { return importances_; }
    [[nodiscard]] std::size_t outputs() const override { return outputs_; }

private:
    std::vector<tree> trees_;
    std::size_t outputs_;
    std::vector<double> importances_;
};

// The training rows cut into bins: bin b of column j holds thresholds[j][b - 1] < x <= thresholds[j][b].
struct binned {
    std::size_t n = 0, d = 0;
    std::vector<std::vector<double>> thresholds;
    std::vector<std::uint8_t> bins;  // row-major
    [[nodiscard]] std::size_t bin_count(std::size_t j) const { return thresholds[j].size() + 1; }
};

binned cut(const rows_view& x, int max_bins, std::uint64_t seed) {
    binned b;
    b.n = x.n;
    b.d = x.d;
    b.thresholds.resize(x.d);
    // Thresholds from a sample of the rows, as Spark does (max(max_bins^2, 10000) rows).
    std::vector<std::size_t> sample(x.n);
    std::iota(sample.begin(), sample.end(), std::size_t{0});
    const std::size_t keep = std::max<std::size_t>(static_cast<std::size_t>(max_bins) * max_bins, 10000);
    if (sample.size() > keep) {
        std::mt19937_64 rng(seed);
        for (std::size_t i = 0; i < keep; ++i)
            std::swap(sample[i], sample[i + std::uniform_int_distribution<std::size_t>(0, sample.size() - i - 1)(rng)]);
        sample.resize(keep);
    }
    std::vector<double> values;
    for (std::size_t j = 0; j < x.d; ++j) {
        values.clear();
        for (std::size_t i : sample) values.push_back(x.row(i)[j]);
        std::sort(values.begin(), values.end());
        values.erase(std::unique(values.begin(), values.end()), values.end());
        auto& t = b.thresholds[j];
        if (values.size() <= static_cast<std::size_t>(max_bins)) {
            for (std::size_t i = 0; i + 1 < values.size(); ++i) t.push_back((values[i] + values[i + 1]) / 2);
        } else {
            for (int q = 1; q < max_bins; ++q) {
                const double v = values[values.size() * static_cast<std::size_t>(q) / static_cast<std::size_t>(max_bins)];
                if (t.empty() || v > t.back()) t.push_back(v);
            }
        }
    }
    b.bins.resize(x.n * x.d);
    for (std::size_t i = 0; i < x.n; ++i)
        for (std::size_t j = 0; j < x.d; ++j) {
            const auto& t = b.thresholds[j];
            b.bins[i * x.d + j] = static_cast<std::uint8_t>(std::lower_bound(t.begin(), t.end(), x.row(i)[j]) - t.begin());
        }
    return b;
}

// Grows one tree. Statistics per node: class weights (classification) or weight, sum, sum of
// squares (regression), all weighted by the bootstrap counts.
class grower {
public:
    grower(const binned& b, const std::vector<double>& y, int classes, const hyperparameters& h, std::uint64_t seed)
        : b_(b), y_(y), k_(classes), stats_(classes > 0 ? static_cast<std::size_t>(classes) : 3), h_(h), rng_(seed),
          importance_(b.d, 0.0) {
        const double d = static_cast<double>(b.d);
        tries_ = std::clamp<std::size_t>(static_cast<std::size_t>(k_ > 0 ? std::ceil(std::sqrt(d)) : std::ceil(d / 3)),
                                         1, b.d);
    }

    tree grow() {
        weight_.assign(b_.n, 0);
        std::uniform_int_distribution<std::size_t> pick(0, b_.n - 1);
        for (std::size_t i = 0; i < b_.n; ++i) ++weight_[pick(rng_)];
        rows_.clear();
        for (std::size_t i = 0; i < b_.n; ++i)
            if (weight_[i] > 0) rows_.push_back(i);
        columns_.resize(b_.d);
        std::iota(columns_.begin(), columns_.end(), std::size_t{0});
        t_ = tree{};
        node(0, rows_.size(), 0);
        return std::move(t_);
    }
    std::vector<double>& importance() { return importance_; }

private:
    // Impurity times weight of a node's statistics: Gini (classification) or variance.
    [[nodiscard]] double weighted_impurity(const double* s, double& weight) const {
        if (k_ > 0) {
            weight = 0;
            double sq = 0;
            for (int c = 0; c < k_; ++c) {
                weight += s[c];
                sq += s[c] * s[c];
            }
            return weight > 0 ? weight - sq / weight : 0;
        }
        weight = s[0];
        return weight > 0 ? s[2] - s[1] * s[1] / weight : 0;
    }
    void add(double* s, std::size_t row, double w) const {
        if (k_ > 0) {
            s[static_cast<std::size_t>(y_[row])] += w;
        } else {
            s[0] += w;
            s[1] += w * y_[row];
            s[2] += w * y_[row] * y_[row];
        }
    }

    int node(std::size_t from, std::size_t to, int depth) {
        const int id = static_cast<int>(t_.feature.size());
        t_.feature.push_back(-1);
        t_.left.push_back(-1);
        t_.right.push_back(-1);
        t_.threshold.push_back(0);
        std::vector<double> total(stats_, 0.0);
        for (std::size_t r = from; r < to; ++r) add(total.data(), rows_[r], weight_[rows_[r]]);
        double weight = 0;
        const double impurity = weighted_impurity(total.data(), weight);
        int best_feature = -1;
        std::size_t best_bin = 0;
        double best_gain = 1e-12 * std::max(weight, 1.0);
        if (depth < h_.max_depth && impurity > 1e-12 * weight && to - from > 1) {
            // sqrt(d) or d/3 columns, without replacement.
            for (std::size_t c = 0; c < tries_; ++c)
                std::swap(columns_[c], columns_[c + std::uniform_int_distribution<std::size_t>(0, b_.d - c - 1)(rng_)]);
            for (std::size_t c = 0; c < tries_; ++c) {
                const std::size_t j = columns_[c];
                const std::size_t bins = b_.bin_count(j);
                if (bins < 2) continue;
                hist_.assign(bins * stats_, 0.0);
                for (std::size_t r = from; r < to; ++r) {
                    const std::size_t row = rows_[r];
                    add(&hist_[b_.bins[row * b_.d + j] * stats_], row, weight_[row]);
                }
                left_.assign(stats_, 0.0);
                for (std::size_t s = 0; s + 1 < bins; ++s) {
                    for (std::size_t k = 0; k < stats_; ++k) left_[k] += hist_[s * stats_ + k];
                    right_ = total;
                    for (std::size_t k = 0; k < stats_; ++k) right_[k] -= left_[k];
                    double wl = 0, wr = 0;
                    const double il = weighted_impurity(left_.data(), wl);
                    const double ir = weighted_impurity(right_.data(), wr);
                    if (wl <= 0 || wr <= 0) continue;
                    const double gain = impurity - il - ir;
                    if (gain > best_gain) {
                        best_gain = gain;
                        best_feature = static_cast<int>(j);
                        best_bin = s;
                    }
                }
            }
        }
        if (best_feature < 0) {
            leaf(id, total, weight);
            return id;
        }
        importance_[static_cast<std::size_t>(best_feature)] += best_gain;
        const auto j = static_cast<std::size_t>(best_feature);
        const auto middle = std::partition(rows_.begin() + static_cast<std::ptrdiff_t>(from),
                                           rows_.begin() + static_cast<std::ptrdiff_t>(to),
                                           [&](std::size_t row) { return b_.bins[row * b_.d + j] <= best_bin; });
        const auto split = static_cast<std::size_t>(middle - rows_.begin());
        t_.feature[static_cast<std::size_t>(id)] = best_feature;
        t_.threshold[static_cast<std::size_t>(id)] = b_.thresholds[j][best_bin];
        const int l = node(from, split, depth + 1);
        const int r = node(split, to, depth + 1);
        t_.left[static_cast<std::size_t>(id)] = l;
        t_.right[static_cast<std::size_t>(id)] = r;
        return id;
    }

    void leaf(int id, const std::vector<double>& total, double weight) {
        const std::size_t outputs = k_ > 0 ? static_cast<std::size_t>(k_) : 1;
        if (t_.values.size() < (static_cast<std::size_t>(id) + 1) * outputs)
            t_.values.resize((static_cast<std::size_t>(id) + 1) * outputs, 0.0);
        double* v = &t_.values[static_cast<std::size_t>(id) * outputs];
        if (k_ > 0)
            for (int c = 0; c < k_; ++c) v[c] = weight > 0 ? total[static_cast<std::size_t>(c)] / weight : 0;
        else
            v[0] = weight > 0 ? total[1] / weight : 0;
    }

    const binned& b_;
    const std::vector<double>& y_;
    int k_;
    std::size_t stats_;
    const hyperparameters& h_;
    std::mt19937_64 rng_;
    std::size_t tries_ = 1;
    std::vector<std::uint32_t> weight_;
    std::vector<std::size_t> rows_, columns_;
    std::vector<double> hist_, left_, right_, importance_;
    tree t_;
};

}  // namespace

std::unique_ptr<learner> train_forest(const rows_view& x, const std::vector<double>& y, int classes,
                                      const hyperparameters& h) {
    if (h.max_bins < 2 || h.max_bins > 256) throw std::invalid_argument("max_bins must be within 2..256");
    const binned b = cut(x, h.max_bins, h.seed);
    const std::size_t count = static_cast<std::size_t>(h.trees);
    std::vector<tree> trees(count);
    std::vector<std::vector<double>> importances(count);
    std::atomic<std::size_t> next{0};
    const auto work = [&] {
        for (std::size_t t; (t = next.fetch_add(1)) < count;) {
            grower g(b, y, classes, h, h.seed * 0x9E3779B97F4A7C15ULL + t + 1);
            trees[t] = g.grow();
            importances[t] = std::move(g.importance());
        }
    };
    const unsigned threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), static_cast<unsigned>(count)));
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back(work);
    work();
    for (auto& th : pool) th.join();
    // Spark's importances: each tree's normalised to 1, averaged, normalised again.
    std::vector<double> total(x.d, 0.0);
    for (const auto& imp : importances) {
        const double sum = std::accumulate(imp.begin(), imp.end(), 0.0);
        if (sum > 0)
            for (std::size_t j = 0; j < x.d; ++j) total[j] += imp[j] / sum;
    }
    const double sum = std::accumulate(total.begin(), total.end(), 0.0);
    if (sum > 0)
        for (double& v : total) v /= sum;
    return std::make_unique<forest>(std::move(trees), classes > 0 ? static_cast<std::size_t>(classes) : 1, std::move(total));
}

std::unique_ptr<learner> load_forest(std::istream& in, std::size_t width, int classes) {
    int outputs = 0, count = 0;
    std::vector<double> importances;
    dlib::deserialize(outputs, in);
    dlib::deserialize(importances, in);
    dlib::deserialize(count, in);
    if (outputs != std::max(classes, 1) || importances.size() != width || count < 1 || count > 100000)
        throw std::runtime_error("the forest does not match the features");
    std::vector<tree> trees(static_cast<std::size_t>(count));
    for (auto& t : trees) {
        dlib::deserialize(t.feature, in);
        dlib::deserialize(t.left, in);
        dlib::deserialize(t.right, in);
        dlib::deserialize(t.threshold, in);
        dlib::deserialize(t.values, in);
        // Every path must end: children after their parent, features within the vector.
        const std::size_t nodes = t.feature.size();
        if (nodes == 0 || t.left.size() != nodes || t.right.size() != nodes || t.threshold.size() != nodes ||
            t.values.size() < nodes * static_cast<std::size_t>(outputs))
            throw std::runtime_error("a tree is truncated");
        for (std::size_t n = 0; n < nodes; ++n) {
            if (t.feature[n] < 0) continue;
            if (static_cast<std::size_t>(t.feature[n]) >= width || t.left[n] <= static_cast<int>(n) ||
                t.right[n] <= static_cast<int>(n) || static_cast<std::size_t>(t.left[n]) >= nodes ||
                static_cast<std::size_t>(t.right[n]) >= nodes)
                throw std::runtime_error("a tree is corrupt");
        }
    }
    return std::make_unique<forest>(std::move(trees), static_cast<std::size_t>(outputs), std::move(importances));
}

}  // namespace ks::ml
