#pragma once
// `splitmail dns plan|apply|export`: the DNS records a splitmail installation needs
// (provision/dns/plan.hpp), shown, published at deSEC, or exported as a zone-file fragment.
//
//   plan   [--site FILE] [--domain D]...                 print the desired records and notes
//   export [--site FILE] [--domain D]...                 zone-file fragment (absolute names)
//   apply  [--site FILE] [--domain D]... [--prune] [--yes]
//       bring deSEC to the plan: shows the diff, asks (or --yes), one bulk PATCH per domain.
//   --site defaults to /etc/splitmail/site.toml; without --domain every site domain is used.
//   The deSEC token comes from the site's desec.token_file (mode 0600 or 0400).
//
// Exit status: 0 success (or deSEC already up to date), 1 operation failed or not confirmed,
// 2 usage error.
// Does not: set PTR records (the VPS hoster does), create domains at deSEC.
#include <ostream>
#include <span>
#include <string>

namespace splitmail::provision {

int run_dns(std::span<const std::string> args);
int run_dns(std::span<const std::string> args, std::ostream& out, std::ostream& err);

} // namespace splitmail::provision
