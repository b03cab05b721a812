// `splitmail user` / `splitmail alias` on temporary files: passwords from stdin, checks that
// refuse invalid results, comments kept.
#include "commands/user.hpp"

#include "splitmail/users/database.hpp"
#include "splitmail/users/password.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using splitmail::provision::run_alias;
using splitmail::provision::run_user;
using splitmail::provision::weak_password_reason;
namespace fs = std::filesystem;

namespace {

class UserCli : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sm-cli-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        users_ = (dir_ / "users").string();
        aliases_ = (dir_ / "aliases").string();
        std::ofstream(dir_ / "users") << "# our users\n";
        std::ofstream(dir_ / "aliases") << "# our aliases\n";
        // Next to the files, as `provision home` lays them out: `--users FILE` finds it.
        std::ofstream(dir_ / "home.toml")
            << "[users]\nfile = \"" << users_ << "\"\naliases = \"" << aliases_ << "\"\n";
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Runs f with `input` as stdin (a pipe, so not a terminal).
    template <class F>
    int with_stdin(const std::string& input, F f) {
        int p[2];
        EXPECT_EQ(::pipe(p), 0);
        ::write(p[1], input.data(), input.size());
        ::close(p[1]);
        int saved = ::dup(STDIN_FILENO);
        ::dup2(p[0], STDIN_FILENO);
        ::close(p[0]);
        int rc = f();
        ::dup2(saved, STDIN_FILENO);
        ::close(saved);
        return rc;
    }
    int user(std::vector<std::string> args, const std::string& input = "") {
        args.insert(args.end(), {"--users", users_, "--aliases", aliases_});
        return with_stdin(input, [&] { return run_user(args); });
    }
    int alias(std::vector<std::string> args) {
        args.insert(args.end(), {"--users", users_, "--aliases", aliases_});
        return run_alias(args);
    }
    std::string slurp(const std::string& p) {
        std::ifstream in(p);
        return std::string((std::istreambuf_iterator<char>(in)), {});
    }
    fs::path dir_;
    std::string users_, aliases_;
};

} // namespace

TEST_F(UserCli, AddPasswdDel) {
    EXPECT_EQ(user({"add", "Alice@Example.test"}, "s3cret-horse-staple\n"), 0);
    auto text = slurp(users_);
    EXPECT_EQ(text.rfind("# our users\nalice@example.test:{ARGON2ID}$argon2id$", 0), 0u) << text;
    auto db = splitmail::users::database::load(users_, aliases_, "+");
    ASSERT_TRUE(db) << db.error();
    auto u = db->find_user("alice@example.test");
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(splitmail::users::verify_password("s3cret-horse-staple", u->hash),
              splitmail::users::verify_result::match);
    EXPECT_EQ(text.find("s3cret-horse-staple"), std::string::npos);

    EXPECT_EQ(user({"add", "alice@example.test"}, "x\n"), 1) << "exists";
    EXPECT_EQ(user({"add", "bob@example.test"}, ""), 1) << "no password";
    EXPECT_EQ(user({"add", "../x@example.test"}, "x\n"), 1);
    EXPECT_EQ(user({"passwd", "alice@example.test"}, "other-battery-42\n"), 0);
    db = splitmail::users::database::load(users_, aliases_, "+");
    EXPECT_EQ(splitmail::users::verify_password("other-battery-42",
                                                db->find_user("alice@example.test")->hash),
              splitmail::users::verify_result::match);
    EXPECT_EQ(user({"passwd", "nobody@example.test"}, "x\n"), 1);
    EXPECT_EQ(user({"del", "alice@example.test"}), 0);
    EXPECT_EQ(slurp(users_), "# our users\n");
    EXPECT_EQ(user({"del", "alice@example.test"}), 1);
    EXPECT_EQ(user({"frobnicate", "a@b.test"}), 2);
}

TEST_F(UserCli, Aliases) {
    ASSERT_EQ(user({"add", "a@x.test"}, "pw-long-enough-1\n"), 0);
    ASSERT_EQ(user({"add", "b@x.test"}, "pw-long-enough-2\n"), 0);
    EXPECT_EQ(alias({"add", "team@x.test", "a@x.test"}), 0);
    EXPECT_EQ(alias({"add", "team@x.test", "B@x.test", "a@x.test"}), 0);
    EXPECT_EQ(slurp(aliases_), "# our aliases\nteam@x.test: a@x.test, b@x.test\n");
    EXPECT_EQ(alias({"add", "bad@x.test", "ghost@x.test"}), 1) << "dangling target refused";
    EXPECT_EQ(alias({"add", "loop@x.test", "loop@x.test"}), 1) << "loop refused";
    EXPECT_EQ(alias({"add", "@x.test", "a@x.test"}), 0);
    auto db = splitmail::users::database::load(users_, aliases_, "+");
    ASSERT_TRUE(db) << db.error();
    EXPECT_EQ(db->lookup("whatever@x.test").users, std::vector<std::string>{"a@x.test"});
    // Deleting a user an alias points to would leave a dangling target: refused.
    EXPECT_EQ(user({"del", "b@x.test"}), 1);
    EXPECT_EQ(alias({"del", "team@x.test", "b@x.test"}), 0);
    EXPECT_EQ(user({"del", "b@x.test"}), 0);
    EXPECT_EQ(alias({"del", "team@x.test"}), 0);
    EXPECT_EQ(alias({"del", "@x.test"}), 0);
    EXPECT_EQ(slurp(aliases_), "# our aliases\n");
    EXPECT_EQ(alias({"del", "team@x.test"}), 1);
}

