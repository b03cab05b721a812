#pragma once
// The Asio driver of one IMAP connection: writes the greeting, reads bytes into the session,
// writes its responses, performs STARTTLS through a callback, waits after failed logins, and
// during IDLE watches the selected folder's new/ and cur/ with inotify so that a delivery or
// another session's change is reported within a fraction of a second (RFC 2177).
//
// Templated on the stream (net::connection or a test stream) providing
//   awaitable<std::size_t> read_some(std::span<char>, clock::duration)  (0 at end of stream)
//   awaitable<void> write(std::string_view, clock::duration)
// and allowing one write while a read is pending (both TCP and Asio SSL streams do).
// Guarantees: before login the whole connection has one deadline, login_timeout from
// connected_at (overload_timeout while overloaded() says the listener is under pressure), that
// no trickle of bytes extends; after login every read has the idle timeout (RFC 3501 5.4: at
// least 30 minutes). Either ends with an untagged BYE (RFC 3501 7.1.5) and a close. on_login
// is called once, at the first read after a successful login. Every write has the write
// timeout; an IDLE notifier never outlives the command that started it.
// Threads (issue 12 item 4): once a user is logged in, every session call that may touch the
// mailbox (advance(), auth_result() of a successful login, idle_poll(), releasing the folders
// at the end) runs through run_for_user, i.e. on that user's strand in splitmail-home, and the
// driver resumes on its own executor; sockets, timers and the login check stay there. The
// session is never used by two threads at once: the driver awaits each call before the next.
// Does not: accept connections or decide on TLS (listener.cpp does).
#include "imap/session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <climits>
#include <functional>
#include <memory>
#include <span>
#include <sys/inotify.h>
#include <unistd.h>

namespace splitmail::home::imap {

struct driver_options {
    std::chrono::steady_clock::duration idle_timeout = std::chrono::minutes(30);
    // Pre-login deadline (Dovecot's login processes cut pre-auth clients early, too).
    std::chrono::steady_clock::duration login_timeout = std::chrono::minutes(1);
    std::chrono::steady_clock::duration overload_timeout = std::chrono::seconds(10);
    std::chrono::steady_clock::time_point connected_at{}; // default: when run_session starts
    std::function<bool()> overloaded;                     // unset: never
    std::function<void()> on_login;                       // leaves the pre-login pool
    std::chrono::steady_clock::duration write_timeout = std::chrono::minutes(1);
    std::chrono::steady_clock::duration login_failure_delay = std::chrono::seconds(2);
    std::function<boost::asio::awaitable<void>()> start_tls; // STARTTLS handshake
    // Verifies a credential the session handed out (session_config::defer_auth): the
    // canonical user address, or nullopt. Unset: every deferred login fails.
    std::function<boost::asio::awaitable<std::optional<std::string>>(const auth_request&)>
        check_auth;
    // Runs work() where the mailbox work of `user` belongs (the user's strand) and resumes on
    // the driver's executor. Unset: inline, on the driver's thread (tests).
    std::function<boost::asio::awaitable<void>(std::string user, std::function<void()> work)>
        run_for_user;
};

// Runs fn() through o.run_for_user for `user`; inline when nobody is logged in yet (nothing
// there touches a mailbox) or without that hook.
template <class F>
boost::asio::awaitable<void> as_user(const driver_options& o, const std::string& user, F fn) {
    if (user.empty() || !o.run_for_user) {
        fn();
        co_return;
    }
    co_await o.run_for_user(user, std::function<void()>(std::move(fn)));
}

template <class Stream>
boost::asio::awaitable<std::size_t> idle_read(Stream& stream, session& s, std::span<char> buf,
                                              const driver_options& o) {
    namespace asio = boost::asio;
    auto ex = co_await asio::this_coro::executor;
    auto dir = s.selected_dir();
    int fd = dir ? ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC) : -1;
    if (fd < 0) co_return co_await stream.read_some(buf, o.idle_timeout);
    const std::uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB;
    ::inotify_add_watch(fd, (*dir / "new").c_str(), mask);
    ::inotify_add_watch(fd, (*dir / "cur").c_str(), mask);
    asio::posix::stream_descriptor sd(ex, fd);
    bool done = false, running = true;
    asio::steady_timer finished(ex, asio::steady_timer::time_point::max());
    auto notifier = [&]() -> asio::awaitable<void> {
        // Room for one event with the longest name (inotify(7)); the events are only drained.
        alignas(inotify_event) char ibuf[sizeof(inotify_event) + NAME_MAX + 1];
        try {
            while (!done) {
                boost::system::error_code ec;
                co_await sd.async_wait(asio::posix::stream_descriptor::wait_read,
                                       asio::redirect_error(asio::use_awaitable, ec));
                if (ec || done) break;
                // A delivery is a create + rename: let the burst settle, then look once.
                asio::steady_timer settle(ex, std::chrono::milliseconds(30));
                co_await settle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                if (done) break;
                std::size_t avail = 0;
                while (::read(fd, ibuf, sizeof ibuf) > 0) ++avail; // drain queued events
                std::string updates;
                co_await as_user(o, s.user(), [&] { updates = s.idle_poll(); });
                if (!updates.empty() && !done) co_await stream.write(updates, o.write_timeout);
            }
        } catch (...) {}
        running = false;
        finished.cancel();
    };
    asio::co_spawn(ex, notifier, asio::detached);
    std::size_t n = 0;
    std::exception_ptr failure;
    try {
        n = co_await stream.read_some(buf, o.idle_timeout);
    } catch (...) {
        failure = std::current_exception();
    }
    done = true;
    boost::system::error_code ignored;
    sd.cancel(ignored);
    if (running) co_await finished.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    if (failure) std::rethrow_exception(failure);
    co_return n;
}

