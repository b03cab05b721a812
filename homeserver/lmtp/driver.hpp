#pragma once
// The Asio driver of one LMTP connection: reads bytes, feeds the pure session, writes its
// replies, and awaits each delivery job without blocking the io thread (the Maildir work runs
// on the deliverer's workers and the durable committer; the coroutine resumes on its own
// executor when every copy is durable).
//
// Templated on the stream so protocol tests can drive it over an in-memory stream. A Stream
// provides, like net::connection:
//   awaitable<std::size_t> read_some(std::span<char>, clock::duration)  (0 at end of stream)
//   awaitable<void> write(std::string_view, clock::duration)
// Guarantees: every read has the idle timeout, every write the write timeout (the stream
// throws on expiry, ending the connection); replies to DATA are written only after the
// deliveries they report on are durable; an XAUTH password hash (argon2id: a few hundred ms of
// CPU) is verified on ctx.auth_pool, never on the io thread, so deliveries on other
// connections go on meanwhile. Does not: accept, do TLS or pin certificates
// (service.cpp does that before calling run_session).
#include "lmtp/delivery.hpp"
#include "lmtp/session.hpp"
#include "maildir/errors.hpp"
#include "users/login.hpp"
#include "users/resolver.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/smtp/relay_marks.hpp"
#include "splitmail/users/password.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <expected>
#include <memory>
#include <span>
#include <string>

