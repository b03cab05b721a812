// The settings loader: defaults, types, units, and errors that name file, key and reason.
#include "splitmail/config/settings.hpp"

#include <gtest/gtest.h>

#include <array>

using namespace splitmail::config;

namespace {
constexpr std::array table{
    setting_spec{"a.name", kind::string, "\"x\"", "a string"},
    setting_spec{"a.count", kind::integer, "3", "an int"},
    setting_spec{"a.on", kind::boolean, "false", "a bool"},
    setting_spec{"b.wait", kind::duration, "\"5m\"", "a duration"},
    setting_spec{"b.size", kind::size, "\"25M\"", "a size"},
    setting_spec{"b.list", kind::string_list, "[\"p\", \"q\"]", "a list"},
    setting_spec{"c.must", kind::string, "", "required", true},
};
} // namespace

TEST(Settings, DefaultsApplyWhenKeysAreAbsent) {
    auto v = load_string("[c]\nmust = \"yes\"\n", "t.toml", table);
    ASSERT_TRUE(v) << v.error();
    EXPECT_EQ(v->get_string("a.name"), "x");
    EXPECT_EQ(v->get_int("a.count"), 3);
    EXPECT_FALSE(v->get_bool("a.on"));
    EXPECT_EQ(v->get_duration("b.wait").count(), 300);
    EXPECT_EQ(v->get_size("b.size"), 25u * 1024 * 1024);
    EXPECT_EQ(v->get_list("b.list"), (std::vector<std::string>{"p", "q"}));
}

TEST(Settings, ValuesOverrideDefaults) {
    auto v = load_string("[a]\nname=\"y\"\ncount=7\non=true\n[b]\nwait=\"2h\"\nsize=\"64k\"\n"
                         "list=[]\n[c]\nmust=\"1\"\n",
                         "t.toml", table);
    ASSERT_TRUE(v) << v.error();
    EXPECT_EQ(v->get_string("a.name"), "y");
    EXPECT_EQ(v->get_int("a.count"), 7);
    EXPECT_TRUE(v->get_bool("a.on"));
    EXPECT_EQ(v->get_duration("b.wait").count(), 7200);
    EXPECT_EQ(v->get_size("b.size"), 65536u);
    EXPECT_TRUE(v->get_list("b.list").empty());
}

TEST(Settings, ErrorsNameFileKeyAndReason) {
    struct case_t {
        const char* toml;
        const char* expect;
    } cases[] = {
        {"[c]\nmust=\"1\"\n[a]\nnmae=\"typo\"\n", "t.toml: a.nmae: unknown setting"},
        {"[c]\nmust=\"1\"\n[zz]\nq=1\n", "t.toml: zz: unknown section"},
        {"[c]\nmust=\"1\"\n[a]\ncount=\"three\"\n", "t.toml: a.count: expected integer"},
        {"[c]\nmust=\"1\"\n[b]\nwait=\"5 fortnights\"\n", "t.toml: b.wait: "},
        {"[c]\nmust=\"1\"\n[b]\nsize=\"12Q\"\n", "t.toml: b.size: "},
        {"[c]\nmust=\"1\"\n[b]\nlist=[1,2]\n", "t.toml: b.list: every item must be a string"},
        {"", "t.toml: c.must: required setting is missing"},
        {"[c]\nmust=\n", "t.toml:2:"},
    };
    for (const auto& c : cases) {
        auto v = load_string(c.toml, "t.toml", table);
        ASSERT_FALSE(v) << c.toml;
        EXPECT_EQ(v.error().rfind(c.expect, 0), 0u) << "got: " << v.error();
    }
}

// Issue 16 bug 9: the line of the key, and the key meant for a typo.
TEST(Settings, ErrorsNameTheLineAndTheKeyMeant) {
    auto v = load_string("[c]\nmust=\"1\"\n[a]\nnmae=\"typo\"\n", "t.toml", table);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error(), "t.toml: a.nmae: unknown setting (line 4; did you mean a.name?)");
    v = load_string("[c]\nmust=\"1\"\n[a]\ncount=\"three\"\n", "t.toml", table);
    ASSERT_FALSE(v);
    EXPECT_NE(v.error().find("(line 4)"), std::string::npos) << v.error();
    v = load_string("[c]\nmust=\"1\"\n[zz]\nq=1\n", "t.toml", table);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().find("did you mean"), std::string::npos) << "nothing close: " << v.error();
    auto ok = load_string("[c]\nmust=\"1\"\n\n[a]\nname=\"x\"\n", "t.toml", table);
    ASSERT_TRUE(ok) << ok.error();
    EXPECT_EQ(ok->line_of("a.name"), 5);
    EXPECT_EQ(ok->where("a.name"), " (line 5)");
    EXPECT_EQ(ok->line_of("a.count"), 0) << "a default has no line";
}

TEST(Settings, DurationAndSizeUnits) {
    EXPECT_EQ(parse_duration("30")->count(), 30);
    EXPECT_EQ(parse_duration("30s")->count(), 30);
    EXPECT_EQ(parse_duration("14d")->count(), 14 * 86400);
    EXPECT_EQ(parse_duration("1w")->count(), 7 * 86400);
    EXPECT_FALSE(parse_duration("m"));
    EXPECT_FALSE(parse_duration("-5s"));
    EXPECT_FALSE(parse_duration("5y"));
    EXPECT_EQ(*parse_size("1G"), 1024ull * 1024 * 1024);
    EXPECT_EQ(*parse_size("512"), 512u);
    EXPECT_FALSE(parse_size("1T"));
    EXPECT_FALSE(parse_size("99999999999999999999"));
}

TEST(Settings, MarkdownListsEveryKey) {
    auto md = render_markdown("prog", "/etc/prog.toml", table);
    for (const auto& s : table)
        EXPECT_NE(md.find("`" + std::string(s.key) + "`"), std::string::npos);
    EXPECT_NE(md.find("*required*"), std::string::npos);
}
