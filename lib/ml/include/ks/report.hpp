// Pictures of a trained model, drawn from its metadata (the JSON object of its model file, see
// docs/models.md): ktrain --report writes report_html() to a file; kpredict serve shows
// index_html() at GET / (one form per model) and report_html() at GET /report/NAME. Everything is
// self-contained: inline SVG and CSS, a little inline JavaScript for the forms, no network.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ks::ml {

// One page: the metrics table, the confusion matrix as a heat map (classifiers), the ROC curve
// (binary classifiers), predicted against actual and the residuals (regressors), the feature
// importances (forests). A piece the metadata lacks is left out; a number that is null or not
// finite prints as "n/a". Throws std::runtime_error("model metadata: ...") when the metadata is
// not valid JSON or not a JSON object.
std::string report_html(std::string_view metadata_json, std::string_view title);

struct served_model {
    std::string name;           // as in /predict/NAME
    std::string metadata_json;  // the model's metadata
};

// kpredict serve's page: per model a form built from its inputs (a drop-down of the categories
// seen in training for categorical inputs, a number field for numeric ones, a text field for the
// others, prefilled with an example), that posts the record to /predict/NAME and shows the answer,
// and the model's report pictures. Element ids: form-NAME, result-NAME (the answer, or the
// server's error with class "error") and NAME-INPUT per field, where each name has every
// character outside [A-Za-z0-9_-] replaced by '_' (a name that then repeats an earlier id gets
// "-2", "-3", ...); a field's name attribute is the input's name exactly. With no models, the page
// says so. Throws like report_html() when a model's metadata is not a JSON object.
std::string index_html(const std::vector<served_model>& models);

}  // namespace ks::ml
