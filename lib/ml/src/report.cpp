// Pictures of a trained model as self-contained HTML (ks/report.hpp). The metadata is read once
// into a plain struct, so that a missing or malformed piece is decided in one place and the
// drawing code never sees JSON; every picture is a function of that struct returning one SVG, and
// both pages call the same functions.
#include "ks/report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace ks::ml {
namespace {

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

// ---- The metadata, as far as the pages use it ----

struct input_field {
    std::string name, type;  // type: number, category or text
    std::vector<std::string> categories;
    std::string example;  // as text; numbers in their shortest exact form
};

struct class_scores { std::string name; double precision, recall, f1, support; };

struct metadata {
    std::string algorithm, task, label;
    std::vector<std::string> classes;
    std::vector<input_field> inputs;
    std::vector<std::pair<std::string, std::string>> hyperparameters;  // file order, as text
    double rows_read, rows_train, rows_test, skipped, seconds;
    std::vector<std::string> sources;
    std::string trained_at;
    std::vector<std::pair<std::string, double>> scores;  // the metrics that are single numbers
    std::vector<class_scores> per_class;
    std::vector<std::vector<double>> confusion;        // [actual][predicted]
    std::vector<std::pair<double, double>> roc;        // (false positive rate, true positive rate)
    std::vector<std::pair<double, double>> predictions;  // (actual, predicted)
    std::vector<std::pair<std::string, double>> importances;

