// What SEARCH and SORT return (RFC 4731 ESEARCH, RFC 5267 CONTEXT=SEARCH/CONTEXT=SORT,
// RFC 9394 PARTIAL ranges) and how a kept result is updated: pure functions over the return
// option list and UID lists, shared by commands/search.cpp, commands/sort.cpp and the search
// contexts of the session (commands/context.cpp).
#pragma once

#include "imap/codec.hpp"

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace splitmail::home::imap {

struct return_options {
    bool min = false, max = false, count = false, all = false, save = false;
    bool update = false;  // RFC 5267 4.2: keep the result and report changes (ADDTO/REMOVEFROM)
    bool context = false; // RFC 5267 4.1: a hint that more requests will follow; nothing to do
    // RFC 5267 4.4 / RFC 9394 3.1: positions lo..hi of the result, 1-based; negative numbers
    // count from the end (-1 is the last). Both have the same sign and neither is 0.
    std::optional<std::pair<std::int64_t, std::int64_t>> partial;
    // MIN, MAX, COUNT, ALL or PARTIAL: an ESEARCH response carries result data.
    bool any_data() const { return min || max || count || all || partial.has_value(); }
};

// The list after RETURN. An empty list means ALL (RFC 4731 3.1); so does a list holding only
// UPDATE and/or CONTEXT (the client gets the result it will then receive updates to).
// PARTIAL and ALL together are refused (RFC 5267 4.4: PARTIAL asks for part of ALL).
std::expected<return_options, std::string> parse_return_options(const value& list);
// The "RETURN (options)" a SEARCH or SORT starts with (RFC 4466 2.6): nullopt when `args` has
// none (the keys or criteria start at args[0]); otherwise the options or why they are bad, and
// what follows starts at args[2].
std::optional<std::expected<return_options, std::string>>
return_clause(const std::vector<value>& args);

// The window [first, last) of a result of `size` entries that a PARTIAL range selects;
// first == last when the range lies outside the result.
std::pair<std::size_t, std::size_t> partial_window(std::pair<std::int64_t, std::int64_t> range,
                                                   std::size_t size);
// " PARTIAL (lo:hi set)" (set NIL when empty) for the numbers in result order.
std::string partial_data(std::pair<std::int64_t, std::int64_t> range,
                         const std::vector<std::uint32_t>& numbers);

// A sequence set in the given order: runs of ascending consecutive numbers become "a:b", the
// rest is listed one by one ("5,3:4,9"), so an order other than ascending survives.
std::string ordered_set(const std::vector<std::uint32_t>& numbers);

// How a kept result changed: what left it and what joined it, each as groups of entries at
// adjacent positions. A removal's position is where the group starts in the list as it is when
// that removal is applied (removals in order, before the additions); an addition's position is
// where the group starts in the new list. Entries present before and after keep their relative
// order (sort keys never change; only membership does), so nothing moves.
struct context_change {
    struct group {
        std::size_t position = 0; // 1-based
        std::vector<std::uint32_t> uids;
    };
    std::vector<group> removed, added;
    bool empty() const { return removed.empty() && added.empty(); }
};
context_change diff_results(const std::vector<std::uint32_t>& before,
                            const std::vector<std::uint32_t>& after);

// The return data of an update, e.g. " REMOVEFROM (3 17) ADDTO (1 20,18)": a SORT context gives
// positions; a SEARCH context, whose result has no order to keep, gives position 0 with one
// ascending set each (RFC 5267 4.3). `number` turns a UID into what the client asked for (the
// UID itself, or its current sequence number). "" when nothing changed.
std::string update_data(const context_change& change, bool sorted,
                        const std::function<std::uint32_t(std::uint32_t)>& number);

} // namespace splitmail::home::imap
