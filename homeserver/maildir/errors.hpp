#pragma once
// One mapping from a delivery error (errno) to the LMTP reply for that recipient, in the
// spirit of Postfix's mbox_dsn(): disk full and over quota are temporary mailbox conditions,
// everything else a temporary local error. Nothing here is permanent (5xx): a file-system
// problem is never the sender's fault and must not bounce mail.
// The public text is generic; the errno goes to the log only.
#include "splitmail/smtp/reply.hpp"

#include <system_error>

namespace splitmail::home::maildir {

// RFC 3463: 4.2.2 mailbox full, 4.3.4 message too big for system, 4.3.5 system incorrectly
// configured, 4.3.0 other mail system problem.
smtp::reply reply_for_errno(int err);
inline smtp::reply reply_for_error(std::error_code ec) { return reply_for_errno(ec.value()); }

} // namespace splitmail::home::maildir
