// Placeholder until the parser lands: every expression is refused.
#include "ks/expr.hpp"

namespace ks::expr {

struct node {};

syntax_error::syntax_error(std::string message, std::string expression, std::size_t column)
    : std::runtime_error(std::move(message)), expression_(std::move(expression)), column_(column) {}
std::string syntax_error::display() const { return what(); }

program program::compile(std::string_view text) { throw syntax_error("expressions are not implemented yet", std::string(text), 0); }
program::program(program&&) noexcept = default;
program& program::operator=(program&&) noexcept = default;
program::~program() = default;

}  // namespace ks::expr

namespace ks::expr {
struct evaluator::state {};
evaluator::evaluator() = default;
evaluator::~evaluator() = default;
void evaluator::reset() {}
bool evaluator::evaluate(const program&, const context&, value&, std::string& error) { error = "not implemented"; return false; }
bool evaluator::test(const program&, const context&, bool&, std::string& error) { error = "not implemented"; return false; }
void program::bind(std::span<const std::string>) {}
std::optional<std::vector<path_step>> program::field_path() const { return std::nullopt; }
void append_json(std::string&, const value&) {}
bool append_text(std::string&, const value&) { return false; }
}  // namespace ks::expr
