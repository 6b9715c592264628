// lib/ml without a broker: the encoders (standardised numbers, sorted categories with an unknown
// bucket, imputed nulls, derived features), each algorithm on data with a known answer, the
// held-out metrics against hand-computed values, the model file (round trip, version, corruption)
// and the errors training refuses with.
#include "ks/error.hpp"
#include "ks/metrics.hpp"
#include "ks/model.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <simdjson.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace ml = ks::ml;

ml::cell num(double v) {
    ml::cell c;
    c.what = ml::cell::kind::number;
    c.number = v;
    return c;
}

ml::cell txt(std::string v) {
    ml::cell c;
    c.what = ml::cell::kind::text;
    c.text = std::move(v);
    return c;
}

ml::cell none() { return {}; }

// Uniform in [lo, hi) from mt19937's raw output, which the standard fixes (its distributions it
// does not), so the data sets are the same with every standard library.
class uniform_source {
public:
    explicit uniform_source(std::uint32_t seed) : rng_(seed) {}
    double operator()(double lo, double hi) { return lo + (hi - lo) * (static_cast<double>(rng_()) / 4294967296.0); }

private:
    std::mt19937 rng_;
};

ml::hyperparameters with_seed(std::uint64_t seed, double split = 0.8) {
    ml::hyperparameters h;
    h.seed = seed;
    h.split = split;
    return h;
}

// What the scorer made of one record: a prediction, or why there is none.
struct scored {
    bool ok = false;
    ml::prediction p;
    std::string why;
};

scored score(ml::scorer& s, std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::dom::object object;
    REQUIRE(parser.parse(json.data(), json.size()).get(object) == simdjson::SUCCESS);
    scored out;
    out.ok = s.score(object, nullptr, out.p, out.why);
    return out;
}

// The scorer's prediction for a record that must score.
ml::prediction predicted(ml::scorer& s, std::string_view json) {
    auto r = score(s, json);
    INFO(json << ": " << r.why);
    REQUIRE(r.ok);
    return r.p;
}

std::string prediction_json(const ml::scorer& s, const ml::prediction& p) {
    std::string out;
    s.append_prediction(out, p);
    return out;
}

// Reads JSON records into a dataset through row_reader; every record must be readable.
void read_records(ml::dataset& data, const std::vector<std::string>& records,
                  const std::vector<ml::derived_feature>& derived, const std::string& label) {
    ml::row_reader reader(data, derived, label);
    simdjson::dom::parser parser;
    for (const auto& r : records) {
        simdjson::dom::object object;
        REQUIRE(parser.parse(r).get(object) == simdjson::SUCCESS);
        std::string why;
        const bool ok = reader.read(object, nullptr, why);
        INFO(r << ": " << why);
        REQUIRE(ok);
    }
}

// The metadata (or any JSON text) parsed; the parser owns what the returned object points into.
simdjson::dom::object parse_object(simdjson::dom::parser& parser, const std::string& json) {
    simdjson::dom::object o;
    REQUIRE(parser.parse(json).get(o) == simdjson::SUCCESS);
    return o;
}

double number_at(simdjson::dom::object o, std::string_view key) {
    double v = NAN;
    REQUIRE(o[key].get(v) == simdjson::SUCCESS);
    return v;
}

// The message of the exception of type E that f throws; another type fails the test case.
template <typename E>
std::string thrown_message(const std::function<void()>& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    return "(nothing thrown)";
}

using Catch::Matchers::Contains;

}  // namespace

// --- encoders ----------------------------------------------------------------------------------

namespace {

// x: 2 4 4 4 5 5 7 9 and a null: mean 5, population standard deviation 2 (the null left out);
// colour: three categories and a null; k: constant. split 1: every row fits the encoders.
ml::model encoder_model() {
    ml::dataset data;
    data.feature_names = {"x", "colour", "k"};
    const std::vector<ml::cell> x = {num(2), num(4), num(4), num(4), num(5), num(5), num(7), num(9), none()};
    const std::vector<ml::cell> colour = {txt("red"),   txt("blue"), txt("green"), txt("blue"), txt("red"),
                                          txt("green"), txt("red"),  none(),       txt("blue")};
    const std::vector<std::string> label = {"yes", "no", "no", "no", "yes", "yes", "yes", "yes", "no"};
    for (std::size_t i = 0; i < x.size(); ++i) {
        data.rows.push_back({x[i], colour[i], num(3)});
        data.labels.push_back(txt(label[i]));
    }
    return ml::model::train(data, ml::algorithm::logistic, with_seed(1, 1.0), {}, "y");
}

}  // namespace