namespace splitmail::home::lmtp {

struct driver_context {
    session_options opt;
    recipient_resolver* resolver = nullptr;
    mailbox_delivery* delivery = nullptr;
    std::chrono::steady_clock::duration idle_timeout = std::chrono::minutes(5);
    std::chrono::steady_clock::duration write_timeout = std::chrono::minutes(1);
    // Where XAUTH password hashes are verified; null: on the calling thread (tests).
    boost::asio::thread_pool* auth_pool = nullptr;
    hash_workers* hashers = nullptr; // the pool's threads ask these processes (null: in-process)
    // XAUTH goes through the login brake shared with IMAP (users/login.hpp); null: no brake.
    auth::brake* brake = nullptr;
    // Verified-credential cache shared with IMAP (users/verified_cache.hpp); null: none.
    verified_cache* auth_cache = nullptr;
    // Transactions whose message was received in full and whose per-recipient replies are not
    // yet written: a graceful stop waits for this to reach 0 (service.cpp), so a delivery that
    // landed in a Maildir is also acknowledged and the relay does not deliver it twice.
    std::size_t replies_owed = 0;
    // Set by a graceful stop when it closes the LMTP connections (nothing owed at that
    // moment). A session that sees the end of DATA afterwards (its read completed in the same
    // turn of the loop as the close) delivers nothing: its reply could not go out, and the
    // relay, never told 250, delivers the message again.
    bool closing = false;
};

// Counts one transaction in ctx.replies_owed for as long as it lives.
struct owed_replies {
    driver_context& ctx;
    explicit owed_replies(driver_context& c) : ctx(c) { ++ctx.replies_owed; }
    ~owed_replies() { --ctx.replies_owed; }
    owed_replies(const owed_replies&) = delete;
    owed_replies& operator=(const owed_replies&) = delete;
};

// XAUTH: the shared login check (users/login.hpp: normalisation, login brake, hash verified
// on ctx.auth_pool, dummy verification for unknown users), then home's reply (contracts.md):
// 235 with the addresses, 535 5.7.8 for a bad credential, 454 4.7.0 "Locked ..." when the
// brake refuses (the relay must not fall back to its cache then), 454 4.7.0 without a
// database. `client` is the submission client (XAUTH CLIENT=), else the LMTP peer.
inline boost::asio::awaitable<smtp::reply> check_xauth(driver_context& ctx, auth_request& req,
                                                       std::string client, std::string id) {
    if (!ctx.resolver) co_return smtp::make_reply(454, "4.7.0", "No user database");
    login_context lc{&ctx.resolver->database(), ctx.brake, ctx.auth_pool, ctx.auth_cache,
                     ctx.hashers};
    auto r = co_await check_login(lc, "submission", std::move(id), std::move(req.user),
                                  std::move(req.password), std::move(client));
    switch (r.st) {
    case login_result::status::ok: co_return ctx.resolver->accepted(r.address);
    case login_result::status::locked:
        co_return smtp::make_reply(454, "4.7.0",
                                   "Locked: too many authentication failures, "
                                   "try again later");
    case login_result::status::unavailable:
        co_return smtp::make_reply(454, "4.7.0", "User database not available, try again later");
    case login_result::status::bad: break;
    }
    co_return smtp::make_reply(535, "5.7.8", "Authentication credentials invalid");
}

// Runs fn() on the deliverer's workers and resumes on the caller's executor with its result:
// the file work of a message (create, append, unlink) never blocks the io thread.
template <class R, class F>
boost::asio::awaitable<R> off_io_thread(maildir::deliverer& d, F fn) {
    namespace asio = boost::asio;
    auto ex = co_await asio::this_coro::executor;
    // A named initiation capturing references (see await_delivery for why); `fn` lives in this
    // frame, which stays suspended until the completion.
    auto initiation = [&d, &fn, &ex](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        d.run([h, &fn, ex]() mutable {
            R r = fn();
            asio::post(ex, [h, r = std::move(r)]() mutable { std::move (*h)(std::move(r)); });
        });
    };
    R r = co_await asio::async_initiate<decltype(asio::use_awaitable), void(R)>(
        initiation, asio::use_awaitable);
    co_return r;
}

// Runs `job` (its message staged in `msg`) through the delivery and resumes with the
// per-recipient replies.
inline boost::asio::awaitable<std::vector<smtp::reply>>
await_delivery(mailbox_delivery& d, const delivery_job& job,
               std::shared_ptr<maildir::staged_message> msg, const std::string& id) {
    namespace asio = boost::asio;
    auto ex = co_await asio::this_coro::executor;
    // The initiation is a named local, not a temporary inside the co_await expression: g++ 12
    // mishandles temporaries with non-trivial members there (seen as a double free). It only
    // captures references, valid because this frame stays suspended until completion.
    auto initiation = [&d, &job, &msg, &id, &ex](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        d.deliver(job, std::move(msg), id, [h, ex](std::vector<smtp::reply> replies) {
            asio::post(ex, [h, replies = std::move(replies)]() mutable {
                std::move (*h)(std::move(replies));
            });
        });
    };
    auto replies = co_await asio::async_initiate<decltype(asio::use_awaitable),
                                                 void(std::vector<smtp::reply>)>(
        initiation, asio::use_awaitable);
    co_return replies;
}

template <class Stream>
boost::asio::awaitable<void> run_session(Stream& stream, driver_context& ctx, std::string id,
                                         std::string peer_ip = "") {
    session_hooks hooks;
    hooks.resolve = [&ctx](const smtp::rcpt_to& r) {
        return ctx.resolver ? ctx.resolver->resolve(r)
                            : rcpt_verdict{smtp::make_reply(451, "4.3.0", "No user database"), {}};
    };
    hooks.directory = [&ctx]() {
        return ctx.resolver ? ctx.resolver->directory_lines() : std::vector<std::string>{};
    };
    session_options opt = ctx.opt;
    opt.defer_auth = true; // check_xauth below, off the io thread
    session s(opt, std::move(hooks));
    co_await stream.write(s.greeting(), ctx.write_timeout);
    std::array<char, 16384> buf{};
    // The message being received: one staged file, appended chunk by chunk on the deliverer's
    // workers (memory per connection stays one read buffer), linked into every mailbox at the end.
    std::shared_ptr<maildir::staged_message> msg;
    std::error_code stage_ec;
    // The relay's verdict (Junk or not), read from the chunks as they are appended.
    smtp::relay_marks marks;
    auto drop =
        [&ctx](std::shared_ptr<maildir::staged_message>& m) -> boost::asio::awaitable<void> {
        if (!m || !ctx.delivery) co_return;
        co_await off_io_thread<bool>(ctx.delivery->deliverer(), [&m] {
            m.reset();
            return true;
        });
    };
    while (true) {
        auto step = s.advance();
        std::optional<owed_replies> owed;
        while (true) {
            if (step.auth) {
                if (!step.output.empty()) co_await stream.write(step.output, ctx.write_timeout);
                std::string client = s.auth_client().empty() ? peer_ip : s.auth_client();
                auto reply = co_await check_xauth(ctx, *step.auth, std::move(client), id);
                step.auth.reset();
                s.authenticated(reply);
                step = s.advance();
                continue;
            }
            if (step.begin) {
                if (!step.output.empty()) co_await stream.write(step.output, ctx.write_timeout);
                co_await drop(msg);
                stage_ec.clear();
                marks = smtp::relay_marks{};
                if (ctx.delivery) {
                    auto& job = *step.begin;
                    auto r = co_await off_io_thread<
                        std::expected<std::shared_ptr<maildir::staged_message>, std::error_code>>(
                        ctx.delivery->deliverer(), [&] { return ctx.delivery->stage(job); });
                    if (r)
                        msg = std::move(*r);
                    else
                        stage_ec = r.error();
                }
                step = s.advance();
                continue;
            }
            // The end of DATA is in this step: its replies are owed from now on, before the
            // last chunk's append below suspends. A stop that saw nothing owed during that
            // suspension would close the connection, and the message, delivered a moment later,
            // would never be acknowledged: the relay would deliver it a second time.
            if (step.job && ctx.closing) {
                log::info("lmtp", id,
                          "connection closed by the stop before the end of DATA "
                          "was read: not delivered (the relay delivers it again)");
                co_await drop(msg);
                co_return;
            }
            if (step.job && !owed) owed.emplace(ctx);
            if (!step.body.empty() && msg) {
                auto chunk = std::move(step.body);
                co_await off_io_thread<bool>(ctx.delivery->deliverer(), [&] {
                    if (!marks.decided()) marks.feed(chunk);
                    return !msg->append(chunk); // an error sticks in msg and fails the delivery
                });
            }
            if (step.discard) co_await drop(msg);
            if (!step.job) break;
            if (!owed) owed.emplace(ctx);
            if (!step.output.empty()) co_await stream.write(step.output, ctx.write_timeout);
            log::info("lmtp", id, "message received",
                      {{"from", "<" + step.job->sender + ">"},
                       {"rcpts", step.job->rcpts.size()},
                       {"size", msg ? msg->size() : 0}});
            std::vector<smtp::reply> replies;
            if (ctx.delivery && msg && marks.junk()) {
                log::info("lmtp", id, "marked as junk by the relay", {{"reason", marks.reason()}});
                ctx.delivery->file_as_junk(*msg, marks.reason());
            }
            if (ctx.delivery && msg) {
                replies = co_await await_delivery(*ctx.delivery, *step.job, std::move(msg), id);
            } else if (ctx.delivery) { // the message file could not be created
                log::warn("lmtp", id, "cannot stage the message", {{"error", stage_ec.message()}});
                replies.assign(step.job->rcpts.size(), maildir::reply_for_error(stage_ec));
            }
            msg.reset();
            s.delivered(replies);
            step = s.advance();
        }
        if (!step.output.empty()) co_await stream.write(step.output, ctx.write_timeout);
        owed.reset(); // the replies are written: nothing owed while waiting for the next command
        if (step.close) co_return;
        std::size_t n = co_await stream.read_some(std::span<char>(buf), ctx.idle_timeout);
        if (n == 0) co_return; // peer closed; an unfinished transaction is simply dropped
        s.feed(std::string_view(buf.data(), n));
    }
}

} // namespace splitmail::home::lmtp
