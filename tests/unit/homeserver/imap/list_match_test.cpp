// LIST pattern matcher (list_match.hpp): table of RFC 3501 6.3.8 cases, agreement with a
// brute-force reference on random inputs, and the issue-11 patterns that froze the old
// recursive matcher (each must finish at once; the CPU bound is generous).
#include "imap/list_match.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>

namespace splitmail::home::imap {
namespace {

// The definition, written as directly as possible (exponential: only for short inputs).
bool reference(std::string_view p, std::string_view n, char delim) {
    if (p.empty()) return n.empty();
    if (p[0] == '*' || p[0] == '%') {
        for (std::size_t i = 0; i <= n.size(); ++i) {
            if (reference(p.substr(1), n.substr(i), delim)) return true;
            if (i < n.size() && p[0] == '%' && n[i] == delim) return false;
        }
        return false;
    }
    return !n.empty() && p[0] == n[0] && reference(p.substr(1), n.substr(1), delim);
}

// The same definition, memoised on (pattern offset, name offset): usable on long inputs.
bool reference_memo(std::string_view p, std::string_view n, char delim) {
    std::vector<signed char> memo((p.size() + 1) * (n.size() + 1), -1);
    auto go = [&](auto& self, std::size_t i, std::size_t j) -> bool {
        auto& m = memo[i * (n.size() + 1) + j];
        if (m >= 0) return m;
        bool r;
        if (i == p.size())
            r = j == n.size();
        else if (p[i] == '*')
            r = self(self, i + 1, j) || (j < n.size() && self(self, i, j + 1));
        else if (p[i] == '%')
            r = self(self, i + 1, j) || (j < n.size() && n[j] != delim && self(self, i, j + 1));
        else
            r = j < n.size() && p[i] == n[j] && self(self, i + 1, j + 1);
        m = r;
        return r;
    };
    return go(go, 0, 0);
}

double cpu_bound() {
    double b = 0.5;
    if (std::getenv("ASAN_OPTIONS")) b *= 3;
    return b;
}

TEST(ListMatch, Rfc3501Cases) {
    struct row {
        const char *pat, *name;
        bool match;
    } rows[] = {
        {"*", "", true},         {"*", "a.b.c", true},     {"%", "a", true},
        {"%", "a.b", false},     {"%.%", "a.b", true},     {"a.%", "a.b.c", false},
        {"a.*", "a.b.c", true},  {"a*", "a", true},        {"a%", "abc", true},
        {"", "", true},          {"", "a", false},         {"abc", "abc", true},
        {"abc", "abd", false},   {"a%c", "a.c", false},    {"a*c", "a.c", true},
        {"%%", "ab", true},      {"%*", "a.b", true},      {"*%", "a.b", true},
        {"%.%.%", "a.b", false}, {"%.%.%", "a..b", true},  {"*.", "a.", true},
        {"Sent*", "Sent", true}, {"Sent*", "Sen", false},  {"%t", "Sent", true},
        {"a**b", "ab", true},    {"*zzz", "zzzzzz", true}, {"%zz%", "a.zz", false},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(list_match(r.pat, r.name), r.match) << r.pat << " vs " << r.name;
        EXPECT_EQ(reference(r.pat, r.name, '.'), r.match) << "reference: " << r.pat;
    }
}

TEST(ListMatch, AgreesWithReferenceOnRandomInputs) {
    std::mt19937 rng(11);
    const std::string pat_alpha = "ab.*%";
    const std::string name_alpha = "ab.";
    for (int iter = 0; iter < 200000; ++iter) {
        std::string p, n;
        auto plen = rng() % 9, nlen = rng() % 10;
        for (unsigned i = 0; i < plen; ++i) p += pat_alpha[rng() % pat_alpha.size()];
        for (unsigned i = 0; i < nlen; ++i) n += name_alpha[rng() % name_alpha.size()];
        ASSERT_EQ(list_match(p, n), reference(p, n, '.')) << "pattern " << p << " name " << n;
        ASSERT_EQ(reference_memo(p, n, '.'), reference(p, n, '.')) << p << " / " << n;
    }
}

TEST(ListMatch, LongPatternsSpanningWordsAgreeWithReference) {
    // Patterns over 64 positions use several words: carries between words must be right.
    std::mt19937 rng(7);
    for (int iter = 0; iter < 3000; ++iter) {
        std::string n;
        auto nlen = 60 + rng() % 150;
        for (unsigned i = 0; i < nlen; ++i) n += "ab."[rng() % 3];
        // A pattern derived from the name (so it often matches): drop/replace some octets.
        std::string p;
        for (char c : n) {
            auto r = rng() % 20;
            if (r == 0)
                p += '*';
            else if (r == 1)
                p += '%';
            else if (r == 2)
                continue;
            else if (r == 3)
                p += "ab"[rng() % 2];
            else
                p += c;
        }
        ASSERT_EQ(list_match(p, n), reference_memo(p, n, '.')) << "pattern " << p << " name " << n;
    }
}

TEST(ListMatch, WorstPatternsAreFast) {
    std::string name(255, 'a');
    std::string dotted;
    for (int i = 0; i < 127; ++i) dotted += "a.";
    std::vector<std::string> patterns;
    std::string p1;
    for (int i = 0; i < 40; ++i) p1 += "*%";
    patterns.push_back(p1 + "zzz");                   // issue 11: minutes with the old matcher
    patterns.push_back(std::string(48, '*') + "zzz"); // issue 11: 10.7 s
    patterns.push_back(std::string(64, '%') + "zzz");
    std::string p2;
    for (int i = 0; i < 32; ++i) p2 += "a*";
    patterns.push_back(p2 + "b");
    std::string p3;
    for (int i = 0; i < 32; ++i) p3 += "a%";
    patterns.push_back(p3 + "b");
    std::string p4(1024, 'a');
    for (std::size_t i = 0; i < p4.size(); i += 16) p4[i] = '*';
    patterns.push_back(p4);
    auto start = std::chrono::steady_clock::now();
    for (const auto& p : patterns) {
        list_pattern lp(p);
        for (int rep = 0; rep < 100; ++rep) {
            EXPECT_FALSE(lp.matches(name));
            EXPECT_FALSE(lp.matches(dotted));
        }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(secs, cpu_bound()) << "1200 matches of worst-case patterns";
}

TEST(ListMatch, CapsNameTheLimit) {
    EXPECT_FALSE(list_pattern_problem("INBOX.*"));
    EXPECT_FALSE(list_pattern_problem(std::string(max_list_pattern_octets, 'a')));
    auto too_long = list_pattern_problem(std::string(max_list_pattern_octets + 1, 'a'));
    ASSERT_TRUE(too_long);
    EXPECT_NE(too_long->find("1024"), std::string::npos) << *too_long;
    EXPECT_FALSE(list_pattern_problem(std::string(max_list_pattern_wildcards, '*')));
    auto too_wild = list_pattern_problem(std::string(max_list_pattern_wildcards + 1, '%'));
    ASSERT_TRUE(too_wild);
    EXPECT_NE(too_wild->find("64"), std::string::npos) << *too_wild;
}

} // namespace
} // namespace splitmail::home::imap