TEST_CASE("ml encoders: numbers standardised with the training mean and population deviation, sorted categories", "[ml]") {
    const auto m = encoder_model();
    REQUIRE(m.features().size() == 3);
    const auto& x = m.features()[0];
    CHECK_FALSE(x.categorical);
    CHECK(x.mean == 5.0);
    CHECK(x.scale == 2.0);
    const auto& colour = m.features()[1];
    CHECK(colour.categorical);
    CHECK(colour.categories == std::vector<std::string>{"blue", "green", "red"});
    CHECK(colour.width() == 4);  // three categories and the unknown bucket
    const auto& k = m.features()[2];
    CHECK(k.mean == 3.0);
    CHECK(k.scale == 1.0);  // no spread: not divided by zero
    CHECK(m.encoded_width() == 6);
    CHECK(m.classes() == std::vector<std::string>{"no", "yes"});
    CHECK_FALSE(m.numeric_classes());

    // The metadata says the same.
    simdjson::dom::parser parser;
    const auto md = parse_object(parser, m.metadata());
    CHECK(number_at(md, "width") == 6);
    simdjson::dom::array features;
    REQUIRE(md["features"].get(features) == simdjson::SUCCESS);
    REQUIRE(features.size() == 3);
    simdjson::dom::object fx, fcolour;
    REQUIRE(features.at(0).get(fx) == simdjson::SUCCESS);
    REQUIRE(features.at(1).get(fcolour) == simdjson::SUCCESS);
    CHECK(std::string_view(fx["name"]) == "x");
    CHECK(std::string_view(fx["type"]) == "number");
    CHECK(number_at(fx, "mean") == 5.0);
    CHECK(number_at(fx, "scale") == 2.0);
    CHECK(std::string_view(fcolour["type"]) == "category");
    CHECK(simdjson::minify(fcolour["categories"]) == R"(["blue","green","red"])");
    CHECK(m.metadata().find(R"({"name":"x","type":"number","mean":5,"scale":2})") != std::string::npos);
    // split 1: nothing held out, no metrics.
    simdjson::dom::object metrics;
    REQUIRE(md["metrics"].get(metrics) == simdjson::SUCCESS);
    CHECK(metrics.size() == 0);
}

TEST_CASE("ml encoders: a record scores as its encoded vector; unknown categories and nulls have their bucket and mean", "[ml]") {
    const auto m = encoder_model();
    ml::scorer s(m);
    const auto same_as = [&](std::string_view json, std::vector<double> x) {
        INFO(json);
        const auto p = predicted(s, json);
        ml::prediction direct;
        m.predict(x, direct);
        REQUIRE(p.proba.size() == 2);
        CHECK(p.proba == direct.proba);
        CHECK(p.klass == direct.klass);
        return p;
    };
    // (9 - 5) / 2 = 2; green is the second category; k = 3 is its mean.
    const auto green = same_as(R"({"x":9,"colour":"green","k":3})", {2, 0, 1, 0, 0, 0});
    same_as(R"({"x":3,"colour":"red","k":5})", {-1, 0, 0, 1, 0, 2});
    // An unseen category: the unknown column, not an error.
    same_as(R"({"x":9,"colour":"purple","k":3})", {2, 0, 0, 0, 1, 0});
    // Nulls: the mean (0 once standardised) and the unknown column.
    same_as(R"({"x":null,"colour":null,"k":null})", {0, 0, 0, 0, 1, 0});
    // A number given as text is read as that number.
    same_as(R"({"x":"9","colour":"green","k":3})", {2, 0, 1, 0, 0, 0});
    // Fields the model does not know are ignored.
    same_as(R"({"x":9,"colour":"green","k":3,"other":[1,2]})", {2, 0, 1, 0, 0, 0});

    // Not standardised would predict something else: the check above sees the encoding.
    ml::prediction raw;
    m.predict(std::vector<double>{9, 0, 1, 0, 0, 3}, raw);
    CHECK(raw.proba != green.proba);
    CHECK(green.proba[0] + green.proba[1] == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("ml encoders: an absent field, a text for a number and an object are errors naming the feature", "[ml]") {
    const auto m = encoder_model();
    ml::scorer s(m);

    auto r = score(s, R"({"colour":"red","k":3})");
    CHECK_FALSE(r.ok);
    CHECK(r.why == "no field 'x' (the model needs it)");

    r = score(s, R"({"x":1,"k":3})");
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.why, Contains("'colour'"));

    r = score(s, R"({"x":"abc","colour":"red","k":3})");
    CHECK_FALSE(r.ok);
    CHECK(r.why == R"('x' is "abc", where the model learnt numbers)");

    // An empty text and a number out of a double's range are not numbers either (both once
    // passed as the mean).
    for (const char* text : {"", "1e999"}) {
        INFO(text);
        r = score(s, std::string(R"({"x":")") + text + R"(","colour":"red","k":3})");
        CHECK_FALSE(r.ok);
        CHECK(r.why == std::string("'x' is \"") + text + "\", where the model learnt numbers");
    }

    r = score(s, R"({"x":1,"colour":"red","k":"NaN"})");
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.why, Contains("'k'"));

    r = score(s, R"({"x":{"v":1},"colour":"red","k":3})");
    CHECK_FALSE(r.ok);
    CHECK(r.why == "'x' is an object or a list, not a feature value");

    r = score(s, R"({"x":1,"colour":["red"],"k":3})");
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.why, Contains("'colour'"));

    // The scorer goes on after an error.
    CHECK(score(s, R"({"x":1,"colour":"red","k":3})").ok);
}

