// The expression language shared by kstream-filter, kstream-agg, kpredict and api2kafka
// (DESIGN.md "Expressions"; the reference is docs/expressions.md). An expression is parsed once
// into a program and evaluated per record against the record's parsed object (simdjson DOM) and
// its metadata, without allocating on the hot path.
#pragma once

#include "ks/record.hpp"

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ks::expr {

enum class kind : std::uint8_t { null, boolean, integer, number, string, time, list, json };

// A value during evaluation. Strings and lists are borrowed: from the record (valid until the next
// record), from the program (its literals), or from the evaluator's arena (valid until its next
// reset()). `json` is an object or array of the record, kept as its DOM element.
struct value {
    kind type = kind::null;
    bool boolean = false;
    std::int64_t integer = 0;  // integer; time: microseconds since the epoch (UTC)
    double number = 0;
    std::string_view string;
    std::span<const value> list;
    simdjson::dom::element json;

    static value null() { return {}; }
    static value of_bool(bool b) { value v; v.type = kind::boolean; v.boolean = b; return v; }
    static value of_int(std::int64_t i) { value v; v.type = kind::integer; v.integer = i; return v; }
    static value of_number(double d) { value v; v.type = kind::number; v.number = d; return v; }
    static value of_string(std::string_view s) { value v; v.type = kind::string; v.string = s; return v; }
    static value of_time_us(std::int64_t us) { value v; v.type = kind::time; v.integer = us; return v; }
    [[nodiscard]] bool is_null() const { return type == kind::null; }
};

// Appends v as JSON: numbers in their shortest exact form (integers as integers), times as
// ISO-8601 UTC strings, lists as arrays, json values minified. Non-finite numbers are null.
void append_json(std::string& out, const value& v);

// The text of a value as a Kafka key or a join key: strings as they are, numbers and booleans as
// JSON writes them, times as ISO-8601; false for null (no key).
bool append_text(std::string& out, const value& v);

// A wrong expression: what is wrong and the column (0-based) in the expression's text.
class syntax_error : public std::runtime_error {
public:
    syntax_error(std::string message, std::string expression, std::size_t column);
    [[nodiscard]] std::size_t column() const { return column_; }
    [[nodiscard]] const std::string& expression() const { return expression_; }
    // Three lines for the user: the message, the expression, a caret under the column.
    //   unexpected end of expression
    //     Total >
    //            ^
    [[nodiscard]] std::string display() const;

private:
    std::string expression_;
    std::size_t column_;
};

class evaluator;
struct node;

// A compiled expression.
class program {
public:
    // Throws syntax_error (unknown function, wrong argument count, bad token, unbalanced brackets,
    // a regex or time format that does not compile...).
    static program compile(std::string_view text);
    program(program&&) noexcept;
    program& operator=(program&&) noexcept;
    ~program();

    // Names that resolve to the caller's values instead of the record's fields: when the first
    // step of a field path is locals[i], the path reads locals[i] (and steps into it when it is
    // json or a list). Rebinding replaces the previous names. Unbound paths read the record.
    void bind(std::span<const std::string> locals);

    // When the whole expression is one field path into the record (not a local, no wildcard, not
    // metadata), its steps: the caller can then copy the field's exact text instead of a value.
    [[nodiscard]] std::optional<std::vector<path_step>> field_path() const;
    // The record's top-level fields the expression reads (not the bound locals), in order of
    // appearance: what a model's derived feature needs from its input (kpredict serve's forms).
    [[nodiscard]] std::vector<std::string> fields() const;
    [[nodiscard]] const std::string& text() const { return text_; }

private:
    friend class evaluator;
    program() = default;
    std::string text_;
    std::unique_ptr<node> root_;
    // (the implementation may add members)
};

// What an expression sees of one record.
struct context {
    simdjson::dom::object root;         // the record's fields
    const record* meta = nullptr;       // @key @topic @partition @offset @timestamp @headers.NAME
    std::span<const value> locals = {}; // values of the names given to program::bind, same order
};

// Evaluates programs. Holds the arena for computed strings and lists: reset() once per record,
// before its first evaluate(); results stay valid until the next reset().
class evaluator {
public:
    evaluator();
    evaluator(evaluator&&) noexcept;
    evaluator& operator=(evaluator&&) noexcept;
    ~evaluator();
    void reset();
    // true: `out` is the value. false: a runtime error in this record (a type error, a bad
    // argument), described in `error` with the field or function and the expression's text.
    [[nodiscard]] bool evaluate(const program& p, const context& ctx, value& out, std::string& error);
    // --where: true keeps the record; false and null drop it; another type is an error.
    [[nodiscard]] bool test(const program& p, const context& ctx, bool& keep, std::string& error);

private:
    struct state;
    std::unique_ptr<state> state_;
};

// An option's expression: a syntax error becomes ks::usage_error "OPTION: message" with the
// expression and a caret under the column (syntax_error::display). Every tool's options use it.
program compile_option(std::string_view text, std::string_view option);

// Lists of expressions in options (kstream-filter's --select, kstream-agg's --group-by and --agg).
// "a=x+1, b, `c d`=upper(e)" -> items; commas inside brackets, parentheses and quotes do not split.
std::vector<std::string> split_list(std::string_view text);
// "name=EXPR" -> name and EXPR; a bare field path names itself by its last step ("main.temp" ->
// "temp"). Throws ks::usage_error naming `option` when an expression has no name.
std::pair<std::string, std::string> split_named(std::string_view item, std::string_view option);

}  // namespace ks::expr
