// splitmail-home wiring; see service.hpp.
#include "service.hpp"

#include "imap/listener.hpp"
#include "learn/rspamd_learn.hpp"
#include "lmtp/delivery.hpp"
#include "lmtp/driver.hpp"
#include "lmtp/listener.hpp"
#include "maildir/deliver.hpp"
#include "imap/store.hpp"
#include "users/executors.hpp"
#include "users/hash_worker.hpp"
#include "users/resolver.hpp"
#include "users/verified_cache.hpp"

#include "splitmail/auth/brake.hpp"
#include "splitmail/durable/committer.hpp"
#include "splitmail/log/log.hpp"
#include "splitmail/net/server.hpp"
#include "splitmail/net/tls.hpp"
#include "splitmail/sys/notify.hpp"
#include "splitmail/users/live_database.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <latch>
#include <memory>
#include <optional>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace splitmail::home {

namespace asio = boost::asio;

namespace {

users::sources sources_of(const settings& s) {
    return users::sources{s.users_file, s.aliases_file, s.recipient_delimiter, s.domains};
}

std::string host_name(const settings& s) {
    if (!s.hostname.empty()) return s.hostname;
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
    return buf;
}

} // namespace

std::string preflight(const settings& s) {
    if (s.lmtp_transport == "mtls") {
        auto t = net::make_server_tls(s.lmtp_tls_cert, s.lmtp_tls_key, true);
        if (!t) return "lmtp.tls_cert/lmtp.tls_key: " + t.error();
    }
    for (const auto& l : s.lmtp_listen) {
        try {
            net::split_host_port(l);
        } catch (const std::exception& e) {
            return std::string("lmtp.listen: ") + e.what();
        }
    }
    if (!s.imap_listen.empty() || !s.imaps_listen.empty() || !s.imaps_proxy_listen.empty()) {
        auto t = net::make_server_tls(s.imap_tls_cert, s.imap_tls_key, false, s.imap_tls_ciphers);
        if (!t) return "imap.tls_cert/imap.tls_key: " + t.error();
    }
    for (const auto& l : s.imap_listen) {
        try {
            net::split_host_port(l);
        } catch (const std::exception& e) {
            return std::string("imap.listen: ") + e.what();
        }
    }
    for (const auto& l : s.imaps_listen) {
        try {
            net::split_host_port(l);
        } catch (const std::exception& e) {
            return std::string("imaps.listen: ") + e.what();
        }
    }
    auto db = users::database::load(s.users_file, s.aliases_file, s.recipient_delimiter, s.domains);
    if (!db) return "users.file/users.aliases: " + db.error();
    std::error_code ec;
    std::filesystem::create_directories(s.maildir_root, ec);
    if (ec) return "maildir.root: " + s.maildir_root.string() + ": " + ec.message();
    if (::access(s.maildir_root.c_str(), W_OK | X_OK) != 0)
        return "maildir.root: " + s.maildir_root.string() + ": not writable";
    return "";
}