TEST_CASE("ml row_reader: features and label per record, rows without a label skipped, one example per input", "[ml]") {
    ml::dataset data;
    data.feature_names = {"x", "colour"};
    ml::row_reader reader(data, {}, "y");
    simdjson::dom::parser parser;
    const auto read = [&](const std::string& json, std::string& why) {
        simdjson::dom::object object;
        REQUIRE(parser.parse(json).get(object) == simdjson::SUCCESS);
        return reader.read(object, nullptr, why);
    };
    std::string why;
    CHECK(read(R"({"x":null,"colour":"red","y":"a"})", why));
    CHECK(read(R"({"x":1.5,"colour":"blue","y":2})", why));
    CHECK(read(R"({"colour":true,"y":"a"})", why));  // x absent: a missing value
    CHECK(read(R"({"x":2,"colour":"red"})", why));   // no label: skipped
    CHECK(read(R"({"x":2,"colour":"red","y":null})", why));
    CHECK_FALSE(read(R"({"x":{"a":1},"colour":"red","y":"a"})", why));
    CHECK(why == "'x' is an object or a list, not a feature value");

    CHECK(data.rows_read == 6);
    CHECK(data.skipped == 2);
    REQUIRE(data.rows.size() == 3);
    REQUIRE(data.labels.size() == 3);
    using kind = ml::cell::kind;
    CHECK(data.rows[0][0].what == kind::missing);
    CHECK(data.rows[0][1].what == kind::text);
    CHECK(data.rows[0][1].text == "red");
    CHECK(data.rows[1][0].what == kind::number);
    CHECK(data.rows[1][0].number == 1.5);
    CHECK(data.rows[2][0].what == kind::missing);
    CHECK(data.rows[2][1].what == kind::number);  // a boolean is 1 or 0
    CHECK(data.rows[2][1].number == 1);
    CHECK(data.labels[0].text == "a");
    CHECK(data.labels[1].what == kind::number);
    CHECK(data.labels[1].number == 2);
    // The first non-null value of each input, as JSON.
    CHECK(data.inputs == std::vector<std::pair<std::string, std::string>>{{"x", "1.5"}, {"colour", R"("red")"}});
}

TEST_CASE("ml derived features: computed from the record at scoring time, their inputs required", "[ml]") {
    // y = 3a + 1 = 1.5 * a2 + 1, where a2 = a * 2 is the only feature.
    ml::dataset data;
    data.feature_names = {"a2"};
    std::vector<std::string> records;
    for (int a = 0; a < 20; ++a) records.push_back(fmt::format(R"({{"a":{},"y":{}}})", a, 3 * a + 1));
    const std::vector<ml::derived_feature> derived = {{"a2", "a * 2"}};
    read_records(data, records, derived, "y");
    REQUIRE(data.rows.size() == 20);
    CHECK(data.rows[7][0].number == 14);
    CHECK(data.inputs == std::vector<std::pair<std::string, std::string>>{{"a", "0"}});

    const auto m = ml::model::train(data, ml::algorithm::linear, with_seed(3), derived, "y");
    CHECK(m.inputs() == std::vector<std::string>{"a"});
    REQUIRE(m.derived().size() == 1);
    CHECK(m.derived()[0].expression == "a * 2");
    ml::scorer s(m);
    CHECK(predicted(s, R"({"a":10})").value == Approx(31).margin(1e-9));
    CHECK(predicted(s, R"({"a":-4.5})").value == Approx(-12.5).margin(1e-9));
    // The derived value is computed, not read from a field of that name.
    CHECK(predicted(s, R"({"a":10,"a2":1000})").value == Approx(31).margin(1e-9));
    const auto r = score(s, R"({"b":10})");
    CHECK_FALSE(r.ok);
    CHECK(r.why == "no field 'a' (the model needs it)");
}

// --- algorithms --------------------------------------------------------------------------------

TEST_CASE("ml logistic: two linearly separable classes from JSON records", "[ml]") {
    // pos: x1 in [0.5, 2.5), neg: x1 in (-2.5, -0.5]; x2 is noise.
    uniform_source u(11);
    std::vector<std::string> records;
    for (int i = 0; i < 100; ++i) {
        const bool pos = i % 2 == 0;
        const double x1 = (pos ? 1 : -1) * u(0.5, 2.5);
        records.push_back(fmt::format(R"({{"x1":{},"x2":{},"label":"{}"}})", x1, u(-3, 3), pos ? "pos" : "neg"));
    }
    ml::dataset data;
    data.feature_names = {"x1", "x2"};
    read_records(data, records, {}, "label");
    const auto m = ml::model::train(data, ml::algorithm::logistic, with_seed(42), {}, "label");
    CHECK(m.kind() == ml::algorithm::logistic);
    CHECK(m.classes() == std::vector<std::string>{"neg", "pos"});

    simdjson::dom::parser parser;
    const auto md = parse_object(parser, m.metadata());
    simdjson::dom::object metrics;
    REQUIRE(md["metrics"].get(metrics) == simdjson::SUCCESS);
    CHECK(number_at(metrics, "accuracy") == 1.0);
    CHECK(number_at(metrics, "roc_auc") == 1.0);
    simdjson::dom::array confusion;
    REQUIRE(metrics["confusion"].get(confusion) == simdjson::SUCCESS);
    std::uint64_t held_out = 0, right = 0, r = 0;
    for (auto row : confusion) {
        std::uint64_t c = 0;
        for (auto v : row) {
            held_out += v.get_uint64().value();
            if (c++ == r) right += v.get_uint64().value();
        }
        ++r;
    }
    CHECK(held_out == 20);  // 20% of 100
    CHECK(right == held_out);

    ml::scorer s(m);
    const auto p = predicted(s, R"({"x1":2,"x2":0})");
    CHECK(p.klass == 1);
    CHECK(p.proba[1] > 0.9);
    CHECK(prediction_json(s, p) == R"("pos")");
    const auto n = predicted(s, R"({"x1":-2,"x2":2.5})");
    CHECK(n.klass == 0);
    CHECK(n.proba[0] > 0.9);
    CHECK(prediction_json(s, n) == R"("neg")");
    std::string proba;
    s.append_probabilities(proba, n);
    CHECK(proba == fmt::format(R"({{"neg":{},"pos":{}}})", n.proba[0], n.proba[1]));
}

