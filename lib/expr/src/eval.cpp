// Evaluation: field paths, metadata, operators, the evaluator (see docs/expressions.md).
#include "ast.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

namespace ks::expr {

static_assert(std::is_trivially_copyable_v<value>, "values are copied into the arena byte for byte");

namespace dom = simdjson::dom;

// ---- shared helpers ----

void from_element(dom::element e, value& out) {
    switch (e.type()) {
        case dom::element_type::INT64: out = value::of_int(e.get_int64().value_unsafe()); return;
        case dom::element_type::UINT64: out = value::of_number(static_cast<double>(e.get_uint64().value_unsafe())); return;
        case dom::element_type::DOUBLE: out = value::of_number(e.get_double().value_unsafe()); return;
        case dom::element_type::STRING: out = value::of_string(e.get_string().value_unsafe()); return;
        case dom::element_type::BOOL: out = value::of_bool(e.get_bool().value_unsafe()); return;
        case dom::element_type::NULL_VALUE: out = value::null(); return;
        case dom::element_type::ARRAY:
        case dom::element_type::OBJECT:
            out = value{};
            out.type = kind::json;
            out.json = e;
            return;
    }
    out = value::null();
}

bool find_field(dom::object object, std::string_view name, std::uint32_t& hint_slot, dom::element& out) {
    // Relaxed: several threads may share a program; a stale hint only costs the scan.
    std::atomic_ref<std::uint32_t> hint(hint_slot);
    const std::uint32_t at = hint.load(std::memory_order_relaxed);
    const auto end = object.end();
    auto it = object.begin();
    for (std::uint32_t i = 0; i < at && it != end; ++i) ++it;
    if (it != end && it.key_equals(name)) {
        out = it.value();
        return true;
    }
    std::uint32_t i = 0;
    for (it = object.begin(); it != end; ++it, ++i) {
        if (it.key_equals(name)) {
            if (i != at) hint.store(i, std::memory_order_relaxed);
            out = it.value();
            return true;
        }
    }
    return false;
}

namespace {

// i compared with a finite d, exactly.
int compare_int_double(std::int64_t i, double d) {
    if (d >= 9223372036854775808.0) return -1;
    if (d < -9223372036854775808.0) return 1;
    const double whole = std::trunc(d);
    const auto w = static_cast<std::int64_t>(whole);
    if (i != w) return i < w ? -1 : 1;
    const double fraction = d - whole;
    return fraction > 0 ? -1 : fraction < 0 ? 1 : 0;
}

bool is_json_array(const value& v) { return v.type == kind::json && v.json.type() == dom::element_type::ARRAY; }
bool is_json_object(const value& v) { return v.type == kind::json && v.json.type() == dom::element_type::OBJECT; }

bool equal_inside(const value& a, const value& b);

// Lists and json arrays, element by element.
bool equal_sequences(const value& a, const value& b) {
    if (a.type == kind::list && b.type == kind::list) {
        if (a.list.size() != b.list.size()) return false;
        for (std::size_t i = 0; i < a.list.size(); ++i)
            if (!equal_inside(a.list[i], b.list[i])) return false;
        return true;
    }
    if (a.type == kind::list) return equal_sequences(b, a);
    const dom::array left = a.json.get_array().value_unsafe();
    if (b.type == kind::list) {
        if (left.size() != b.list.size()) return false;
        std::size_t i = 0;
        for (dom::element e : left) {
            value v;
            from_element(e, v);
            if (!equal_inside(v, b.list[i++])) return false;
        }
        return true;
    }
    const dom::array right = b.json.get_array().value_unsafe();
    if (left.size() != right.size()) return false;
    auto r = right.begin();
    for (dom::element e : left) {
        value x, y;
        from_element(e, x);
        from_element(*r, y);
        ++r;
        if (!equal_inside(x, y)) return false;
    }
    return true;
}

bool equal_objects(dom::object a, dom::object b) {
    if (a.size() != b.size()) return false;
    for (dom::key_value_pair field : a) {
        dom::element other;
        if (b.at_key(field.key).get(other) != simdjson::SUCCESS) return false;
        value x, y;
        from_element(field.value, x);
        from_element(other, y);
        if (!equal_inside(x, y)) return false;
    }
    return true;
}

// Inside lists and json, null equals null.
bool equal_inside(const value& a, const value& b) {
    if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
    return equal_values(a, b);
}

}  // namespace

int compare_numbers(const value& a, const value& b) {
    if (a.type == kind::integer && b.type == kind::integer) return a.integer < b.integer ? -1 : a.integer > b.integer ? 1 : 0;
    if (a.type == kind::integer) return compare_int_double(a.integer, b.number);
    if (b.type == kind::integer) return -compare_int_double(b.integer, a.number);
    return a.number < b.number ? -1 : a.number > b.number ? 1 : 0;
}

bool equal_values(const value& a, const value& b) {
    if (is_numeric(a) && is_numeric(b)) return compare_numbers(a, b) == 0;
    const bool a_sequence = a.type == kind::list || is_json_array(a);
    const bool b_sequence = b.type == kind::list || is_json_array(b);
    if (a_sequence || b_sequence) return a_sequence && b_sequence && equal_sequences(a, b);
    if (a.type != b.type) return false;
    switch (a.type) {
        case kind::boolean: return a.boolean == b.boolean;
        case kind::string: return a.string == b.string;
        case kind::time: return a.integer == b.integer;
        case kind::json:
            return is_json_object(a) && is_json_object(b) &&
                   equal_objects(a.json.get_object().value_unsafe(), b.json.get_object().value_unsafe());
        default: return false;
    }
}

value finish_list(frame& f, std::size_t start) {
    value v;
    v.type = kind::list;
    const std::size_t n = f.scratch.size() - start;
    if (n > 0) {
        auto* items = reinterpret_cast<value*>(f.mem.allocate(n * sizeof(value)));
        std::memcpy(static_cast<void*>(items), f.scratch.data() + start, n * sizeof(value));
        v.list = {items, n};
    }
    f.scratch.resize(start);
    return v;
}

std::string_view source(const frame& f, const node& n) { return f.expression.substr(n.begin, n.end - n.begin); }

namespace {

// ---- paths ----

enum class walked { missing, found, failed };

walked step_name(const value& cur, std::string_view name, std::uint32_t& hint, value& out) {
    if (cur.type != kind::json) return walked::missing;
    dom::element e;
    dom::object object;
    if (cur.json.get_object().get(object) != simdjson::SUCCESS || !find_field(object, name, hint, e)) return walked::missing;
    from_element(e, out);
    return walked::found;
}

walked step_index(const value& cur, std::int64_t i, value& out) {
    if (cur.type == kind::list) {
        const auto size = static_cast<std::int64_t>(cur.list.size());
        if (i < 0) i += size;
        if (i < 0 || i >= size) return walked::missing;
        out = cur.list[static_cast<std::size_t>(i)];
        return walked::found;
    }
    dom::array array;
    if (cur.type != kind::json || cur.json.get_array().get(array) != simdjson::SUCCESS) return walked::missing;
    if (i < 0) i += static_cast<std::int64_t>(array.size());
    dom::element e;
    if (i < 0 || array.at(static_cast<std::size_t>(i)).get(e) != simdjson::SUCCESS) return walked::missing;
    from_element(e, out);
    return walked::found;
}

walked step_into(frame& f, const step& s, const value& cur, value& out) {
    switch (s.kind) {
        case step_kind::name: return step_name(cur, s.name, s.hint, out);
        case step_kind::index: return step_index(cur, s.index, out);
        default: {
            value key;
            if (!s.key->eval(*s.key, f, key)) return walked::failed;
            if (key.type == kind::integer) return step_index(cur, key.integer, out);
            if (key.type == kind::string) return step_name(cur, key.string, s.hint, out);
            if (key.is_null()) return walked::missing;
            type_error(f, "[]", "an integer index or a string name", operand_name(f, *s.key, "the index"), key);
            return walked::failed;
        }
    }
}

walked walk(const node& n, frame& f, value cur, std::size_t i, value& out);

// steps[i] is a wildcard: a list of what the rest of the path gives for each element.
walked walk_wildcard(const node& n, frame& f, const value& cur, std::size_t i, value& out) {
    const std::size_t start = f.scratch.size();
    const bool flatten = n.wildcard_after[i + 1];  // a later wildcard gives lists: splice them
    auto visit = [&](const value& element) {
        value r;
        const walked w = walk(n, f, element, i + 1, r);
        if (w == walked::failed) return false;
        if (w == walked::missing) return true;
        if (flatten && r.type == kind::list) f.scratch.insert(f.scratch.end(), r.list.begin(), r.list.end());
        else f.scratch.push_back(r);
        return true;
    };
    bool ok = true;
    if (cur.type == kind::list) {
        for (const value& element : cur.list)
            if (!(ok = visit(element))) break;
    } else if (cur.type == kind::json) {
        dom::array array;
        dom::object object;
        if (cur.json.get_array().get(array) == simdjson::SUCCESS) {
            for (dom::element e : array) {
                value element;
                from_element(e, element);
                if (!(ok = visit(element))) break;
            }
        } else if (cur.json.get_object().get(object) == simdjson::SUCCESS) {
            for (dom::key_value_pair field : object) {
                value element;
                from_element(field.value, element);
                if (!(ok = visit(element))) break;
            }
        }
    } else {
        return walked::missing;
    }
    if (!ok) {
        f.scratch.resize(start);
        return walked::failed;
    }
    out = finish_list(f, start);
    return walked::found;
}

walked walk(const node& n, frame& f, value cur, std::size_t i, value& out) {
    for (; i < n.steps.size(); ++i) {
        const step& s = n.steps[i];
        if (s.kind == step_kind::wildcard) return walk_wildcard(n, f, cur, i, out);
        value next;
        const walked w = step_into(f, s, cur, next);
        if (w != walked::found) return w;
        cur = next;
    }
    out = cur;
    return walked::found;
}

bool eval_meta(const node& n, frame& f, value& out) {
    out = value::null();
    const record* r = f.ctx.meta;
    if (!r) return true;
    switch (n.meta) {
        case meta_field::key:
            if (r->key) out = value::of_string(*r->key);
            break;
        case meta_field::topic:
            if (r->from_kafka) out = value::of_string(r->source);
            break;
        case meta_field::partition:
            if (r->from_kafka && r->partition >= 0) out = value::of_int(r->partition);
            break;
        case meta_field::offset:
            if (r->from_kafka && r->offset >= 0) out = value::of_int(r->offset);
            break;
        case meta_field::timestamp:
            if (r->timestamp_ms >= 0) out = value::of_int(r->timestamp_ms);
            break;
        case meta_field::header:
            // The last header of that name, as Kafka's Headers.lastHeader.
            for (std::size_t i = r->headers.size(); i-- > 0;) {
                if (r->headers[i].name == n.header) {
                    if (r->headers[i].value) out = value::of_string(*r->headers[i].value);
                    break;
                }
            }
            break;
    }
    return true;
}

bool eval_path(const node& n, frame& f, value& out) {
    value base;
    switch (n.base) {
        case path_base::field:
            if (n.local >= 0) {
                if (static_cast<std::size_t>(n.local) < f.ctx.locals.size()) base = f.ctx.locals[static_cast<std::size_t>(n.local)];
            } else {
                dom::element e;
                if (!find_field(f.ctx.root, n.first, n.hint, e)) {
                    out = value::null();
                    return true;
                }
                from_element(e, base);
            }
            break;
        case path_base::meta: eval_meta(n, f, base); break;
        case path_base::computed:
            if (!n.kids[0]->eval(*n.kids[0], f, base)) return false;
            break;
    }
    const walked w = walk(n, f, base, 0, out);
    if (w == walked::failed) return false;
    if (w == walked::missing) out = value::null();
    return true;
}

// A top-level field of the record.
bool eval_field(const node& n, frame& f, value& out) {
    dom::element e;
    if (!find_field(f.ctx.root, n.first, n.hint, e)) out = value::null();
    else from_element(e, out);
    return true;
}

// A path of names and indexes into the record, walked in the DOM.
bool eval_static_path(const node& n, frame& f, value& out) {
    dom::element e;
    if (!find_field(f.ctx.root, n.first, n.hint, e)) {
        out = value::null();
        return true;
    }
    for (const step& s : n.steps) {
        simdjson::error_code error;
        if (s.kind == step_kind::name) {
            dom::object object;
            error = e.get_object().get(object);
            if (!error && !find_field(object, s.name, s.hint, e)) error = simdjson::NO_SUCH_FIELD;
        } else if (s.index >= 0) {
            error = e.at(static_cast<std::size_t>(s.index)).get(e);
        } else {
            dom::array array;
            error = e.get_array().get(array);
            if (!error) {
                const std::int64_t i = static_cast<std::int64_t>(array.size()) + s.index;
                error = i < 0 ? simdjson::INDEX_OUT_OF_BOUNDS : array.at(static_cast<std::size_t>(i)).get(e);
            }
        }
        if (error) {
            out = value::null();
            return true;
        }
    }
    from_element(e, out);
    return true;
}

// ---- operators ----

bool eval_literal(const node& n, frame&, value& out) {
    out = n.constant;
    return true;
}

bool eval_list(const node& n, frame& f, value& out) {
    const std::size_t start = f.scratch.size();
    for (const auto& k : n.kids) {
        value v;
        if (!k->eval(*k, f, v)) {
            f.scratch.resize(start);
            return false;
        }
        f.scratch.push_back(v);
    }
    out = finish_list(f, start);
    return true;
}

std::string left_name(const frame& f, const node& n) { return operand_name(f, *n.kids[0], "the left operand"); }
std::string right_name(const frame& f, const node& n) { return operand_name(f, *n.kids[1], "the right operand"); }

// Evaluates both operands; false after an error. `null` is set when either is null.
bool operands(const node& n, frame& f, value& a, value& b) {
    return n.kids[0]->eval(*n.kids[0], f, a) && n.kids[1]->eval(*n.kids[1], f, b);
}

bool numbers_needed(const node& n, frame& f, const value& a, const value& b) {
    if (!is_numeric(a)) return type_error(f, n.symbol, "numbers", left_name(f, n), a);
    return type_error(f, n.symbol, "numbers", right_name(f, n), b);
}

// Two operands that do not go together: the one that is not a literal is blamed, and the
// other's kind is what was needed.
bool mismatch(const node& n, frame& f, const value& a, const value& b) {
    if (n.kids[1]->is_literal() && !n.kids[0]->is_literal())
        return type_error(f, n.symbol, kind_plural(b), left_name(f, n), a);
    return type_error(f, n.symbol, kind_plural(a), right_name(f, n), b);
}

bool eval_add(const node& n, frame& f, value& out) {
    value a, b;
    if (!operands(n, f, a, b)) return false;
    if (a.is_null() || b.is_null()) {
        out = value::null();
    } else if (a.type == kind::integer && b.type == kind::integer) {
        std::int64_t r;
        if (__builtin_add_overflow(a.integer, b.integer, &r)) out = number_or_null(as_double(a) + as_double(b));
        else out = value::of_int(r);
    } else if (is_numeric(a) && is_numeric(b)) {
        out = number_or_null(as_double(a) + as_double(b));
    } else if (a.type == kind::string && b.type == kind::string) {
        char* p = f.mem.allocate(a.string.size() + b.string.size());
        if (!a.string.empty()) std::memcpy(p, a.string.data(), a.string.size());
        if (!b.string.empty()) std::memcpy(p + a.string.size(), b.string.data(), b.string.size());
        out = value::of_string({p, a.string.size() + b.string.size()});
    } else {
        const bool a_ok = is_numeric(a) || a.type == kind::string;
        const bool b_ok = is_numeric(b) || b.type == kind::string;
        if (!a_ok) return type_error(f, n.symbol, "numbers or strings", left_name(f, n), a);
        if (!b_ok) return type_error(f, n.symbol, "numbers or strings", right_name(f, n), b);
        return mismatch(n, f, a, b);
    }
    return true;
}

bool eval_subtract(const node& n, frame& f, value& out) {
    value a, b;
    if (!operands(n, f, a, b)) return false;
    if (a.is_null() || b.is_null()) {
        out = value::null();
    } else if (a.type == kind::integer && b.type == kind::integer) {
        std::int64_t r;
        if (__builtin_sub_overflow(a.integer, b.integer, &r)) out = number_or_null(as_double(a) - as_double(b));
        else out = value::of_int(r);
    } else if (is_numeric(a) && is_numeric(b)) {
        out = number_or_null(as_double(a) - as_double(b));
    } else {
        return numbers_needed(n, f, a, b);
    }
    return true;
}

bool eval_multiply(const node& n, frame& f, value& out) {
    value a, b;
    if (!operands(n, f, a, b)) return false;
    if (a.is_null() || b.is_null()) {
        out = value::null();
    } else if (a.type == kind::integer && b.type == kind::integer) {
        std::int64_t r;
        if (__builtin_mul_overflow(a.integer, b.integer, &r)) out = number_or_null(as_double(a) * as_double(b));
        else out = value::of_int(r);
    } else if (is_numeric(a) && is_numeric(b)) {
        out = number_or_null(as_double(a) * as_double(b));
    } else {
        return numbers_needed(n, f, a, b);
    }
    return true;
}

bool eval_divide(const node& n, frame& f, value& out) {
    value a, b;
    if (!operands(n, f, a, b)) return false;
    if (a.is_null() || b.is_null()) {
        out = value::null();
    } else if (is_numeric(a) && is_numeric(b)) {
        const double divisor = as_double(b);
        out = divisor == 0 ? value::null() : number_or_null(as_double(a) / divisor);
    } else {
        return numbers_needed(n, f, a, b);
    }
    return true;
}

bool eval_modulo(const node& n, frame& f, value& out) {
    value a, b;
    if (!operands(n, f, a, b)) return false;
    if (a.is_null() || b.is_null()) {
        out = value::null();
    } else if (a.type == kind::integer && b.type == kind::integer) {
        if (b.integer == 0) out = value::null();
        else if (b.integer == -1) out = value::of_int(0);  // INT64_MIN % -1 would trap
        else out = value::of_int(a.integer % b.integer);
    } else if (is_numeric(a) && is_numeric(b)) {
        const double divisor = as_double(b);
        out = divisor == 0 ? value::null() : number_or_null(std::fmod(as_double(a), divisor));
    } else {
        return numbers_needed(n, f, a, b);
    }
    return true;
}

}  // namespace

// x ^ y (and pow): exact for an integer to a non-negative integer power while it fits.
value power(const value& a, const value& b) {
    if (a.type == kind::integer && b.type == kind::integer && b.integer >= 0) {
        std::int64_t result = 1, base = a.integer;
        auto e = static_cast<std::uint64_t>(b.integer);
        bool overflow = false;
        for (;;) {
            if ((e & 1) && __builtin_mul_overflow(result, base, &result)) {
                overflow = true;
                break;
            }
            e >>= 1;
            if (e == 0) break;
            if (__builtin_mul_overflow(base, base, &base)) {
                overflow = true;
                break;
            }
        }
        if (!overflow) return value::of_int(result);
    }
    return number_or_null(std::pow(as_double(a), as_double(b)));
}

namespace {

bool eval_power(const node& n, frame& f, value& out) {
    value a, b;
    if (!operands(n, f, a, b)) return false;
    if (a.is_null() || b.is_null()) out = value::null();
    else if (is_numeric(a) && is_numeric(b)) out = power(a, b);
    else return numbers_needed(n, f, a, b);
    return true;
}

bool eval_negate(const node& n, frame& f, value& out) {
    value a;
    if (!n.kids[0]->eval(*n.kids[0], f, a)) return false;
    if (a.is_null()) out = value::null();
    else if (a.type == kind::integer && a.integer == std::numeric_limits<std::int64_t>::min()) out = value::of_number(9223372036854775808.0);
    else if (a.type == kind::integer) out = value::of_int(-a.integer);
    else if (a.type == kind::number) out = value::of_number(-a.number);
    else return type_error(f, "-", "a number", operand_name(f, *n.kids[0], "the operand"), a);
    return true;
}

bool orderable(const value& v) {
    return is_numeric(v) || v.type == kind::string || v.type == kind::time || v.type == kind::boolean;
}

// a <=> b for an ordering operator; false after a type error.
bool order(const node& n, frame& f, const value& a, const value& b, int& c) {
    if (is_numeric(a) && is_numeric(b)) {
        c = compare_numbers(a, b);
        return true;
    }
    if (a.type == b.type) {
        switch (a.type) {
            case kind::string: c = a.string.compare(b.string); return true;
            case kind::time: c = a.integer < b.integer ? -1 : a.integer > b.integer ? 1 : 0; return true;
            case kind::boolean: c = static_cast<int>(a.boolean) - static_cast<int>(b.boolean); return true;
            default: break;
        }
    }
    if (!orderable(a)) return type_error(f, n.symbol, "numbers, strings, times or booleans", left_name(f, n), a);
    if (!orderable(b)) return type_error(f, n.symbol, "numbers, strings, times or booleans", right_name(f, n), b);
    return mismatch(n, f, a, b);
}

template <typename Test>
bool eval_ordering(const node& n, frame& f, value& out, Test test) {
    value a, b;
    if (!operands(n, f, a, b)) return false;
    if (a.is_null() || b.is_null()) {
        out = value::null();
        return true;
    }
    int c = 0;
    if (!order(n, f, a, b, c)) return false;
    out = value::of_bool(test(c));
    return true;
}

bool eval_less(const node& n, frame& f, value& out) { return eval_ordering(n, f, out, [](int c) { return c < 0; }); }
bool eval_less_equal(const node& n, frame& f, value& out) { return eval_ordering(n, f, out, [](int c) { return c <= 0; }); }
bool eval_greater(const node& n, frame& f, value& out) { return eval_ordering(n, f, out, [](int c) { return c > 0; }); }
bool eval_greater_equal(const node& n, frame& f, value& out) { return eval_ordering(n, f, out, [](int c) { return c >= 0; }); }

// `field > 50` and the like: a numeric literal on the right, the common filter.
template <typename Test>
bool eval_ordering_number(const node& n, frame& f, value& out, Test test) {
    value a;
    if (!n.kids[0]->eval(*n.kids[0], f, a)) return false;
    const value& b = n.kids[1]->constant;
    if (a.type == kind::integer && b.type == kind::integer) {
        out = value::of_bool(test(a.integer < b.integer ? -1 : a.integer > b.integer ? 1 : 0));
        return true;
    }
    if (a.type == kind::number && b.type == kind::number) {
        out = value::of_bool(test(a.number < b.number ? -1 : a.number > b.number ? 1 : 0));
        return true;
    }
    if (a.is_null()) {
        out = value::null();
        return true;
    }
    int c = 0;
    if (!order(n, f, a, b, c)) return false;
    out = value::of_bool(test(c));
    return true;
}

bool eval_less_number(const node& n, frame& f, value& out) { return eval_ordering_number(n, f, out, [](int c) { return c < 0; }); }
bool eval_less_equal_number(const node& n, frame& f, value& out) { return eval_ordering_number(n, f, out, [](int c) { return c <= 0; }); }
bool eval_greater_number(const node& n, frame& f, value& out) { return eval_ordering_number(n, f, out, [](int c) { return c > 0; }); }
bool eval_greater_equal_number(const node& n, frame& f, value& out) { return eval_ordering_number(n, f, out, [](int c) { return c >= 0; }); }

bool eval_equal(const node& n, frame& f, value& out) {
    value a, b;
    if (!operands(n, f, a, b)) return false;
    out = (a.is_null() || b.is_null()) ? value::null() : value::of_bool(equal_values(a, b));
    return true;
}

// `field = 'text'` and the like: a literal on the right, compared without copying it.
template <bool Equal>
bool eval_equal_literal(const node& n, frame& f, value& out) {
    value a;
    if (!n.kids[0]->eval(*n.kids[0], f, a)) return false;
    const value& b = n.kids[1]->constant;
    if (a.is_null() || b.is_null()) out = value::null();
    else if (a.type == kind::string && b.type == kind::string) out = value::of_bool((a.string == b.string) == Equal);
    else out = value::of_bool(equal_values(a, b) == Equal);
    return true;
}

bool eval_not_equal(const node& n, frame& f, value& out) {
    value a, b;
    if (!operands(n, f, a, b)) return false;
    out = (a.is_null() || b.is_null()) ? value::null() : value::of_bool(!equal_values(a, b));
    return true;
}

bool boolean_needed(const node& n, frame& f, const node& operand, std::string_view fallback, const value& v) {
    return type_error(f, n.symbol, "booleans", operand_name(f, operand, fallback), v);
}

// Three-valued: false wins over null, null over true.
bool eval_and(const node& n, frame& f, value& out) {
    value a, b;
    if (!n.kids[0]->eval(*n.kids[0], f, a)) return false;
    if (a.type == kind::boolean && !a.boolean) {
        out = a;
        return true;
    }
    if (a.type != kind::boolean && !a.is_null()) return boolean_needed(n, f, *n.kids[0], "the left operand", a);
    if (!n.kids[1]->eval(*n.kids[1], f, b)) return false;
    if (b.type != kind::boolean && !b.is_null()) return boolean_needed(n, f, *n.kids[1], "the right operand", b);
    if (b.type == kind::boolean && !b.boolean) out = b;
    else if (a.is_null() || b.is_null()) out = value::null();
    else out = value::of_bool(true);
    return true;
}

// Three-valued: true wins over null, null over false.
bool eval_or(const node& n, frame& f, value& out) {
    value a, b;
    if (!n.kids[0]->eval(*n.kids[0], f, a)) return false;
    if (a.type == kind::boolean && a.boolean) {
        out = a;
        return true;
    }
    if (a.type != kind::boolean && !a.is_null()) return boolean_needed(n, f, *n.kids[0], "the left operand", a);
    if (!n.kids[1]->eval(*n.kids[1], f, b)) return false;
    if (b.type != kind::boolean && !b.is_null()) return boolean_needed(n, f, *n.kids[1], "the right operand", b);
    if (b.type == kind::boolean && b.boolean) out = b;
    else if (a.is_null() || b.is_null()) out = value::null();
    else out = value::of_bool(false);
    return true;
}

bool eval_not(const node& n, frame& f, value& out) {
    value a;
    if (!n.kids[0]->eval(*n.kids[0], f, a)) return false;
    if (a.is_null()) out = value::null();
    else if (a.type == kind::boolean) out = value::of_bool(!a.boolean);
    else return type_error(f, "not", "a boolean", operand_name(f, *n.kids[0], "the operand"), a);
    return true;
}

bool eval_is_null(const node& n, frame& f, value& out) {
    value a;
    if (!n.kids[0]->eval(*n.kids[0], f, a)) return false;
    out = value::of_bool(a.is_null() == (n.code == op::is_null));
    return true;
}

bool in_set(const value_set& set, const value& x) {
    switch (x.type) {
        case kind::string: return set.strings.count(x.string) != 0;
        case kind::integer: return set.integers.count(x.integer) != 0;
        case kind::number:
            if (std::trunc(x.number) == x.number && x.number >= -9223372036854775808.0 && x.number < 9223372036854775808.0)
                return set.integers.count(static_cast<std::int64_t>(x.number)) != 0;
            return set.numbers.count(x.number) != 0;
        case kind::boolean: return x.boolean ? set.has_true : set.has_false;
        default:
            return std::any_of(set.others.begin(), set.others.end(), [&](const value& v) { return equal_values(x, v); });
    }
}

// SQL's IN: true when found; null when not found but the list holds a null (or x is null).
bool eval_in(const node& n, frame& f, value& out) {
    value x;
    if (!n.kids[0]->eval(*n.kids[0], f, x)) return false;
    const bool negated = n.code == op::not_in;
    if (x.is_null()) {
        out = value::null();
        return true;
    }
    bool found = false, saw_null = false;
    if (n.set) {
        found = in_set(*n.set, x);
        saw_null = n.set->has_null;
    } else {
        value list;
        if (!n.kids[1]->eval(*n.kids[1], f, list)) return false;
        if (list.is_null()) {
            out = value::null();
            return true;
        }
        if (list.type == kind::list) {
            for (const value& item : list.list) {
                if (item.is_null()) saw_null = true;
                else if (equal_values(x, item)) {
                    found = true;
                    break;
                }
            }
        } else if (is_json_array(list)) {
            const dom::array array = list.json.get_array().value_unsafe();
            for (dom::element e : array) {
                value item;
                from_element(e, item);
                if (item.is_null()) saw_null = true;
                else if (equal_values(x, item)) {
                    found = true;
                    break;
                }
            }
        } else {
            return type_error(f, n.symbol, "a list", right_name(f, n), list);
        }
    }
    if (found) out = value::of_bool(!negated);
    else if (saw_null) out = value::null();
    else out = value::of_bool(negated);
    return true;
}

bool eval_case(const node& n, frame& f, value& out) {
    std::size_t i = 0;
    value subject;
    if (n.case_subject) {
        if (!n.kids[0]->eval(*n.kids[0], f, subject)) return false;
        i = 1;
    }
    const std::size_t pairs_end = n.kids.size() - (n.case_else ? 1 : 0);
    for (; i < pairs_end; i += 2) {
        value when;
        if (!n.kids[i]->eval(*n.kids[i], f, when)) return false;
        bool match = false;
        if (n.case_subject) {
            match = !subject.is_null() && !when.is_null() && equal_values(subject, when);
        } else if (when.type == kind::boolean) {
            match = when.boolean;
        } else if (!when.is_null()) {
            return type_error(f, "case", "a boolean after 'when'", operand_name(f, *n.kids[i], "the condition"), when);
        }
        if (match) return n.kids[i + 1]->eval(*n.kids[i + 1], f, out);
    }
    if (n.case_else) return n.kids.back()->eval(*n.kids.back(), f, out);
    out = value::null();
    return true;
}

}  // namespace

void choose_eval(node& n) {
    switch (n.code) {
        case op::literal: n.eval = eval_literal; return;
        case op::path: {
            n.eval = eval_path;
            if (n.base != path_base::field || n.local >= 0) return;
            if (n.steps.empty()) {
                n.eval = eval_field;
                return;
            }
            const bool plain = std::all_of(n.steps.begin(), n.steps.end(),
                                           [](const step& s) { return s.kind == step_kind::name || s.kind == step_kind::index; });
            if (plain) n.eval = eval_static_path;
            return;
        }
        case op::list: n.eval = eval_list; return;
        case op::negate: n.eval = eval_negate; return;
        case op::not_: n.eval = eval_not; return;
        case op::and_: n.eval = eval_and; return;
        case op::or_: n.eval = eval_or; return;
        case op::add: n.eval = eval_add; return;
        case op::subtract: n.eval = eval_subtract; return;
        case op::multiply: n.eval = eval_multiply; return;
        case op::divide: n.eval = eval_divide; return;
        case op::modulo: n.eval = eval_modulo; return;
        case op::power: n.eval = eval_power; return;
        case op::equal: n.eval = n.kids[1]->is_literal() ? eval_equal_literal<true> : eval_equal; return;
        case op::not_equal: n.eval = n.kids[1]->is_literal() ? eval_equal_literal<false> : eval_not_equal; return;
        case op::less:
        case op::less_equal:
        case op::greater:
        case op::greater_equal: {
            const bool numeric_literal = n.kids[1]->is_literal() && is_numeric(n.kids[1]->constant);
            switch (n.code) {
                case op::less: n.eval = numeric_literal ? eval_less_number : eval_less; break;
                case op::less_equal: n.eval = numeric_literal ? eval_less_equal_number : eval_less_equal; break;
                case op::greater: n.eval = numeric_literal ? eval_greater_number : eval_greater; break;
                default: n.eval = numeric_literal ? eval_greater_equal_number : eval_greater_equal; break;
            }
            return;
        }
        case op::in:
        case op::not_in: n.eval = eval_in; return;
        case op::is_null:
        case op::is_not_null: n.eval = eval_is_null; return;
        case op::call: n.eval = eval_call; return;
        case op::case_: n.eval = eval_case; return;
    }
}

// ---- the evaluator ----

struct evaluator::state {
    arena mem;
    std::vector<value> scratch;
    std::string text;
};

bool fold_constant(const node& n, std::string_view expression, value& out, arena& mem) {
    std::vector<value> scratch;
    std::string text, error;
    const context ctx{};
    frame f{ctx, mem, scratch, text, expression, &error};
    return n.eval(n, f, out);
}

evaluator::evaluator() : state_(std::make_unique<state>()) {
    state_->scratch.reserve(256);
    state_->text.reserve(256);
}

evaluator::evaluator(evaluator&&) noexcept = default;
evaluator& evaluator::operator=(evaluator&&) noexcept = default;
evaluator::~evaluator() = default;

void evaluator::reset() {
    state_->mem.reset();
    state_->scratch.clear();
}

bool evaluator::evaluate(const program& p, const context& ctx, value& out, std::string& error) {
    if (!p.root_) {
        error = "no expression (the program was moved from)";
        return false;
    }
    frame f{ctx, state_->mem, state_->scratch, state_->text, p.text_, &error};
    return p.root_->eval(*p.root_, f, out);
}

bool evaluator::test(const program& p, const context& ctx, bool& keep, std::string& error) {
    value v;
    if (!p.root_) return evaluate(p, ctx, v, error);
    frame f{ctx, state_->mem, state_->scratch, state_->text, p.text_, &error};
    if (!p.root_->eval(*p.root_, f, v)) return false;
    if (v.type == kind::boolean) {
        keep = v.boolean;
        return true;
    }
    if (v.is_null()) {
        keep = false;
        return true;
    }
    error = fmt::format("--where must give true or false, got {} in: {}", describe_value(v), p.text());
    return false;
}

}  // namespace ks::expr
