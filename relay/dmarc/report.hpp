#pragma once
// DMARC aggregate reports (RFC 7489 7.2) as pure functions: a period's observations
// (splitmail/dmarc/records.hpp) grouped per policy domain into the XML of Appendix C,
// gzip'd, named as 7.2.1.1 asks and wrapped in the MIME message that goes to each rua=
// address.
//
// Guarantees:
//  - build_reports(): one report per policy domain seen in the period; the policy_published
//    and rua= list are those of the domain's latest observation (the record as it was last
//    seen); rows group the observations that agree on source IP, disposition, aligned
//    results, identifiers and raw SPF/DKIM results, with their count; rows and reports are in
//    a stable order (sorted), so the same observations give the same XML;
//  - the XML is the Appendix C schema's feedback document (version 1.0, no namespace, as
//    reports are sent in practice), every text node escaped (& < > " '; octets that are not
//    well-formed UTF-8 and control characters become '?'), IPv6 source
//    addresses written as eight full groups (the schema's IPAddress pattern has no "::"),
//    an SPF result always present (the schema asks for at least one: "none" for an empty
//    domain), fo= always present (the schema requires it);
//  - report_filename(): "receiver!policy-domain!begin!end.xml.gz" (7.2.1.1);
//  - gzip(): an RFC 1952 gzip member (zlib), decompressible by gunzip;
//  - report_message(): a MIME message (RFC 2045/2046): multipart/mixed with a text/plain part
//    and the application/gzip attachment in base64 (lines of 76), Subject "Report Domain: D
//    Submitter: S Report-ID: <ID>" (7.2.1.1), every line ending in CRLF, header fields
//    folded within 78 columns.
// Does not: read the store, decide whether an address may receive the report (external.hpp),
// sign or queue the message (report_job.hpp), or send failure reports (ruf=).
#include "dmarc/policy.hpp"
#include "dmarc/store.hpp"

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::dmarc {

struct report_meta {
    std::string org_name;   // report_metadata/org_name
    std::string email;      // report_metadata/email (our From: address)
    std::string receiver;   // our host name: the file name's "receiver" and Submitter
    std::int64_t begin = 0; // the period, unix seconds (date_range begin and end)
    std::int64_t end = 0;
};

struct report {
    std::string policy_domain;
    std::string report_id; // unique per receiver, period and domain
    std::string xml;
    std::vector<report_uri> rua; // where it should go (before 7.1 checks and size limits)
    std::uint64_t messages = 0;  // sum of the rows' counts
};

std::vector<report> build_reports(std::span<const observation> all, const report_meta& meta);

std::string xml_escape(std::string_view s);
// The source address as the schema's IPAddress pattern accepts it; "" when not an address.
std::string schema_ip(std::string_view ip);

std::string report_filename(std::string_view receiver, std::string_view policy_domain,
                            std::int64_t begin, std::int64_t end);

std::expected<std::string, std::string> gzip(std::string_view data);

struct report_mail {
    std::string from;       // our address
    std::string to;         // the rua= address
    std::string receiver;   // Submitter
    std::string message_id; // without angle brackets
    std::int64_t date = 0;  // unix seconds, for Date:
    std::string filename;   // report_filename()
    std::string gz;         // the attachment
};
std::string report_message(const report& r, const report_mail& m);

} // namespace splitmail::relay::dmarc
