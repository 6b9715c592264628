// Logistic and linear regression through dlib: L-BFGS (find_min) for the log loss, a
// pseudo-inverse for least squares. The one file of lib/ml that includes dlib's optimisers (they
// take seconds to compile).
#include "learner.hpp"

#include <dlib/matrix.h>
#include <dlib/optimization.h>

#include <algorithm>
#include <cmath>
#include <istream>
#include <ostream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ks::ml {

namespace {

using column = dlib::matrix<double, 0, 1>;

// Weights: one row per output (one for binary logistic and linear, one per class for softmax),
// d columns of weights then the intercept.
class linear_model final : public learner {
public:
    linear_model(dlib::matrix<double> w, bool logistic) : w_(std::move(w)), logistic_(logistic) {}

    void predict(const double* x, double* out) const override {
        const long d = w_.nc() - 1;
        const long k = w_.nr();
        for (long r = 0; r < k; ++r) {
            double z = w_(r, d);
            for (long j = 0; j < d; ++j) z += w_(r, j) * x[j];
            out[r] = z;
        }
        if (!logistic_) return;
        if (k == 1) {
            const double p = 1 / (1 + std::exp(-out[0]));
            out[0] = 1 - p;
            out[1] = p;
            return;
        }
        const double top = *std::max_element(out, out + k);
        double sum = 0;
        for (long r = 0; r < k; ++r) sum += out[r] = std::exp(out[r] - top);
        for (long r = 0; r < k; ++r) out[r] /= sum;
    }
    void save(std::ostream& out) const override { dlib::serialize(w_, out); }
    [[nodiscard]] std::size_t outputs() const override {
        return logistic_ && w_.nr() == 1 ? 2 : static_cast<std::size_t>(w_.nr());
    }

private:
    dlib::matrix<double> w_;
    bool logistic_;
};

// The mean log loss and its gradient at w (k rows of d + 1 parameters, flattened row by row).
// dlib asks for the value and then the gradient at the same point: both are computed at once and
// the gradient is kept for that point.
class log_loss {
public:
    log_loss(const rows_view& x, const std::vector<int>& y, int k, double l2) : x_(x), y_(y), k_(k), l2_(l2) {}

    double value(const column& w) {
        compute(w);
        return loss_;
    }
    column gradient(const column& w) {
        if (!(w == at_)) compute(w);
        return grad_;
    }

private:
    void compute(const column& w) {
        const std::size_t d = x_.d, p = d + 1;
        at_ = w;
        const double* wp = &w(0);
        // The rows in one part per core (large data only: a thread costs tens of microseconds),
        // each summing its loss and gradient on its own; the parts are added in order, so the
        // result does not depend on timing.
        const std::size_t parts = x_.n >= 20000 ? std::max(1u, std::min(8u, std::thread::hardware_concurrency())) : 1;
        std::vector<double> losses(parts, 0.0);
        std::vector<std::vector<double>> grads(parts, std::vector<double>(static_cast<std::size_t>(w.size()), 0.0));
        const auto part = [&](std::size_t k) {
            const std::size_t from = x_.n * k / parts, to = x_.n * (k + 1) / parts;
            double loss = 0;
            double* gp = grads[k].data();
            std::vector<double> z(static_cast<std::size_t>(k_));
            for (std::size_t i = from; i < to; ++i) {
                const double* xi = x_.row(i);
                for (int r = 0; r < k_; ++r) {
                    const double* wr = wp + static_cast<std::size_t>(r) * p;
                    double s = wr[d];
                    for (std::size_t j = 0; j < d; ++j) s += wr[j] * xi[j];
                    z[static_cast<std::size_t>(r)] = s;
                }
                if (k_ == 1) {
                    // log(1 + e^z) - y z, computed without overflow.
                    const double s = z[0];
                    const double yi = y_[i];
                    loss += (s > 0 ? s + std::log1p(std::exp(-s)) : std::log1p(std::exp(s))) - yi * s;
                    const double err = 1 / (1 + std::exp(-s)) - yi;
                    for (std::size_t j = 0; j < d; ++j) gp[j] += err * xi[j];
                    gp[d] += err;
                } else {
                    const double top = *std::max_element(z.begin(), z.end());
                    double sum = 0;
                    for (double& v : z) sum += v = std::exp(v - top);
                    loss -= std::log(std::max(z[static_cast<std::size_t>(y_[i])] / sum, 1e-300));
                    for (int r = 0; r < k_; ++r) {
                        const double err = z[static_cast<std::size_t>(r)] / sum - (y_[i] == r ? 1 : 0);
                        double* gr = gp + static_cast<std::size_t>(r) * p;
                        for (std::size_t j = 0; j < d; ++j) gr[j] += err * xi[j];
                        gr[d] += err;
                    }
                }
            }
            losses[k] = loss;
        };
        std::vector<std::thread> threads;
        for (std::size_t k = 1; k < parts; ++k) threads.emplace_back(part, k);
        part(0);
        for (auto& t : threads) t.join();
        grad_.set_size(w.size());
        grad_ = 0;
        double loss = 0;
        double* gp = &grad_(0);
        for (std::size_t k = 0; k < parts; ++k) {
            loss += losses[k];
            for (std::size_t j = 0; j < grads[k].size(); ++j) gp[j] += grads[k][j];
        }
        const double n = static_cast<double>(x_.n);
        loss /= n;
        grad_ /= n;
        for (int r = 0; r < k_; ++r)
            for (std::size_t j = 0; j < d; ++j) {
                const double wj = wp[static_cast<std::size_t>(r) * p + j];
                loss += l2_ / 2 * wj * wj;
                gp[static_cast<std::size_t>(r) * p + j] += l2_ * wj;
            }
        loss_ = loss;
    }

