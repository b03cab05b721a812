// Relay wiring; see service.hpp.
#include "service.hpp"

#include "http/challenges.hpp"
#include "imap_proxy/pass_through.hpp"
#include "queue/relay_queue.hpp"
#include "recipients/directory.hpp"
#include "smtp_in/driver.hpp"
#include "smtp_in/network_counter.hpp"
#include "dmarc/report_job.hpp"
#include "filter/dnsbl_check.hpp"
#include "filter/greylist_file.hpp"
#include "filter/rate_limit.hpp"
#include "sender_auth/inbound.hpp"
#include "spf/checker.hpp"
#include "submission/authenticator.hpp"
#include "submission/outgoing.hpp"

#include "splitmail/address/address.hpp"
#include "splitmail/durable/committer.hpp"
#include "splitmail/log/log.hpp"
#include "splitmail/net/server.hpp"
#include "splitmail/net/spawn.hpp"
#include "splitmail/net/tls.hpp"
#include "splitmail/queue/control.hpp"
#include "splitmail/queue/spool.hpp"
#include "splitmail/sys/notify.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <csignal>

namespace splitmail::relay {

namespace asio = boost::asio;

std::string preflight(const settings& s) {
    if (!s.tls_cert.empty()) {
        auto t = net::make_server_tls(s.tls_cert, s.tls_key, false, s.tls_ciphers);
        if (!t) return "tls.cert/tls.key: " + t.error();
    }
    if (s.home_transport == "mtls") {
        auto t = net::make_client_tls(s.home_tls_cert, s.home_tls_key);
        if (!t) return "home.tls_cert/home.tls_key: " + t.error();
    }
    for (const auto& l : s.smtp_listen) {
        try {
            net::split_host_port(l);
        } catch (const std::exception& e) {
            return std::string("smtp.listen: ") + e.what();
        }
    }
    for (const auto* list : {&s.submission_listen, &s.submissions_listen}) {
        for (const auto& l : *list) {
            try {
                net::split_host_port(l);
            } catch (const std::exception& e) {
                return std::string(list == &s.submission_listen ? "submission.listen: "
                                                                : "submissions.listen: ") +
                       e.what();
            }
        }
    }
    for (const auto& l : s.imap_proxy_listen) {
        try {
            net::split_host_port(l);
        } catch (const std::exception& e) {
            return std::string("imap_proxy.listen: ") + e.what();
        }
    }
    for (const auto& l : s.http_listen) {
        try {
            net::split_host_port(l);
        } catch (const std::exception& e) {
            return std::string("http.listen: ") + e.what();
        }
    }
    if (!s.dkim_dir.empty()) {
        auto k = dkim_keyring::load(s.dkim_dir, s.dkim_domains, s.domains, nullptr);
        if (!k) return k.error();
    }
    try {
        net::split_host_port(s.home_lmtp);
    } catch (const std::exception& e) {
        return std::string("home.lmtp: ") + e.what();
    }
    return "";
}

int run(const settings& s, const std::string& config_path) {
    std::signal(SIGPIPE, SIG_IGN);
    // The io_context outlives the committer: pending commits post their completions to it
    // while the committer drains in its destructor.
    asio::io_context io(1);
    // A coroutine nobody awaits that dies (net/spawn.hpp) stops the relay loudly: systemd
    // restarts it and the spool resumes, instead of a worker missing without a word.
    int exit_code = 0;
    net::set_fatal_handler([&io, &exit_code](std::string_view) {
        exit_code = 70; // EX_SOFTWARE
        io.stop();
    });
    durable::committer committer;
    auto sp = queue::spool::open(s.spool_dir, committer, true);
    if (!sp) {
        log::error("relay", "", "cannot open spool",
                   {{"dir", s.spool_dir.string()}, {"error", sp.error().message()}});
        return 73; // EX_CANTCREAT
    }
    // Before recovery and the pid file: a second relay on this spool must not move the running
    // one's in-flight files aside, nor replace its pid file (spool::open only makes directories).
    auto spool_lock = queue::lock_spool(s.spool_dir);
    if (!spool_lock) {
        log::error("relay", "", spool_lock.error());
        return 75; // EX_TEMPFAIL
    }
    // One relay per spool: nothing else is mid-commit at start, so orphans of any age go aside.
    auto rec = sp->recover(std::chrono::seconds(0));
    if (!rec) {
        log::error("relay", "", "spool recovery failed", {{"error", rec.error().message()}});
        return 74; // EX_IOERR
    }
    for (const auto& p : rec->problems) log::warn("queue", "", "moved to corrupt/", {{"what", p}});
    // Crash leftovers that were provably not owed (spool.hpp): routine, one line each.
    for (const auto& p : rec->leftovers) log::info("queue", "", "crash leftover", {{"what", p}});
    if (auto ec = queue::write_pid_file(s.spool_dir); ec)
        log::warn("relay", "", "cannot write pid file", {{"error", ec.message()}});

    recipient_directory directory(s.domains, s.spool_dir / "recipients.json");
    if (auto c = directory.load_cache(); !c)
        log::warn("rcpt", "", c.error());
    else if (*c)
        log::info("rcpt", "", "recipient cache loaded",
                  {{"recipients", directory.snapshot()->recipients.size()}});

    net::tls_context tls;
    if (!s.tls_cert.empty())
        tls = *net::make_server_tls(s.tls_cert, s.tls_key, false, s.tls_ciphers);
    net::tls_context home_tls;
    if (s.home_transport == "mtls")
        home_tls = *net::make_client_tls(s.home_tls_cert, s.home_tls_key);

    relay_queue runner(io, s, *sp, directory, home_tls);
    runner.start(std::move(rec->envelopes));

    // DKIM keys: loaded once here and again on SIGHUP (a failed reload keeps the old keys).
    auto load_dkim = [&s]() -> std::shared_ptr<const dkim_keyring> {
        std::vector<std::string> problems;
        auto k = dkim_keyring::load(s.dkim_dir, s.dkim_domains, s.domains, &problems);
        for (const auto& p : problems) log::warn("dkim", "", "domain not signed", {{"why", p}});
        if (!k) {
            log::error("dkim", "", "cannot load keys", {{"error", k.error()}});
            return nullptr;
        }
        std::string doms;
        for (const auto& d : k->domains()) doms += (doms.empty() ? "" : ",") + d;
        if (!s.dkim_dir.empty()) log::info("dkim", "", "signing keys loaded", {{"domains", doms}});
        return std::make_shared<const dkim_keyring>(std::move(*k));
    };
    std::shared_ptr<const dkim_keyring> dkim_keys = load_dkim();

    home_authenticator authenticator(s, home_tls, s.auth_cache_ttl);
    auth::brake login_brake(s.login_brake); // submission AUTH, online and from the cache

    // Issue 11 item 8: refused recipients per client network, across all listeners.
    network_counter rcpt_errors(
        network_counter::policy{s.network_rcpt_error_limit, s.network_rcpt_error_window, 16384});

    // Issue 18: greylisting (its store also answers rspamd's greylist action, so it exists
    // when either is on) and rate limits, across all listeners.
    std::unique_ptr<filter::greylist_file> greylist;
    if (s.greylist.enabled || s.rspamd.enabled) {
        filter::greylist_policy gp;
        gp.delay = s.greylist.delay;
        gp.max_age = s.greylist.max_age;
        gp.retry_window = s.greylist.retry_window;
        gp.auto_allow = s.greylist.auto_allow;
        gp.max_entries = s.greylist.max_entries;
        greylist = std::make_unique<filter::greylist_file>(io, gp, s.greylist.state_file);
        greylist->load();
        greylist->start();
        if (s.greylist.enabled)
            log::info("greylist", "", "greylisting inbound mail",
                      {{"delay", std::to_string(s.greylist.delay.count()) + "s"},
                       {"entries", greylist->store().size()}});
    }
    filter::rate_limiter client_limits({s.limits.client_messages_per_hour,
                                        s.limits.client_recipients_per_hour, s.limits.max_tracked,
                                        std::chrono::seconds(3600)});
    filter::rate_limiter user_limits({s.limits.user_messages_per_hour,
                                      s.limits.user_recipients_per_hour, s.limits.max_tracked,
                                      std::chrono::seconds(3600)});

    // Issue 17: SPF of inbound mail, with its own libunbound context (the outbound resolver
    // setting) so slow SPF zones never hold up outbound MX lookups.
    // DKIM keys of inbound mail go through the same context (sender authentication).
    std::unique_ptr<dns::unbound_resolver> spf_resolver;
    std::unique_ptr<spf_checker> spf;
    if (s.spf_check || s.dkim_verify || s.dnsbl.enabled) {
        // libunbound's blocking calls hold a thread per evaluation in flight: more threads than
        // the outbound resolver, so a few slow SPF zones do not queue everyone else behind them
        // (a queued evaluation still ends at its deadline).
        auto r = dns::unbound_resolver::create({s.outbound_resolver, 8});
        if (r) {
            spf_resolver = std::move(*r);
            if (s.spf_check)
                spf = std::make_unique<spf_checker>(
                    *spf_resolver,
                    std::chrono::duration_cast<std::chrono::milliseconds>(s.spf_timeout),
                    s.hostname);
        } else {
            log::error("spf", "", "no resolver: SPF, DKIM and the DNS lists are not checked",
                       {{"error", r.error()}});
        }
    }
    // Issue 18: DNS block/allow lists through the same context.
    std::unique_ptr<filter::dnsbl_checker> dnsbl;
    if (s.dnsbl.enabled && spf_resolver)
        dnsbl = std::make_unique<filter::dnsbl_checker>(s.dnsbl, *spf_resolver);
    sender_auth::config auth_cfg;
    auth_cfg.authserv_id = s.hostname;
    auth_cfg.add_results = s.auth_results_add;
    auth_cfg.dkim = s.dkim_verify && spf_resolver != nullptr;
    auth_cfg.max_signatures = s.dkim_verify_max_signatures;
    auth_cfg.iprev = s.iprev;
    auth_cfg.dkim_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(s.dkim_verify_timeout);
    auth_cfg.resolver = spf_resolver.get();
    std::optional<dmarc::suffix_list> psl;
    if (s.dmarc) {
        auto l = dmarc::suffix_list::load(s.dmarc_psl);
        if (l)
            psl.emplace(std::move(*l));
        else
            log::error("dmarc", "", "DMARC is not checked", {{"error", l.error()}});
    }
    auth_cfg.psl = psl ? &*psl : nullptr;
    // Issue 17: DMARC aggregate reports (RFC 7489 7.2): observations recorded at the end of
    // DATA, reports built and queued per period by the job.
    std::unique_ptr<dmarc::recorder> dmarc_recorder;
    std::unique_ptr<dmarc::report_job> dmarc_job;
    if (s.dmarc_reports.enabled && !psl) {
        log::error("dmarc", "",
                   "dmarc_reports.enabled needs DMARC (dmarc.enabled and its "
                   "public suffix list): no reports");
    } else if (s.dmarc_reports.enabled) {
        const auto& r = s.dmarc_reports;
        dmarc_recorder = std::make_unique<dmarc::recorder>(r.dir, r.interval, r.max_records);
        auth_cfg.reports = dmarc_recorder.get();
        dmarc::job_config jc;
        jc.dir = r.dir;
        jc.interval = r.interval;
        jc.send_delay = r.send_delay;
        jc.keep = r.keep;
        jc.receiver = s.hostname;
        jc.org_name = r.org_name;
        jc.from = r.from;
        jc.resolver = spf_resolver.get();
        jc.psl = &*psl;
        jc.keys = &dkim_keys;
        jc.spool = &*sp;
        jc.add = [&runner](queue::envelope e) { runner.add(std::move(e)); };
        jc.is_ours = [&s](std::string_view domain) {
            return std::ranges::any_of(
                s.domains, [&](const std::string& d) { return address::lower_ascii(domain) == d; });
        };
        dmarc_job = std::make_unique<dmarc::report_job>(io, std::move(jc));
        dmarc_job->start();
        log::info("dmarc", "", "aggregate reports on",
                  {{"dir", r.dir.string()},
                   {"from", r.from},
                   {"interval", std::to_string(r.interval.count()) + "s"}});
    }
    auth_cfg.on_reject = s.dmarc_on_reject == "reject" ? sender_auth::config::reject_action::reject
                         : s.dmarc_on_reject == "quarantine"
                             ? sender_auth::config::reject_action::quarantine
                             : sender_auth::config::reject_action::none;

    smtp_context ctx;
    ctx.s = &s;
    ctx.spf = spf.get();
    ctx.sender_auth = &auth_cfg;
    ctx.rcpt_errors = &rcpt_errors;
    std::size_t replies_owed = 0; // DATA replies not yet written, all listeners
    ctx.replies_owed = &replies_owed;
    ctx.spool = &*sp;
    ctx.directory = &directory;
    ctx.tls = &tls;
    ctx.on_queued = [&runner](queue::envelope e) { runner.add(std::move(e)); };
    ctx.dkim = &dkim_keys;
    ctx.greylist = greylist ? &greylist->store() : nullptr;
    ctx.greylist_rcpt = s.greylist.enabled;
    ctx.client_limits = &client_limits;
    ctx.user_limits = &user_limits;
    ctx.dnsbl = dnsbl.get();
    smtp_context sub_ctx = ctx;
    sub_ctx.submission = true;
    sub_ctx.auth = &authenticator;
    sub_ctx.brake = &login_brake;
    smtp_context subs_ctx = sub_ctx;
    subs_ctx.implicit_tls = true;

    auto busy = [&s](net::connection& c, std::string_view why) -> asio::awaitable<void> {
        // RFC 5321 3.8: 421 and close when we cannot serve the client now.
        const std::string line =
            "421 4.7.0 " + s.hostname + " " + std::string(why) + ", try again later\r\n";
        co_await c.write(line, std::chrono::seconds(10));
    };
    // Admission (net/admission.hpp): the MX port counts on its own, the two submission ports
    // together, so a flood on 25 never locks out users submitting on 587/465.
    const net::limits caps{s.max_connections, s.max_connections_per_ip,
                           s.max_connections_per_network, s.max_unauthenticated};
    auto trusted = [&s](std::string_view ip) { return s.is_trusted(ip); };
    auto submission_admission = std::make_shared<net::admission>(caps);
    net::server smtp(
        io, "smtpd", caps, [&ctx](net::connection& c) { return serve_smtp(c, ctx); }, busy);
    net::server submission(
        io, "submission", submission_admission,
        [&sub_ctx](net::connection& c) { return serve_smtp(c, sub_ctx); }, busy);
    // Implicit TLS (RFC 8314): no refuser, an over-limit client is closed without a byte
    // rather than sent a plaintext 421 it cannot read.
    net::server submissions(
        io, "submissions", submission_admission,
        [&subs_ctx](net::connection& c) { return serve_smtp(c, subs_ctx); }, nullptr);
    for (auto* srv : {&smtp, &submission, &submissions}) srv->set_trusted(trusted);
    // IMAP pass-through to home (imap_proxy/pass_through.hpp): no refuser, the client expects
    // a TLS handshake; every pass-through client counts in the pool (the relay sees no login).
    pass_through_options pass_through;
    pass_through.home = s.imap_proxy_home;
    pass_through.connect_timeout = s.imap_proxy_connect_timeout;
    pass_through.idle_timeout = s.imap_proxy_idle_timeout;
    net::server imap_proxy(
        io, "imap-proxy",
        net::limits{s.imap_proxy_max_connections, s.imap_proxy_max_connections_per_ip,
                    net::limits::unlimited, s.imap_proxy_max_connections},
        [&pass_through](net::connection& c) { return serve_pass_through(c, pass_through); },
        nullptr);
    // Port 80 for ACME http-01 (http/challenges.hpp): a validator makes a handful of requests.
    http_options http_opt;
    http_opt.challenge_dir = s.http_challenge_dir;
    net::server http(
        io, "http", net::limits{64, 8, net::limits::unlimited, 64},
        [&http_opt](net::connection& c) { return serve_http(c, http_opt); }, nullptr);
    try {
        for (const auto& l : s.http_listen) http.listen(l);
        for (const auto& l : s.imap_proxy_listen) imap_proxy.listen(l);
        for (const auto& l : s.smtp_listen) smtp.listen(l);
        for (const auto& l : s.submission_listen) submission.listen(l);
        for (const auto& l : s.submissions_listen) submissions.listen(l);
    } catch (const std::exception& e) {
        log::error("relay", "", e.what());
        queue::remove_pid_file(s.spool_dir);
        return 71; // EX_OSERR
    }

    asio::signal_set stop_signals(io, SIGTERM, SIGINT);
    asio::signal_set hup(io, SIGHUP);
    asio::signal_set usr1(io, SIGUSR1);
    // Graceful stop, like home's: no new connections and no new delivery attempts; a DATA
    // whose message is being queued is finished and answered first (at most drain_limit), so
    // a client never sends again a message we made durable. Then every connection is closed
    // (a transaction without a reply is the client's to retry) and the committer drains.
    // Delivery attempts under way (to home or a remote MX) end and are written within the same
    // limit: cut off after the peer took the message, it would be delivered again on restart.
    constexpr auto drain_limit = std::chrono::seconds(10);
    std::chrono::steady_clock::time_point drain_deadline{};
    asio::steady_timer drain_timer(io);
    // Closed sessions then unwind on the loop (what they hold is released while everything
    // they use is alive); the loop stops once none is left, or at the drain deadline.
    bool closed = false;
    std::function<void()> drain = [&]() {
        const bool late = std::chrono::steady_clock::now() >= drain_deadline;
        if (replies_owed > 0 && late)
            log::warn("relay", "",
                      "stopping with DATA replies unsent (the clients will "
                      "send those messages again)",
                      {{"transactions", replies_owed}});
        if (!closed && (replies_owed == 0 || late)) {
            smtp.stop();
            submission.stop();
            submissions.stop();
            imap_proxy.stop();
            http.stop();
            closed = true;
        }
        const auto left = smtp.active() + submission.active() + submissions.active() +
                          imap_proxy.active() + http.active();
        const auto deliveries = runner.in_flight();
        if ((replies_owed == 0 && left == 0 && deliveries == 0) || late) {
            if (deliveries > 0)
                log::warn("relay", "",
                          "stopping with deliveries in flight (those messages stay queued and "
                          "may be delivered twice)",
                          {{"deliveries", deliveries}});
            io.stop();
            return;
        }
        drain_timer.expires_after(std::chrono::milliseconds(20));
        drain_timer.async_wait([&](boost::system::error_code e) {
            if (!e) drain();
        });
    };
    stop_signals.async_wait([&](boost::system::error_code ec, int sig) {
        if (ec) return;
        log::info(
            "relay", "", "stopping",
            {{"signal", sig}, {"replies_owed", replies_owed}, {"deliveries", runner.in_flight()}});
        sys::notify("STOPPING=1");
        smtp.stop_accepting();
        submission.stop_accepting();
        submissions.stop_accepting();
        imap_proxy.stop();
        http.stop();
        runner.stop();
        if (dmarc_job) dmarc_job->stop();
        hup.cancel();
        usr1.cancel();
        drain_deadline = std::chrono::steady_clock::now() + drain_limit;
        drain();
    });
    std::function<void()> arm_hup = [&]() {
        hup.async_wait([&](boost::system::error_code ec, int) {
            if (ec) return;
            if (!s.tls_cert.empty()) {
                auto t = net::make_server_tls(s.tls_cert, s.tls_key, false, s.tls_ciphers);
                if (t) {
                    tls = *t; // new connections use the new certificate
                    log::info("relay", "", "TLS certificate reloaded",
                              {{"cert", s.tls_cert.string()}});
                } else {
                    log::error("relay", "", "TLS reload failed; keeping the old certificate",
                               {{"error", t.error()}});
                }
            }
            if (!s.dkim_dir.empty())
                if (auto k = load_dkim()) dkim_keys = std::move(k); // keep old keys on failure
            arm_hup();
        });
    };
    arm_hup();
    std::function<void()> arm_usr1 = [&]() {
        usr1.async_wait([&](boost::system::error_code ec, int) {
            if (ec) return;
            log::info("relay", "", "flush requested: retrying every queued message now");
            runner.flush_all();
            arm_usr1();
        });
    };
    arm_usr1();

    log::info("relay", "", "started",
              {{"hostname", s.hostname}, {"config", config_path}, {"queued", runner.queued()}});
    // Type=notify units: `systemctl start` returns once the listeners are bound, and fails
    // when the relay exits before that (bad config, port in use).
    sys::notify("READY=1\nSTATUS=accepting mail");
    io.run();
    if (greylist) greylist->stop(); // the last changes, before the spool lock goes
    queue::remove_pid_file(s.spool_dir);
    net::set_fatal_handler(nullptr);
    log::info("relay", "", "stopped", {{"status", exit_code}});
    return exit_code;
}

} // namespace splitmail::relay
