// The verified-credential cache (users/verified_cache.hpp, issue 16) and the login check
// that uses it (users/login.hpp): a repeated login skips the hash; a wrong password, another
// user, a changed hash or a reloaded database never hit; expiry and the size bound hold; the
// login brake still counts failures and still refuses a locked user whose right password is
// cached.
#include "users/login.hpp"
#include "users/verified_cache.hpp"

#include "splitmail/users/password.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <unistd.h>

namespace splitmail::home {
namespace {

using namespace std::chrono_literals;
using clock_t_ = verified_cache::clock;

users::database make_db(const std::string& hash) {
    auto db = users::database::build({users::user_entry{"demo@example.test", hash, 1}}, {}, "+");
    EXPECT_TRUE(db) << db.error();
    return std::move(*db);
}

TEST(VerifiedCache, HitOnlyForTheSameUserPasswordHashAndDatabase) {
    verified_cache c({300s, 100});
    auto db = make_db("{X}h1");
    auto t0 = clock_t_::now();
    EXPECT_FALSE(c.check("demo@example.test", "pw", &db, "{X}h1", t0));
    c.remember("demo@example.test", "pw", &db, "{X}h1", t0);
    EXPECT_TRUE(c.check("demo@example.test", "pw", &db, "{X}h1", t0 + 1s));
    EXPECT_FALSE(c.check("demo@example.test", "pw2", &db, "{X}h1", t0 + 1s)) << "wrong password";
    EXPECT_FALSE(c.check("other@example.test", "pw", &db, "{X}h1", t0 + 1s)) << "other user";
    EXPECT_FALSE(c.check("demo@example.test", "pw", &db, "{X}h2", t0 + 1s)) << "hash changed";
    EXPECT_TRUE(c.check("demo@example.test", "pw", &db, "{X}h1", t0 + 299s));
    EXPECT_FALSE(c.check("demo@example.test", "pw", &db, "{X}h1", t0 + 300s)) << "expired";
    EXPECT_EQ(c.size(), 0u) << "an expired entry is dropped when met";
    c.remember("demo@example.test", "pw", &db, "{X}h1", t0);
    auto db2 = make_db("{X}h1"); // a reload, even with equal content
    EXPECT_FALSE(c.check("demo@example.test", "pw", &db2, "{X}h1", t0 + 1s));
    EXPECT_EQ(c.size(), 0u) << "a reload drops every entry";
    c.remember("demo@example.test", "pw", &db2, "{X}h1", t0);
    c.clear();
    EXPECT_FALSE(c.check("demo@example.test", "pw", &db2, "{X}h1", t0 + 1s)) << "clear (SIGHUP)";
}

TEST(VerifiedCache, BoundedAndDisabledByZero) {
    verified_cache c({300s, 3});
    auto db = make_db("{X}h");
    auto t0 = clock_t_::now();
    for (int i = 0; i < 10; ++i)
        c.remember("u" + std::to_string(i) + "@example.test", "pw", &db, "{X}h",
                   t0 + std::chrono::seconds(i));
    EXPECT_EQ(c.size(), 3u);
    EXPECT_TRUE(c.check("u9@example.test", "pw", &db, "{X}h", t0 + 10s));
    EXPECT_FALSE(c.check("u0@example.test", "pw", &db, "{X}h", t0 + 10s)) << "first to expire went";
    for (auto opt : {verified_cache_options{0s, 100}, verified_cache_options{300s, 0}}) {
        verified_cache off(opt);
        off.remember("demo@example.test", "pw", &db, "{X}h", t0);
        EXPECT_FALSE(off.check("demo@example.test", "pw", &db, "{X}h", t0));
        EXPECT_EQ(off.size(), 0u);
    }
}

// check_login with a real argon2id hash, on the calling thread (no pool).
struct login_fixture {
    std::filesystem::path dir;
    std::unique_ptr<users::live_database> live;
    auth::brake brake;
    verified_cache cache{{300s, 100}};
    explicit login_fixture(auth::brake_policy p) : brake(p) {
        char tmpl[] = "/tmp/verified-cache-XXXXXX";
        dir = ::mkdtemp(tmpl);
        set_password("correct horse battery");
        live = std::make_unique<users::live_database>(users::sources{dir / "users", {}, "+", {}});
        EXPECT_TRUE(live->reload());
    }
    ~login_fixture() { std::filesystem::remove_all(dir); }
    void set_password(const std::string& pw) {
        auto h = users::hash_password(pw);
        ASSERT_TRUE(h) << h.error();
        // Written aside and renamed: the database notices the new inode.
        std::ofstream(dir / "users.new") << "demo@example.test:" << *h << "\n";
        std::filesystem::rename(dir / "users.new", dir / "users");
    }
    std::pair<login_result, std::chrono::milliseconds>
    login(const std::string& pw, const std::string& ip, bool use_cache = true) {
        boost::asio::io_context io;
        login_context ctx{live.get(), &brake, nullptr, use_cache ? &cache : nullptr};
        login_result out;
        auto t0 = std::chrono::steady_clock::now();
        boost::asio::co_spawn(io, check_login(ctx, "imap", "T1", " Demo@Example.test", pw, ip),
                              [&](std::exception_ptr e, login_result r) {
                                  EXPECT_FALSE(e);
                                  out = std::move(r);
                              });
        io.run();
        return {out, std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - t0)};
    }
};

TEST(VerifiedCacheLogin, RepeatedLoginSkipsTheHashFailuresAreBraked) {
    auth::brake_policy p;
    p.max_user_failures = 2;
    p.base_delay = 0ms;
    login_fixture f(p);
    auto [first, t_first] = f.login("correct horse battery", "192.0.2.1");
    ASSERT_EQ(first.st, login_result::status::ok);
    EXPECT_EQ(first.address, "demo@example.test");
    EXPECT_EQ(f.cache.size(), 1u);
    auto [again, t_again] = f.login("correct horse battery", "192.0.2.1");
    EXPECT_EQ(again.st, login_result::status::ok);
    auto [nocache, t_nocache] = f.login("correct horse battery", "192.0.2.1", false);
    EXPECT_EQ(nocache.st, login_result::status::ok);
    // argon2id (64 MiB, t=3) takes well over 20 ms; the cached answer an HMAC.
    EXPECT_LT(t_again.count(), 20) << "first " << t_first.count() << " ms";
    EXPECT_GT(t_nocache.count(), t_again.count() * 3 + 5) << "without the cache the hash runs";
    // A wrong password is verified in full (never answered from the cache) and braked: two
    // failures from another network lock the user there, and then even the cached right
    // password is refused.
    auto [bad1, t_bad1] = f.login("wrong", "198.51.100.7");
    EXPECT_EQ(bad1.st, login_result::status::bad);
    EXPECT_GT(t_bad1.count(), t_again.count()) << "a failure costs the full verification";
    EXPECT_EQ(f.login("wrong again", "198.51.100.7").first.st, login_result::status::bad);
    EXPECT_EQ(f.login("correct horse battery", "198.51.100.7").first.st,
              login_result::status::locked)
        << "the brake applies before the cache";
    // A password change: the old one no longer works (not even from the cache), the new does.
    f.set_password("a new password here");
    EXPECT_EQ(f.login("correct horse battery", "192.0.2.1").first.st, login_result::status::bad);
    EXPECT_EQ(f.login("a new password here", "192.0.2.1").first.st, login_result::status::ok);
}

} // namespace
} // namespace splitmail::home
