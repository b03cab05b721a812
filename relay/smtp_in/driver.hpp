#pragma once
// The Asio driver of one inbound SMTP connection: reads bytes, feeds the pure session
// (smtp_in/session.hpp), writes its replies, performs STARTTLS, and hands finished messages to
// the spool; the reply to DATA is sent only when the spool says the message is durable.
// Every read has the idle timeout; every write a fixed deadline.
#include "recipients/directory.hpp"
#include "settings.hpp"

#include "splitmail/net/connection.hpp"
#include "splitmail/net/tls.hpp"
#include "splitmail/queue/spool.hpp"

#include <functional>

namespace splitmail::relay {

struct smtp_context {
    const settings* s = nullptr;
    queue::spool* spool = nullptr;
    recipient_directory* directory = nullptr;
    const net::tls_context* tls = nullptr;           // current STARTTLS context (may be null)
    std::function<void(queue::envelope)> on_queued;  // hands a durable message to the runner
};

net::asio::awaitable<void> serve_smtp(net::connection& conn, smtp_context& ctx);

} // namespace splitmail::relay
