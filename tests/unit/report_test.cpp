// ks::ml report pages: which pictures a model's metadata gives, escaping of names, no network
// references, kpredict serve's forms, and metadata that is broken or has pieces missing.
#include "ks/report.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::size_t count(std::string_view haystack, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = haystack.find(needle); at != std::string_view::npos; at = haystack.find(needle, at + needle.size())) ++n;
    return n;
}

// The last class's name needs escaping everywhere it is shown.
const std::string classifier = R"({
  "format": "kstream-model", "version": 1, "algorithm": "rf-classifier", "task": "classification",
  "label": "Traffic Situation", "classes": ["low", "normal", "<b>&\"x\""],
  "inputs": [{"name": "CarCount", "type": "number", "example": 22},
             {"name": "Time", "type": "text", "example": "12:00:00 AM"},
             {"name": "Day of the week", "type": "category", "categories": ["Friday", "Monday"], "example": "Monday"}],
  "hyperparameters": {"trees": 20, "max_depth": 5, "seed": 42, "split": 0.8},
  "training": {"rows_read": 2976, "rows_train": 2380, "rows_test": 596, "skipped": 0, "seconds": 0.041,
               "sources": ["datasets/traffic.csv"], "trained_at": "2026-12-02T05:00:00Z"},
  "metrics": {"accuracy": 0.91, "log_loss": 0.25,
              "per_class": [{"class": "low", "precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 120}],
              "confusion": [[4242, 17, 3], [23, 310, 5], [1, 2, 77]],
              "importances": [{"feature": "hour", "importance": 0.12}, {"feature": "CarCount", "importance": 0.41}]}
})";

const std::string binary = R"({
  "algorithm": "logistic", "task": "classification", "label": "busy", "classes": ["no", "yes"],
  "inputs": [{"name": "Total", "type": "number", "example": 36.5}],
  "metrics": {"accuracy": 0.88, "roc_auc": 0.947, "confusion": [[102, 18], [11, 69]],
              "roc": [[0, 0], [0.1, 0.6], [0.4, 0.9], [1, 1]]}
})";

const std::string regressor = R"({
  "algorithm": "linear", "task": "regression", "label": "Total",
  "inputs": [{"name": "CarCount", "type": "number", "example": 22}],
  "metrics": {"rmse": 7.9, "mae": 6.1, "r2": 0.93, "predictions": [[10, 12], [20, 19.5], [30, 33], [40, 38]]}
})";

}  // namespace

using ks::ml::index_html;
using ks::ml::report_html;

TEST_CASE("report: a classifier has its confusion matrix and importances, each with a viewBox and axis labels", "[report]") {
    const std::string page = report_html(classifier, "traffic");
    CHECK(count(page, "<svg") == 2);
    CHECK(count(page, "viewBox=") == 2);
    CHECK(page.find("Confusion matrix") != std::string::npos);
    CHECK(page.find("Feature importances") != std::string::npos);
    CHECK(page.find(">4242</text>") != std::string::npos);
    CHECK(page.find(">310</text>") != std::string::npos);
    CHECK(page.find(">predicted</text>") != std::string::npos);
    CHECK(page.find(">actual</text>") != std::string::npos);
    CHECK(page.find(">importance</text>") != std::string::npos);
    CHECK(page.find("ROC") == std::string::npos);
    CHECK(page.find("Residuals") == std::string::npos);
    // The bars are sorted by importance: CarCount (0.41) above hour (0.12).
    CHECK(page.find(">CarCount</text>") < page.find(">hour</text>"));
}

