// Asio driver of one inbound SMTP connection; see driver.hpp.
#include "smtp_in/driver.hpp"

#include "smtp_in/network_counter.hpp"
#include "smtp_in/policy.hpp"
#include "smtp_in/session.hpp"
#include "submission/authenticator.hpp"
#include "submission/outgoing.hpp"
#include "filter/dnsbl_check.hpp"
#include "filter/scan.hpp"
#include "sender_auth/inbound.hpp"

#include "dkim/body_hash.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/queue/id.hpp"

#include <array>
#include <cerrno>
#include <expected>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace splitmail::relay {

namespace asio = net::asio;

namespace {

constexpr auto write_timeout = std::chrono::seconds(60);
constexpr auto tls_timeout = std::chrono::seconds(30);

class directory_checker final : public recipient_checker {
public:
    explicit directory_checker(const smtp_context& ctx) : ctx_(ctx) {}
    rcpt_verdict check_recipient(const address::mailbox& m) override {
        // RFC 5321 4.1.1.3: <Postmaster> without a domain must be accepted; it is the
        // postmaster of our first domain.
        if (m.domain.empty()) return ctx_.directory->check("postmaster", ctx_.s->domains.front());
        return ctx_.directory->check(m.local, m.domain);
    }

private:
    const smtp_context& ctx_;
};

// The session's view of the shared per-network refusal counter for one client.
class network_tracker final : public rcpt_error_tracker {
public:
    network_tracker(network_counter* c, std::string ip, std::string id)
        : c_(c), ip_(std::move(ip)), id_(std::move(id)) {}
    bool over_limit() override {
        if (!c_ || !c_->over_limit(ip_, network_counter::clock::now())) return false;
        log::warn("smtpd", id_, "RCPT refused: client network over the refused-recipient limit",
                  {{"client", ip_}, {"network", network_counter::network_of(ip_).value_or("")}});
        return true;
    }
    void refused() override {
        if (c_) c_->add(ip_, network_counter::clock::now());
    }

private:
    network_counter* c_;
    std::string ip_, id_;
};

// Connection ids in logs: short, unique within a process run.
std::string next_conn_id() {
    static std::uint64_t n = 0;
    static const char* digits = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    std::uint64_t v = ++n + (static_cast<std::uint64_t>(::time(nullptr)) << 20);
    std::string s;
    for (int i = 0; i < 8; ++i) {
        s.insert(s.begin(), digits[v % 32]);
        v /= 32;
    }
    return s;
}

smtp::reply spool_error_reply(std::error_code ec) {
    if (queue::is_disk_full(ec))
        // RFC 3463 4.3.1: mail system full.
        return smtp::make_reply(452, "4.3.1", "Insufficient system storage, try again later");
    return smtp::make_reply(451, "4.3.0", "Local error in processing, try again later");
}

// The session's message sink (issue 12 item 1): the message goes into an invisible file in the
// spool's tmp/ as it arrives (spool::create_message), and the DKIM body hash of outgoing mail
// is computed from the same chunks. The first write error (ENOSPC, EIO) is kept and becomes the
// reply to DATA; abort() drops the file (nothing is left behind). Inbound mail also goes through
// the sender-authentication tap (issue 17): DKIM body hashes from the same chunks, and the
// header block it returns (forged Authentication-Results removed) is what is stored.
class spool_sink final : public message_sink {
public:
    spool_sink(queue::spool& spool, std::function<bool()> wants_hash, sender_auth::message_tap& tap,
               std::function<bool()> inbound)
        : spool_(spool), wants_hash_(std::move(wants_hash)), tap_(tap),
          inbound_(std::move(inbound)) {}

