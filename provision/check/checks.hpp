#pragma once
// The checks of `splitmail check`. Each returns its findings (finding.hpp) and never throws;
// what it cannot determine is a finding too (resolver down, file unreadable).
//
//   dns        every RRset of `splitmail dns plan` (dns/plan.hpp) as a resolver answers it,
//              except those the next three judge more precisely (apex TXT, DKIM, TLSA)
//   spf        exactly one SPF record per domain, and it lets the relay's addresses pass
//   dkim       every local key (dkim.dir/D/SEL.key) is published at SEL._domainkey.D
//   tlsa       _25._tcp.<hostname> holds a TLSA record matching the relay's certificate
//   ptr        the PTR of each public address is the hostname, whose A/AAAA has the address
//   tls        certificate not expired nor near expiry, for the host name, key pair matches
//   tunnel     WireGuard: the last handshake with each peer is recent
//   lmtp       (relay) home's LMTP answers LHLO over the tunnel (home.lmtp)
//   queue      number of queued messages, the age of the oldest and its last attempt's error
//   users      (home) the users and aliases files make a database splitmail-home accepts
//              (home.domains, delimiter, alias targets): the daemon keeps its old database
//              and a restart fails otherwise
//   listeners  every configured listen address accepts a TCP connection
//   scanners   (relay) the scanners relay.toml enables answer: rspamd GET /ping, clamd VERSION
//              and the age of its signature database (check_scanners.cpp, scanners.hpp)
//   ddns       (home, when ddns.toml is next to home.toml) each name splitmail-ddns keeps
//              current resolves to what the agent last published (its state file;
//              check_ddns.cpp, ddns_record.hpp)
// Relay machines run all but users and ddns; home machines tunnel, users, listeners, tls (IMAP)
// and ddns.
#include <string_view>
#include <vector>

#include "check/context.hpp"
#include "check/finding.hpp"

namespace splitmail::provision::check {

findings check_dns(context& c);
findings check_spf(context& c);
findings check_dkim(context& c);
findings check_tlsa(context& c);
findings check_ptr(context& c);
findings check_tls(context& c);
findings check_tunnel(context& c);
findings check_lmtp(context& c);
findings check_queue(context& c);
findings check_users(context& c);
findings check_listeners(context& c);
findings check_scanners(context& c);
findings check_ddns(context& c);

struct check_entry {
    std::string_view name;
    findings (*run)(context&);
    bool relay; // applies on a relay machine
    bool home;  // applies on a home machine
};

// In the order they run and are printed.
const std::vector<check_entry>& all_checks();

} // namespace splitmail::provision::check
