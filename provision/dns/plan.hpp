#pragma once
// The DNS records a splitmail installation needs, computed from the site file, the relay's
// configuration, its DKIM keys and its TLS certificate. `splitmail dns plan|apply|export` print
// or publish it; `splitmail check` compares what resolvers answer with it.
//
// Records per domain D of the site (RRsets of zone D, deSEC presentation format):
//   MX      @                     "10 <hostname>."
//   A/AAAA  <hostname rel. to D>  the relay's public addresses (only when hostname is in D)
//   TXT     @                     "v=spf1 ip4:A ip6:A6 -all"               (RFC 7208)
//   TXT     <hostname rel. to D>  the same SPF for the HELO name (RFC 7208 2.3; when in D)
//   TXT     <sel>._domainkey      "v=DKIM1; k=rsa|ed25519; p=..." per key (RFC 6376, 8463)
//   TXT     _dmarc                "v=DMARC1; p=none; rua=<dmarc_rua>"       (RFC 7489)
//   TXT     _smtp._tls            "v=TLSRPTv1; rua=<tlsrpt_rua>"            (RFC 8460)
//   SRV     _submissions._tcp / _submission._tcp / _imaps._tcp / _imap._tcp  (RFC 6186, 8314)
//   TLSA    _25._tcp.<hostname>   "3 1 1 <sha256 of the cert's SubjectPublicKeyInfo>" (RFC 7672),
//           and the next key's during a key rollover (setup/rollover.hpp, RFC 7671 8.1)
// TXT values are quoted and split into strings of at most 255 octets (RFC 1035 3.3.14).
// Guarantees: deterministic output (RRsets sorted by subname then type, records sorted);
// errors name the file or setting to fix.
// Does not: talk to the network; the PTR (set at the VPS hoster) is only a note.
#include <cstdint>
#include <expected>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "site/site.hpp"
#include "splitmail/desec/types.hpp"

namespace splitmail::provision::dns {

struct plan {
    std::string domain;               // the zone, e.g. "example.com"
    std::vector<desec::rrset> rrsets; // subname relative to domain, "" = apex
    std::vector<std::string> notes;   // human reminders (PTR at the hoster, ...)
    // tls.key of the relay when the TLSA RRset holds a rollover's next key too (empty otherwise):
    // `dns apply` records when deSEC got it (setup/rollover.hpp).
    std::filesystem::path rollover_key;
};

// Reads s.relay_config (dkim.dir, tls.cert) and the key/cert files it names.
std::expected<plan, std::string> make_plan(const site& s, const std::string& domain);

// The name splitmail-ddns keeps current for home: site.imap_host, or "home.<primary domain>",
// the name `provision home` gives itself when the relay's pairing file names none.
std::string ddns_host(const site& s);

// The (subname, type) RRsets of `domain` that splitmail-ddns maintains (A and AAAA of
// ddns_host() and of site.imap_host when it lies in `domain`): `dns apply --prune` never removes
// them, whichever machine's site file it runs with (issue 16 bug 2).
std::vector<std::pair<std::string, std::string>> ddns_rrsets(const site& s,
                                                             const std::string& domain);

} // namespace splitmail::provision::dns
