// The compiled form of an expression: a tree of nodes, each with the function that evaluates it,
// and everything that could be resolved at compile time already resolved (functions, literal
// lists and sets, regexes, zones, formats). Private to lib/expr.
#pragma once

#include "arena.hpp"
#include "ks/expr.hpp"

#include <simdjson.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace ks::expr {

class zone;
struct frame;
struct function_def;

// Evaluates a node: false after a runtime error (described in the frame).
using eval_fn = bool (*)(const node&, frame&, value&);

enum class op : std::uint8_t {
    literal,
    path,      // record field, local, metadata or a computed value, then steps
    list,      // [a, b, ...] with computed elements
    negate, not_, and_, or_,
    add, subtract, multiply, divide, modulo, power,
    equal, not_equal, less, less_equal, greater, greater_equal,
    in, not_in, is_null, is_not_null,
    call,
    case_,
};

enum class step_kind : std::uint8_t { name, index, wildcard, computed };

struct step {
    step_kind kind = step_kind::name;
    std::string name;               // name
    mutable std::uint32_t hint = 0; // name: where it was last found (see find_field)
    std::int64_t index = 0;         // index (negative: from the end)
    std::unique_ptr<node> key;      // computed: an integer index or a string name
};

enum class path_base : std::uint8_t { field, meta, computed };
enum class meta_field : std::uint8_t { key, topic, partition, offset, timestamp, header };

// Literal `in` lists of more than a few items: hashed by kind.
struct value_set {
    std::unordered_set<std::string_view> strings;
    std::unordered_set<std::int64_t> integers;  // also floats with an integral value that fits
    std::unordered_set<double> numbers;         // other floats
    bool has_true = false, has_false = false, has_null = false;
    std::vector<value> others;                  // times, lists: compared one by one
};

// A literal regex_match pattern, or the plain text it reduces to when it has no special character.
struct regex_matcher {
    enum class mode : std::uint8_t { regex, contains, starts_with, ends_with, equals } how = mode::regex;
    std::string literal;
    std::regex re;
};

struct node {
    eval_fn eval = nullptr;
    op code = op::literal;
    std::uint32_t begin = 0, end = 0;  // the node's text: bytes [begin, end) of the expression
    value constant;                    // literal
    std::string symbol;                // operators: as written ("==", "<>", "and"), for messages

    std::vector<std::unique_ptr<node>> kids;  // operands, arguments, list items, case parts

    // path
    path_base base = path_base::field;
    std::string first;            // field: the first name (a record field, or a local once bound)
    mutable std::uint32_t hint = 0;  // field: where `first` was last found (see find_field)
    int local = -1;               // field: the bound local's index
    meta_field meta = meta_field::key;
    std::string header;           // meta header: its name
    std::vector<step> steps;      // computed base: kids[0]
    std::vector<bool> wildcard_after;  // steps[i..] hold a wildcard

    // call
    const function_def* fn = nullptr;
    std::unique_ptr<regex_matcher> regex;  // regex_match with a literal pattern
    const zone* literal_zone = nullptr;    // time functions with a literal zone
    // case: kids = [subject] (when, then)* [else]
    bool case_subject = false, case_else = false;
    // in with a literal list
    std::unique_ptr<value_set> set;

    // What literal values point to (never moved: deque).
    std::deque<std::string> owned_strings;
    std::deque<std::vector<value>> owned_lists;

    [[nodiscard]] bool is_literal() const { return code == op::literal; }
    [[nodiscard]] bool is_field_path() const { return code == op::path && base != path_base::computed; }
};

// One evaluation: the record, the memory for computed values, where errors are described.
struct frame {
    const context& ctx;
    arena& mem;
    std::vector<value>& scratch;  // lists under construction (a stack: users truncate back)
    std::string& text;            // text conversions under construction
    std::string_view expression;
    std::string* error;
};

// ---- shared helpers (eval.cpp) ----