    void begin() override {
        abort();
        auto f = spool_.create_message();
        if (f)
            file_.emplace(std::move(*f));
        else
            err_ = f.error();
        if (wants_hash_()) hasher_ = std::make_unique<dkim::body_hasher>();
        tap_.begin(inbound_());
    }
    void header(std::string_view block) override {
        auto stored = tap_.header(block);
        header_size_ = stored.size();
        write(stored);
    }
    void body(std::string_view chunk) override {
        write(chunk);
        if (hasher_ && !err_) hasher_->update(chunk);
        if (!err_) tap_.body(chunk);
    }
    void abort() override {
        header_size_ = 0;
        file_.reset();
        hasher_.reset();
        tap_.reset();
        err_ = {};
    }
    sender_auth::message_tap& tap() { return tap_; }

    std::error_code error() const { return err_; }
    // The message file so far, for the content scanners (fd -1 after an error).
    filter::message_file file() const {
        if (err_ || !file_) return {};
        return {file_->fd(), file_->size()};
    }
    // The header block as stored at the start of the file (forged fields already removed),
    // read back for rspamd's header edits; bounded by the session's max_header_size.
    std::expected<std::string, std::error_code> stored_header() const {
        if (err_ || !file_)
            return std::unexpected(std::make_error_code(std::errc::bad_file_descriptor));
        std::string h(header_size_, '\0');
        std::size_t got = 0;
        while (got < h.size()) {
            ssize_t n =
                ::pread(file_->fd(), h.data() + got, h.size() - got, static_cast<off_t>(got));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0)
                return std::unexpected(
                    std::error_code(n < 0 ? errno : EIO, std::generic_category()));
            got += static_cast<std::size_t>(n);
        }
        return h;
    }
    // The body hash, if one was computed (spends the hasher).
    std::optional<dkim::sha256_digest> body_hash() {
        if (!hasher_) return std::nullopt;
        auto h = hasher_->finish();
        hasher_.reset();
        return h;
    }
    // The finished file for spool::enqueue_file (the sink is empty afterwards).
    durable::temp_file take() {
        auto f = std::move(*file_);
        file_.reset();
        return f;
    }

private:
    void write(std::string_view b) {
        if (err_ || !file_) return;
        err_ = file_->write(b);
    }

    queue::spool& spool_;
    std::function<bool()> wants_hash_;
    std::optional<durable::temp_file> file_;
    std::unique_ptr<dkim::body_hasher> hasher_;
    sender_auth::message_tap& tap_;
    std::function<bool()> inbound_;
    std::error_code err_;
    std::size_t header_size_ = 0;
};

// The DKIM keys in force (swapped on SIGHUP, so read per message); null when there are none.
const dkim_keyring* active_keyring(const smtp_context& ctx) {
    const dkim_keyring* ring = ctx.dkim && *ctx.dkim ? ctx.dkim->get() : nullptr;
    return ring && !ring->empty() ? ring : nullptr;
}

// Counts one DATA whose reply is owed for as long as it lives.
class owed_reply {
public:
    explicit owed_reply(std::size_t* n) : n_(n) {
        if (n_) ++*n_;
    }
    ~owed_reply() {
        if (n_) --*n_;
    }
    owed_reply(const owed_reply&) = delete;
    owed_reply& operator=(const owed_reply&) = delete;

private:
    std::size_t* n_;
};

struct driver {
    smtp_stream& conn;
    smtp_context& ctx;
    smtp_session& sess;
    spool_sink& sink;
    connection_policy& policy;
    std::string id;
    std::string out;
    bool closed = false;
    net::clock::time_point last_reply{}; // the next command's deadline counts from here

    asio::awaitable<void> flush() {
        if (out.empty()) co_return;
        std::string data;
        data.swap(out);
        co_await conn.write(data, write_timeout);
        last_reply = net::clock::now();
    }

