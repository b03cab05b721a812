// The home server's login check through the brake; see login.hpp.
#include "users/login.hpp"
#include "users/hash_worker.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/users/database.hpp"
#include "splitmail/users/password.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace splitmail::home {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> wait(std::chrono::milliseconds d) {
    if (d.count() <= 0) co_return;
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

} // namespace

net::asio::awaitable<login_result> check_login(login_context& ctx, std::string_view service,
                                               std::string conn_id, std::string user,
                                               std::string password, std::string client_ip) {
    login_result out;
    const auto name = users::normalize_login(user);
    std::fill(user.begin(), user.end(), '\0');
    const std::string svc(service);
    auth::brake::attempt a;
    if (ctx.brake) {
        a = ctx.brake->begin(name.key, client_ip, auth::clock::now());
        if (!a.admitted) {
            log::warn("auth", conn_id, "login refused",
                      {{"service", svc},
                       {"client", client_ip},
                       {"user", name.key},
                       {"reason", auth::brake::reason(a.why)}});
            std::fill(password.begin(), password.end(), '\0');
            co_await wait(a.delay);
            out.st = login_result::status::locked;
            co_return out;
        }
    }
    std::shared_ptr<const users::database> db;
    if (ctx.users) {
        ctx.users->refresh();
        db = ctx.users->current();
    }
    if (!db) {
        if (ctx.brake) ctx.brake->end(a, auth::brake::outcome::neutral, auth::clock::now());
        std::fill(password.begin(), password.end(), '\0');
        out.st = login_result::status::unavailable;
        co_return out;
    }
    const users::user_entry* u = name.usable ? db->find_user(name.key) : nullptr;
    std::string address = u ? u->address : std::string();
    // Unknown user: verify against some real user's hash all the same and ignore the result,
    // so the answer takes as long as for a real user (no user enumeration by timing).
    std::string hash;
    if (u) {
        hash = u->hash;
    } else {
        for (const auto& r : db->dir().recipients)
            if (auto* any = db->find_user(r)) {
                hash = any->hash;
                break;
            }
    }
    bool match = false, cached = false;
    // Issue 16: a login repeated within the TTL (a webmail logs in per request) skips the
    // hash. Only after the brake admitted the attempt; failures are never cached.
    if (u && ctx.cache)
        cached = match =
            ctx.cache->check(name.key, password, db.get(), u->hash, verified_cache::clock::now());
    if (!cached && !hash.empty()) {
        if (ctx.pool) {
            // Named local, references only: this frame stays suspended until the pool is done.
            auto start = [&ctx, &password, &hash,
                          &match](std::function<void(std::error_code)> done) {
                asio::post(*ctx.pool, [&ctx, &password, &hash, &match, done] {
                    auto r = ctx.workers ? ctx.workers->verify(password, hash)
                                         : users::verify_password(password, hash);
                    match = r == users::verify_result::match;
                    done({});
                });
            };
            co_await net::await_callback(start);
        } else {
            match = users::verify_password(password, hash) == users::verify_result::match;
        }
    }
    if (!u) match = false;
    // Removed while the hash was being checked?
    bool same_db = true;
    if (match && ctx.users) {
        auto now_db = ctx.users->current();
        if (!now_db || !now_db->find_user(address)) match = false;
        same_db = now_db == db;
    }
    // Remembered only against the database it was verified with (a reload meanwhile: not).
    if (match && !cached && same_db && ctx.cache)
        ctx.cache->remember(name.key, password, db.get(), u->hash, verified_cache::clock::now());
    std::fill(password.begin(), password.end(), '\0');
    auto now = auth::clock::now();
    if (match) {
        if (ctx.brake) ctx.brake->end(a, auth::brake::outcome::success, now);
        if (cached)
            log::info(
                "auth", conn_id, "login",
                {{"service", svc}, {"client", client_ip}, {"user", address}, {"cache", "hit"}});
        else
            log::info("auth", conn_id, "login",
                      {{"service", svc}, {"client", client_ip}, {"user", address}});
        out.st = login_result::status::ok;
        out.address = std::move(address);
        co_return out;
    }
    auto delay = ctx.brake ? ctx.brake->end(a, auth::brake::outcome::failure, now)
                           : std::chrono::milliseconds(0);
    log::warn("auth", conn_id, "login failed",
              {{"service", svc},
               {"client", client_ip},
               {"user", name.key},
               {"reason", u ? "password" : "unknown user"}});
    co_await wait(delay);
    out.st = login_result::status::bad;
    co_return out;
}

} // namespace splitmail::home