    const rows_view& x_;
    const std::vector<int>& y_;
    int k_;
    double l2_;
    column at_, grad_;
    double loss_ = 0;
};

}  // namespace

std::unique_ptr<learner> train_logistic(const rows_view& x, const std::vector<int>& y, int classes, double l2,
                                        int max_iter) {
    const int k = classes == 2 ? 1 : classes;
    const long p = static_cast<long>(x.d) + 1;
    column w(k * p);
    w = 0;
    log_loss f(x, y, k, l2);
    // Stop when the gradient is that of an optimum to 1e-4, scikit-learn's tolerance on the same
    // (mean) objective: on 160,000 rows it stopped after 17 iterations where an objective change
    // of 1e-10 took all 100, for the same held-out accuracy.
    dlib::find_min(dlib::lbfgs_search_strategy(10),
                   dlib::gradient_norm_stop_strategy(1e-4, static_cast<unsigned long>(max_iter)),
                   [&](const column& at) { return f.value(at); }, [&](const column& at) { return f.gradient(at); },
                   w, -1);
    dlib::matrix<double> weights(k, p);
    for (long r = 0; r < k; ++r)
        for (long j = 0; j < p; ++j) weights(r, j) = w(r * p + j);
    return std::make_unique<linear_model>(std::move(weights), true);
}

std::unique_ptr<learner> train_linear(const rows_view& x, const std::vector<double>& y, double l2) {
    // The normal equations of [X 1] w = y, scaled by 1/n, the intercept unpenalised. The
    // pseudo-inverse gives the least-norm solution when columns are collinear (one-hot columns add
    // up to the intercept's; an unknown-category column is all zeros in training).
    const long d = static_cast<long>(x.d), p = d + 1;
    dlib::matrix<double> a(p, p);
    column b(p);
    a = 0;
    b = 0;
    for (std::size_t i = 0; i < x.n; ++i) {
        const double* xi = x.row(i);
        for (long r = 0; r < p; ++r) {
            const double xr = r < d ? xi[r] : 1;
            b(r) += xr * y[i];
            for (long c = r; c < p; ++c) a(r, c) += xr * (c < d ? xi[c] : 1);
        }
    }
    const double n = static_cast<double>(x.n);
    for (long r = 0; r < p; ++r)
        for (long c = r; c < p; ++c) a(c, r) = a(r, c) /= n;
    b /= n;
    for (long j = 0; j < d; ++j) a(j, j) += l2;
    const column w = dlib::pinv(a) * b;
    dlib::matrix<double> weights(1, p);
    for (long j = 0; j < p; ++j) weights(0, j) = w(j);
    return std::make_unique<linear_model>(std::move(weights), false);
}

std::unique_ptr<learner> load_linear(std::istream& in, std::size_t width, int classes, bool logistic) {
    dlib::matrix<double> w;
    dlib::deserialize(w, in);
    const long rows = logistic ? (classes == 2 ? 1 : classes) : 1;
    if (w.nr() != rows || w.nc() != static_cast<long>(width) + 1)
        throw std::runtime_error("the weights do not match the features");
    return std::make_unique<linear_model>(std::move(w), logistic);
}

}  // namespace ks::ml