TEST_CASE("ml logistic: three separated clusters, numeric classes in numeric order", "[ml]") {
    // Classes 10, 2 and 33 around (0, 0), (6, 6) and (12, 0).
    const std::vector<std::pair<double, std::pair<double, double>>> clusters = {{10, {0, 0}}, {2, {6, 6}}, {33, {12, 0}}};
    uniform_source u(5);
    ml::dataset data;
    data.feature_names = {"u", "v"};
    for (int i = 0; i < 90; ++i) {
        const auto& [klass, centre] = clusters[static_cast<std::size_t>(i % 3)];
        data.rows.push_back({num(centre.first + u(-1, 1)), num(centre.second + u(-1, 1))});
        data.labels.push_back(num(klass));
    }
    const auto m = ml::model::train(data, ml::algorithm::logistic, with_seed(9), {}, "k");
    CHECK(m.classes() == std::vector<std::string>{"2", "10", "33"});
    CHECK(m.numeric_classes());
    simdjson::dom::parser parser;
    const auto md = parse_object(parser, m.metadata());
    simdjson::dom::object metrics;
    REQUIRE(md["metrics"].get(metrics) == simdjson::SUCCESS);
    CHECK(number_at(metrics, "accuracy") == 1.0);
    CHECK(metrics["roc_auc"].error() == simdjson::NO_SUCH_FIELD);  // binary only

    ml::scorer s(m);
    for (const auto& [klass, centre] : clusters) {
        const auto p = predicted(s, fmt::format(R"({{"u":{},"v":{}}})", centre.first, centre.second));
        REQUIRE(p.proba.size() == 3);
        CHECK(prediction_json(s, p) == std::to_string(static_cast<int>(klass)));  // a number, not a string
        CHECK(p.proba[static_cast<std::size_t>(p.klass)] > 0.9);
        CHECK(p.proba[0] + p.proba[1] + p.proba[2] == Approx(1.0).epsilon(1e-12));
    }
}

TEST_CASE("ml linear: y = 3 x1 - 2 x2 + 5 learnt exactly", "[ml]") {
    uniform_source u(17);
    ml::dataset data;
    data.feature_names = {"x1", "x2"};
    for (int i = 0; i < 50; ++i) {
        const double x1 = u(-5, 5), x2 = u(-5, 5);
        data.rows.push_back({num(x1), num(x2)});
        data.labels.push_back(num(3 * x1 - 2 * x2 + 5));
    }
    const auto m = ml::model::train(data, ml::algorithm::linear, with_seed(4), {}, "y");
    CHECK(m.classes().empty());
    ml::scorer s(m);
    for (const auto& [x1, x2] : std::vector<std::pair<double, double>>{{0, 0}, {1.5, -2}, {-7, 3.25}, {100, 100}}) {
        const auto p = predicted(s, fmt::format(R"({{"x1":{},"x2":{}}})", x1, x2));
        CHECK(p.klass == -1);
        CHECK(p.proba.empty());
        CHECK(p.value == Approx(3 * x1 - 2 * x2 + 5).margin(1e-6));
    }

    simdjson::dom::parser parser;
    const auto md = parse_object(parser, m.metadata());
    CHECK(std::string_view(md["task"]) == "regression");
    simdjson::dom::object metrics;
    REQUIRE(md["metrics"].get(metrics) == simdjson::SUCCESS);
    CHECK(number_at(metrics, "r2") == Approx(1.0).margin(1e-9));
    CHECK(number_at(metrics, "rmse") < 1e-6);
    CHECK(number_at(metrics, "mae") < 1e-6);
    // The held-out (truth, prediction) pairs.
    simdjson::dom::array pairs;
    REQUIRE(metrics["predictions"].get(pairs) == simdjson::SUCCESS);
    CHECK(pairs.size() == 10);
    for (auto pair : pairs) CHECK(pair.at(1).get_double().value() == Approx(pair.at(0).get_double().value()).margin(1e-6));
    CHECK_THAT(ml::describe(m.metadata(), "y.model"), Contains("R2          1.0000\n"));
}

TEST_CASE("ml rf-regressor: a step function away from the step", "[ml]") {
    uniform_source u(23);
    ml::dataset data;
    data.feature_names = {"x"};
    for (int i = 0; i < 200; ++i) {
        const double x = u(0, 1);
        data.rows.push_back({num(x)});
        data.labels.push_back(num(x > 0.5 ? 10 : 0));
    }
    const auto m = ml::model::train(data, ml::algorithm::rf_regressor, with_seed(8), {}, "y");
    ml::scorer s(m);
    for (double x : {0.0, 0.1, 0.3, 0.4}) CHECK(predicted(s, fmt::format(R"({{"x":{}}})", x)).value == Approx(0).margin(0.5));
    for (double x : {0.6, 0.7, 0.9, 1.0}) CHECK(predicted(s, fmt::format(R"({{"x":{}}})", x)).value == Approx(10).margin(0.5));
}

namespace {

// class "b" when signal > 0, "a" otherwise; noise is listed first. signal takes 20 values
// (+-0.1 to +-1): with no more values than max_bins every midpoint is a candidate split. (With
// more, the thresholds are training values at quantiles, as Spark's: one bin then holds the largest
// negatives and the smallest positives, and a few rows near 0 are misclassified.)
ml::dataset separable(std::uint32_t seed) {
    uniform_source u(seed);
    ml::dataset data;
    data.feature_names = {"noise", "signal"};
    for (int i = 0; i < 300; ++i) {
        const double signal = (i % 2 ? 1 : -1) * (1 + std::floor(u(0, 10))) / 10;
        data.rows.push_back({num(u(-1, 1)), num(signal)});
        data.labels.push_back(txt(signal > 0 ? "b" : "a"));
    }
    return data;
}

}  // namespace