    [[nodiscard]] std::string class_name(std::size_t i) const {
        return i < classes.size() ? classes[i] : std::to_string(i);
    }
    [[nodiscard]] double score(std::string_view name) const {
        for (const auto& [n, v] : scores)
            if (n == name) return v;
        return not_a_number;
    }
};

using simdjson::dom::element;
using json_type = simdjson::dom::element_type;

std::optional<element> member(std::optional<element> object, std::string_view key) {
    element value;
    if (!object || object->at_key(key).get(value)) return std::nullopt;
    return value;
}

// null stands for a number the writer could not represent (NaN), so it reads as one.
double number(std::optional<element> e) {
    double d = not_a_number;
    if (e && e->get_double().get(d)) d = not_a_number;
    return d;
}

std::string text(std::optional<element> e) {
    std::string_view s;
    if (!e || e->get_string().get(s)) return {};
    return std::string(s);
}

std::vector<element> items(std::optional<element> e) {
    std::vector<element> out;
    simdjson::dom::array array;
    if (e && !e->get_array().get(array))
        for (element item : array) out.push_back(item);
    return out;
}

std::vector<std::string> texts(std::optional<element> e) {
    std::vector<std::string> out;
    for (element item : items(e)) out.push_back(text(item));
    return out;
}

// Any value as a person would type it: what prefills a form field, a hyper-parameter's value.
std::string value_text(element e) {
    switch (e.type()) {
        case json_type::STRING: return text(e);
        case json_type::INT64: return fmt::format("{}", int64_t(e));
        case json_type::UINT64: return fmt::format("{}", uint64_t(e));
        case json_type::DOUBLE: return fmt::format("{}", double(e));  // shortest exact form
        case json_type::BOOL: return bool(e) ? "true" : "false";
        case json_type::NULL_VALUE: return {};
        default: return simdjson::to_string(e);
    }
}

std::vector<std::pair<double, double>> pairs(std::optional<element> e) {
    std::vector<std::pair<double, double>> out;
    for (element item : items(e)) {
        const auto two = items(item);
        if (two.size() == 2) out.emplace_back(number(two[0]), number(two[1]));
    }
    return out;
}

void read_metrics(std::optional<element> metrics, metadata& m) {
    simdjson::dom::object object;
    if (!metrics || metrics->get_object().get(object)) return;
    for (auto [key, value] : object)
        if (value.is_number() || value.is_null()) m.scores.emplace_back(std::string(key), number(value));
    for (element c : items(member(metrics, "per_class")))
        m.per_class.push_back({text(member(c, "class")), number(member(c, "precision")), number(member(c, "recall")),
                               number(member(c, "f1")), number(member(c, "support"))});
    for (element row : items(member(metrics, "confusion"))) {
        auto& cells = m.confusion.emplace_back();
        for (element cell : items(row)) cells.push_back(number(cell));
    }
    m.roc = pairs(member(metrics, "roc"));
    m.predictions = pairs(member(metrics, "predictions"));
    for (element i : items(member(metrics, "importances")))
        m.importances.emplace_back(text(member(i, "feature")), number(member(i, "importance")));
}

metadata parse(std::string_view json) {
    simdjson::dom::parser parser;
    const simdjson::padded_string padded(json);
    element root;
    if (const auto error = parser.parse(padded).get(root)) throw std::runtime_error(fmt::format("model metadata: {}", simdjson::error_message(error)));
    if (!root.is_object()) throw std::runtime_error("model metadata: not a JSON object");
    metadata m;
    m.algorithm = text(member(root, "algorithm"));
    m.task = text(member(root, "task"));
    m.label = text(member(root, "label"));
    m.classes = texts(member(root, "classes"));
    for (element i : items(member(root, "inputs"))) {
        const auto example = member(i, "example");
        m.inputs.push_back({text(member(i, "name")), text(member(i, "type")), texts(member(i, "categories")),
                            example ? value_text(*example) : std::string()});
    }
    simdjson::dom::object hyper;
    if (const auto h = member(root, "hyperparameters"); h && !h->get_object().get(hyper))
        for (auto [key, value] : hyper) m.hyperparameters.emplace_back(std::string(key), value_text(value));
    const auto training = member(root, "training");
    m.rows_read = number(member(training, "rows_read"));
    m.rows_train = number(member(training, "rows_train"));
    m.rows_test = number(member(training, "rows_test"));
    m.skipped = number(member(training, "skipped"));
    m.seconds = number(member(training, "seconds"));
    m.sources = texts(member(training, "sources"));
    m.trained_at = text(member(training, "trained_at"));
    read_metrics(member(root, "metrics"), m);
    return m;
}

// ---- Text ----

std::string escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

bool ascii_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

std::string format_number(double v) {
    if (!std::isfinite(v)) return "n/a";
    if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
    if (std::fabs(v) >= 1000 && std::fabs(v) < 1e15) return fmt::format("{:.1f}", v);  // 12345.7, not 1.235e+04
    return fmt::format("{:.4g}", v);
}

std::size_t code_points(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// Long names would push a chart off the page; cut at a character boundary, never inside UTF-8.
std::string shorten(std::string_view s, std::size_t max_chars) {
    if (code_points(s) <= max_chars) return std::string(s);
    std::size_t kept = 0, at = 0;
    for (; at < s.size(); ++at)
        if ((s[at] & 0xC0) != 0x80 && kept++ == max_chars - 1) break;
    return std::string(s.substr(0, at)) + "\u2026";
}

double label_width(std::string_view s) { return 6.5 * static_cast<double>(code_points(s)); }  // at 11px

// Percent-encodes like JavaScript's encodeURIComponent, so the link and the fetch name the same URL.
std::string url_component(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (ascii_alnum(static_cast<char>(c)) || std::string_view("-_.!~*'()").find(static_cast<char>(c)) != std::string_view::npos)
            out += static_cast<char>(c);
        else
            out += fmt::format("%{:02X}", c);
    }
    return out;
}

// ---- Charts ----

struct tick {
    double at;  // pixels along the axis
    std::string label;
};

// A plot area inside an SVG of svg_width x svg_height, mapping data ranges to pixels. A reversed
// range (y_lo > y_hi) puts y_lo at the top, as the rows of a confusion matrix.
struct frame {
    double svg_width, svg_height, left, top, width, height;
    double x_lo, x_hi, y_lo, y_hi;
    [[nodiscard]] double px(double x) const { return left + (x - x_lo) / (x_hi - x_lo) * width; }
    [[nodiscard]] double py(double y) const { return top + height - (y - y_lo) / (y_hi - y_lo) * height; }
    [[nodiscard]] double bottom() const { return top + height; }
};

struct scale {
    double lo, hi, step;
    // Values near the ends of double's range give a span that overflows: no chart, not NaN pixels.
    [[nodiscard]] bool drawable() const { return std::isfinite(hi - lo) && step > 0; }
};

// Steps of 1, 2 or 5 times a power of ten, the range widened to whole steps: round tick labels.
scale nice_scale(double lo, double hi) {
    if (!(hi - lo > 1e-12 * std::max(std::fabs(lo), std::fabs(hi)))) {
        const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
        lo -= pad, hi += pad;
    }
    const double raw = (hi - lo) / 5, magnitude = std::pow(10, std::floor(std::log10(raw)));
    const double n = raw / magnitude;
    const double step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * magnitude;
    return {std::floor(lo / step) * step, std::ceil(hi / step) * step, step};
}

// Ticks at every step of the scale, placed by `to_pixels` (frame::px or frame::py). Labels show
// just the digits the step needs; very large or small values in exponent form to stay short.
template <class ToPixels>
std::vector<tick> numeric_ticks(scale s, ToPixels to_pixels) {
    const int step_exponent = static_cast<int>(std::floor(std::log10(s.step) + 1e-9));
    const double largest = std::max(std::fabs(s.lo), std::fabs(s.hi));
    const bool exponent_form = largest >= 1e7 || s.step < 1e-5;
    const int largest_exponent = largest > 0 ? static_cast<int>(std::floor(std::log10(largest))) : 0;
    const int digits = std::clamp(largest_exponent - step_exponent + 1, 1, 17);
    std::vector<tick> out;
    for (int i = 0; s.lo + i * s.step <= s.hi + s.step * 1e-6; ++i) {
        double v = s.lo + i * s.step;
        if (std::fabs(v) < s.step * 1e-6) v = 0;  // no "-0.0"
        out.push_back({to_pixels(v), exponent_form ? fmt::format("{:.{}g}", v, digits)
                                                   : fmt::format("{:.{}f}", v, std::max(0, -step_exponent))});
    }
    return out;
}

void svg_open(std::string& out, double width, double height, std::string_view title) {
    out += fmt::format(R"(<svg viewBox="0 0 {0:.0f} {1:.0f}" width="{0:.0f}" height="{1:.0f}" role="img" aria-label="{2}">)"
                       R"(<text class="title" x="{3:.1f}" y="18" text-anchor="middle">{2}</text>)",
                       width, height, escape(title), width / 2);
}

double widest(const std::vector<tick>& ticks) {
    double w = 0;
    for (const auto& t : ticks) w = std::max(w, label_width(t.label));
    return w;
}

// Axes are drawn before the data, so that grid lines stay behind it.
void x_axis(std::string& out, const frame& f, const std::vector<tick>& ticks, std::string_view label, bool grid, bool slanted = false) {
    out += fmt::format(R"(<g class="axis"><line x1="{0:.1f}" y1="{2:.1f}" x2="{1:.1f}" y2="{2:.1f}"/>)", f.left, f.left + f.width, f.bottom());
    // Labels wider than the space between ticks would overlap: then only every k-th is written.
    const double spacing = ticks.size() > 1 ? std::fabs(ticks[1].at - ticks[0].at) : f.width;
    const auto every = slanted || !(spacing > 0) ? 1 : static_cast<std::size_t>(std::clamp(std::ceil((widest(ticks) + 8) / spacing), 1.0, 1e6));
    for (std::size_t i = 0; i < ticks.size(); ++i) {
        const tick& t = ticks[i];
        if (grid) out += fmt::format(R"(<line class="grid" x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}"/>)", t.at, f.top, f.bottom());
        out += fmt::format(R"(<line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}"/>)", t.at, f.bottom(), f.bottom() + 4);
        if (i % every != 0) continue;
        if (slanted)
            out += fmt::format(R"svg(<text transform="translate({:.1f} {:.1f}) rotate(-40)" text-anchor="end">{}</text>)svg", t.at + 3, f.bottom() + 12, escape(t.label));
        else
            out += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>)", t.at, f.bottom() + 16, escape(t.label));
    }
    out += fmt::format(R"(<text class="label" x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text></g>)", f.left + f.width / 2, f.svg_height - 8, escape(label));
}

