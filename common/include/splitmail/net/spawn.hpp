#pragma once
// Starting coroutines that nobody awaits (workers, timers, per-attempt tasks) without losing
// their deaths. `asio::detached` swallows an exception: the coroutine is gone and nothing says
// so (a delivery worker dies, mail stays queued and the logs are quiet). Every such spawn in
// the daemons goes through here instead.
//
// Guarantees: spawn() runs the coroutine; if it ends with an exception, the error is logged
// ("<what> failed: <error>") and the process-wide fatal handler is called: the daemon stops
// loudly (the services install a handler that stops the event loop and exits EX_SOFTWARE, so
// systemd restarts it; without one, std::abort). Stopping is the safe answer: what was
// acknowledged is in the spool or the Maildir, and a restart resumes it from there, whereas a
// daemon running on without a worker keeps mail queued silently.
// Does not: catch anything for coroutines that handle their own errors (sessions do).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>

#include <exception>
#include <functional>
#include <string>
#include <string_view>

namespace splitmail::net {

// Called once per unexpected coroutine death (after the log line). Install before io.run().
void set_fatal_handler(std::function<void(std::string_view what)> h);
// Logs and calls the handler (or aborts when none is installed).
void coroutine_died(std::string_view what, std::exception_ptr e);

// `where` is an io_context or an executor; `work` an awaitable<void> or a callable returning one
// (pass a capturing lambda itself, not its call: its captures must outlive the first suspension),
// as for asio::co_spawn.
template <class Where, class Work>
void spawn(Where&& where, std::string what, Work&& work) {
    boost::asio::co_spawn(where, std::forward<Work>(work),
                          [what = std::move(what)](std::exception_ptr e) {
                              if (e) coroutine_died(what, e);
                          });
}

} // namespace splitmail::net
