// RETURN options and search-context updates (search_return.hpp; RFC 4731, RFC 5267 4, RFC 9394
// 3.1): option parsing and its errors, PARTIAL windows from either end, and the REMOVEFROM/ADDTO
// positions, checked by applying them the way a client does.
#include "imap/search_return.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace splitmail::home::imap {
namespace {

value list_of(std::string_view text) {
    auto v = parse_arguments("(" + std::string(text) + ")");
    EXPECT_TRUE(v.has_value()) << text;
    return v ? v->front() : value{};
}

TEST(SearchReturn, Options) {
    auto o = parse_return_options(list_of(""));
    ASSERT_TRUE(o);
    EXPECT_TRUE(o->all) << "RETURN () is RETURN (ALL)";
    o = parse_return_options(list_of("UPDATE"));
    ASSERT_TRUE(o);
    EXPECT_TRUE(o->update && o->all) << "UPDATE alone: the initial result, then its changes";
    o = parse_return_options(list_of("SAVE"));
    ASSERT_TRUE(o);
    EXPECT_FALSE(o->all) << "SAVE alone returns nothing (RFC 5182 2.1)";
    o = parse_return_options(list_of("min CONTEXT count"));
    ASSERT_TRUE(o);
    EXPECT_TRUE(o->min && o->count && o->context && !o->all);
    o = parse_return_options(list_of("PARTIAL 1:100 UPDATE"));
    ASSERT_TRUE(o);
    ASSERT_TRUE(o->partial);
    EXPECT_EQ(*o->partial, (std::pair<std::int64_t, std::int64_t>{1, 100}));
    EXPECT_FALSE(o->all);
    o = parse_return_options(list_of("PARTIAL -1:-50"));
    ASSERT_TRUE(o);
    EXPECT_EQ(*o->partial, (std::pair<std::int64_t, std::int64_t>{-1, -50}));
    for (const char* bad : {"PARTIAL", "PARTIAL 0:5", "PARTIAL 1:-5", "PARTIAL 5", "PARTIAL a:b",
                            "PARTIAL 1:5 ALL", "PARTIAL 1:2 PARTIAL 3:4", "PARTIAL (1:2)",
                            "PARTIAL 1:99999999999", "BOGUS", "(ALL)", "PARTIAL 01:5"})
        EXPECT_FALSE(parse_return_options(list_of(bad))) << bad;
}

TEST(SearchReturn, ReturnClause) {
    auto args = [](std::string_view text) {
        auto v = parse_arguments(text);
        EXPECT_TRUE(v.has_value()) << text;
        return v ? *v : std::vector<value>{};
    };
    EXPECT_FALSE(return_clause(args("ALL")).has_value()) << "no RETURN: keys start at 0";
    EXPECT_FALSE(return_clause({}).has_value());
    auto rc = return_clause(args("return (COUNT) ALL"));
    ASSERT_TRUE(rc.has_value());
    ASSERT_TRUE(rc->has_value());
    EXPECT_TRUE((*rc)->count && !(*rc)->all);
    rc = return_clause(args("RETURN ALL"));
    ASSERT_TRUE(rc.has_value());
    EXPECT_FALSE(rc->has_value()) << "RETURN without a list";
    rc = return_clause(args("RETURN (BOGUS) ALL"));
    ASSERT_TRUE(rc.has_value());
    EXPECT_FALSE(rc->has_value());
}

TEST(SearchReturn, PartialWindows) {
    using w = std::pair<std::size_t, std::size_t>;
    EXPECT_EQ(partial_window({1, 10}, 5), (w{0, 5}));
    EXPECT_EQ(partial_window({3, 4}, 5), (w{2, 4}));
    EXPECT_EQ(partial_window({4, 3}, 5), (w{2, 4})) << "reversed range";
    EXPECT_EQ(partial_window({-1, -2}, 5), (w{3, 5})) << "the last two";
    EXPECT_EQ(partial_window({-3, -100}, 5), (w{0, 3}));
    EXPECT_EQ(partial_window({6, 9}, 5).first, partial_window({6, 9}, 5).second);
    EXPECT_EQ(partial_window({-6, -9}, 5).first, partial_window({-6, -9}, 5).second);
    EXPECT_EQ(partial_window({1, 4294967295}, 3), (w{0, 3}));
    EXPECT_EQ(partial_data({2, 4}, {9, 3, 4, 5, 1}), " PARTIAL (2:4 3:5)");
    EXPECT_EQ(partial_data({-1, -2}, {9, 3, 4, 5, 1}), " PARTIAL (-1:-2 5,1)");
    EXPECT_EQ(partial_data({7, 9}, {9, 3}), " PARTIAL (7:9 NIL)");
    EXPECT_EQ(ordered_set({5, 3, 4, 9, 10, 11, 2}), "5,3:4,9:11,2");
}

TEST(SearchReturn, UpdatePositions) {
    auto ch = diff_results({5, 3, 8, 1}, {5, 8, 9, 1, 2});
    ASSERT_EQ(ch.removed.size(), 1u);
    EXPECT_EQ(ch.removed[0].position, 2u);
    ASSERT_EQ(ch.added.size(), 2u);
    EXPECT_EQ(ch.added[0].position, 3u);
    EXPECT_EQ(ch.added[1].position, 5u);
    auto same = [](std::uint32_t u) { return u; };
    EXPECT_EQ(update_data(ch, true, same), " REMOVEFROM (2 3) ADDTO (3 9) ADDTO (5 2)");
    EXPECT_EQ(update_data(ch, false, same), " REMOVEFROM (0 3) ADDTO (0 2,9)");
    ch = diff_results({1, 2, 3, 4}, {1, 4});
    ASSERT_EQ(ch.removed.size(), 1u) << "adjacent entries leave as one group";
    EXPECT_EQ(ch.removed[0].uids, (std::vector<std::uint32_t>{2, 3}));
    EXPECT_EQ(update_data(ch, true, [](std::uint32_t u) { return u + 10; }),
              " REMOVEFROM (2 12:13)");
    EXPECT_TRUE(diff_results({4, 2}, {4, 2}).empty());
    EXPECT_EQ(update_data(diff_results({4, 2}, {4, 2}), true, same), "");
}

// Random results over one fixed order (as a sort gives): applying the removals, then the
// additions, at the positions given turns the old list into the new one.
TEST(SearchReturn, UpdatesReplayToTheNewResult) {
    std::mt19937 rng(5267);
    for (int round = 0; round < 500; ++round) {
        std::vector<std::uint32_t> order(40);
        for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i + 1;
        std::shuffle(order.begin(), order.end(), rng);
        std::vector<std::uint32_t> before, after;
        for (auto u : order) {
            if (rng() % 2) before.push_back(u);
            if (rng() % 3) after.push_back(u);
        }
        auto ch = diff_results(before, after);
        auto list = before;
        for (const auto& g : ch.removed) {
            ASSERT_GE(g.position, 1u);
            ASSERT_LE(g.position - 1 + g.uids.size(), list.size());
            auto at = list.begin() + static_cast<std::ptrdiff_t>(g.position - 1);
            ASSERT_TRUE(std::equal(g.uids.begin(), g.uids.end(), at)) << "round " << round;
            list.erase(at, at + static_cast<std::ptrdiff_t>(g.uids.size()));
        }
        for (const auto& g : ch.added) {
            ASSERT_LE(g.position - 1, list.size());
            list.insert(list.begin() + static_cast<std::ptrdiff_t>(g.position - 1), g.uids.begin(),
                        g.uids.end());
        }
        ASSERT_EQ(list, after) << "round " << round;
    }
}

} // namespace
} // namespace splitmail::home::imap
