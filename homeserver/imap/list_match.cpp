// LIST pattern matching without backtracking; see list_match.hpp.
//
// The pattern is a sequence of tokens (a literal octet, '*' or '%'); a set of "positions
// reached" (bit j: the first j tokens have matched the name read so far) is advanced one name
// octet at a time:
//   literal c at j, octet c          -> j+1
//   '*' at j, any octet              -> j      ('*' goes on matching)
//   '%' at j, octet other than delim -> j
//   wildcard at j                    -> j+1 without reading (it may match nothing)
// Runs of wildcards are first collapsed to one ("%%" = "%", any run holding '*' = "*"), so no
// two wildcards are adjacent and the "without reading" step needs a single shift. The name
// matches when bit `tokens_` is set after its last octet. Each octet costs a few operations per
// 64 positions: linear in len(name) * len(pattern) / 64 for every pattern.
#include "imap/list_match.hpp"

#include <algorithm>

namespace splitmail::home::imap {

std::optional<std::string> list_pattern_problem(std::string_view pattern) {
    if (pattern.size() > max_list_pattern_octets)
        return "Mailbox pattern too long (limit " + std::to_string(max_list_pattern_octets) +
               " octets)";
    auto wild = static_cast<std::size_t>(
        std::count_if(pattern.begin(), pattern.end(), [](char c) { return c == '*' || c == '%'; }));
    if (wild > max_list_pattern_wildcards)
        return "Too many wildcards in mailbox pattern (limit " +
               std::to_string(max_list_pattern_wildcards) + ")";
    return std::nullopt;
}

list_pattern::list_pattern(std::string_view pattern, char delim) : delim_(delim) {
    // Collapse runs of wildcards (see the file comment).
    std::string tok;
    for (std::size_t i = 0; i < pattern.size();) {
        char c = pattern[i];
        if (c != '*' && c != '%') {
            tok.push_back(c);
            ++i;
            continue;
        }
        bool star = false;
        while (i < pattern.size() && (pattern[i] == '*' || pattern[i] == '%'))
            star |= pattern[i++] == '*';
        tok.push_back(star ? '*' : '%');
    }
    // Wildcards in `tok` are only ever the collapsed ones; a literal '*' cannot be written in
    // a LIST pattern (RFC 3501 6.3.8 gives no escape), so the octet values are unambiguous.
    tokens_ = tok.size();
    words_ = (tokens_ + 1 + 63) / 64;
    star_.assign(words_, 0);
    pct_.assign(words_, 0);
    lit_.assign(words_, 0); // row 0: all zero, for octets in no literal
    std::size_t rows = 1;
    for (std::size_t j = 0; j < tokens_; ++j) {
        word bit = word{1} << (j % 64);
        auto c = static_cast<unsigned char>(tok[j]);
        if (c == '*') {
            star_[j / 64] |= bit;
        } else if (c == '%') {
            pct_[j / 64] |= bit;
        } else {
            if (lit_index_[c] == 0) {
                lit_index_[c] = static_cast<std::uint16_t>(rows++);
                lit_.resize(rows * words_, 0);
            }
            lit_[lit_index_[c] * words_ + j / 64] |= bit;
        }
    }
}

bool list_pattern::matches(std::string_view name) const {
    // Small patterns (the usual "*", "%", "INBOX.%") fit one word: no allocation.
    word small[2] = {};
    std::vector<word> big;
    word* s = small;
    if (words_ > 1) {
        big.assign(words_, 0);
        s = big.data();
    }
    // Adds j+1 for every wildcard j in the set (single step: wildcards are never adjacent).
    auto close = [&] {
        word carry = 0;
        for (std::size_t w = 0; w < words_; ++w) {
            word wc = s[w] & (star_[w] | pct_[w]);
            s[w] |= (wc << 1) | carry;
            carry = wc >> 63;
        }
    };
    s[0] = 1;
    close();
    for (char ch : name) {
        auto c = static_cast<unsigned char>(ch);
        const word* lit = &lit_[lit_index_[c] * words_];
        bool not_delim = ch != delim_;
        word carry = 0, any = 0;
        for (std::size_t w = 0; w < words_; ++w) {
            word cur = s[w];
            word adv = cur & lit[w];
            word stay = (cur & star_[w]) | (not_delim ? cur & pct_[w] : 0);
            s[w] = (adv << 1) | carry | stay;
            carry = adv >> 63;
            any |= s[w];
        }
        if (!any) return false;
        close();
    }
    return (s[tokens_ / 64] >> (tokens_ % 64)) & 1;
}

bool list_match(std::string_view pattern, std::string_view name, char delim) {
    return list_pattern(pattern, delim).matches(name);
}

} // namespace splitmail::home::imap
