// User / alias file parsing, alias expansion and lookup order, recipient directory,
// live reloading and the CLI's atomic rewrite.
#include "splitmail/users/database.hpp"
#include "splitmail/users/file_edit.hpp"
#include "splitmail/users/live_database.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

using namespace splitmail::users;
namespace fs = std::filesystem;

namespace {

const char* kUsers = R"(# users
alice@example.test:{PLAIN}a
Bob@Example.TEST:{PLAIN}b
carol@example.test:{PLAIN}c:1000:1000::/home/carol::
dave@other.test:{PLAIN}d
selfie@example.test:{PLAIN}s
)";

const char* kAliases = R"(
# aliases
team@example.test: alice@example.test, bob@example.test
all@example.test: team@example.test carol@example.test,alice@example.test
selfie@example.test: selfie@example.test, alice@example.test
postmaster@example.test: alice@example.test
@other.test: dave@other.test
)";

database make(const char* users, const char* aliases, std::string delim = "+",
              std::vector<std::string> domains = {}) {
    auto u = parse_users(users, "users");
    EXPECT_TRUE(u) << u.error().message();
    auto a = parse_aliases(aliases, "aliases");
    EXPECT_TRUE(a) << a.error().message();
    auto db = database::build(*u, *a, delim, domains);
    EXPECT_TRUE(db) << db.error();
    return std::move(*db);
}

std::string build_error(const char* users, const char* aliases) {
    auto u = parse_users(users, "users");
    if (!u) return u.error().message();
    auto a = parse_aliases(aliases, "aliases");
    if (!a) return a.error().message();
    auto db = database::build(*u, *a, "+");
    return db ? "" : db.error();
}

} // namespace

TEST(UsersParse, UsersFile) {
    auto u = parse_users(kUsers, "users");
    ASSERT_TRUE(u) << u.error().message();
    ASSERT_EQ(u->size(), 5u);
    EXPECT_EQ((*u)[1].address, "bob@example.test");
    EXPECT_EQ((*u)[1].line, 3u);
    EXPECT_EQ((*u)[2].hash, "{PLAIN}c") << "passwd-file extra fields are ignored";
}

TEST(UsersParse, ErrorsNameFileAndLine) {
    struct row {
        const char* text;
        const char* error;
    };
    const row rows[] = {
        {"a@x.test:{PLAIN}a\nnocolon\n", "u:2: expected"},
        {"\n\na@x.test\n", "u:3: expected"},
        {"a@x.test:\n", "u:1: no password hash"},
        {"a@x.test:{MD4}xx\n", "u:1: unknown password scheme"},
        {"a@x.test:{PLAIN}a\nA@X.test:{PLAIN}b\n", "u:2: a@x.test is listed twice"},
        {"../etc@x.test:{PLAIN}a\n", "u:1: \"../etc@x.test\" is not a usable"},
        {"a/b@x.test:{PLAIN}a\n", "u:1:"},
        {"a@x/y:{PLAIN}a\n", "u:1:"},
        {"a@[127.0.0.1]:{PLAIN}a\n", "u:1:"},
        {"@x.test:{PLAIN}a\n", "u:1:"},
        {"a b@x.test:{PLAIN}a\n", "u:1:"},
        {"a@:{PLAIN}a\n", "u:1:"},
    };
    for (const auto& r : rows) {
        SCOPED_TRACE(r.text);
        auto u = parse_users(r.text, "u");
        ASSERT_FALSE(u);
        EXPECT_EQ(u.error().message().rfind(r.error, 0), 0u) << u.error().message();
    }
}

TEST(UsersParse, AliasErrors) {
    struct row {
        const char* text;
        const char* error;
    };
    const row rows[] = {
        {"a@x.test b@x.test\n", "al:1: expected"},
        {"a@x.test:\n", "al:1: alias a@x.test has no target"},
        {"a@x.test: b@x.test\nA@x.test: c@x.test\n", "al:2: a@x.test is defined twice"},
        {"a@x.test: not-an-address\n", "al:1: \"not-an-address\""},
        {"@: a@x.test\n", "al:1:"},
        {"@bad/dom: a@x.test\n", "al:1:"},
    };
    for (const auto& r : rows) {
        SCOPED_TRACE(r.text);
        auto a = parse_aliases(r.text, "al");
        ASSERT_FALSE(a);
        EXPECT_EQ(a.error().message().rfind(r.error, 0), 0u) << a.error().message();
    }
}

