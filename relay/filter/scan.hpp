#pragma once
// The content-scanning step of every message (issue 18), called by the SMTP driver at the end
// of DATA, after the prefix lines are built and before the message is queued: the answer is
// the reply to DATA when the message is refused (the driver then drops the spool file, so
// nothing is queued and nothing bounces later), or the header lines to put in front of the
// prefix.
//
// Scans inbound and submitted mail alike with clamd and rspamd at the same time (each only
// when enabled; a virus decides whatever rspamd says). The body is read from the spool file the sink
// wrote (message_file), after our prefix lines. What the answers mean is verdict.hpp's decide().
// Logs one line per scanner answer and one "refused" line (client, from, to, reason) for a
// refusal; a failed scanner is a warning.
// rspamd's `greylist` action goes through the greylist store when there is one (issue 18): the
// message is deferred (451 4.7.1) until every recipient's triplet (client network, sender,
// recipient) has waited greylist.delay since its first attempt, then accepted like "no
// action" (X-Spam-Status: No, action=greylist), so a sender's retry is not deferred for ever
// by rspamd saying greylist again. An auto-allowed network does not skip this (rspamd judged
// the message). Without a store the action is a plain 451 4.7.1.
// Does not: learn, or rewrite the message file (the driver applies `edits` in the prefix).
#include "filter/greylist.hpp"
#include "filter/scanner_socket.hpp"
#include "filter/verdict.hpp"
#include "smtp_in/session.hpp"

#include "splitmail/config/relay.hpp"
#include "splitmail/smtp/reply.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace splitmail::relay {

struct scan_outcome {
    std::optional<smtp::reply> refusal; // set: refuse DATA with it
    std::string headers;                // else: lines (CRLF) to put in front of the prefix
    filter::header_edits edits;         // and what rspamd asks to change in the sender's header
};

boost::asio::awaitable<scan_outcome>
scan_message(const settings& s, const delivery& d, std::string_view prefix,
             filter::message_file file, std::string_view queue_id, const std::string& log_id,
             filter::greylist* greylist = nullptr);

} // namespace splitmail::relay