    asio::awaitable<void> perform(std::vector<action> actions) {
        for (auto& a : actions) {
            if (closed) co_return;
            switch (a.type) {
            case action::kind::send:
                if (a.reply.code == 421 && a.reply.enhanced == "4.7.0")
                    // The session's abuse limits (junk commands, refused recipients).
                    log::warn("smtpd", id, "client cut off",
                              {{"client", conn.remote_ip()}, {"reply", a.reply.text()}});
                else if (a.reply.enhanced == "5.7.1" && !sess.auth_user().empty())
                    // A forged envelope sender or From: from an authenticated user (issue 11).
                    log::warn("submission", id, "refused",
                              {{"client", conn.remote_ip()},
                               {"user", sess.auth_user()},
                               {"reply", a.reply.text()}});
                out += a.reply.format();
                break;
            case action::kind::close:
                co_await flush();
                closed = true;
                co_return;
            case action::kind::delay: {
                // Tarpit (issue 11 item 8): earlier replies go out first, the refusal after.
                co_await flush();
                asio::steady_timer t(co_await asio::this_coro::executor);
                t.expires_after(a.delay);
                co_await t.async_wait(asio::use_awaitable);
                break;
            }
            case action::kind::start_tls: {
                co_await flush();
                if (!ctx.tls || !*ctx.tls) throw std::runtime_error("STARTTLS without a context");
                co_await conn.start_tls_server(*ctx.tls, tls_timeout);
                log::info("smtpd", id, "TLS established",
                          {{"version", conn.tls_version()}, {"cipher", conn.tls_cipher()}});
                tls_info info{conn.tls_version(), conn.tls_cipher()};
                auto next = sess.tls_started(std::move(info));
                co_await perform(std::move(next));
                break;
            }
            case action::kind::authenticate: {
                co_await flush();
                auto o = co_await authenticate(a);
                a.password = {}; // wiped
                auto next = sess.auth_result(std::move(o));
                co_await perform(std::move(next));
                break;
            }
            case action::kind::deliver: {
                co_await flush();
                // Owed from the end of DATA until its reply is written (or the connection
                // fails): a stopping relay answers what it queued (service.cpp).
                owed_reply owed(ctx.replies_owed);
                auto result = co_await spool_it(*a.msg);
                auto next = sess.delivery_result(std::move(result));
                co_await perform(std::move(next));
                break;
            }
            }
        }
        co_await flush();
    }

    asio::awaitable<auth_outcome> authenticate(const action& a) {
        if (!ctx.auth) {
            auth_outcome o;
            o.st = auth_outcome::status::temporary;
            co_return o;
        }
        // The login brake decides first and sets the wait (authenticator.hpp); a locked
        // attempt and a failure both wait before their reply (RFC 4954 6: 535 5.7.8 for bad
        // credentials, 454 4.7.0 for temporary failures and lockouts).
        auto r =
            co_await ctx.auth->check(a.user, a.password.str(), conn.remote_ip(), id, ctx.brake);
        if (r.delay.count() > 0) {
            asio::steady_timer t(co_await asio::this_coro::executor);
            t.expires_after(r.delay);
            co_await t.async_wait(asio::use_awaitable);
        }
        if (r.outcome.st == auth_outcome::status::ok)
            log::info("submission", id, "AUTH ok",
                      {{"client", conn.remote_ip()},
                       {"user", r.outcome.user},
                       {"mechanism", a.mechanism}});
        co_return r.outcome;
    }

