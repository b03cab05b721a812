#pragma once
// What the relay adds to an outgoing message at acceptance (issue 3), always as prefix header
// lines in front of the received bytes, which are never rewritten (RFC 5322 3.6 does not order
// header fields, so fields in front of the client's are as valid as anywhere in the block):
//  - Date: and Message-ID: when the submitted message has none (RFC 6409 8.2, 8.3), and From:
//    (the envelope sender, which the session checked) when the session found none (RFC 6409
//    8, RFC 5322 3.6: From: is required);
//  - DKIM-Signature fields (RFC 6376, RFC 8463) made with the keys of the From: domain.
// Guarantees: missing_headers() never duplicates a field the message has; the keyring holds
// only domains whose keys loaded, and a domain is signed only when its keys exist.
// Does not: decide who may send (the session does) or touch the queue.
#include "dkim/signer.hpp"

#include <chrono>
#include <expected>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay {

// "Date: ...\r\n" and/or "Message-ID: <...@hostname>\r\n" for the fields `message` lacks;
// "From: <author>\r\n" too when `author` is set and the message has no From:.
std::string missing_headers(std::string_view message, std::string_view hostname,
                            std::chrono::system_clock::time_point now,
                            std::string_view author = {});

// Lower-case domain of the first address in the From: field; nullopt without one.
std::optional<std::string> from_domain(std::string_view message);

class dkim_keyring;

// Issue 12: everything the relay adds to one outgoing message, decided from ONE parse of its
// header block (the session keeps only that block; the body streams to the spool).
struct outgoing_request {
    bool submitted = false;    // authenticated submission: complete Date:/Message-ID:
    std::string_view author;   // add From: <author> when the block has none ("" never)
    std::string_view hostname; // right side of a generated Message-ID
    std::chrono::system_clock::time_point now{};
    const dkim_keyring* keys = nullptr; // null: no signing
};

struct outgoing_plan {
    std::string added;                    // prefix lines to add (From:/Date:/Message-ID:)
    std::optional<std::string> domain;    // From: domain (of the added From: if we add one)
    const dkim::signer* signer = nullptr; // keys of `domain`, null: send unsigned
    std::string signed_header;            // `added` + the block's fields: what sign_header() takes
};

// Pure but for the random part of a generated Message-ID. `header_block` is the header as the
// session delivered it (fields, then the empty line if the message has a body).
outgoing_plan plan_outgoing(std::string_view header_block, const outgoing_request& r);

class dkim_keyring {
public:
    // Loads dir/<domain>/*.key for each of `domains` (dkim.domains, or relay.domains when
    // empty). A domain without keys is skipped (and reported in `problems`) unless it was named
    // explicitly in dkim.domains, which makes load fail.
    static std::expected<dkim_keyring, std::string>
    load(const std::filesystem::path& dir, const std::vector<std::string>& explicit_domains,
         const std::vector<std::string>& relay_domains, std::vector<std::string>* problems);

    const dkim::signer* for_domain(std::string_view domain) const;
    std::vector<std::string> domains() const;
    bool empty() const { return signers_.empty(); }

private:
    std::map<std::string, std::shared_ptr<dkim::signer>, std::less<>> signers_;
};

} // namespace splitmail::relay
