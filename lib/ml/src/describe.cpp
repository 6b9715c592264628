// A model's metadata as text tables (ktrain's output and --describe).
#include "ks/error.hpp"
#include "ks/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ks::ml {

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

double number(simdjson::simdjson_result<element> e, double otherwise = NAN) {
    double d;
    if (e.get(d) == simdjson::SUCCESS) return d;
    std::int64_t i;
    if (e.get(i) == simdjson::SUCCESS) return static_cast<double>(i);
    std::uint64_t u;
    if (e.get(u) == simdjson::SUCCESS) return static_cast<double>(u);
    return otherwise;
}

std::string text(simdjson::simdjson_result<element> r) {
    element e;
    if (r.get(e) != simdjson::SUCCESS) return "";
    std::string_view s;
    if (e.get(s) == simdjson::SUCCESS) return std::string(s);
    return simdjson::minify(e);
}

std::string text(element e) { return text(simdjson::simdjson_result<element>(std::move(e))); }

std::string fixed(double v, int digits = 4) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : "n/a"; }

}  // namespace

std::string describe(std::string_view metadata_json, std::string_view name) {
    simdjson::dom::parser parser;
    object md;
    if (parser.parse(metadata_json.data(), metadata_json.size()).get(md) != simdjson::SUCCESS)
        throw data_error(fmt::format("{}: the metadata is not a JSON object", name));
    std::string out;
    const auto line = [&](std::string_view key, const std::string& value) {
        fmt::format_to(std::back_inserter(out), "{:<12}{}\n", key, value);
    };
    const std::string algo = text(md["algorithm"]);
    const bool classifier = text(md["task"]) == "classification";
    std::vector<std::string> classes;
    simdjson::dom::array list;
    if (md["classes"].get(list) == simdjson::SUCCESS)
        for (auto c : list) classes.push_back(text(c));
    line("model", fmt::format("{}: {} {} of '{}'{}", name, algo, classifier ? "classification" : "regression",
                              text(md["label"]),
                              classifier ? fmt::format(" ({} classes)", classes.size()) : ""));
    std::string features;
    if (md["features"].get(list) == simdjson::SUCCESS)
        for (auto f : list) {
            if (!features.empty()) features += ", ";
            features += text(f["name"]);
            if (text(f["type"]) == "category") {
                simdjson::dom::array cats;
                std::size_t n = 0;
                if (f["categories"].get(cats) == simdjson::SUCCESS) n = cats.size();
                features += fmt::format(" ({} categories)", n);
            }
        }
    line("features", features);
    if (md["derived"].get(list) == simdjson::SUCCESS)
        for (auto d : list) line("derived", text(d["name"]) + " = " + text(d["expression"]));
    object hp;
    if (md["hyperparameters"].get(hp) == simdjson::SUCCESS) {
        std::string h;
        for (auto field : hp) h += fmt::format("{}{}={}", h.empty() ? "" : " ", field.key, text(field.value));
        line("parameters", h);
    }
    object tr;
    if (md["training"].get(tr) == simdjson::SUCCESS)
        line("trained", fmt::format("on {} rows, {} held out ({} rows read, {} without a label), in {} s",
                                    text(tr["rows_train"]), text(tr["rows_test"]),
                                    text(tr["rows_read"]), text(tr["skipped"]),
                                    fixed(number(tr["seconds"]), 3)));
    object m;
    if (md["metrics"].get(m) != simdjson::SUCCESS || m.size() == 0) {
        out += "\nno held-out rows: no metrics (--split 1)\n";
        return out;
    }
    out += '\n';
    if (classifier) {
        line("accuracy", fixed(number(m["accuracy"])));
        line("log loss", fixed(number(m["log_loss"])));
        if (m["roc_auc"].error() == simdjson::SUCCESS) line("ROC AUC", fixed(number(m["roc_auc"])));

        std::size_t width = 5;
        for (const auto& c : classes) width = std::max(width, c.size());
        fmt::format_to(std::back_inserter(out), "\n{:<{}}  {:>9}  {:>7}  {:>7}  {:>7}\n", "class", width, "precision", "recall",
                       "f1", "support");
        if (m["per_class"].get(list) == simdjson::SUCCESS)
            for (auto c : list)
                fmt::format_to(std::back_inserter(out), "{:<{}}  {:>9}  {:>7}  {:>7}  {:>7}\n", text(c["class"]),
                               width, fixed(number(c["precision"])), fixed(number(c["recall"])),
                               fixed(number(c["f1"])), text(c["support"]));
        fmt::format_to(std::back_inserter(out), "\nconfusion matrix (rows: actual, columns: predicted)\n{:<{}}", "", width);
        std::size_t cell = 7;
        for (const auto& c : classes) cell = std::max(cell, c.size());
        for (const auto& c : classes) fmt::format_to(std::back_inserter(out), "  {:>{}}", c, cell);
        out += '\n';
        if (m["confusion"].get(list) == simdjson::SUCCESS) {
            std::size_t r = 0;
            for (auto row : list) {
                fmt::format_to(std::back_inserter(out), "{:<{}}", r < classes.size() ? classes[r] : "", width);
                for (auto v : row) fmt::format_to(std::back_inserter(out), "  {:>{}}", text(v), cell);
                out += '\n';
                ++r;
            }
        }
    } else {
        line("RMSE", fixed(number(m["rmse"])));
        line("MAE", fixed(number(m["mae"])));
        line("R2", fixed(number(m["r2"])));
    }
    if (m["importances"].get(list) == simdjson::SUCCESS) {
        std::size_t width = 7;
        for (auto f : list) width = std::max(width, text(f["feature"]).size());
        out += "\nfeature importance\n";
        for (auto f : list)
            fmt::format_to(std::back_inserter(out), "{:<{}}  {}\n", text(f["feature"]), width,
                           fixed(number(f["importance"])));
    }
    return out;
}

}  // namespace ks::ml
