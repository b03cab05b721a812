// IMAP connection setup; see listener.hpp.
#include "imap/listener.hpp"

#include "users/login.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/users/password.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cstdio>

namespace splitmail::home::imap {

std::filesystem::path user_maildir(const std::filesystem::path& root, const std::string& user) {
    auto at = user.rfind('@');
    return root / user.substr(at + 1) / user.substr(0, at);
}

namespace {
// A TLS handshake (before login, always) within 30 s and within the login deadline.
net::clock::duration handshake_timeout(const net::connection& c, const driver_options& o) {
    auto limit = c.overloaded() ? std::min(o.login_timeout, o.overload_timeout) : o.login_timeout;
    auto left = c.accepted_at() + limit - net::clock::now();
    return std::clamp<net::clock::duration>(left, std::chrono::milliseconds(1),
                                            std::chrono::seconds(30));
}
} // namespace

net::asio::awaitable<void> serve_imap(net::connection& c, listener_context& ctx,
                                      bool implicit_tls) {
    char idbuf[32];
    std::snprintf(idbuf, sizeof idbuf, "I%llX",
                  static_cast<unsigned long long>(ctx.next_id.fetch_add(1)));
    std::string id = idbuf;
    log::info("imap", id, "connect", {{"client", c.remote_ip()}, {"tls", implicit_tls}});
    if (implicit_tls) co_await c.start_tls_server(ctx.tls, handshake_timeout(c, ctx.driver));
    auto addr = c.remote().address();
    bool loopback =
        addr.is_loopback() ||
        (addr.is_v6() && addr.to_v6().is_v4_mapped() &&
         boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, addr.to_v6()).is_loopback());
    session_config cfg;
    cfg.hostname = ctx.hostname;
    cfg.tls_active = implicit_tls;
    cfg.starttls_offered = !implicit_tls && ctx.tls != nullptr;
    cfg.plaintext_auth = loopback && ctx.plaintext_on_loopback;
    cfg.limits = ctx.limits;
    cfg.folders = ctx.folders;
    cfg.junk_folder = ctx.junk_folder;
    session_hooks hooks;
    if (ctx.learner)
        hooks.learn = [&ctx](bool spam, const std::string& user, std::vector<fs::path> files) {
            ctx.learner->submit(spam ? learn::kind::spam : learn::kind::ham, user,
                                std::move(files));
        };
    cfg.defer_auth = true; // credentials come back through o.check_auth below
    hooks.maildir_of = [&ctx](const std::string& user) {
        return user_maildir(ctx.maildir_root, user);
    };
    // The user slot taken at login is released when this coroutine ends, also by exception.
    struct user_slot {
        listener_context& ctx;
        std::string user;
        ~user_slot() {
            if (user.empty()) return;
            std::lock_guard lock(ctx.users_mutex);
            auto it = ctx.sessions_per_user.find(user);
            if (it != ctx.sessions_per_user.end() && --it->second == 0)
                ctx.sessions_per_user.erase(it);
        }
    } slot{ctx, {}};
    hooks.claim_user = [&ctx, &slot, &id](const std::string& user) {
        std::lock_guard lock(ctx.users_mutex);
        if (slot.user == user) return true; // already holds one (cannot log in twice anyway)
        auto& n = ctx.sessions_per_user[user];
        if (n >= ctx.max_connections_per_user) {
            log::warn("imap", id, "per-user connection limit",
                      {{"user", user}, {"limit", ctx.max_connections_per_user}});
            return false;
        }
        ++n;
        slot.user = user;
        return true;
    };
    session s(cfg, hooks);
    driver_options o = ctx.driver;
    // LOGIN / AUTHENTICATE: the user is looked up here (io thread), the hash is verified on
    // ctx.auth_pool, the answer is logged back here.
    // LOGIN / AUTHENTICATE: one check for every login path (users/login.hpp): the name is
    // normalised once, the brake decides before any hash is verified (on ctx.auth_pool),
    // failures cost its exponential delay. A locked attempt gets the same
    // NO [AUTHENTICATIONFAILED] as a wrong password (RFC 5530 3), so it reveals nothing.
    const std::string client = c.remote_ip();
    o.check_auth =
        [&ctx, &id,
         client](const auth_request& req) -> net::asio::awaitable<std::optional<std::string>> {
        login_context lc{ctx.users, ctx.brake, ctx.auth_pool, ctx.auth_cache, ctx.hashers};
        auto r = co_await check_login(lc, "imap", id, req.user, req.password, client);
        if (r.st != login_result::status::ok) co_return std::nullopt;
        co_return r.address;
    };
    o.start_tls = [&c, &ctx]() -> net::asio::awaitable<void> {
        co_await c.start_tls_server(ctx.tls, handshake_timeout(c, ctx.driver));
    };
    // Admission (net/admission.hpp): the login deadline counts from the accept, overload
    // shortens it, and a login moves the connection out of the pre-login pool.
    o.connected_at = c.accepted_at();
    o.overloaded = [&c] { return c.overloaded(); };
    o.on_login = [&c] { c.authenticated(); };
    // Mailbox work of a logged-in user on that user's strand (issue 12 item 4); the driver
    // resumes here, on the io thread, for the socket and the login check.
    if (ctx.user_exec)
        o.run_for_user =
            [ux = ctx.user_exec](std::string user,
                                 std::function<void()> work) -> net::asio::awaitable<void> {
            co_await run_as(*ux, std::move(user), [&work] {
                work();
                return true;
            });
        };
    std::exception_ptr failure;
    try {
        co_await run_session(c, s, o);
    } catch (...) {
        failure = std::current_exception();
    }
    // The folders' last references go on the user's strand too, however the session ended.
    co_await as_user(o, s.user(), [&s] { s.release_mailboxes(); });
    if (failure) std::rethrow_exception(failure); // net::server logs it
    log::info("imap", id, "disconnect");
}

} // namespace splitmail::home::imap