void y_axis(std::string& out, const frame& f, const std::vector<tick>& ticks, std::string_view label, bool grid) {
    out += fmt::format(R"(<g class="axis"><line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}"/>)", f.left, f.top, f.bottom());
    for (const auto& t : ticks) {
        if (grid) out += fmt::format(R"(<line class="grid" x1="{0:.1f}" y1="{2:.1f}" x2="{1:.1f}" y2="{2:.1f}"/>)", f.left, f.left + f.width, t.at);
        out += fmt::format(R"(<line x1="{0:.1f}" y1="{2:.1f}" x2="{1:.1f}" y2="{2:.1f}"/>)", f.left - 4, f.left, t.at);
        out += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" dy="0.32em" text-anchor="end">{}</text>)", f.left - 7, t.at, escape(t.label));
    }
    out += fmt::format(R"svg(<text class="label" transform="translate(14 {:.1f}) rotate(-90)" text-anchor="middle">{}</text></g>)svg", f.top + f.height / 2, escape(label));
}

// A scatter or a curve of (x, y) points with a guide line: y = x, or y = 0.
struct xy_chart {
    std::string title, x_label, y_label;
    std::vector<std::pair<double, double>> points;
    enum class guide { diagonal, zero } guide_line;
    bool curve = false;         // joined in order (ROC), else dots
    bool unit_square = false;   // both axes 0..1 (rates)
    bool shared_scale = false;  // one range for both axes, so that y = x is the diagonal
};