// The value of a DOM element: scalars become scalars, objects and arrays stay json.
void from_element(simdjson::dom::element e, value& out);
// The field `name` of an object. The field's position in the last object where it was found
// (`hint`) is tried first: the records of a stream mostly share their layout, and the scan costs a
// key comparison per field before it. With duplicate keys, the one found may then be a later one.
bool find_field(simdjson::dom::object object, std::string_view name, std::uint32_t& hint, simdjson::dom::element& out);
inline bool is_numeric(const value& v) { return v.type == kind::integer || v.type == kind::number; }
inline double as_double(const value& v) { return v.type == kind::integer ? static_cast<double>(v.integer) : v.number; }
// A float result: null when it is not finite.
inline value number_or_null(double d) {
    return (d - d == 0) ? value::of_number(d) : value::null();
}
// Exact numeric comparison (both numeric): -1, 0, 1.
int compare_numbers(const value& a, const value& b);
// Equality of two non-null values of any kinds (integer and number compare exactly; lists and json
// structurally).
bool equal_values(const value& a, const value& b);
// x ^ y and pow(x, y).
value power(const value& a, const value& b);
// A list built from scratch[start...] into the arena; scratch is truncated back to start.
value finish_list(frame& f, std::size_t start);
// The text of a node as written in the expression.
std::string_view source(const frame& f, const node& n);

// ---- errors (output.cpp) ----

// "a string (\"abc\")", "a number (12.5)", "null": a value's kind with its shortened text.
std::string describe_value(const value& v);
// The JSON text of a value, shortened to about 40 bytes ("..." marks the cut).
std::string short_text(const value& v);
// "a string", "a number", ...
std::string_view kind_name(const value& v);
// Plural kind for "needs numbers": "numbers", "strings", "times", "booleans".
std::string_view kind_plural(const value& v);
// Who a value came from: the field path when the operand is one, else `fallback`.
std::string operand_name(const frame& f, const node& operand, std::string_view fallback);
// "{what} needs {need}, but {who} is {value} in: {expression}"; returns false.
bool type_error(frame& f, std::string_view what, std::string_view need, std::string_view who, const value& v);
// "{message} in: {expression}"; returns false.
bool runtime_error(frame& f, std::string_view message);

// Text of a value (append_text) into the arena, without allocating after warm-up. False for null.
bool text_of(frame& f, const value& v, std::string_view& out);
// The JSON text of a json value (same as simdjson::minify), appended.
void append_minified_element(std::string& out, simdjson::dom::element e);
// Shortest round-trip text of a double ("{}" of fmt): at most 32 characters.
std::size_t format_double(char* out, double d);

// ---- functions (functions.cpp) ----

using strict_fn = bool (*)(const node& call, frame& f, std::span<const value> args, value& out);

struct compile_info {
    std::string_view text;  // the expression
};

struct function_def {
    std::string_view name;
    std::uint8_t min_args = 0;
    std::uint8_t max_args = 0;   // variadic: 255
    bool pure = true;            // same arguments, same result (constant calls are folded)
    bool null_in_null_out = true;  // a null argument gives null without calling
    strict_fn call = nullptr;    // gets the evaluated arguments
    eval_fn lazy = nullptr;      // evaluates its own arguments (if, coalesce, is_null)
    // Checks literal arguments at compile time (patterns, zones, formats): throws syntax_error.
    void (*prepare)(node& call, const compile_info& info) = nullptr;
};

constexpr std::uint8_t variadic = 255;

// The function named `name` (case-insensitive), or nullptr.
const function_def* find_function(std::string_view name);
bool eval_call(const node& n, frame& f, value& out);

// ---- time conversion shared by functions and operators (functions.cpp) ----

// A time from a time, a number (epoch seconds; milliseconds when |x| >= 1e11) or an ISO-8601
// string. False after a runtime error naming `what` and the operand.
bool to_time(frame& f, const node& call, std::size_t arg, const value& v, std::int64_t& us);

// Throws syntax_error at the byte offset `at` of `text`.
[[noreturn]] void fail_syntax(std::string_view text, std::size_t at, std::string message);

}  // namespace ks::expr