    // Date/Message-ID (and From:) for submitted mail and the DKIM signature for outgoing mail
    // of our domains, decided by one pure function over the header block (one parse); the
    // body hash came from the sink. All prefix lines, in the order they go in front.
    std::string outgoing_prefix(const delivery& d) {
        if (!d.outgoing) return "";
        outgoing_request req;
        req.submitted = !d.auth_user.empty();
        req.author = d.add_from ? std::string_view(d.envelope.sender) : std::string_view();
        req.hostname = ctx.s->hostname;
        req.now = d.envelope.arrival;
        req.keys = active_keyring(ctx);
        auto plan = plan_outgoing(d.header, req);
        auto bh = sink.body_hash();
        std::string sig;
        if (plan.signer && bh) {
            auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                d.envelope.arrival.time_since_epoch());
            auto r = plan.signer->sign_header(plan.signed_header, *bh, secs.count());
            if (r)
                sig = std::move(*r);
            else
                log::warn("dkim", id, "cannot sign; sending unsigned",
                          {{"domain", *plan.domain}, {"error", r.error()}});
        }
        return sig + plan.added;
    }

    // rspamd's `rewrite subject` / `milter.remove_headers` (issue 18) on inbound mail: the
    // edited copy of the header block goes at the end of the prefix and the envelope skips the
    // original at the start of the file (queue/envelope.hpp file_skip); returns that skip.
    // Outgoing mail is left as it is: its DKIM signature covers the header as received.
    std::uint64_t apply_edits(const delivery& d, const filter::header_edits& e,
                              std::string& prefix) {
        if (e.empty()) return 0;
        std::string what = e.subject ? "subject" : "";
        for (const auto& n : e.remove) what += (what.empty() ? "remove " : ",remove ") + n;
        if (d.outgoing) {
            log::info("rspamd", id, "header changes not applied to outgoing mail",
                      {{"changes", what}});
            return 0;
        }
        auto header = sink.stored_header();
        if (!header) {
            log::warn("rspamd", id, "header changes not applied",
                      {{"changes", what}, {"error", header.error().message()}});
            return 0;
        }
        prefix += filter::apply_header_edits(*header, e);
        log::info("rspamd", id, "header changed", {{"changes", what}});
        return header->size();
    }

    asio::awaitable<smtp::reply> spool_it(delivery& d) {
        // The Received: header reads d.envelope (client HELO/IP, recipients): build it before
        // the envelope is moved out.
        auto qid0 = queue::make_id();
        // Issue 17: inbound mail gets Authentication-Results (RFC 8601) and Received-SPF above
        // our Received: (RFC 7208 9.1), or is refused by a DMARC p=reject (nothing spooled).
        auto auth =
            co_await sender_auth::check_inbound(ctx.spf, ctx.sender_auth, &sink.tap(), d, id);
        if (auth.refusal) {
            sink.abort();
            co_return *auth.refusal;
        }
        // Greylisting of a sender on greylist.skip_verified_senders waited for this proof.
        if (auto grey = policy.end_of_data(auth.verified)) {
            sink.abort();
            co_return *grey;
        }
        std::string prefix = std::move(auth.prefix);
        prefix += d.received_header(qid0);
        prefix += outgoing_prefix(d);
        // Issue 18: rspamd / clamd decide before the 250; a refusal leaves nothing queued.
        auto scan = co_await scan_message(*ctx.s, d, prefix, sink.file(), qid0, id, ctx.greylist);
        if (scan.refusal) {
            sink.abort();
            co_return *scan.refusal;
        }
        prefix.insert(0, scan.headers);
        const std::uint64_t skip = apply_edits(d, scan.edits, prefix);
        auto env = std::move(d.envelope);
        env.id = qid0;
        env.queue = queue::queue_name::incoming;
        env.file_skip = skip;
        env.size = prefix.size() + d.size - std::min<std::uint64_t>(skip, d.size);
        env.prefix = prefix;
        auto copy = env;
        std::error_code ec = sink.error();
        if (!ec) {
            auto file = sink.take();
            ec = co_await net::await_callback(
                [this, &env, &prefix, &file](std::function<void(std::error_code)> cb) {
                    ctx.spool->enqueue_file(env, std::move(prefix), std::move(file), std::move(cb));
                });
        }
        sink.abort(); // whatever is left (after an error) goes
        if (ec) {
            log::error("smtpd", id, "cannot queue message",
                       {{"error", ec.message()}, {"from", copy.sender}});
            co_return spool_error_reply(ec);
        }
        std::string rcpts;
        for (const auto& r : copy.recipients) rcpts += (rcpts.empty() ? "" : ",") + r.address;
        log::info("smtpd", id, "queued",
                  {{"queue_id", copy.id},
                   {"from", copy.sender},
                   {"to", rcpts},
                   {"size", copy.size},
                   {"client", copy.client_ip},
                   {"tls", conn.is_tls() ? conn.tls_version() : std::string("no")}});
        auto qid = copy.id;
        policy.delivered(); // greylisting's auto-allow counts queued messages
        ctx.on_queued(std::move(copy));
        co_return smtp::make_reply(250, "2.0.0", "Ok: queued as " + qid);
    }
};

} // namespace

