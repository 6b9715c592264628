// Held-out metrics (docs/models.md): what ktrain reports and stores in the model's metadata.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ks::ml {

struct classification_metrics {
    double accuracy = 0;
    double log_loss = 0;         // probabilities clipped to [1e-15, 1 - 1e-15], as scikit-learn does
    double roc_auc = -1;         // binary only (class 1 positive); -1 otherwise
    std::vector<std::vector<std::uint64_t>> confusion;  // [actual][predicted]
    std::vector<double> precision, recall, f1;          // per class; 0 where undefined
    std::vector<std::uint64_t> support;                 // rows of each class
    std::vector<std::pair<double, double>> roc;         // binary: (false, true positive rate) points
};

// truth: class indices; proba: n x classes probabilities, row-major. The predicted class is the
// most probable one (the first of ties).
classification_metrics classify_metrics(const std::vector<int>& truth, const std::vector<double>& proba, int classes);

// The area under the ROC curve as a rank statistic (ties count one half). -1 when one of the
// two classes is absent.
double roc_auc(const std::vector<int>& positive, const std::vector<double>& score);

struct regression_metrics {
    double rmse = 0, mae = 0;
    double r2 = 0;  // 1 - SSE/SST (not dlib's r_squared, a squared correlation)
};
regression_metrics regress_metrics(const std::vector<double>& truth, const std::vector<double>& predicted);

}  // namespace ks::ml