// Issue 16 bug 4: the CLI checks against home.domains of the home.toml next to --users FILE,
// and writes nothing when no home.toml names the file.
TEST_F(UserCli, DomainsFromHomeConfigAndNoWriteWithoutOne) {
    std::ofstream(dir_ / "home.toml") << "[home]\ndomains = [\"x.test\"]\n[users]\nfile = \""
                                      << users_ << "\"\naliases = \"" << aliases_ << "\"\n";
    EXPECT_EQ(user({"add", "a@other.test"}, "pw-long-enough-1\n"), 1) << "outside home.domains";
    EXPECT_EQ(slurp(users_), "# our users\n");
    ASSERT_EQ(user({"add", "a@x.test"}, "pw-long-enough-1\n"), 0);
    EXPECT_EQ(alias({"add", "team@other.test", "a@x.test"}), 1) << "alias outside home.domains";
    EXPECT_EQ(slurp(aliases_), "# our aliases\n");
    fs::remove(dir_ / "home.toml");
    EXPECT_EQ(user({"add", "b@x.test"}, "pw-long-enough-2\n"), 1) << "no home.toml names it";
    EXPECT_EQ(alias({"add", "team@x.test", "a@x.test"}), 1);
    EXPECT_EQ(user({"list"}), 0) << "reading needs no configuration";
}

// Issue 11 item 15: trivial passwords are refused; the minimum comes from home.toml.
TEST(WeakPassword, Rules) {
    EXPECT_NE(weak_password_reason("x", "a@x.test", 12), "");
    EXPECT_NE(weak_password_reason("elevenchars", "a@x.test", 12), "");
    EXPECT_EQ(weak_password_reason("twelve-chars", "a@x.test", 12), "");
    EXPECT_NE(weak_password_reason("aaaaaaaaaaaaaaaa", "a@x.test", 12), "") << "one character";
    EXPECT_NE(weak_password_reason("Alice.Example@X.test", "alice.example@x.test", 12), "");
    EXPECT_NE(weak_password_reason("ALICE-EXAMPLE1", "alice-example1@x.test", 12), "");
    // Characters, not bytes: six two-byte letters are six characters.
    EXPECT_NE(
        weak_password_reason("\xc3\xa4\xc3\xb6\xc3\xbc\xc3\xa4\xc3\xb6\xc3\xbc", "a@x.test", 7),
        "");
    EXPECT_EQ(
        weak_password_reason("\xc3\xa4\xc3\xb6\xc3\xbc\xc3\xa4\xc3\xb6\xc3\xbc", "a@x.test", 6),
        "");
}

TEST_F(UserCli, WeakPasswordRefusedAndNothingWritten) {
    EXPECT_EQ(user({"add", "bob@example.test"}, "x\n"), 1);
    EXPECT_EQ(user({"add", "bob@example.test"}, "bob@example.test\n"), 1);
    EXPECT_EQ(slurp(users_), "# our users\n");
    // users.min_password_length from home.toml lowers (or raises) the bar.
    std::ofstream(dir_ / "home.toml")
        << "[users]\nfile = \"" << users_ << "\"\nmin_password_length = 4\n";
    std::vector<std::string> args{"add",       "bob@example.test",
                                  "--config",  (dir_ / "home.toml").string(),
                                  "--aliases", aliases_};
    EXPECT_EQ(with_stdin("four\n", [&] { return run_user(args); }), 0);
    std::ofstream(dir_ / "home.toml")
        << "[users]\nfile = \"" << users_ << "\"\nmin_password_length = 0\n";
    args[1] = "carol@example.test";
    EXPECT_EQ(with_stdin("whatever-long-one\n", [&] { return run_user(args); }), 2)
        << "a bad setting is a usage error naming the key";
}

TEST_F(UserCli, WorldReadableUsersFileIsNarrowed) {
    ASSERT_EQ(::chmod(users_.c_str(), 0644), 0);
    ASSERT_EQ(user({"add", "dave@example.test"}, "dave-long-password\n"), 0);
    struct stat st {};
    ASSERT_EQ(::stat(users_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u) << "others lose read access to the hashes";
    ASSERT_EQ(::chmod(users_.c_str(), 0600), 0);
    ASSERT_EQ(user({"del", "dave@example.test"}), 0);
    ASSERT_EQ(::stat(users_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << "a narrower mode is kept";
}
