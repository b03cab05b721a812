#include "imap/search_return.hpp"

#include <algorithm>
#include <charconv>

namespace splitmail::home::imap {
namespace {

std::optional<std::int64_t> signed_number(std::string_view s) {
    bool neg = !s.empty() && s.front() == '-';
    if (neg) s.remove_prefix(1);
    if (s.empty() || s.size() > 10 || s.front() == '0') return std::nullopt; // nz-number
    std::int64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v > 4294967295LL)
        return std::nullopt;
    return neg ? -v : v;
}

// "lo:hi" of RFC 5267 4.4 / RFC 9394 3.1 (both positive or both negative).
std::optional<std::pair<std::int64_t, std::int64_t>> parse_range(std::string_view s) {
    auto colon = s.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto lo = signed_number(s.substr(0, colon)), hi = signed_number(s.substr(colon + 1));
    if (!lo || !hi || (*lo < 0) != (*hi < 0)) return std::nullopt;
    return std::pair{*lo, *hi};
}

} // namespace

std::expected<return_options, std::string> parse_return_options(const value& list) {
    return_options o;
    const auto& items = list.items;
    for (std::size_t i = 0; i < items.size(); ++i) {
        std::string u = items[i].is_atom() ? upper(items[i].text) : std::string();
        if (u == "MIN")
            o.min = true;
        else if (u == "MAX")
            o.max = true;
        else if (u == "COUNT")
            o.count = true;
        else if (u == "ALL")
            o.all = true;
        else if (u == "SAVE")
            o.save = true;
        else if (u == "UPDATE")
            o.update = true;
        else if (u == "CONTEXT")
            o.context = true;
        else if (u == "PARTIAL") {
            if (o.partial) return std::unexpected(std::string("PARTIAL twice"));
            if (i + 1 >= items.size() || !items[i + 1].is_atom())
                return std::unexpected(std::string("PARTIAL needs a range (e.g. 1:100)"));
            auto r = parse_range(items[++i].text);
            if (!r) return std::unexpected("Bad PARTIAL range " + items[i].text);
            o.partial = r;
        } else {
            return std::unexpected("Unknown RETURN option " +
                                   (u.empty() ? std::string("(list)") : u));
        }
    }
    if (o.partial && o.all) return std::unexpected(std::string("PARTIAL and ALL together"));
    if (!o.any_data() && !o.save) o.all = true;
    return o;
}

std::optional<std::expected<return_options, std::string>>
return_clause(const std::vector<value>& args) {
    if (args.empty() || !args[0].is_atom() || upper(args[0].text) != "RETURN") return std::nullopt;
    if (args.size() < 2 || !args[1].is_list())
        return std::unexpected(std::string("RETURN needs a list of options"));
    return parse_return_options(args[1]);
}

std::pair<std::size_t, std::size_t> partial_window(std::pair<std::int64_t, std::int64_t> range,
                                                   std::size_t size) {
    auto [a, b] = range;
    const auto n = static_cast<std::int64_t>(size);
    if (a < 0) { // from the end: -1 is the last entry
        a = n + a + 1;
        b = n + b + 1;
    }
    if (a > b) std::swap(a, b); // "10:1" is "1:10", "-1:-5" the last five
    a = std::max<std::int64_t>(a, 1);
    b = std::min<std::int64_t>(b, n);
    if (a > b) return {0, 0};
    return {static_cast<std::size_t>(a - 1), static_cast<std::size_t>(b)};
}

std::string partial_data(std::pair<std::int64_t, std::int64_t> range,
                         const std::vector<std::uint32_t>& numbers) {
    auto [first, last] = partial_window(range, numbers.size());
    std::string out =
        " PARTIAL (" + std::to_string(range.first) + ":" + std::to_string(range.second) + " ";
    if (first == last) return out + "NIL)";
    std::vector<std::uint32_t> part(numbers.begin() + static_cast<std::ptrdiff_t>(first),
                                    numbers.begin() + static_cast<std::ptrdiff_t>(last));
    return out + ordered_set(part) + ")";
}

std::string ordered_set(const std::vector<std::uint32_t>& numbers) {
    std::string out;
    for (std::size_t i = 0; i < numbers.size();) {
        std::size_t j = i;
        while (j + 1 < numbers.size() && numbers[j + 1] == numbers[j] + 1) ++j;
        if (!out.empty()) out += ',';
        out += std::to_string(numbers[i]);
        if (j > i) out += ":" + std::to_string(numbers[j]);
        i = j + 1;
    }
    return out;
}

context_change diff_results(const std::vector<std::uint32_t>& before,
                            const std::vector<std::uint32_t>& after) {
    std::vector<std::uint32_t> b(before), a(after);
    std::sort(b.begin(), b.end());
    std::sort(a.begin(), a.end());
    auto in = [](const std::vector<std::uint32_t>& v, std::uint32_t x) {
        return std::binary_search(v.begin(), v.end(), x);
    };
    context_change ch;
    // Removals in order: the i-th entry (1-based) is at i - (entries removed before it).
    std::size_t removed = 0;
    for (std::size_t i = 0; i < before.size(); ++i) {
        if (in(a, before[i])) continue;
        const std::size_t pos = i + 1 - removed;
        if (!ch.removed.empty() && ch.removed.back().position == pos)
            ch.removed.back().uids.push_back(before[i]); // the next one slid into its place
        else
            ch.removed.push_back({pos, {before[i]}});
        ++removed;
    }
    // Additions in the new order: each lands at its final position.
    for (std::size_t j = 0; j < after.size(); ++j) {
        if (in(b, after[j])) continue;
        auto& g = ch.added;
        if (!g.empty() && g.back().position + g.back().uids.size() == j + 1)
            g.back().uids.push_back(after[j]);
        else
            g.push_back({j + 1, {after[j]}});
    }
    return ch;
}

std::string update_data(const context_change& change, bool sorted,
                        const std::function<std::uint32_t(std::uint32_t)>& number) {
    std::string out;
    auto emit = [&](std::string_view what, const std::vector<context_change::group>& groups) {
        if (groups.empty()) return;
        if (!sorted) {
            std::vector<std::uint32_t> all;
            for (const auto& g : groups)
                for (auto u : g.uids) all.push_back(number(u));
            std::sort(all.begin(), all.end());
            out += " " + std::string(what) + " (0 " + ordered_set(all) + ")";
            return;
        }
        for (const auto& g : groups) {
            std::vector<std::uint32_t> nums;
            for (auto u : g.uids) nums.push_back(number(u));
            out += " " + std::string(what) + " (" + std::to_string(g.position) + " " +
                   ordered_set(nums) + ")";
        }
    };
    emit("REMOVEFROM", change.removed);
    emit("ADDTO", change.added);
    return out;
}

} // namespace splitmail::home::imap
