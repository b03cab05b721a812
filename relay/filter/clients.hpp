#pragma once
// The rspamd and clamd clients: one exchange each over a scanner_socket, bounded by the
// scanner's timeout; the message goes out as our prefix lines followed by the spool file,
// read in chunks (never copied whole into memory).
// rspamd: POST /checkv2 (rspamd_protocol.hpp); its answer is read up to 1 MiB.
// clamd: zINSTREAM (clamd_protocol.hpp); its reply is read up to 4 KiB.
// Guarantees: never throw; any failure (refused, unreachable, timeout, HTTP status other than
// 200, unusable answer) comes back as an error text for the log.
#include "filter/clamd_protocol.hpp"
#include "filter/rspamd_protocol.hpp"
#include "filter/scanner_socket.hpp"

#include "splitmail/config/relay_filter.hpp"

#include <boost/asio/awaitable.hpp>

#include <expected>
#include <string>
#include <string_view>

namespace splitmail::relay::filter {

boost::asio::awaitable<std::expected<rspamd_answer, std::string>>
rspamd_check(const scanner_settings& s, const rspamd_request& req, std::string_view prefix,
             message_file file);

boost::asio::awaitable<std::expected<clamd_reply, std::string>>
clamd_scan(const scanner_settings& s, std::string_view prefix, message_file file);

} // namespace splitmail::relay::filter