TEST_CASE("report: the header has the label, the training summary and the hyper-parameters", "[report]") {
    const std::string page = report_html(classifier, "traffic");
    CHECK(page.find("<h1>traffic</h1>") != std::string::npos);
    CHECK(page.find("random forest classifier of <b>Traffic Situation</b>") != std::string::npos);
    CHECK(page.find("2976 read, 2380 trained on, 596 held out, 0 skipped") != std::string::npos);
    CHECK(page.find("0.041 s") != std::string::npos);
    CHECK(page.find("datasets/traffic.csv") != std::string::npos);
    CHECK(page.find("max_depth = 5") != std::string::npos);
    CHECK(page.find("<th>accuracy</th><td>0.91</td>") != std::string::npos);
    CHECK(page.find("<tr><th>low</th><td>0.9</td><td>0.8</td><td>0.85</td><td>120</td></tr>") != std::string::npos);
}

TEST_CASE("report: names from the metadata and the title appear only escaped", "[report]") {
    const std::string page = report_html(classifier, "a <title> & \"more\"");
    CHECK(page.find("<b>&\"x\"") == std::string::npos);
    CHECK(page.find("&lt;b&gt;&amp;&quot;x&quot;") != std::string::npos);
    CHECK(page.find("<title>") == page.rfind("<title>a &lt;title&gt; &amp; &quot;more&quot;</title>"));
    const std::string index = index_html({{"m", classifier}});
    CHECK(index.find("<b>&\"x\"") == std::string::npos);
}

TEST_CASE("report: pages refer to nothing on the network", "[report]") {
    for (const auto& page : {report_html(classifier, "c"), report_html(binary, "b"), report_html(regressor, "r"),
                             index_html({{"c", classifier}, {"b", binary}, {"r", regressor}}), index_html({})}) {
        CHECK(page.find("http://") == std::string::npos);
        CHECK(page.find("https://") == std::string::npos);
        CHECK(page.find("src=") == std::string::npos);
    }
}

TEST_CASE("report: a binary classifier has the ROC curve with its AUC and the diagonal", "[report]") {
    const std::string page = report_html(binary, "busy");
    CHECK(count(page, "<svg") == 2);
    CHECK(page.find("ROC curve (AUC 0.947)") != std::string::npos);
    CHECK(page.find(">false positive rate</text>") != std::string::npos);
    CHECK(page.find(">true positive rate</text>") != std::string::npos);
    CHECK(page.find("<polyline class=\"curve\"") != std::string::npos);
    CHECK(page.find("<line class=\"guide\"") != std::string::npos);
    CHECK(page.find(">0.4</text>") != std::string::npos);  // a tick label
}

TEST_CASE("report: a regressor has predicted against actual and residuals, no confusion matrix", "[report]") {
    const std::string page = report_html(regressor, "total");
    CHECK(count(page, "<svg") == 2);
    CHECK(page.find("Predicted against actual") != std::string::npos);
    CHECK(page.find("Residuals") != std::string::npos);
    CHECK(count(page, "<circle") == 8);
    CHECK(page.find("Confusion") == std::string::npos);
    CHECK(page.find("importances") == std::string::npos);  // linear: none
    CHECK(page.find("<th>RMSE</th><td>7.9</td>") != std::string::npos);
}

TEST_CASE("report: missing or malformed pieces draw nothing, null numbers print n/a", "[report]") {
    CHECK(count(report_html("{}", "empty"), "<svg") == 0);
    const std::string odd = report_html(R"({"classes": 3, "metrics": {"accuracy": null, "roc_auc": null,
        "confusion": "no", "roc": [[0, 0], [1]], "predictions": [[1, null]], "importances": [{"feature": 1}]},
        "training": {"sources": "x.csv"}})", "odd");
    CHECK(odd.find("<th>accuracy</th><td>n/a</td>") != std::string::npos);
    CHECK(odd.find("AUC n/a") != std::string::npos);  // a one-point curve is still drawn
    CHECK(odd.find("Predicted against actual") == std::string::npos);
}

TEST_CASE("report: a confusion matrix of too many classes is described, not drawn", "[report]") {
    std::string rows;
    for (int r = 0; r < 41; ++r) rows += r ? ",[1]" : "[1]";
    const std::string page = report_html(R"({"metrics": {"confusion": [)" + rows + "]}}", "many");
    CHECK(page.find("confusion matrix of 41 classes is not drawn") != std::string::npos);
    CHECK(count(page, "<svg") == 0);
}

