// The evaluator's memory for computed strings and lists: blocks that are kept across resets and
// never moved, so that what was handed out stays where it is until the next reset().
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace ks::expr {

class arena {
public:
    // n bytes aligned for any value the evaluator stores (values, characters).
    [[nodiscard]] char* allocate(std::size_t n) {
        n = (n + alignment - 1) & ~(alignment - 1);
        if (current_ < blocks_.size() && blocks_[current_].size - used_ >= n) {
            char* p = blocks_[current_].data.get() + used_;
            used_ += n;
            return p;
        }
        return allocate_slow(n);
    }

    // Gives back the end of the last allocation (`p`, first allocated with at least `kept` bytes).
    void shrink_last(const char* p, std::size_t kept) {
        if (current_ >= blocks_.size()) return;
        const char* base = blocks_[current_].data.get();
        if (p < base || p > base + used_) return;
        std::size_t end = static_cast<std::size_t>(p - base) + ((kept + alignment - 1) & ~(alignment - 1));
        if (end <= used_) used_ = end;
    }

    [[nodiscard]] std::string_view copy(std::string_view s) {
        if (s.empty()) return {};
        char* p = allocate(s.size());
        std::memcpy(p, s.data(), s.size());
        return {p, s.size()};
    }

    // Rewinds to the first block; every block is kept for the next record.
    void reset() {
        current_ = 0;
        used_ = 0;
    }

private:
    static constexpr std::size_t alignment = 16;
    static constexpr std::size_t first_block = 16 * 1024;

    char* allocate_slow(std::size_t n) {
        // The next kept block that is large enough, else a new one at the end.
        for (std::size_t i = current_ + 1; i < blocks_.size(); ++i) {
            if (blocks_[i].size >= n) {
                // Blocks skipped here stay unused until the next reset: they were too small.
                std::swap(blocks_[i], blocks_[current_ + 1]);
                current_ += 1;
                used_ = n;
                return blocks_[current_].data.get();
            }
        }
        std::size_t size = blocks_.empty() ? first_block : blocks_.back().size * 2;
        while (size < n) size *= 2;
        block b{std::make_unique<char[]>(size), size};
        std::size_t at = blocks_.empty() ? 0 : current_ + 1;
        if (at > blocks_.size()) at = blocks_.size();
        blocks_.insert(blocks_.begin() + static_cast<std::ptrdiff_t>(at), std::move(b));
        current_ = at;
        used_ = n;
        return blocks_[current_].data.get();
    }

    struct block {
        std::unique_ptr<char[]> data;
        std::size_t size = 0;
    };
    std::vector<block> blocks_;
    std::size_t current_ = 0;  // the block being filled
    std::size_t used_ = 0;     // bytes used in it
};

}  // namespace ks::expr
