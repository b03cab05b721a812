#pragma once
// Queuing a delivery status notification (bounce or delay notice) for a queued message: the
// one place that builds a DSN from the spool, routes it and makes it durable, for both
// transports.
//
// The DSN (bounce/dsn.hpp) is written into a spool temp file piece by piece: its own head,
// then the original's header block (at most dsn_header_excerpt octets) or, for RET=FULL
// failures, the whole original copied from msg/<id> in chunks, then its tail. Memory is
// bounded by the chunk and the excerpt, not by the message. File work runs on `readers`,
// never on the io thread. The notice's recipient (the original sender) is routed home when
// its domain is ours (notice_settings::is_ours, the recipient directory's rule), remote
// otherwise.
//
// Guarantees: a returned notice envelope is durable in the spool (enqueue_file). No notice is
// built for the null sender or when NOTIFY asks for none (then `ok` with no notice).
// Does not: decide who failed (decide.hpp) or deliver the notice (the caller adds it).
#include "bounce/dsn.hpp"

#include "splitmail/queue/spool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay {

// The most of the original's header block a notice encloses (RFC 3461 4.3 RET=HDRS, and every
// delay notice); a longer block is cut after its last complete line within the limit.
constexpr std::size_t dsn_header_excerpt = 256 * 1024;

struct notice_settings {
    std::string reporting_mta;                     // relay.hostname
    std::function<bool(std::string_view)> is_ours; // domain -> route home
};

struct notice_result {
    bool ok = false;                       // false: could not be queued (logged); retry
    std::optional<queue::envelope> notice; // the queued notice, to deliver
};

boost::asio::awaitable<notice_result>
queue_notice(queue::spool& spool, boost::asio::thread_pool& readers, const notice_settings& ns,
             const queue::envelope& env, dsn_kind kind, std::vector<std::string> only, sys_time now,
             sys_time will_retry_until);

} // namespace splitmail::relay
