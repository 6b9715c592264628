// Parses an expression into the tree of ast.hpp, resolving what can be resolved at compile time
// and folding constant parts (see docs/expressions.md).
#include "ascii.hpp"
#include "ast.hpp"
#include "lexer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace ks::expr {

// Column = code points before the byte offset, so that the caret lines up under UTF-8 text.
void fail_syntax(std::string_view text, std::size_t at, std::string message) {
    at = std::min(at, text.size());
    std::size_t column = 0;
    for (std::size_t i = 0; i < at; ++i)
        if (!continuation(text[i])) ++column;
    throw syntax_error(std::move(message), std::string(text), column);
}

syntax_error::syntax_error(std::string message, std::string expression, std::size_t column)
    : std::runtime_error(std::move(message)), expression_(std::move(expression)), column_(column) {}

std::string syntax_error::display() const {
    // Line breaks and tabs show as spaces, so that the caret stays under its column.
    std::string shown = expression_;
    for (char& c : shown)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    return fmt::format("{}\n  {}\n  {}^", what(), shown, std::string(column_, ' '));
}

// Evaluation functions by node kind (eval.cpp).
void choose_eval(node& n);
// Evaluates a constant node; false when it fails (it is then left to fail at run time).
bool fold_constant(const node& n, std::string_view expression, value& out, arena& mem);

namespace {

void mark_wildcards(node& n) {
    n.wildcard_after.assign(n.steps.size() + 1, false);
    for (std::size_t i = n.steps.size(); i-- > 0;)
        n.wildcard_after[i] = n.wildcard_after[i + 1] || n.steps[i].kind == step_kind::wildcard;
}

value own(node& n, const value& v) {
    value copy = v;
    if (v.type == kind::string) {
        copy.string = n.owned_strings.emplace_back(v.string);
    } else if (v.type == kind::list) {
        std::vector<value> items;
        items.reserve(v.list.size());
        for (const value& item : v.list) items.push_back(own(n, item));
        copy.list = n.owned_lists.emplace_back(std::move(items));
    }
    return copy;
}

std::unique_ptr<node> make_literal(const value& v, std::uint32_t begin, std::uint32_t end) {
    auto n = std::make_unique<node>();
    n->code = op::literal;
    n->begin = begin;
    n->end = end;
    n->constant = own(*n, v);
    choose_eval(*n);
    return n;
}

bool all_literal(const node& n) {
    for (const auto& k : n.kids)
        if (!k->is_literal()) return false;
    for (const step& s : n.steps)
        if (s.kind == step_kind::computed && !s.key->is_literal()) return false;
    return true;
}

bool foldable(const node& n) {
    switch (n.code) {
        case op::literal: return false;
        case op::path: return n.base == path_base::computed && all_literal(n);
        case op::call: return n.fn->pure && all_literal(n);
        default: return all_literal(n);
    }
}

// Replaces a node whose operands are all constant by its value.
void fold(std::unique_ptr<node>& n, std::string_view expression) {
    if (!foldable(*n)) return;
    arena mem;
    value v;
    if (!fold_constant(*n, expression, v, mem)) return;
    if (v.type == kind::json) return;  // cannot happen without a record; keep the node if it does
    n = make_literal(v, n->begin, n->end);
}

// `x in [literal list]` with more than a few items: a hashed set.
void build_set(node& n) {
    const node& list = *n.kids[1];
    if (!list.is_literal() || list.constant.type != kind::list || list.constant.list.size() <= 8) return;
    auto set = std::make_unique<value_set>();
    for (const value& v : list.constant.list) {
        switch (v.type) {
            case kind::null: set->has_null = true; break;
            case kind::boolean: (v.boolean ? set->has_true : set->has_false) = true; break;
            case kind::string: set->strings.insert(v.string); break;
            case kind::integer: set->integers.insert(v.integer); break;
            case kind::number:
                if (std::trunc(v.number) == v.number && v.number >= -9223372036854775808.0 && v.number < 9223372036854775808.0)
                    set->integers.insert(static_cast<std::int64_t>(v.number));
                else set->numbers.insert(v.number);
                break;
            default: set->others.push_back(v); break;
        }
    }
    n.set = std::move(set);
}

std::string quote_token(std::string_view text, const token& t) {
    if (t.type == tok::end) return "end of expression";
    std::string_view s = text.substr(t.begin, t.end - t.begin);
    if (s.size() > 30) return fmt::format("'{}...'", s.substr(0, 27));
    return fmt::format("'{}'", s);
}

std::string arity_text(const function_def& fn) {
    auto plural = [](int n) { return n == 1 ? "argument" : "arguments"; };
    if (fn.max_args == variadic) return fmt::format("at least {} {}", fn.min_args, plural(fn.min_args));
    if (fn.min_args == fn.max_args) return fmt::format("{} {}", fn.min_args, plural(fn.min_args));
    if (fn.max_args == fn.min_args + 1) return fmt::format("{} or {} arguments", fn.min_args, fn.max_args);
    return fmt::format("{} to {} arguments", fn.min_args, fn.max_args);
}

class parser {
public:
    explicit parser(std::string_view text) : text_(text), tokens_(tokenize(text)) {}