TEST_CASE("report: metadata that is not a JSON object throws", "[report]") {
    for (const char* bad : {"", "{", "not json", "[1, 2]", "\"text\"", "{\"a\": }"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(report_html(bad, "t"), std::runtime_error);
        CHECK_THROWS_WITH(report_html(bad, "t"), Catch::StartsWith("model metadata: "));
    }
    CHECK_THROWS_WITH(index_html({{"m", "[]"}}), Catch::StartsWith("model metadata: "));
}

TEST_CASE("index: one form per model with its inputs, selects of the categories, prefilled examples", "[report]") {
    const std::string page = index_html({{"traffic v2", classifier}, {"total", regressor}});
    CHECK(count(page, "<form") == 2);
    CHECK(page.find(R"(<form class="predict" id="form-traffic_v2" data-model="traffic v2" data-result="result-traffic_v2">)") != std::string::npos);
    CHECK(page.find(R"(id="result-traffic_v2")") != std::string::npos);
    CHECK(page.find(R"(id="form-total")") != std::string::npos);
    CHECK(page.find(R"(<select id="traffic_v2-Day_of_the_week" name="Day of the week">)"
                    R"(<option value="Friday">Friday</option><option value="Monday" selected>Monday</option></select>)") != std::string::npos);
    CHECK(page.find(R"(<input type="number" step="any" id="traffic_v2-CarCount" name="CarCount" value="22">)") != std::string::npos);
    CHECK(page.find(R"(<input type="text" id="traffic_v2-Time" name="Time" value="12:00:00 AM">)") != std::string::npos);
    CHECK(page.find(R"(<label for="traffic_v2-Day_of_the_week">Day of the week</label>)") != std::string::npos);
    CHECK(count(page, "<button type=\"submit\">Predict</button>") == 2);
    CHECK(page.find(R"(href="/report/traffic%20v2")") != std::string::npos);
    CHECK(page.find("'/predict/' + encodeURIComponent(form.dataset.model)") != std::string::npos);
    CHECK(page.find("'Content-Type': 'application/json'") != std::string::npos);
}

TEST_CASE("index: the models' pictures are the report's own", "[report]") {
    const std::string report = report_html(classifier, "traffic");
    const auto svg = report.substr(report.find("<svg"), report.find("</svg>") - report.find("<svg"));
    const std::string page = index_html({{"traffic", classifier}, {"total", regressor}});
    CHECK(page.find(svg) != std::string::npos);
    CHECK(count(page, "<svg") == 4);
}

TEST_CASE("index: ids stay unique when two names sanitize alike", "[report]") {
    const std::string page = index_html({{"a b", regressor}, {"a_b", regressor}});
    CHECK(page.find(R"(id="result-a_b")") != std::string::npos);
    CHECK(page.find(R"(id="result-a_b-2")") != std::string::npos);
    CHECK(page.find(R"(id="a_b-CarCount-2")") != std::string::npos);
    CHECK(page.find(R"(data-model="a_b")") != std::string::npos);
}

TEST_CASE("index: a name is percent-encoded in its report link like encodeURIComponent, kept whole in data-model", "[report]") {
    const std::string page = index_html({{"a/\xC3\xA9 &x", regressor}});
    CHECK(page.find(R"(href="/report/a%2F%C3%A9%20%26x")") != std::string::npos);
    CHECK(page.find("data-model=\"a/\xC3\xA9 &amp;x\"") != std::string::npos);
    CHECK(page.find(R"(id="result-a_____x")") != std::string::npos);  // a "_" for each byte of "/", "\xC3\xA9", " ", "&"
}

TEST_CASE("index: no models is said plainly", "[report]") {
    const std::string page = index_html({});
    CHECK(page.find("No models loaded") != std::string::npos);
    CHECK(page.find("<form") == std::string::npos);
}