TEST(UsersLookup, Table) {
    auto db = make(kUsers, kAliases);
    using st = lookup_result::status;
    struct row {
        const char* address;
        st status;
        std::vector<std::string> users;
    };
    const row rows[] = {
        {"alice@example.test", st::found, {"alice@example.test"}},
        {"ALICE@Example.Test", st::found, {"alice@example.test"}},
        {"bob@example.test", st::found, {"bob@example.test"}},
        {"alice+news@example.test", st::found, {"alice@example.test"}},
        {"alice+@example.test", st::found, {"alice@example.test"}},
        {"+alice@example.test", st::unknown, {}},
        {"team@example.test", st::found, {"alice@example.test", "bob@example.test"}},
        {"team+x@example.test", st::found, {"alice@example.test", "bob@example.test"}},
        // nested aliases, duplicates removed, first-seen order
        {"all@example.test",
         st::found,
         {"alice@example.test", "bob@example.test", "carol@example.test"}},
        // alias over a user of the same name, self-reference keeps the user's own copy
        {"selfie@example.test", st::found, {"selfie@example.test", "alice@example.test"}},
        {"postmaster@example.test", st::found, {"alice@example.test"}},
        {"nobody@example.test", st::unknown, {}},
        {"nobody+alice@example.test", st::unknown, {}},
        // catch-all comes last
        {"dave@other.test", st::found, {"dave@other.test"}},
        {"anything@other.test", st::found, {"dave@other.test"}},
        {"alice@foreign.test", st::unknown, {}},
        {"no-at-sign", st::unknown, {}},
    };
    for (const auto& r : rows) {
        SCOPED_TRACE(r.address);
        auto res = db.lookup(r.address);
        EXPECT_EQ(res.st, r.status) << res.reason;
        EXPECT_EQ(res.users, r.users);
    }
}

TEST(UsersLookup, OtherDelimiterAndNone) {
    auto dash = make(kUsers, kAliases, "-");
    EXPECT_EQ(dash.lookup("alice-x@example.test").users,
              std::vector<std::string>{"alice@example.test"});
    EXPECT_EQ(dash.lookup("alice+x@example.test").st, lookup_result::status::unknown);
    auto none = make(kUsers, kAliases, "");
    EXPECT_EQ(none.lookup("alice+x@example.test").st, lookup_result::status::unknown);
}

TEST(UsersLookup, LoopsAndDepthAreLoadErrors) {
    EXPECT_NE(build_error("a@x.test:{PLAIN}a\n", "l1@x.test: l2@x.test\nl2@x.test: l1@x.test\n")
                  .find("aliases:1: alias loop through l1@x.test"),
              std::string::npos);
    EXPECT_NE(build_error("a@x.test:{PLAIN}a\n", "l@x.test: l@x.test\n").find("alias loop"),
              std::string::npos);
    EXPECT_NE(build_error("a@x.test:{PLAIN}a\n", "l@x.test: ghost@x.test\n")
                  .find("aliases:1: alias l@x.test: target ghost@x.test is neither"),
              std::string::npos);
    // A chain of 10 levels is fine, 11 is refused.
    std::string chain;
    for (int i = 0; i < 10; ++i)
        chain += "c" + std::to_string(i) + "@x.test: c" + std::to_string(i + 1) + "@x.test\n";
    EXPECT_EQ(build_error("c10@x.test:{PLAIN}a\n", chain.c_str()), "");
    chain += "c11@x.test: c0@x.test\n";
    EXPECT_NE(build_error("c10@x.test:{PLAIN}a\n", chain.c_str()).find("deeper than 10"),
              std::string::npos);
}

TEST(UsersLookup, ExplicitDomains) {
    auto u = parse_users("a@x.test:{PLAIN}a\n", "users");
    auto db = database::build(*u, {}, "+", {"X.test", "y.test"});
    ASSERT_TRUE(db);
    EXPECT_TRUE(db->is_local_domain("y.test"));
    EXPECT_EQ(db->lookup("b@y.test").reason, "no such user");
    auto bad = database::build(*u, {}, "+", {"y.test"});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("a@x.test"), std::string::npos);
}

