#include "ks/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ks::ml {

double roc_auc(const std::vector<int>& positive, const std::vector<double>& score) {
    // Mann-Whitney: the mean rank of the positives, ties given their average rank.
    const std::size_t n = score.size();
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
    double rank_sum = 0, pos = 0;
    for (std::size_t i = 0; i < n;) {
        std::size_t j = i;
        while (j < n && score[order[j]] == score[order[i]]) ++j;
        const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
        for (std::size_t k = i; k < j; ++k)
            if (positive[order[k]]) {
                rank_sum += rank;
                ++pos;
            }
        i = j;
    }
    const double neg = static_cast<double>(n) - pos;
    if (pos == 0 || neg == 0) return -1;
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

namespace {

// The ROC curve's corners, from the highest score down, thinned to about 200 points.
std::vector<std::pair<double, double>> roc_points(const std::vector<int>& positive, const std::vector<double>& score) {
    const std::size_t n = score.size();
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
    const double pos = static_cast<double>(std::count(positive.begin(), positive.end(), 1));
    const double neg = static_cast<double>(n) - pos;
    std::vector<std::pair<double, double>> all{{0.0, 0.0}};
    double tp = 0, fp = 0;
    for (std::size_t i = 0; i < n;) {
        std::size_t j = i;
        for (; j < n && score[order[j]] == score[order[i]]; ++j) (positive[order[j]] ? tp : fp) += 1;
        all.emplace_back(neg > 0 ? fp / neg : 0, pos > 0 ? tp / pos : 0);
        i = j;
    }
    if (all.size() <= 200) return all;
    std::vector<std::pair<double, double>> thin;
    const double step = static_cast<double>(all.size() - 1) / 199;
    for (int k = 0; k < 200; ++k) thin.push_back(all[static_cast<std::size_t>(std::lround(k * step))]);
    return thin;
}

}  // namespace

classification_metrics classify_metrics(const std::vector<int>& truth, const std::vector<double>& proba, int classes) {
    classification_metrics m;
    const auto k = static_cast<std::size_t>(classes);
    const std::size_t n = truth.size();
    m.confusion.assign(k, std::vector<std::uint64_t>(k, 0));
    double loss = 0;
    std::size_t right = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double* p = &proba[i * k];
        const auto predicted = static_cast<std::size_t>(std::max_element(p, p + k) - p);
        const auto actual = static_cast<std::size_t>(truth[i]);
        ++m.confusion[actual][predicted];
        right += predicted == actual;
        loss -= std::log(std::clamp(p[actual], 1e-15, 1 - 1e-15));
    }
    m.accuracy = n ? static_cast<double>(right) / static_cast<double>(n) : 0;
    m.log_loss = n ? loss / static_cast<double>(n) : 0;
    for (std::size_t c = 0; c < k; ++c) {
        std::uint64_t predicted = 0, actual = 0;
        for (std::size_t o = 0; o < k; ++o) {
            predicted += m.confusion[o][c];
            actual += m.confusion[c][o];
        }
        const double tp = static_cast<double>(m.confusion[c][c]);
        const double precision = predicted ? tp / static_cast<double>(predicted) : 0;
        const double recall = actual ? tp / static_cast<double>(actual) : 0;
        m.precision.push_back(precision);
        m.recall.push_back(recall);
        m.f1.push_back(precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0);
        m.support.push_back(actual);
    }
    if (k == 2) {
        std::vector<int> positive(n);
        std::vector<double> score(n);
        for (std::size_t i = 0; i < n; ++i) {
            positive[i] = truth[i] == 1;
            score[i] = proba[i * 2 + 1];
        }
        m.roc_auc = roc_auc(positive, score);
        if (m.roc_auc >= 0) m.roc = roc_points(positive, score);
    }
    return m;
}

regression_metrics regress_metrics(const std::vector<double>& truth, const std::vector<double>& predicted) {
    regression_metrics m;
    const std::size_t n = truth.size();
    if (n == 0) return m;
    const double mean = std::accumulate(truth.begin(), truth.end(), 0.0) / static_cast<double>(n);
    double sse = 0, sae = 0, sst = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double e = predicted[i] - truth[i];
        sse += e * e;
        sae += std::abs(e);
        sst += (truth[i] - mean) * (truth[i] - mean);
    }
    m.rmse = std::sqrt(sse / static_cast<double>(n));
    m.mae = sae / static_cast<double>(n);
    m.r2 = sst > 0 ? 1 - sse / sst : (sse == 0 ? 1 : 0);
    return m;
}

}  // namespace ks::ml