    std::unique_ptr<node> run() {
        if (peek().type == tok::end) fail_syntax(text_, 0, "empty expression");
        auto n = parse_or();
        const token& t = peek();
        if (t.type == tok::right_paren) fail(t, "')' without a matching '('");
        if (t.type == tok::right_bracket) fail(t, "']' without a matching '['");
        if (t.type != tok::end) fail(t, "unexpected " + quote_token(text_, t));
        return n;
    }

private:
    const token& peek(std::size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
    const token& next() {
        const token& t = tokens_[pos_];
        if (pos_ + 1 < tokens_.size()) ++pos_;
        return t;
    }
    bool accept(tok type) {
        if (peek().type != type) return false;
        next();
        return true;
    }
    [[noreturn]] void fail(const token& t, std::string message) { fail_syntax(text_, t.begin, std::move(message)); }
    [[noreturn]] void unexpected(const token& t) {
        if (t.type == tok::end) fail(t, "unexpected end of expression");
        fail(t, "unexpected " + quote_token(text_, t));
    }
    // The closing bracket of `open`: at the end of the text, the opening one is reported.
    void close(tok type, const token& open, std::string_view closing) {
        const token& t = peek();
        if (t.type == type) {
            next();
            return;
        }
        if (t.type == tok::end) fail(open, fmt::format("unclosed '{}'", text_.substr(open.begin, 1)));
        fail(t, fmt::format("expected '{}' but found {}", closing, quote_token(text_, t)));
    }
    std::uint32_t last_end() const { return pos_ == 0 ? 0 : tokens_[pos_ - 1].end; }

    std::unique_ptr<node> finish(std::unique_ptr<node> n) {
        choose_eval(*n);
        fold(n, text_);
        return n;
    }

    std::unique_ptr<node> binary(op code, std::unique_ptr<node> l, std::unique_ptr<node> r, const token& symbol) {
        auto n = std::make_unique<node>();
        n->code = code;
        n->begin = l->begin;
        n->end = r->end;
        n->symbol = std::string(text_.substr(symbol.begin, symbol.end - symbol.begin));
        if (code == op::and_ || code == op::or_ || code == op::in) n->symbol = lower(n->symbol);
        if (code == op::not_in) n->symbol = "not in";
        n->kids.push_back(std::move(l));
        n->kids.push_back(std::move(r));
        if (code == op::in || code == op::not_in) build_set(*n);
        return finish(std::move(n));
    }

    std::unique_ptr<node> unary(op code, std::unique_ptr<node> operand, const token& symbol) {
        auto n = std::make_unique<node>();
        n->code = code;
        n->begin = symbol.begin;
        n->end = operand->end;
        n->symbol = lower(text_.substr(symbol.begin, symbol.end - symbol.begin));
        n->kids.push_back(std::move(operand));
        return finish(std::move(n));
    }

    // Parsing and evaluating recurse: a bound on nesting keeps a pathological expression from
    // exhausting the stack.
    class nesting {
    public:
        explicit nesting(parser& p) : p_(p) {
            if (++p_.depth_ > max_depth) p_.fail(p_.peek(), "expression nested too deeply");
        }
        ~nesting() { --p_.depth_; }
        nesting(const nesting&) = delete;
        nesting& operator=(const nesting&) = delete;

    private:
        parser& p_;
    };
    static constexpr int max_depth = 600;  // about 200 levels of brackets (each passes three guards)

    std::unique_ptr<node> parse_or() {
        const nesting guard(*this);
        auto left = parse_and();
        while (peek().type == tok::kw_or) {
            const token& t = next();
            left = binary(op::or_, std::move(left), parse_and(), t);
        }
        return left;
    }

    std::unique_ptr<node> parse_and() {
        auto left = parse_not();
        while (peek().type == tok::kw_and) {
            const token& t = next();
            left = binary(op::and_, std::move(left), parse_not(), t);
        }
        return left;
    }

    std::unique_ptr<node> parse_not() {
        const nesting guard(*this);
        if (peek().type == tok::kw_not) {
            const token& t = next();
            return unary(op::not_, parse_not(), t);
        }
        return parse_comparison();
    }

    bool at_comparison() const {
        switch (peek().type) {
            case tok::equal:
            case tok::not_equal:
            case tok::less:
            case tok::less_equal:
            case tok::greater:
            case tok::greater_equal:
            case tok::kw_in:
            case tok::kw_is: return true;
            case tok::kw_not: return peek(1).type == tok::kw_in;
            default: return false;
        }
    }

    std::unique_ptr<node> parse_comparison() {
        auto left = parse_additive();
        if (!at_comparison()) return left;
        auto result = comparison(std::move(left));
        if (at_comparison()) fail(peek(), "comparisons do not chain: join them with 'and' (a < b and b < c)");
        return result;
    }

    std::unique_ptr<node> comparison(std::unique_ptr<node> left) {
        const token& t = next();
        switch (t.type) {
            case tok::equal: return binary(op::equal, std::move(left), parse_additive(), t);
            case tok::not_equal: return binary(op::not_equal, std::move(left), parse_additive(), t);
            case tok::less: return binary(op::less, std::move(left), parse_additive(), t);
            case tok::less_equal: return binary(op::less_equal, std::move(left), parse_additive(), t);
            case tok::greater: return binary(op::greater, std::move(left), parse_additive(), t);
            case tok::greater_equal: return binary(op::greater_equal, std::move(left), parse_additive(), t);
            case tok::kw_in: return binary(op::in, std::move(left), parse_additive(), t);
            case tok::kw_not:
                next();  // in
                return binary(op::not_in, std::move(left), parse_additive(), t);
            default: {  // is [not] null
                const bool negated = accept(tok::kw_not);
                const token& null_token = peek();
                if (null_token.type != tok::kw_null)
                    fail(null_token, fmt::format("expected 'null' after '{}' but found {}", negated ? "is not" : "is", quote_token(text_, null_token)));
                next();
                auto n = std::make_unique<node>();
                n->code = negated ? op::is_not_null : op::is_null;
                n->begin = left->begin;
                n->end = null_token.end;
                n->symbol = negated ? "is not null" : "is null";
                n->kids.push_back(std::move(left));
                return finish(std::move(n));
            }
        }
    }

    std::unique_ptr<node> parse_additive() {
        auto left = parse_multiplicative();
        for (;;) {
            const tok type = peek().type;
            if (type != tok::plus && type != tok::minus) return left;
            const token& t = next();
            left = binary(type == tok::plus ? op::add : op::subtract, std::move(left), parse_multiplicative(), t);
        }
    }

    std::unique_ptr<node> parse_multiplicative() {
        auto left = parse_unary();
        for (;;) {
            const tok type = peek().type;
            if (type != tok::star && type != tok::slash && type != tok::percent) return left;
            const token& t = next();
            const op code = type == tok::star ? op::multiply : type == tok::slash ? op::divide : op::modulo;
            left = binary(code, std::move(left), parse_unary(), t);
        }
    }

    std::unique_ptr<node> parse_unary() {
        const nesting guard(*this);
        if (peek().type == tok::minus) {
            const token& t = next();
            // -9223372036854775808 is the one integer whose digits alone do not fit.
            const token& operand = peek();
            if (operand.type == tok::number && operand.integer_overflow &&
                text_.substr(operand.begin, operand.end - operand.begin) == "9223372036854775808" && peek(1).type != tok::caret &&
                peek(1).type != tok::dot && peek(1).type != tok::left_bracket) {
                next();
                return make_literal(value::of_int(std::numeric_limits<std::int64_t>::min()), t.begin, operand.end);
            }
            return unary(op::negate, parse_unary(), t);
        }
        return parse_power();
    }

    std::unique_ptr<node> parse_power() {
        auto base = parse_postfix(parse_primary());
        if (peek().type != tok::caret) return base;
        const token& t = next();
        return binary(op::power, std::move(base), parse_unary(), t);
    }

    std::unique_ptr<node> parse_postfix(std::unique_ptr<node> n) {
        const bool grouped = tokens_[pos_ == 0 ? 0 : pos_ - 1].type == tok::right_paren && n->code == op::path &&
                             n->end < tokens_[pos_ - 1].end;
        std::vector<step> steps;
        for (;;) {
            if (peek().type == tok::dot) {
                next();
                const token& name = peek();
                if (!is_word(name.type) && name.type != tok::quoted_name)
                    fail(name, "expected a field name after '.' but found " + quote_token(text_, name));
                next();
                step s;
                s.kind = step_kind::name;
                s.name = name.type == tok::quoted_name ? name.text : std::string(text_.substr(name.begin, name.end - name.begin));
                steps.push_back(std::move(s));
            } else if (peek().type == tok::left_bracket) {
                const token& open = next();
                step s;
                if (peek().type == tok::star && peek(1).type == tok::right_bracket) {
                    next();
                    s.kind = step_kind::wildcard;
                } else {
                    if (peek().type == tok::right_bracket) fail(peek(), "expected an index or a name between '[' and ']'");
                    auto key = parse_or();
                    if (key->is_literal() && key->constant.type == kind::integer) {
                        s.kind = step_kind::index;
                        s.index = key->constant.integer;
                    } else if (key->is_literal() && key->constant.type == kind::string) {
                        s.kind = step_kind::name;
                        s.name = std::string(key->constant.string);
                    } else if (key->is_literal() && key->constant.type != kind::null) {
                        fail_syntax(text_, key->begin, "an index must be an integer or a string");
                    } else {
                        s.kind = step_kind::computed;
                        s.key = std::move(key);
                    }
                }
                close(tok::right_bracket, open, "]");
                steps.push_back(std::move(s));
            } else {
                break;
            }
        }
        if (steps.empty()) return n;
        // Steps extend a path, except after a parenthesised wildcard: (a[*].b)[0] is the first
        // of the list, a[*].b[0] the first of each b.
        if (n->code != op::path || (grouped && n->wildcard_after[0])) {
            auto wrapper = std::make_unique<node>();
            wrapper->code = op::path;
            wrapper->base = path_base::computed;
            wrapper->begin = n->begin;
            wrapper->kids.push_back(std::move(n));
            n = std::move(wrapper);
        }
        for (step& s : steps) n->steps.push_back(std::move(s));
        n->end = last_end();
        mark_wildcards(*n);
        return finish(std::move(n));
    }

    std::unique_ptr<node> parse_primary() {
        const token& t = peek();
        switch (t.type) {
            case tok::integer:
                next();
                return make_literal(value::of_int(t.integer), t.begin, t.end);
            case tok::number:
                next();
                return make_literal(value::of_number(t.number), t.begin, t.end);
            case tok::string:
                next();
                return make_literal(value::of_string(t.text), t.begin, t.end);
            case tok::kw_true:
            case tok::kw_false:
                next();
                return make_literal(value::of_bool(t.type == tok::kw_true), t.begin, t.end);
            case tok::kw_null:
                next();
                return make_literal(value::null(), t.begin, t.end);
            case tok::identifier:
                if (peek(1).type == tok::left_paren) return parse_call();
                [[fallthrough]];
            case tok::quoted_name: {
                next();
                auto n = std::make_unique<node>();
                n->code = op::path;
                n->base = path_base::field;
                n->first = t.text;
                n->begin = t.begin;
                n->end = t.end;
                mark_wildcards(*n);
                return finish(std::move(n));
            }
            case tok::meta: return parse_meta();
            case tok::left_paren: {
                const token& open = next();
                auto n = parse_or();
                close(tok::right_paren, open, ")");
                return n;
            }
            case tok::left_bracket: return parse_list();
            case tok::kw_case: return parse_case();
            default: unexpected(t);
        }
    }

    std::unique_ptr<node> parse_meta() {
        const token& t = next();
        static constexpr std::pair<std::string_view, meta_field> names[] = {
            {"key", meta_field::key},       {"topic", meta_field::topic},         {"partition", meta_field::partition},
            {"offset", meta_field::offset}, {"timestamp", meta_field::timestamp}, {"headers", meta_field::header},
        };
        auto n = std::make_unique<node>();
        n->code = op::path;
        n->base = path_base::meta;
        n->begin = t.begin;
        n->end = t.end;
        const std::string name = lower(t.text);
        auto found = std::find_if(std::begin(names), std::end(names), [&](const auto& p) { return p.first == name; });
        if (found == std::end(names))
            fail(t, fmt::format("unknown metadata '@{}' (known: @key, @topic, @partition, @offset, @timestamp, @headers.NAME)", t.text));
        n->meta = found->second;
        if (n->meta == meta_field::header) {
            // @headers.NAME or @headers["NAME"]: the header's name is part of the metadata.
            if (peek().type == tok::dot && (is_word(peek(1).type) || peek(1).type == tok::quoted_name)) {
                next();
                const token& name_token = next();
                n->header = name_token.type == tok::quoted_name ? name_token.text
                                                                : std::string(text_.substr(name_token.begin, name_token.end - name_token.begin));
                n->end = name_token.end;
            } else if (peek().type == tok::left_bracket && peek(1).type == tok::string && peek(2).type == tok::right_bracket) {
                next();
                n->header = next().text;
                n->end = next().end;
            } else {
                fail(t, "@headers needs a header name: @headers.NAME or @headers[\"NAME\"]");
            }
        }
        mark_wildcards(*n);
        return finish(std::move(n));
    }

    std::unique_ptr<node> parse_list() {
        const token& open = next();
        auto n = std::make_unique<node>();
        n->code = op::list;
        n->begin = open.begin;
        if (peek().type != tok::right_bracket) {
            for (;;) {
                if (peek().type == tok::end) fail(open, "unclosed '['");
                n->kids.push_back(parse_or());
                if (!accept(tok::comma)) break;
            }
        }
        close(tok::right_bracket, open, "]");
        n->end = last_end();
        return finish(std::move(n));
    }

    std::unique_ptr<node> parse_call() {
        const token& name = next();
        const token& open = next();
        const function_def* fn = find_function(name.text);
        if (!fn) fail(name, fmt::format("unknown function '{}'", name.text));
        auto n = std::make_unique<node>();
        n->code = op::call;
        n->fn = fn;
        n->begin = name.begin;
        if (peek().type != tok::right_paren) {
            for (;;) {
                if (peek().type == tok::end) fail(open, "unclosed '('");
                n->kids.push_back(parse_or());
                if (!accept(tok::comma)) break;
            }
        }
        close(tok::right_paren, open, ")");
        n->end = last_end();
        const std::size_t count = n->kids.size();
        if (count < fn->min_args || (fn->max_args != variadic && count > fn->max_args))
            fail(name, fmt::format("{} takes {}, got {}", fn->name, arity_text(*fn), count));
        if (fn->prepare) fn->prepare(*n, compile_info{text_});
        return finish(std::move(n));
    }

    std::unique_ptr<node> parse_case() {
        const token& start = next();
        auto n = std::make_unique<node>();
        n->code = op::case_;
        n->begin = start.begin;
        if (peek().type != tok::kw_when) {
            n->case_subject = true;
            n->kids.push_back(parse_or());
        }
        if (peek().type != tok::kw_when) {
            if (peek().type == tok::end) fail(start, "'case' without 'end'");
            fail(peek(), "expected 'when' but found " + quote_token(text_, peek()));
        }
        while (accept(tok::kw_when)) {
            n->kids.push_back(parse_or());
            if (!accept(tok::kw_then)) {
                if (peek().type == tok::end) fail(start, "'case' without 'end'");
                fail(peek(), "expected 'then' but found " + quote_token(text_, peek()));
            }
            n->kids.push_back(parse_or());
        }
        if (accept(tok::kw_else)) {
            n->case_else = true;
            n->kids.push_back(parse_or());
        }
        if (!accept(tok::kw_end)) {
            if (peek().type == tok::end) fail(start, "'case' without 'end'");
            fail(peek(), "expected 'when', 'else' or 'end' but found " + quote_token(text_, peek()));
        }
        n->end = last_end();
        return finish(std::move(n));
    }

    std::string_view text_;
    std::vector<token> tokens_;
    std::size_t pos_ = 0;
    int depth_ = 0;
};

void bind_locals(node& n, std::span<const std::string> locals) {
    if (n.code == op::path && n.base == path_base::field) {
        auto it = std::find(locals.begin(), locals.end(), n.first);
        n.local = it == locals.end() ? -1 : static_cast<int>(it - locals.begin());
        choose_eval(n);
    }
    for (auto& k : n.kids) bind_locals(*k, locals);
    for (step& s : n.steps)
        if (s.key) bind_locals(*s.key, locals);
}

void collect_fields(const node& n, std::vector<std::string>& out) {
    if (n.code == op::path && n.base == path_base::field && n.local < 0 &&
        std::find(out.begin(), out.end(), n.first) == out.end())
        out.push_back(n.first);
    for (const auto& k : n.kids) collect_fields(*k, out);
    for (const step& s : n.steps)
        if (s.key) collect_fields(*s.key, out);
}

}  // namespace

program program::compile(std::string_view text) {
    program p;
    p.text_ = std::string(text);
    p.root_ = parser(p.text_).run();
    return p;
}

program::program(program&&) noexcept = default;
program& program::operator=(program&&) noexcept = default;
program::~program() = default;

void program::bind(std::span<const std::string> locals) {
    if (root_) bind_locals(*root_, locals);
}

std::vector<std::string> program::fields() const {
    std::vector<std::string> out;
    if (root_) collect_fields(*root_, out);
    return out;
}

std::optional<std::vector<path_step>> program::field_path() const {
    if (!root_ || root_->code != op::path || root_->base != path_base::field || root_->local >= 0) return std::nullopt;
    std::vector<path_step> steps;
    steps.push_back(path_step{root_->first, -1});
    for (const step& s : root_->steps) {
        if (s.kind == step_kind::name) steps.push_back(path_step{s.name, -1});
        else if (s.kind == step_kind::index && s.index >= 0) steps.push_back(path_step{{}, s.index});
        else return std::nullopt;
    }
    return steps;
}

}  // namespace ks::expr