asio::awaitable<void> serve_smtp(net::connection& conn, smtp_context& ctx) {
    connection_stream s(conn);
    co_await serve_smtp(s, ctx);
}

asio::awaitable<void> serve_smtp(smtp_stream& conn, smtp_context& ctx) {
    directory_checker checker(ctx);
    session_config cfg;
    cfg.hostname = ctx.s->hostname;
    cfg.max_message_size = ctx.s->max_message_size;
    cfg.max_header_size = ctx.s->max_header_size;
    cfg.max_recipients = ctx.s->max_recipients;
    cfg.tls_available = ctx.tls && *ctx.tls;
    cfg.relay_allowed = ctx.s->is_trusted(conn.remote_ip());
    cfg.max_junk_commands = ctx.s->junk_command_limit;
    cfg.rcpt_errors_before_delay = ctx.s->rcpt_error_delay_after;
    cfg.rcpt_error_delay = ctx.s->rcpt_error_delay;
    cfg.max_rcpt_errors = ctx.s->rcpt_error_limit;
    const std::string conn_id = next_conn_id();
    network_tracker tracker(ctx.rcpt_errors, conn.remote_ip(), conn_id);
    cfg.network = &tracker;
    policy_context pctx;
    pctx.greylist = ctx.greylist_rcpt ? ctx.greylist : nullptr;
    pctx.clients = ctx.client_limits;
    pctx.users = ctx.user_limits;
    if (ctx.greylist_rcpt && !ctx.s->greylist.skip_verified_senders.empty())
        pctx.skip_verified = &ctx.s->greylist.skip_verified_senders;
    connection_policy policy(std::move(pctx), conn.remote_ip(), conn_id);
    cfg.policy = &policy;
    if (ctx.submission) {
        cfg.submission = true;
        cfg.require_tls = true;
        cfg.submission_show_client = ctx.s->submission_show_client_ip;
        cfg.submission_show_user = ctx.s->submission_received_auth_user;
        cfg.tls_available = !ctx.implicit_tls && cfg.tls_available;
    }
    // Declared before the session, so it outlives it: a connection that ends mid-DATA drops
    // its unfinished file here.
    smtp_session* sess_ptr = nullptr;
    sender_auth::message_tap auth_tap(ctx.sender_auth);
    spool_sink sink(
        *ctx.spool,
        [&ctx, &sess_ptr] {
            // Only outgoing mail is signed: hash the body when a key could be used.
            return sess_ptr && sess_ptr->outgoing() && active_keyring(ctx) != nullptr;
        },
        auth_tap, [&sess_ptr] { return sess_ptr && !sess_ptr->outgoing(); });
    smtp_session sess(cfg, checker, peer_info{conn.remote_ip(), ""}, sink);
    sess_ptr = &sess;
    driver d{conn, ctx, sess, sink, policy, conn_id, {}, false, conn.accepted_at()};
    log::info(
        "smtpd", d.id, "connect",
        {{"client", conn.remote_ip()},
         {"service", ctx.submission ? (ctx.implicit_tls ? "submissions" : "submission") : "smtp"}});
    // Deadlines per phase, fixed when the phase starts, because a client trickling a byte now
    // and then defeats any per-read timeout (issue 11):
    //   connect -> a valid EHLO/HELO: smtp.helo_timeout (Postfix postscreen style; includes the
    //     TLS handshake of port 465);
    //   our reply -> the next complete command line: smtp.idle_timeout (RFC 5321 4.5.3.2.7: the
    //     server waits at least 5 minutes for a command; a client making progress completes
    //     its line well within that);
    //   DATA: smtp.idle_timeout plus one second per smtp.min_data_rate octets received (RFC
    //     5321 4.5.3.2.6 sets no total, only per-block waits; Postfix smtpd_min_data_rate).
    // Every read also waits at most smtp.idle_timeout. While the listener is overloaded, a
    // client that is neither trusted nor authenticated gets smtp.overload_timeout instead
    // (Postfix's stress-adaptive smtpd_timeout).
    const bool trusted = cfg.relay_allowed;
    bool progressed = false, authenticated = false, in_data = false;
    net::clock::time_point data_start{};
    std::uint64_t data_bytes = 0;
    auto limit = [&](std::chrono::seconds normal) -> net::clock::duration {
        if (!trusted && !authenticated && conn.overloaded())
            return std::min(normal, ctx.s->overload_timeout);
        return normal;
    };
    auto deadline = [&]() -> net::clock::time_point {
        if (!progressed) return conn.accepted_at() + limit(ctx.s->helo_timeout);
        if (sess.current() == state::data) {
            if (!in_data) {
                in_data = true;
                data_start = d.last_reply; // the 354
                data_bytes = 0;
            }
            return data_start + limit(ctx.s->idle_timeout) +
                   std::chrono::seconds(data_bytes / ctx.s->min_data_rate);
        }
        in_data = false;
        return d.last_reply + limit(ctx.s->idle_timeout);
    };
    if (ctx.implicit_tls) {
        if (!ctx.tls || !*ctx.tls) throw std::runtime_error("implicit TLS without a context");
        auto left = std::min<net::clock::duration>(tls_timeout, deadline() - net::clock::now());
        co_await conn.start_tls_server(*ctx.tls, std::max(left, net::clock::duration::zero()));
        sess.tls_on_connect(tls_info{conn.tls_version(), conn.tls_cipher()});
    }
    // DNS lists (issue 18): asked at connect, answered while the greeting goes out; the
    // client's first command is read once they answered (or dnsbl.timeout passed).
    std::optional<sender_auth::dns_lookups> dnsbl;
    if (ctx.dnsbl && !ctx.submission && !cfg.relay_allowed)
        dnsbl = ctx.dnsbl->start(conn.remote_ip());
    auto greeting = sess.greet();
    co_await d.perform(std::move(greeting));
    if (dnsbl) {
        auto o = co_await ctx.dnsbl->finish(*dnsbl, conn.remote_ip(), d.id);
        policy.dnsbl(std::move(o.block), o.allowed);
    }
    std::array<char, 16384> buf;
    while (!d.closed) {
        std::size_t n = 0;
        bool idle = false;
        auto left = std::min<net::clock::duration>(deadline() - net::clock::now(),
                                                   limit(ctx.s->idle_timeout));
        if (left <= net::clock::duration::zero()) {
            idle = true;
        } else {
            try {
                n = co_await conn.read_some(buf, left);
            } catch (const boost::system::system_error& e) {
                if (e.code() != asio::error::timed_out) throw;
                idle = true;
            }
        }
        if (idle) {
            log::info("smtpd", d.id, "timeout",
                      {{"client", conn.remote_ip()},
                       {"phase", !progressed ? "before EHLO"
                                 : in_data   ? "DATA"
                                             : "command"},
                       {"overloaded", conn.overloaded() ? "yes" : "no"}});
            auto bye = sess.timeout();
            co_await d.perform(std::move(bye));
            break;
        }
        if (n == 0) break;
        if (sess.current() == state::data) data_bytes += n;
        auto actions = sess.feed(std::string_view(buf.data(), n));
        co_await d.perform(std::move(actions));
        // Tell the admission (net/admission.hpp): after EHLO/HELO the connection is no longer
        // an idle one that may be closed to make room; after AUTH it leaves the pool.
        if (!progressed && sess.current() != state::init && sess.current() != state::closed) {
            progressed = true;
            conn.progressed();
        }
        if (!authenticated && !sess.auth_user().empty()) {
            authenticated = true;
            conn.authenticated();
        }
    }
    log::info("smtpd", d.id, "disconnect", {{"client", conn.remote_ip()}});
}

} // namespace splitmail::relay