std::string draw(const xy_chart& c) {
    std::vector<std::pair<double, double>> points;
    for (const auto& p : c.points)
        if (std::isfinite(p.first) && std::isfinite(p.second)) points.push_back(p);
    if (points.empty()) return {};
    double x_lo = points[0].first, x_hi = x_lo, y_lo = points[0].second, y_hi = y_lo;
    for (const auto& [x, y] : points) {
        x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x), y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
    }
    if (c.guide_line == xy_chart::guide::zero) y_lo = std::min(y_lo, 0.0), y_hi = std::max(y_hi, 0.0);
    if (c.shared_scale) x_lo = y_lo = std::min(x_lo, y_lo), x_hi = y_hi = std::max(x_hi, y_hi);
    const scale xs = c.unit_square ? scale{0, 1, 0.2} : nice_scale(x_lo, x_hi);
    const scale ys = c.unit_square ? scale{0, 1, 0.2} : nice_scale(y_lo, y_hi);
    if (!xs.drawable() || !ys.drawable()) return {};
    // Only rates can fall outside their axes (an ROC point beyond 0..1): left out, not drawn off the chart.
    std::erase_if(points, [&](const auto& p) { return p.first < xs.lo || p.first > xs.hi || p.second < ys.lo || p.second > ys.hi; });
    frame f{420, 360, 0, 32, 0, 280, xs.lo, xs.hi, ys.lo, ys.hi};
    const auto left_ticks = numeric_ticks(ys, [&f](double y) { return f.py(y); });
    f.left = 30 + widest(left_ticks);
    // The last x label is centred on the right edge of the plot: room for half of it.
    f.width = f.svg_width - f.left - std::max(18.0, widest(numeric_ticks(xs, [](double) { return 0.0; })) / 2 + 4);
    std::string out;
    svg_open(out, f.svg_width, f.svg_height, c.title);
    x_axis(out, f, numeric_ticks(xs, [&f](double x) { return f.px(x); }), c.x_label, true);
    y_axis(out, f, left_ticks, c.y_label, true);
    if (c.guide_line == xy_chart::guide::diagonal) {
        const double lo = std::max(xs.lo, ys.lo), hi = std::min(xs.hi, ys.hi);
        out += fmt::format(R"(<line class="guide" x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)", f.px(lo), f.py(lo), f.px(hi), f.py(hi));
    } else {
        out += fmt::format(R"(<line class="guide" x1="{0:.1f}" y1="{2:.1f}" x2="{1:.1f}" y2="{2:.1f}"/>)", f.left, f.left + f.width, f.py(0));
    }
    if (c.curve) {
        out += R"(<polyline class="curve" points=")";
        for (const auto& [x, y] : points) out += fmt::format("{:.1f},{:.1f} ", f.px(x), f.py(y));
        out += R"("/>)";
    } else {
        out += R"(<g class="dots">)";
        for (const auto& [x, y] : points) out += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="2.5"/>)", f.px(x), f.py(y));
        out += "</g>";
    }
    return out + "</svg>";
}