TEST(UsersDirectory, ContentAndVersion) {
    auto db = make(kUsers, kAliases);
    const auto& d = db.dir();
    EXPECT_EQ(d.domains, (std::vector<std::string>{"example.test", "other.test"}));
    EXPECT_EQ(d.catchall, std::vector<std::string>{"other.test"});
    EXPECT_EQ(d.recipients, (std::vector<std::string>{"alice@example.test", "all@example.test",
                                                      "bob@example.test", "carol@example.test",
                                                      "dave@other.test", "postmaster@example.test",
                                                      "selfie@example.test", "team@example.test"}));
    auto lines = xdirectory_lines(d);
    ASSERT_GE(lines.size(), 3u);
    EXPECT_EQ(lines.front(), "version " + d.version);
    EXPECT_EQ(lines[1], "delimiter +");
    EXPECT_EQ(lines.back(), "end");
    EXPECT_EQ(d.version.size(), 64u);
    EXPECT_EQ(make(kUsers, kAliases).dir().version, d.version);
    EXPECT_NE(make(kUsers, "", "+").dir().version, d.version);
    EXPECT_NE(make(kUsers, kAliases, "-").dir().version, d.version);
}

class UsersFiles : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("sm-users-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    void write(const fs::path& p, const std::string& text) {
        std::ofstream(p, std::ios::trunc) << text;
    }
    fs::path dir_;
};

TEST_F(UsersFiles, LoadNamesFileAndLine) {
    write(dir_ / "users", "a@x.test:{PLAIN}a\nbroken\n");
    auto db = database::load(dir_ / "users", "", "+");
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error(), (dir_ / "users").string() + ":2: expected \"address:{SCHEME}hash\"");
    auto missing = database::load(dir_ / "nope", "", "+");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().find("cannot open"), std::string::npos);
}

TEST_F(UsersFiles, LiveReloadOnChangeKeepsOldOnError) {
    write(dir_ / "users", "a@x.test:{PLAIN}a\n");
    write(dir_ / "aliases", "");
    live_database live({dir_ / "users", dir_ / "aliases", "+", {}});
    EXPECT_EQ(live.current(), nullptr);
    ASSERT_TRUE(live.reload());
    auto first = live.current();
    ASSERT_NE(first, nullptr);
    bool changed = true;
    EXPECT_EQ(live.refresh(&changed), std::nullopt);
    EXPECT_FALSE(changed);
    EXPECT_EQ(live.current(), first);

    // Atomic rewrite (new inode) is noticed even within the same second.
    ASSERT_TRUE(rewrite_file(dir_ / "aliases", [](std::string_view) {
        return std::expected<std::string, std::string>("t@x.test: a@x.test\n");
    }));
    EXPECT_EQ(live.refresh(&changed), std::nullopt);
    EXPECT_TRUE(changed);
    EXPECT_EQ(live.current()->lookup("t@x.test").st, lookup_result::status::found);

    // A broken file: error returned, previous database kept.
    write(dir_ / "aliases", "t@x.test: ghost@x.test\n");
    auto err = live.refresh(&changed);
    ASSERT_TRUE(err);
    EXPECT_NE(err->find("ghost@x.test"), std::string::npos);
    EXPECT_EQ(live.current()->lookup("t@x.test").st, lookup_result::status::found);
    // ... and not retried until the file changes again.
    EXPECT_EQ(live.refresh(&changed), std::nullopt);
    EXPECT_FALSE(changed);
}

TEST_F(UsersFiles, RewriteKeepsModeAndRefusesOnError) {
    auto f = dir_ / "users";
    ASSERT_TRUE(rewrite_file(f, [](std::string_view cur) {
        EXPECT_EQ(cur, "");
        return std::expected<std::string, std::string>("one\n");
    }));
    struct ::stat st {};
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ::chmod(f.c_str(), 0640);
    ASSERT_TRUE(rewrite_file(f, [](std::string_view cur) {
        return std::expected<std::string, std::string>(std::string(cur) + "two\n");
    }));
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    auto r = rewrite_file(f, [](std::string_view) {
        return std::expected<std::string, std::string>(std::unexpected("nope"));
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "nope");
    std::ifstream in(f);
    std::string all((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(all, "one\ntwo\n");
    // No temporary files left behind.
    for (auto& e : fs::directory_iterator(dir_))
        EXPECT_TRUE(e.path().filename() == "users" || e.path().filename() == "users.lock")
            << e.path();
}