int run(const settings& s, const std::string& config_path) {
    std::signal(SIGPIPE, SIG_IGN);
    // Destruction order matters: the io_context outlives the committer and the deliverer,
    // whose completions post to it while they drain. The folder registry (open folders, index
    // locks, inotify watches: one object for the process, store.hpp) outlives the io_context,
    // whose destruction ends the sessions that still hold folders.
    imap::folder_registry folders;
    // Sessions still suspended when the loop stops (a drain that ran out of time) are destroyed
    // with the io_context; what their destructors touch (the transaction count, the per-user
    // IMAP slots) lives in these contexts, declared before it so they outlive it.
    lmtp::driver_context ctx;
    lmtp::listener_context lctx;
    imap::listener_context ictx;
    // rspamd learning (issue 18): fed by IMAP sessions, so it outlives them (and the loop).
    std::optional<learn::rspamd_learner> learner;
    if (!s.learn_controller.empty())
        learner.emplace(learn::settings{
            s.learn_controller, s.learn_password,
            std::chrono::duration_cast<std::chrono::milliseconds>(s.learn_timeout)});
    asio::io_context io(1);
    users::live_database live(sources_of(s));
    recipient_resolver resolver(live);
    if (!resolver.reload()) return 78; // EX_CONFIG

    std::error_code ec;
    std::filesystem::create_directories(s.maildir_root, ec);
    ::chmod(s.maildir_root.c_str(), 0700);
    auto host = host_name(s);
    // Per-user execution (issue 12 item 4, users/executors.hpp): IMAP mailbox work and the
    // Maildir links of deliveries run on a strand per user over these threads, never on the
    // io thread, so one user's heavy command delays nobody else. Joined after the io loop.
    user_executors user_exec(s.imap_store_threads);
    durable::committer committer;
    maildir::deliverer deliverer(s.maildir_root, committer, host);
    deliverer.set_user_executors(&user_exec);
    lmtp::mailbox_delivery delivery(deliverer, s.junk_folder);

    ctx.opt.hostname = host;
    ctx.opt.max_message_size = s.max_message_size;
    ctx.opt.max_recipients = s.max_recipients;
    ctx.resolver = &resolver;
    ctx.delivery = &delivery;
    ctx.idle_timeout = s.idle_timeout;
    // Password hashes (argon2id) are checked off the io thread, by the pool below (declared
    // after the resolver: joined before it goes away). A hash is deliberately expensive (argon2id: ~0.2 s of CPU and 64 MiB mapped, touched and
    // unmapped): the pool's threads hand it to two worker processes (users/hash_worker.hpp), so
    // its memory traffic never holds this process's memory map, and the workers run at nice
    // +10, so a burst of logins (a webmail logging in per click, a guessing flood held by the
    // brake) takes the CPU that is left, not the time of other users' commands and deliveries
    // (bench/imap (7)). The threads themselves only wait for the answer.
    // The workers outlive the pool (declared first): a thread may be waiting for one.
    hash_workers hashers(2, "/proc/self/exe", 10);
    asio::thread_pool auth_pool(2);
    ctx.auth_pool = &auth_pool;
    ctx.hashers = &hashers;
    // One login brake for IMAP and the relay's XAUTH (issue 11): failures of a user on either
    // protocol count together. Used on the io thread only.
    auth::brake login_brake(s.login_brake);
    ctx.brake = &login_brake;
    // Verified credentials (issue 16): a repeated login skips the hash; shared like the brake.
    verified_cache auth_cache({s.auth_cache_ttl, s.auth_cache_size});
    ctx.auth_cache = &auth_cache;
    ctx.opt.relay_secret = s.lmtp_relay_secret;
    if (s.lmtp_relay_secret.empty() && s.lmtp_transport == "plain")
        log::warn("home", "",
                  "lmtp.relay_secret is not set: any process that reaches the LMTP "
                  "port can read the address list, check passwords and deliver mail; run "
                  "`splitmail provision` again or set it in both configs");

    net::tls_context tls;
    if (s.lmtp_transport == "mtls")
        tls = *net::make_server_tls(s.lmtp_tls_cert, s.lmtp_tls_key, true);

    lctx.driver = &ctx;
    lctx.tls = tls;
    lctx.client_pin = s.lmtp_client_pin_sha256;
    auto handle = [&lctx](net::connection& c) { return lmtp::serve_lmtp(c, lctx); };
    net::server::refuser lmtp_busy;
    // With mtls the LMTP port speaks TLS from the first byte: an over-limit relay is closed
    // without a plaintext 421 (it retries either way).
    if (s.lmtp_transport != "mtls")
        lmtp_busy = [](net::connection& c, std::string_view why) -> asio::awaitable<void> {
            co_await c.write("421 4.3.2 " + std::string(why) + ", try again later\r\n",
                             std::chrono::seconds(10));
        };
    net::server server(io, "lmtp", net::limits{s.max_connections, s.max_connections}, handle,
                       lmtp_busy);
    try {
        for (const auto& l : s.lmtp_listen) server.listen(l);
    } catch (const std::exception& e) {
        log::error("home", "", e.what());
        return 71; // EX_OSERR
    }

    // IMAP (STARTTLS and implicit TLS listeners share one context and connection limits).
    ictx.hostname = host;
    ictx.plaintext_on_loopback = s.imap_plaintext_on_loopback;
    ictx.users = &live;
    ictx.maildir_root = s.maildir_root;
    ictx.junk_folder = s.junk_folder;
    ictx.learner = learner ? &*learner : nullptr;
    ictx.driver.idle_timeout = s.imap_idle_timeout;
    ictx.driver.login_failure_delay = s.imap_login_failure_delay;
    ictx.driver.login_timeout = s.imap_login_timeout;
    ictx.driver.overload_timeout = s.imap_overload_timeout;
    ictx.limits.max_append_literal = s.max_message_size;
    ictx.max_connections_per_user = s.imap_max_connections_per_user;
    ictx.auth_pool = &auth_pool;
    ictx.hashers = &hashers;
    ictx.brake = &login_brake;
    ictx.auth_cache = &auth_cache;
    ictx.user_exec = &user_exec;
    ictx.folders = &folders;
    std::unique_ptr<net::server> imap_server, imaps_server, imaps_proxy_server;
    // The relay's IMAP pass-through: PROXY v2 headers only from imap.proxy_from (the tunnel).
    net::server::trust proxy_from;
    if (!s.imap_proxy_from.empty())
        proxy_from = [nets = s.imap_proxy_from](std::string_view ip) {
            return std::ranges::any_of(nets, [&](const auto& n) { return n.contains(ip); });
        };
    constexpr auto proxy_header_timeout = std::chrono::seconds(10);
    auto refuse_imap = [](net::connection& c, std::string_view why) -> asio::awaitable<void> {
        co_await c.write("* BYE " + std::string(why) + ", try again later\r\n",
                         std::chrono::seconds(10));
    };
    try {
        if (!s.imap_listen.empty() || !s.imaps_listen.empty() || !s.imaps_proxy_listen.empty())
            ictx.tls =
                *net::make_server_tls(s.imap_tls_cert, s.imap_tls_key, false, s.imap_tls_ciphers);
        // One admission for both ports (net/admission.hpp): logged-in sessions leave the
        // pre-login pool, so they always find room.
        auto il = std::make_shared<net::admission>(
            net::limits{s.imap_max_connections, s.imap_max_connections_per_ip,
                        s.imap_max_connections_per_network, s.imap_max_unauthenticated});
        if (!s.imap_listen.empty()) {
            imap_server = std::make_unique<net::server>(
                io, "imap", il,
                [&ictx](net::connection& c) { return imap::serve_imap(c, ictx, false); },
                refuse_imap);
            if (proxy_from) imap_server->set_proxy(proxy_from, false, proxy_header_timeout);
            for (const auto& l : s.imap_listen) imap_server->listen(l);
        }
        if (!s.imaps_listen.empty()) {
            // Implicit TLS: an over-limit client is closed without a byte (no plaintext BYE
            // where the client expects a TLS handshake).
            imaps_server = std::make_unique<net::server>(
                io, "imaps", il,
                [&ictx](net::connection& c) { return imap::serve_imap(c, ictx, true); }, nullptr);
            if (proxy_from) imaps_server->set_proxy(proxy_from, false, proxy_header_timeout);
            for (const auto& l : s.imaps_listen) imaps_server->listen(l);
        }
        if (!s.imaps_proxy_listen.empty()) {
            imaps_proxy_server = std::make_unique<net::server>(
                io, "imaps-proxy", il,
                [&ictx](net::connection& c) { return imap::serve_imap(c, ictx, true); }, nullptr);
            imaps_proxy_server->set_proxy(proxy_from, true, proxy_header_timeout);
            for (const auto& l : s.imaps_proxy_listen) imaps_proxy_server->listen(l);
        }
    } catch (const std::exception& e) {
        log::error("home", "", e.what());
        return 71; // EX_OSERR
    }

    asio::signal_set stop_signals(io, SIGTERM, SIGINT);
    asio::signal_set hup(io, SIGHUP);
    constexpr auto drain_limit = std::chrono::seconds(10);
    std::chrono::steady_clock::time_point drain_deadline{};
    asio::steady_timer drain_timer(io);
    // Sessions closed by stop() unwind on the loop (an IMAP session hands its folders back on
    // the user's strand); the loop stops once none is left, or at the drain deadline.
    auto sessions_left = [&] {
        std::size_t n = server.active();
        for (auto* srv : {imap_server.get(), imaps_server.get(), imaps_proxy_server.get()})
            if (srv) n += srv->active();
        return n;
    };
    bool lmtp_closed = false;
    std::function<void()> drain = [&]() {
        const bool late = std::chrono::steady_clock::now() >= drain_deadline;
        if (ctx.replies_owed > 0 && late)
            log::warn("home", "",
                      "stopping with deliveries unacknowledged (the relay will "
                      "deliver them again)",
                      {{"transactions", ctx.replies_owed}});
        if (!lmtp_closed && (ctx.replies_owed == 0 || late)) {
            ctx.closing = true; // a session reading its end of DATA after this delivers nothing
            server.stop();
            lmtp_closed = true;
        }
        if ((ctx.replies_owed == 0 && sessions_left() == 0) || late) {
            io.stop();
            return;
        }
        drain_timer.expires_after(std::chrono::milliseconds(20));
        drain_timer.async_wait([&](boost::system::error_code e) {
            if (!e) drain();
        });
    };
    stop_signals.async_wait([&](boost::system::error_code e, int sig) {
        if (e) return;
        log::info("home", "", "stopping", {{"signal", sig}});
        sys::notify("STOPPING=1");
        // Graceful: no new connections; LMTP transactions whose message is in are delivered
        // and acknowledged first (at most drain_limit), so the relay never redelivers a
        // message that already landed. Everything else is closed; the relay retries it.
        server.stop_accepting();
        if (imap_server) imap_server->stop();
        if (imaps_server) imaps_server->stop();
        if (imaps_proxy_server) imaps_proxy_server->stop();
        hup.cancel();
        drain_deadline = std::chrono::steady_clock::now() + drain_limit;
        drain();
    });
    std::function<void()> arm_hup = [&]() {
        hup.async_wait([&](boost::system::error_code e, int) {
            if (e) return;
            log::info("home", "", "SIGHUP: reloading the user database");
            resolver.reload();
            auth_cache.clear(); // even when the files did not change: SIGHUP means "forget"
            // The IMAP certificate (a renewal by `splitmail cert`): new connections and
            // STARTTLS use the new one, sessions already in TLS keep theirs; a certificate
            // that does not load leaves the old one in service.
            if (ictx.tls) {
                auto t = net::make_server_tls(s.imap_tls_cert, s.imap_tls_key, false,
                                              s.imap_tls_ciphers);
                if (t) {
                    ictx.tls = *t;
                    log::info("home", "", "IMAP TLS certificate reloaded",
                              {{"cert", s.imap_tls_cert.string()}});
                } else {
                    log::error("home", "", "IMAP TLS reload failed; keeping the old certificate",
                               {{"error", t.error()}});
                }
            }
            arm_hup();
        });
    };
    arm_hup();

    log::info("home", "", "started",
              {{"hostname", host},
               {"config", config_path},
               {"transport", s.lmtp_transport},
               {"maildir", s.maildir_root.string()}});
    sys::notify("READY=1\nSTATUS=accepting LMTP and IMAP"); // Type=notify: listeners are bound
    io.run();
    // Mailbox work still running for a session or a delivery uses what is declared below the
    // pool: let it finish first (its completions stay queued on the stopped io_context).
    user_exec.join();
    log::info("home", "", "stopped");
    return 0;
}

} // namespace splitmail::home