// White to dark blue; the count is written in white on the dark half.
std::string heat_colour(double share) {
    const auto mix = [share](int from, int to) { return static_cast<int>(std::lround(from + (to - from) * share)); };
    return fmt::format("rgb({},{},{})", mix(247, 8), mix(251, 48), mix(255, 107));
}

std::string confusion_svg(const metadata& m) {
    const std::size_t n = m.confusion.size();
    if (n == 0) return {};
    // Up to 1000 classes can be learnt: a million cells is no picture, and pages of megabytes.
    constexpr std::size_t most_classes = 40;
    if (n > most_classes)
        return fmt::format("<p class=\"note\">The confusion matrix of {} classes is not drawn (at most {}).</p>", n, most_classes);
    std::vector<tick> columns, rows;
    double name_width = 0;
    for (std::size_t i = 0; i < n; ++i) name_width = std::max(name_width, label_width(shorten(m.class_name(i), 20)));
    const double cell = std::clamp(420.0 / static_cast<double>(n), 24.0, 56.0);
    const bool slanted = name_width > cell - 4;
    const double bottom_margin = (slanted ? name_width * 0.7 + 20 : 24) + 22;
    frame f{0, 0, name_width + 36, 32, cell * n, cell * n, 0, double(n), double(n), 0};
    f.svg_width = f.left + f.width + (slanted ? 10 : 18);
    f.svg_height = f.bottom() + bottom_margin;
    for (std::size_t i = 0; i < n; ++i) {
        columns.push_back({f.px(i + 0.5), shorten(m.class_name(i), 20)});
        rows.push_back({f.py(i + 0.5), shorten(m.class_name(i), 20)});
    }
    std::string out;
    svg_open(out, f.svg_width, f.svg_height, "Confusion matrix");
    for (std::size_t r = 0; r < n; ++r) {
        double total = 0;
        for (double v : m.confusion[r]) total += std::isfinite(v) ? v : 0;
        for (std::size_t c = 0; c < n; ++c) {
            const double count = c < m.confusion[r].size() ? m.confusion[r][c] : not_a_number;
            const double share = total > 0 && std::isfinite(count) ? count / total : 0;
            out += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"><title>{} as {}: {}</title></rect>)",
                               f.px(c), f.py(r), cell, cell, heat_colour(share), escape(m.class_name(r)), escape(m.class_name(c)), format_number(count));
            out += fmt::format(R"(<text class="count{}" x="{:.1f}" y="{:.1f}" dy="0.32em" text-anchor="middle">{}</text>)",
                               share > 0.55 ? " dark" : "", f.px(c + 0.5), f.py(r + 0.5), format_number(count));
        }
    }
    x_axis(out, f, columns, "predicted", false, slanted);
    y_axis(out, f, rows, "actual", false);
    return out + "</svg>";
}

