#pragma once
// The SPF step of inbound mail (issue 17): which messages are checked and what is recorded.
// Called by the SMTP driver at the end of DATA, before the message is spooled.
//
// Guarantees: mail from an authenticated user or from relay.trusted_networks (outgoing mail)
// is not checked and gets ""; every other message gets a Received-SPF field (RFC 7208 9.1)
// for its MAIL FROM identity (postmaster@HELO for the null sender), and one log line with
// the result. Nothing is refused here: the result is recorded only (DMARC comes later).
// With no checker (spf.check = false) the answer is "".
#include "smtp_in/session.hpp"
#include "spf/checker.hpp"

#include "splitmail/config/relay.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace splitmail::relay {

struct inbound_spf {
    spf::evaluation ev;
    bool helo_identity = false; // the null sender: postmaster@HELO was checked
    std::string field;          // Received-SPF, ending in CRLF
};

// The check and its field; nullopt when the message is not checked (see above).
boost::asio::awaitable<std::optional<inbound_spf>>
inbound_spf_check(spf_checker* checker, const delivery& d, std::string log_id);

// inbound_spf_check()'s field, or "".
boost::asio::awaitable<std::string> inbound_spf_field(spf_checker* checker, const delivery& d,
                                                      std::string log_id);

} // namespace splitmail::relay
