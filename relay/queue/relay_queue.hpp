#pragma once
// The relay's queue as the service sees it: the queue manager (manager.hpp) with its two
// transports, LMTP to home (delivery/home_transport.hpp) and SMTP to remote MX hosts
// (smtp_out/remote_transport.hpp), and their policies from the settings:
//   home:   spool.retry_initial / retry_max / message_lifetime, no delay notices, one bounce
//           for every failure once the home part is final;
//   remote: outbound.retry_initial / retry_max / message_lifetime / delay_warning, each
//           attempt's failures bounced at once.
// A notice goes home when its recipient's domain is one of ours (the recipient directory's
// rule, the same the SMTP server applies at RCPT).
// If the outbound resolver or TLS context cannot be set up, remote recipients stay queued
// (logged at start-up and per message).
#include "delivery/home_transport.hpp"
#include "queue/manager.hpp"
#include "recipients/directory.hpp"
#include "smtp_out/remote_transport.hpp"
#include "splitmail/config/relay.hpp"

#include <memory>

namespace splitmail::relay {

class relay_queue {
public:
    relay_queue(boost::asio::io_context& io, const settings& s, queue::spool& spool,
                recipient_directory& dir, net::tls_context home_tls);
    ~relay_queue();

    void start(std::vector<queue::envelope> recovered) { manager_.start(std::move(recovered)); }
    void add(queue::envelope env) { manager_.add(std::move(env)); }
    // Retry everything now (SIGUSR1 / `splitmail queue flush`).
    void flush_all() { manager_.flush_all(); }
    void stop() { manager_.stop(); }
    // Deliveries under way and attempt ends not yet written (manager.hpp).
    std::size_t in_flight() const { return manager_.in_flight(); }
    std::size_t queued() const { return manager_.queued(); }
    bool home_reachable() const { return home_.home_reachable(); }

private:
    queue_manager manager_;
    home_transport home_;
    std::unique_ptr<remote_transport> remote_; // null if the resolver could not be set up
};

} // namespace splitmail::relay