std::string importances_svg(const metadata& m) {
    auto bars = m.importances;
    std::erase_if(bars, [](const auto& b) { return !std::isfinite(b.second); });
    if (bars.empty()) return {};
    std::stable_sort(bars.begin(), bars.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    const auto n = static_cast<double>(bars.size());
    double lo = 0, hi = 0;
    std::vector<tick> names;
    for (const auto& [name, v] : bars) lo = std::min(lo, v), hi = std::max(hi, v);
    const scale xs = nice_scale(lo, hi);
    if (!xs.drawable()) return {};
    frame f{0, 0, 0, 32, 0, 22 * n, xs.lo, xs.hi, n, 0};
    for (std::size_t i = 0; i < bars.size(); ++i) names.push_back({f.py(i + 0.5), shorten(bars[i].first, 28)});
    f.left = 36 + widest(names);
    f.width = std::max(260.0, 520 - f.left);
    f.svg_width = f.left + f.width + 24;
    f.svg_height = f.bottom() + 46;
    std::string out;
    svg_open(out, f.svg_width, f.svg_height, "Feature importances");
    x_axis(out, f, numeric_ticks(xs, [&f](double x) { return f.px(x); }), "importance", true);
    y_axis(out, f, names, "feature", false);
    for (std::size_t i = 0; i < bars.size(); ++i) {
        const double a = f.px(0), b = f.px(bars[i].second);
        out += fmt::format(R"(<rect class="bar" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="16"><title>{}: {}</title></rect>)",
                           std::min(a, b), f.py(i + 0.5) - 8, std::fabs(b - a), escape(bars[i].first), format_number(bars[i].second));
    }
    return out + "</svg>";
}

// Every picture the metadata has the data for; a piece that is absent draws nothing.
std::string pictures(const metadata& m) {
    using enum xy_chart::guide;
    std::vector<std::pair<double, double>> residuals;
    for (const auto& [actual, predicted] : m.predictions) residuals.emplace_back(predicted, actual - predicted);
    const std::string roc_title = fmt::format("ROC curve (AUC {})", format_number(m.score("roc_auc")));
    std::string out;
    for (const auto& svg : {confusion_svg(m),
                            draw({roc_title, "false positive rate", "true positive rate", m.roc, diagonal, true, true, false}),
                            draw({"Predicted against actual", "actual", "predicted", m.predictions, diagonal, false, false, true}),
                            draw({"Residuals", "predicted", "residual (actual - predicted)", residuals, zero, false, false, false}),
                            importances_svg(m)})
        if (!svg.empty()) out += "<figure>" + svg + "</figure>\n";
    return out.empty() ? out : "<div class=\"pictures\">\n" + out + "</div>\n";
}

// ---- Tables and text ----

std::string metric_name(std::string_view key) {
    static const std::pair<std::string_view, std::string_view> names[] = {
        {"accuracy", "accuracy"}, {"log_loss", "log loss"}, {"roc_auc", "ROC AUC"},
        {"rmse", "RMSE"}, {"mae", "MAE"}, {"r2", "R\u00b2"}};
    for (const auto& [k, name] : names)
        if (k == key) return std::string(name);
    return std::string(key);
}

std::string metrics_table(const metadata& m) {
    if (m.scores.empty()) return {};
    std::string out = "<table class=\"metrics\"><caption>Held-out metrics";
    if (std::isfinite(m.rows_test)) out += " (" + format_number(m.rows_test) + " rows)";
    out += "</caption>";
    for (const auto& [key, value] : m.scores)
        out += "<tr><th>" + escape(metric_name(key)) + "</th><td>" + format_number(value) + "</td></tr>";
    return out + "</table>\n";
}

std::string per_class_table(const metadata& m) {
    if (m.per_class.empty()) return {};
    std::string out = "<table class=\"per-class\"><caption>Per class</caption>"
                      "<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>";
    for (const auto& c : m.per_class)
        out += fmt::format("<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", escape(c.name),
                           format_number(c.precision), format_number(c.recall), format_number(c.f1), format_number(c.support));
    return out + "</table>\n";
}

std::string algorithm_name(std::string_view a) {
    if (a == "logistic") return "logistic regression";
    if (a == "linear") return "linear regression";
    if (a == "rf-classifier") return "random forest classifier";
    if (a == "rf-regressor") return "random forest regressor";
    return a.empty() ? "model" : std::string(a);
}

// "random forest classifier of Traffic Situation (classification)"
std::string model_line(const metadata& m) {
    std::string out = escape(algorithm_name(m.algorithm));
    if (!m.label.empty()) out += " of <b>" + escape(m.label) + "</b>";
    if (!m.task.empty()) out += " (" + escape(m.task) + ")";
    return out;
}

std::string rows_summary(const metadata& m) {
    std::vector<std::string> parts;
    for (const auto& [count, what] : {std::pair{m.rows_read, "read"}, std::pair{m.rows_train, "trained on"}, std::pair{m.rows_test, "held out"}, std::pair{m.skipped, "skipped"}})
        if (std::isfinite(count)) parts.push_back(format_number(count) + " " + what);
    return fmt::format("{}", fmt::join(parts, ", "));
}

std::string facts(const metadata& m) {
    std::string out = "<dl class=\"facts\">";
    const auto row = [&out](std::string_view name, const std::string& html) {
        if (!html.empty()) out += fmt::format("<dt>{}</dt><dd>{}</dd>", name, html);
    };
    row("rows", rows_summary(m));
    row("time", std::isfinite(m.seconds) ? format_number(m.seconds) + " s" : "");
    std::vector<std::string> sources;
    for (const auto& s : m.sources) sources.push_back("<code>" + escape(s) + "</code>");
    row("sources", fmt::format("{}", fmt::join(sources, " ")));
    for (const auto& [name, value] : m.hyperparameters)
        if (name == "seed") row("seed", escape(value));
    row("trained at", escape(m.trained_at));
    std::string hyper;
    for (const auto& [name, value] : m.hyperparameters) hyper += "<code>" + escape(name) + " = " + escape(value) + "</code> ";
    row("hyper-parameters", hyper);
    return out + "</dl>\n";
}

// ---- Pages ----

constexpr std::string_view style = R"(
body{font:15px/1.45 system-ui,sans-serif;color:#222;max-width:1180px;margin:0 auto;padding:16px 24px;background:#fafafa}
h1{margin:0 0 4px}h2{margin:0 0 4px}.sub{margin:0 0 12px;color:#555}
section,header{background:#fff;border:1px solid #ddd;border-radius:8px;padding:16px 20px;margin:0 0 18px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:8px 0 0}dt{color:#666}dd{margin:0}
code{background:#f1f1f1;border-radius:4px;padding:0 4px;font-size:13px}
table{border-collapse:collapse;margin:0 24px 16px 0;display:inline-table;vertical-align:top}
caption{white-space:nowrap;text-align:left;font-weight:600;padding:0 0 4px}th,td{padding:3px 10px;border-bottom:1px solid #e5e5e5;text-align:right}
th:first-child{text-align:left}
.pictures{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;background:#fff;border:1px solid #eee;border-radius:6px}
svg{display:block;max-width:100%;height:auto}svg text{font-size:11px;fill:#333}svg .title{font-size:13px;font-weight:600}
svg .label{font-size:12px;fill:#555}.axis line{stroke:#666}.axis line.grid{stroke:#eee}
.guide{stroke:#c33;stroke-dasharray:5 4}.curve{fill:none;stroke:#1f5fa8;stroke-width:2}.dots circle{fill:#1f5fa8;fill-opacity:.45}
.bar{fill:#3b7dc4}text.count{font-size:12px}text.count.dark{fill:#fff}
form.predict .fields{display:grid;grid-template-columns:max-content minmax(160px,320px);gap:6px 12px;align-items:center;margin:0 0 10px}
input,select,button{font:inherit}button{padding:4px 18px}.result{white-space:pre-line;font-family:ui-monospace,monospace;margin:10px 0 16px;min-height:1.4em}
.note{padding:8px 12px;color:#666}.error{color:#b00020}.empty{font-size:18px;color:#666}
)";

std::string page_open(std::string_view title) {
    return fmt::format("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                       "<title>{}</title><style>{}</style></head><body>\n",
                       escape(title), style);
}

// The request: every named field of the form, a number field as a JSON number (empty: null, a
// missing value to the model), others as strings. The answer: probabilities mark a classifier.
constexpr std::string_view predict_script = R"(<script>
function describe(answer) {
  if (answer === null || typeof answer !== 'object') throw new Error('the answer is not a JSON object');
  if (!answer.probabilities) return String(answer.prediction);
  const ranked = Object.entries(answer.probabilities).sort((a, b) => b[1] - a[1]);
  return ['prediction: ' + answer.prediction].concat(ranked.map(([name, p]) => name + ': ' + Number(p).toFixed(3))).join('\n');
}
document.querySelectorAll('form[data-model]').forEach((form) => form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = document.getElementById(form.dataset.result);
  const record = {};
  for (const field of form.elements) {
    if (!field.name) continue;
    record[field.name] = field.type === 'number' ? (field.value === '' ? null : Number(field.value)) : field.value;
  }
  result.className = 'result';
  result.textContent = '\u2026';
  try {
    const response = await fetch('/predict/' + encodeURIComponent(form.dataset.model),
      {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(record)});
    const body = await response.text();
    let answer = null;
    try { answer = JSON.parse(body); } catch (e) {}
    if (!response.ok) throw new Error(answer && answer.error ? answer.error : 'HTTP ' + response.status + ' ' + body);
    result.textContent = describe(answer);
  } catch (error) {
    result.className = 'result error';
    result.textContent = error.message;
  }
}));
</script>
)";

// Element ids: a name with anything outside [A-Za-z0-9_-] replaced by '_'.
std::string id_part(std::string_view name) {
    std::string out;
    for (char c : name) out += ascii_alnum(c) || c == '_' || c == '-' ? c : '_';
    return out;
}

// Two names that sanitize alike would share an id, so the later one gets "-2", "-3", ...
class id_registry {
public:
    std::string unique(const std::string& id) {
        std::string candidate = id;
        for (int n = 2; !used_.insert(candidate).second; ++n) candidate = fmt::format("{}-{}", id, n);
        return candidate;
    }

private:
    std::unordered_set<std::string> used_;
};

std::string field_html(const input_field& in, const std::string& id) {
    const std::string attributes = fmt::format(R"(id="{}" name="{}")", escape(id), escape(in.name));
    if (in.type == "category") {
        std::string out = "<select " + attributes + ">";
        for (const auto& c : in.categories)
            out += fmt::format(R"(<option value="{0}"{1}>{0}</option>)", escape(c), c == in.example ? " selected" : "");
        return out + "</select>";
    }
    if (in.type == "number") return fmt::format(R"(<input type="number" step="any" {} value="{}">)", attributes, escape(in.example));
    return fmt::format(R"(<input type="text" {} value="{}">)", attributes, escape(in.example));
}

std::string model_section(const served_model& served, id_registry& ids) {
    const metadata m = parse(served.metadata_json);
    const std::string model_id = id_part(served.name);
    const std::string form_id = ids.unique("form-" + model_id), result_id = ids.unique("result-" + model_id);
    std::string out = fmt::format("<section>\n<h2>{}</h2><p class=\"sub\">{}</p>\n", escape(served.name), model_line(m));
    out += fmt::format(R"(<form class="predict" id="{}" data-model="{}" data-result="{}"><div class="fields">)",
                       escape(form_id), escape(served.name), escape(result_id));
    for (const auto& in : m.inputs) {
        const std::string id = ids.unique(model_id + "-" + id_part(in.name));
        out += fmt::format(R"(<label for="{}">{}</label>{})", escape(id), escape(in.name), field_html(in, id));
    }
    out += fmt::format("</div><button type=\"submit\">Predict</button>"
                       "<div class=\"result\" id=\"{}\" role=\"status\" aria-live=\"polite\"></div></form>\n",
                       escape(result_id));
    out += metrics_table(m) + pictures(m);
    return out + fmt::format("<p><a href=\"/report/{}\">Full report</a></p>\n</section>\n", url_component(served.name));
}

}  // namespace

std::string report_html(std::string_view metadata_json, std::string_view title) {
    const metadata m = parse(metadata_json);
    std::string page = page_open(title);
    page += fmt::format("<header><h1>{}</h1><p class=\"sub\">{}</p>\n{}</header>\n", escape(title), model_line(m), facts(m));
    page += "<section>\n" + metrics_table(m) + per_class_table(m) + pictures(m) + "</section>\n";
    return page + "</body></html>\n";
}

std::string index_html(const std::vector<served_model>& models) {
    std::string page = page_open("kpredict");
    page += fmt::format("<header><h1>kpredict</h1><p class=\"{}\">{}</p></header>\n", models.empty() ? "empty" : "sub",
                        models.empty() ? "No models loaded: there is nothing to predict with."
                                       : fmt::format("{} model{}: fill in a record and press Predict.", models.size(), models.size() == 1 ? "" : "s"));
    id_registry ids;
    for (const auto& served : models) page += model_section(served, ids);
    return page + std::string(predict_script) + "</body></html>\n";
}

}  // namespace ks::ml