TEST_CASE("ml rf-classifier: separable classes, the informative feature most important", "[ml]") {
    const auto m = ml::model::train(separable(29), ml::algorithm::rf_classifier, with_seed(42), {}, "c");
    simdjson::dom::parser parser;
    const auto md = parse_object(parser, m.metadata());
    simdjson::dom::object metrics;
    REQUIRE(md["metrics"].get(metrics) == simdjson::SUCCESS);
    CHECK(number_at(metrics, "accuracy") >= 0.99);
    simdjson::dom::array importances;
    REQUIRE(metrics["importances"].get(importances) == simdjson::SUCCESS);
    REQUIRE(importances.size() == 2);
    simdjson::dom::object first, second;
    REQUIRE(importances.at(0).get(first) == simdjson::SUCCESS);
    REQUIRE(importances.at(1).get(second) == simdjson::SUCCESS);
    CHECK(std::string_view(first["feature"]) == "signal");
    CHECK(std::string_view(second["feature"]) == "noise");
    CHECK(number_at(first, "importance") > 0.9);
    CHECK(number_at(first, "importance") + number_at(second, "importance") == Approx(1.0).epsilon(1e-12));

    ml::scorer s(m);
    CHECK(prediction_json(s, predicted(s, R"({"noise":0,"signal":0.8})")) == R"("b")");
    CHECK(prediction_json(s, predicted(s, R"({"noise":0.9,"signal":-0.8})")) == R"("a")");
    const auto p = predicted(s, R"({"noise":-0.5,"signal":0.9})");
    CHECK(p.proba[0] + p.proba[1] == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("ml training is deterministic: the same seed gives the same model file", "[ml]") {
    ks_test::temp_dir dir;
    const auto data = separable(31);
    const auto save = [&](std::uint64_t seed, const std::string& name) {
        const auto path = dir.child(name);
        ml::model::train(data, ml::algorithm::rf_classifier, with_seed(seed), {}, "c").save(path);
        return ks_test::slurp(path);
    };
    const auto one = save(7, "one.model"), two = save(7, "two.model"), other = save(8, "other.model");
    // The files differ in their "training" block ("seconds" measures the run, "trained_at" is the
    // clock): compare the header, the metadata before and after that block, and the payload.
    const auto parts = [](const std::string& file) {
        const auto first = file.find('\n'), second = file.find('\n', first + 1);
        const std::string md = file.substr(first + 1, second - first - 1);
        const auto training = md.find(R"(,"training":)"), metrics = md.find(R"(,"metrics":)");
        REQUIRE(first != std::string::npos);
        REQUIRE(second != std::string::npos);
        REQUIRE(training != std::string::npos);
        REQUIRE(metrics != std::string::npos);
        return std::vector<std::string>{file.substr(0, first), md.substr(0, training), md.substr(metrics), file.substr(second + 1)};
    };
    const auto p1 = parts(one), p2 = parts(two), p3 = parts(other);
    CHECK(p1 == p2);
    CHECK(p1[3].size() > 1000);
    CHECK(p1[3] != p3[3]);  // another seed: other bootstrap samples, other trees
}

// --- metrics -----------------------------------------------------------------------------------

TEST_CASE("ml classify_metrics: three classes, ten rows, by hand", "[ml]") {
    const std::vector<int> truth = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
    const std::vector<double> proba = {
        0.7, 0.2, 0.1,  // 0 -> 0
        0.6, 0.3, 0.1,  // 0 -> 0
        0.2, 0.3, 0.5,  // 0 -> 2
        0.5, 0.1, 0.4,  // 0 -> 0
        0.1, 0.8, 0.1,  // 1 -> 1
        0.3, 0.4, 0.3,  // 1 -> 1
        0.1, 0.2, 0.7,  // 1 -> 2
        0.2, 0.2, 0.6,  // 2 -> 2
        0.4, 0.4, 0.2,  // 2 -> 0 (a tie: the first class)
        0.0, 0.1, 0.9,  // 2 -> 2
    };
    const auto m = ml::classify_metrics(truth, proba, 3);
    CHECK(m.accuracy == Approx(0.7).epsilon(1e-15));
    CHECK(m.confusion == std::vector<std::vector<std::uint64_t>>{{3, 0, 1}, {0, 2, 1}, {1, 0, 2}});
    CHECK(m.support == std::vector<std::uint64_t>{4, 3, 3});
    // Predicted per class (columns): 4, 2, 4.
    REQUIRE(m.precision.size() == 3);
    CHECK(m.precision[0] == Approx(3.0 / 4).epsilon(1e-15));
    CHECK(m.precision[1] == Approx(1.0).epsilon(1e-15));
    CHECK(m.precision[2] == Approx(2.0 / 4).epsilon(1e-15));
    CHECK(m.recall[0] == Approx(3.0 / 4).epsilon(1e-15));
    CHECK(m.recall[1] == Approx(2.0 / 3).epsilon(1e-15));
    CHECK(m.recall[2] == Approx(2.0 / 3).epsilon(1e-15));
    CHECK(m.f1[0] == Approx(3.0 / 4).epsilon(1e-15));
    CHECK(m.f1[1] == Approx(4.0 / 5).epsilon(1e-15));
    CHECK(m.f1[2] == Approx(4.0 / 7).epsilon(1e-15));
    // The probabilities of the actual classes.
    const double actual[] = {0.7, 0.6, 0.2, 0.5, 0.8, 0.4, 0.2, 0.6, 0.2, 0.9};
    double loss = 0;
    for (double p : actual) loss -= std::log(p);
    CHECK(m.log_loss == Approx(loss / 10).epsilon(1e-12));
    CHECK(m.roc_auc == -1);  // three classes
    CHECK(m.roc.empty());
}

TEST_CASE("ml classify_metrics: a class never predicted or never present has 0 precision, recall and F1", "[ml]") {
    // Class 2 never appears and is never predicted; one probability is 0 (clipped to 1e-15).
    const auto m = ml::classify_metrics({0, 1}, {1.0, 0.0, 0.0, 0.9, 0.1, 0.0}, 3);
    CHECK(m.accuracy == 0.5);
    CHECK(m.confusion == std::vector<std::vector<std::uint64_t>>{{1, 0, 0}, {1, 0, 0}, {0, 0, 0}});
    CHECK(m.precision == std::vector<double>{0.5, 0, 0});
    CHECK(m.recall == std::vector<double>{1, 0, 0});
    CHECK(m.f1[0] == Approx(2.0 / 3).epsilon(1e-15));
    CHECK(m.f1[1] == 0);
    CHECK(m.f1[2] == 0);
    CHECK(m.support == std::vector<std::uint64_t>{1, 1, 0});
    CHECK(m.log_loss == Approx((-std::log(1 - 1e-15) - std::log(0.1)) / 2).epsilon(1e-12));

    const auto clipped = ml::classify_metrics({1}, {1.0, 0.0}, 2);
    CHECK(clipped.log_loss == Approx(-std::log(1e-15)).epsilon(1e-12));
    CHECK(clipped.roc_auc == -1);  // no negatives
    CHECK(clipped.roc.empty());

    const auto empty = ml::classify_metrics({}, {}, 2);
    CHECK(empty.accuracy == 0);
    CHECK(empty.log_loss == 0);
    CHECK(empty.roc_auc == -1);
}

TEST_CASE("ml roc_auc: the rank statistic with ties counting one half", "[ml]") {
    // Positives 0.8, 0.6, 0.4 against negatives 0.6, 0.3, 0.1: 3 + 2.5 + 2 of 9 pairs.
    const std::vector<int> positive = {1, 1, 0, 1, 0, 0};
    const std::vector<double> score = {0.8, 0.6, 0.6, 0.4, 0.3, 0.1};
    CHECK(ml::roc_auc(positive, score) == Approx(7.5 / 9).epsilon(1e-15));
    // The order of the rows does not matter.
    CHECK(ml::roc_auc({0, 0, 1, 0, 1, 1}, {0.1, 0.3, 0.4, 0.6, 0.6, 0.8}) == Approx(7.5 / 9).epsilon(1e-15));
    CHECK(ml::roc_auc({1, 0}, {0.5, 0.5}) == 0.5);
    CHECK(ml::roc_auc({1, 0}, {0.9, 0.1}) == 1);
    CHECK(ml::roc_auc({1, 0}, {0.1, 0.9}) == 0);
    CHECK(ml::roc_auc({1, 1, 1}, {0.1, 0.5, 0.9}) == -1);
    CHECK(ml::roc_auc({0, 0}, {0.1, 0.5}) == -1);
    CHECK(ml::roc_auc({}, {}) == -1);

    // Through classify_metrics (class 1 positive), with the curve's corners from the top score down.
    std::vector<double> proba;
    for (double s : score) proba.insert(proba.end(), {1 - s, s});
    const auto m = ml::classify_metrics(positive, proba, 2);
    CHECK(m.roc_auc == Approx(7.5 / 9).epsilon(1e-15));
    const std::vector<std::pair<double, double>> corners = {{0, 0}, {0, 1.0 / 3}, {1.0 / 3, 2.0 / 3}, {1.0 / 3, 1}, {2.0 / 3, 1}, {1, 1}};
    REQUIRE(m.roc.size() == corners.size());
    for (std::size_t i = 0; i < corners.size(); ++i) {
        CHECK(m.roc[i].first == Approx(corners[i].first).epsilon(1e-15));
        CHECK(m.roc[i].second == Approx(corners[i].second).epsilon(1e-15));
    }
}

TEST_CASE("ml regress_metrics: RMSE, MAE and R2 = 1 - SSE/SST by hand", "[ml]") {
    // Errors 0.5, 0, -1, 1: SSE 2.25, mean 2.5, SST 5.
    const auto m = ml::regress_metrics({1, 2, 3, 4}, {1.5, 2, 2, 5});
    CHECK(m.rmse == Approx(0.75).epsilon(1e-15));
    CHECK(m.mae == Approx(0.625).epsilon(1e-15));
    CHECK(m.r2 == Approx(0.55).epsilon(1e-15));
    // Worse than the mean: a negative R2.
    CHECK(ml::regress_metrics({1, 2, 3}, {3, 2, 1}).r2 == Approx(1 - 8.0 / 2).epsilon(1e-15));
    // A constant truth: no variance to explain; exact predictions score 1, anything else 0.
    const auto exact = ml::regress_metrics({3, 3, 3}, {3, 3, 3});
    CHECK(exact.r2 == 1);
    CHECK(exact.rmse == 0);
    CHECK(exact.mae == 0);
    const auto off = ml::regress_metrics({3, 3, 3}, {3, 4, 3});
    CHECK(off.r2 == 0);
    CHECK(off.rmse == Approx(std::sqrt(1.0 / 3)).epsilon(1e-15));
    CHECK(off.mae == Approx(1.0 / 3).epsilon(1e-15));
    const auto none_at_all = ml::regress_metrics({}, {});
    CHECK(none_at_all.rmse == 0);
    CHECK(none_at_all.r2 == 0);
}

// --- the model file ----------------------------------------------------------------------------

namespace {

// A small classifier with a category, a number and a derived feature, trained from JSON records.
ml::model file_model(ml::algorithm a) {
    uniform_source u(41);
    std::vector<std::string> records;
    const char* shops[] = {"north", "south", "east"};
    for (int i = 0; i < 60; ++i) {
        const double amount = u(0, 100);
        const char* shop = shops[i % 3];
        const bool fraud = amount > 60 || (amount > 30 && i % 3 == 0);
        records.push_back(fmt::format(R"({{"amount":{},"shop":"{}","fraud":{}}})", amount, shop, fraud ? 1 : 0));
    }
    ml::dataset data;
    data.feature_names = {"amount", "shop", "half"};
    const std::vector<ml::derived_feature> derived = {{"half", "amount / 2"}};
    read_records(data, records, derived, "fraud");
    return ml::model::train(data, a, with_seed(5), derived, "fraud");
}

const std::vector<std::string> file_records = {
    R"({"amount":5,"shop":"north"})", R"({"amount":45,"shop":"north"})", R"({"amount":45,"shop":"east"})",
    R"({"amount":95,"shop":"west"})", R"({"amount":null,"shop":null})",
};

}  // namespace

TEST_CASE("ml model file: save and load give the same model and the same predictions", "[ml]") {
    ks_test::temp_dir dir;
    for (auto a : {ml::algorithm::logistic, ml::algorithm::rf_classifier, ml::algorithm::linear, ml::algorithm::rf_regressor}) {
        INFO(ml::algorithm_name(a));
        const auto m = file_model(a);
        const auto path = dir.child("m.model");
        m.save(path);
        const auto loaded = ml::model::load(path);
        CHECK(loaded.kind() == a);
        CHECK(loaded.label() == "fraud");
        CHECK(loaded.classes() == m.classes());
        CHECK(loaded.numeric_classes() == m.numeric_classes());
        CHECK(loaded.encoded_width() == m.encoded_width());
        CHECK(loaded.inputs() == std::vector<std::string>{"amount", "shop"});
        REQUIRE(loaded.derived().size() == 1);
        CHECK(loaded.derived()[0].name == "half");
        CHECK(loaded.derived()[0].expression == "amount / 2");
        REQUIRE(loaded.features().size() == m.features().size());
        for (std::size_t j = 0; j < m.features().size(); ++j) {
            CHECK(loaded.features()[j].name == m.features()[j].name);
            CHECK(loaded.features()[j].categorical == m.features()[j].categorical);
            CHECK(loaded.features()[j].mean == m.features()[j].mean);
            CHECK(loaded.features()[j].scale == m.features()[j].scale);
            CHECK(loaded.features()[j].categories == m.features()[j].categories);
        }
        // The metadata is the trained one with the payload's size and hash added last.
        const auto& md = m.metadata();
        REQUIRE(loaded.metadata().size() > md.size());
        CHECK(loaded.metadata().substr(0, md.size() - 1) == md.substr(0, md.size() - 1));
        CHECK_THAT(loaded.metadata().substr(md.size() - 1), Catch::Matchers::StartsWith(R"(,"payload":{"bytes":)"));

        ml::scorer before(m), after(loaded);
        for (const auto& r : file_records) {
            INFO(r);
            const auto p = predicted(before, r), q = predicted(after, r);
            CHECK(p.klass == q.klass);
            CHECK(p.proba == q.proba);
            CHECK(p.value == q.value);
            CHECK(prediction_json(before, p) == prediction_json(after, q));
        }
        // Saving the loaded model writes the same file again (one payload field, not two).
        const auto first = ks_test::slurp(path);
        loaded.save(dir.child("again.model"));
        CHECK(ks_test::slurp(dir.child("again.model")) == first);
        CHECK(first.starts_with("kstream-model 1\n{"));
    }
}

TEST_CASE("ml model file: another version, damage, truncation and other files are refused", "[ml]") {
    ks_test::temp_dir dir;
    const auto path = dir.child("good.model");
    file_model(ml::algorithm::rf_classifier).save(path);
    const auto good = ks_test::slurp(path);
    const auto first = good.find('\n'), second = good.find('\n', first + 1);
    REQUIRE(second != std::string::npos);
    REQUIRE(good.size() > second + 100);
    const auto load_error = [&](const std::string& name, const std::string& content) {
        const auto p = dir.write(name, content);
        return thrown_message<ks::data_error>([&] { (void)ml::model::load(p); });
    };

    const auto v2 = load_error("v2.model", "kstream-model 2" + good.substr(first));
    CHECK_THAT(v2, Contains("v2.model") && Contains("version 2"));

    const auto cut = load_error("cut.model", good.substr(0, good.size() - 7));
    CHECK_THAT(cut, Contains("cut.model") && Contains("corrupt"));
    const auto no_payload = load_error("nopayload.model", good.substr(0, second + 1));
    CHECK_THAT(no_payload, Contains("corrupt"));
    const auto half_metadata = load_error("half.model", good.substr(0, first + 20));
    CHECK_THAT(half_metadata, Contains("corrupt"));

    for (std::size_t at : {second + 1, second + (good.size() - second) / 2, good.size() - 1}) {
        INFO("byte " << at);
        auto flipped = good;
        flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
        CHECK_THAT(load_error("flipped.model", flipped), Contains("corrupt"));
    }
    auto longer = good + "x";
    CHECK_THAT(load_error("longer.model", longer), Contains("corrupt"));

    CHECK_THAT(load_error("text.model", "Lorem ipsum dolor sit amet,\nconsectetur adipiscing elit.\n"),
               Contains("text.model") && Contains("not a kstream model"));
    CHECK_THAT(load_error("empty.model", ""), Contains("not a kstream model"));
    CHECK_THAT(load_error("noversion.model", "kstream-model x\n{}\n"), Contains("not a kstream model"));
    CHECK_THAT(load_error("junk.model", "kstream-model 1junk" + good.substr(first)), Contains("not a kstream model"));

    const auto missing = dir.child("missing.model");
    CHECK_THAT(thrown_message<ks::runtime_failure>([&] { (void)ml::model::load(missing); }), Contains("missing.model"));
    const auto unwritable = dir.child("no/such/dir.model");
    CHECK_THAT(thrown_message<ks::runtime_failure>([&] { ml::model::load(path).save(unwritable); }),
               Contains("dir.model") && Contains("cannot write"));
    // The file that was good still is.
    CHECK(ml::model::load(path).kind() == ml::algorithm::rf_classifier);
}

TEST_CASE("ml describe: the model, its features and the held-out metrics as tables", "[ml]") {
    const std::string md =
        R"({"algorithm":"logistic","task":"classification","label":"y","classes":["neg","pos"],)"
        R"("features":[{"name":"x","type":"number"},{"name":"c","type":"category","categories":["a","b"]}],)"
        R"("derived":[{"name":"x","expression":"v * 2"}],"hyperparameters":{"l2":0.1,"seed":42},)"
        R"("training":{"rows_read":10,"rows_train":8,"rows_test":2,"skipped":0,"seconds":0.25},)"
        R"("metrics":{"accuracy":0.75,"log_loss":0.5,"roc_auc":0.8,)"
        R"("per_class":[{"class":"neg","precision":0.75,"recall":1,"f1":0.857142857,"support":3},)"
        R"({"class":"pos","precision":1,"recall":0.5,"f1":0.666666667,"support":2}],"confusion":[[3,0],[1,1]]}})";
    CHECK(ml::describe(md, "m.model") ==
          "model       m.model: logistic classification of 'y' (2 classes)\n"
          "features    x, c (2 categories)\n"
          "derived     x = v * 2\n"
          "parameters  l2=0.1 seed=42\n"
          "trained     on 8 rows, 2 held out (10 rows read, 0 without a label), in 0.250 s\n"
          "\n"
          "accuracy    0.7500\n"
          "log loss    0.5000\n"
          "ROC AUC     0.8000\n"
          "\n"
          "class  precision   recall       f1  support\n"
          "neg       0.7500   1.0000   0.8571        3\n"
          "pos       1.0000   0.5000   0.6667        2\n"
          "\n"
          "confusion matrix (rows: actual, columns: predicted)\n"
          "           neg      pos\n"
          "neg          3        0\n"
          "pos          1        1\n");

    // A trained classifier's own metadata.
    const auto m = file_model(ml::algorithm::rf_classifier);
    const auto text = ml::describe(m.metadata(), "fraud.model");
    CHECK_THAT(text, Contains("model       fraud.model: rf-classifier classification of 'fraud' (2 classes)\n"));
    CHECK_THAT(text, Contains("\naccuracy    "));
    CHECK_THAT(text, Contains("confusion matrix (rows: actual, columns: predicted)\n"));
    CHECK_THAT(text, Contains("\nfeature importance\n"));

    CHECK_THAT(thrown_message<ks::data_error>([] { (void)ml::describe("not json", "x.model"); }), Contains("x.model"));
}

// --- training errors ---------------------------------------------------------------------------

TEST_CASE("ml train: one class, too few rows and a text regression label are data errors", "[ml]") {
    const auto train_error = [](const ml::dataset& data, ml::algorithm a) {
        return thrown_message<ks::data_error>([&] { (void)ml::model::train(data, a, ml::hyperparameters{}, {}, "y"); });
    };
    ml::dataset data;
    data.feature_names = {"x"};
    for (int i = 0; i < 10; ++i) {
        data.rows.push_back({num(i)});
        data.labels.push_back(txt("same"));
    }
    CHECK_THAT(train_error(data, ml::algorithm::logistic), Contains("'y'") && Contains("one class"));
    CHECK_THAT(train_error(data, ml::algorithm::rf_classifier), Contains("one class"));

    ml::dataset one;
    one.feature_names = {"x"};
    one.rows.push_back({num(1)});
    one.labels.push_back(txt("a"));
    CHECK_THAT(train_error(one, ml::algorithm::logistic), Contains("at least 2"));
    CHECK_THAT(train_error(one, ml::algorithm::linear), Contains("at least 2"));
    ml::dataset empty;
    empty.feature_names = {"x"};
    CHECK_THAT(train_error(empty, ml::algorithm::rf_regressor), Contains("at least 2"));

    // Two classes, but the one training row (split 0.5 of 2) holds one of them.
    ml::dataset two;
    two.feature_names = {"x"};
    two.rows = {{num(1)}, {num(2)}};
    two.labels = {txt("a"), txt("b")};
    CHECK_THAT(thrown_message<ks::data_error>([&] {
                   (void)ml::model::train(two, ml::algorithm::logistic, with_seed(1, 0.5), {}, "y");
               }),
               Contains("training rows hold one class of 'y'"));

    ml::dataset text_label;
    text_label.feature_names = {"x"};
    for (int i = 0; i < 10; ++i) {
        text_label.rows.push_back({num(i)});
        text_label.labels.push_back(i == 4 ? txt("cheap") : num(i * 2));
    }
    const auto message = train_error(text_label, ml::algorithm::linear);
    CHECK_THAT(message, Contains("'y'") && Contains("1 of 10") && Contains("cheap"));
    CHECK_THAT(train_error(text_label, ml::algorithm::rf_regressor), Contains("'y'"));
}