// Read buffer sizes of run_session: the one every connection has, and the one it takes while
// a client sends more than that at once.
inline constexpr std::size_t small_read = 1024;
inline constexpr std::size_t large_read = 16384;

template <class Stream>
boost::asio::awaitable<void> run_session(Stream& stream, session& s, const driver_options& o) {
    namespace asio = boost::asio;
    using steady = std::chrono::steady_clock;
    const auto connected = o.connected_at == steady::time_point{} ? steady::now() : o.connected_at;
    bool logged_in = false;
    co_await stream.write(s.greeting(), o.write_timeout);
    // Memory per connection (issue #6): commands and IDLE's "DONE" are read through a small
    // buffer in this frame; only when a read fills it (a literal or a pipelined burst is
    // streaming) is a large one allocated, and it is freed again once reads are small.
    std::array<char, small_read> small{};
    std::unique_ptr<char[]> large;
    while (true) {
        step st;
        co_await as_user(o, s.user(), [&] { st = s.advance(); });
        if (st.auth) {
            if (!st.output.empty()) co_await stream.write(st.output, o.write_timeout);
            std::optional<std::string> user;
            if (o.check_auth) user = co_await o.check_auth(*st.auth);
            st.auth.reset();
            // A successful login opens the user's mailbox store (and may create the special
            // folders): on the user's strand.
            co_await as_user(o, user.value_or(""), [&] { s.auth_result(user); });
            continue;
        }
        if (st.delay) {
            // A fixed delay after a failed login slows password guessing (RFC 9051 11.2).
            asio::steady_timer t(co_await asio::this_coro::executor, o.login_failure_delay);
            co_await t.async_wait(asio::use_awaitable);
        }
        if (!st.output.empty()) co_await stream.write(st.output, o.write_timeout);
        if (st.close) co_return;
        if (st.more) continue; // the rest of a long answer before any new input
        if (st.start_tls) {
            if (!o.start_tls) co_return;
            co_await o.start_tls();
            s.tls_started();
            continue;
        }
        std::string().swap(st.output); // written: free it before waiting
        std::span<char> buf = large && !s.idling() ? std::span<char>(large.get(), large_read)
                                                   : std::span<char>(small);
        // The read's deadline: before login what is left of the login deadline (a trickle of
        // bytes does not extend it), after it the idle timeout per read.
        auto timeout = o.idle_timeout;
        const bool pre_login = s.current_state() == session::state::not_authenticated;
        if (pre_login) {
            auto limit = o.overloaded && o.overloaded()
                             ? std::min(o.login_timeout, o.overload_timeout)
                             : o.login_timeout;
            timeout = std::min(timeout, connected + limit - steady::now());
        } else if (!logged_in) {
            logged_in = true;
            if (o.on_login) o.on_login();
        }
        std::size_t n = 0;
        bool timed_out = timeout <= steady::duration::zero();
        if (!timed_out) {
            try {
                if (s.idling())
                    n = co_await idle_read(stream, s, buf, o);
                else
                    n = co_await stream.read_some(buf, timeout);
            } catch (const boost::system::system_error& e) {
                if (e.code() != asio::error::timed_out) throw;
                timed_out = true;
            }
        }
        if (timed_out) {
            // RFC 3501 7.1.5 / RFC 9051 7.1.5: BYE before closing for an autologout.
            co_await stream.write(
                pre_login ? "* BYE Login timeout\r\n" : "* BYE Autologout; idle for too long\r\n",
                std::min<steady::duration>(o.write_timeout, std::chrono::seconds(10)));
            co_return;
        }
        if (n == 0) co_return;
        s.feed(std::string_view(buf.data(), n));
        if (n == buf.size() && !large)
            large = std::make_unique<char[]>(large_read);
        else if (n < small.size() || s.idling())
            large.reset();
    }
}

} // namespace splitmail::home::imap
