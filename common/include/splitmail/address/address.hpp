#pragma once
// Mailbox addresses (local@domain) as they appear inside SMTP paths (RFC 5321 4.1.2).
//
// Guarantees: parse_mailbox() accepts exactly the RFC 5321 Mailbox grammar (Dot-string or
// Quoted-string local part; Domain or address literal), plus UTF-8 in local part and domain
// (RFC 6531), which it reports so the caller can refuse it without SMTPUTF8. The local part is
// stored unquoted ("a b"@x -> local `a b`); the domain is lower-cased (ASCII letters only).
// Nothing in a local part ever routes: '%', '!' and a quoted '@' are ordinary characters, and
// is_routing_trap() lets the relay log / refuse such addresses explicitly.
// Does not do: source routes, angle brackets, ESMTP parameters (see smtp/command.hpp), IDNA.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace splitmail::address {

// RFC 5322 3.2.3 atext, plus UTF-8 octets (RFC 6531 3.3, RFC 6532 3.2).
bool is_atext(unsigned char c);

struct mailbox {
    std::string local;  // unquoted local part, case preserved (RFC 5321 2.4: case-sensitive)
    std::string domain; // lower-cased domain, or an address literal "[1.2.3.4]" / "[ipv6:...]"

    bool empty() const { return local.empty() && domain.empty(); }
    // "local@domain" with the local part lower-cased (ASCII): the key for recipient lookups.
    std::string canonical() const;
    // Wire form for an SMTP/LMTP path: the local part quoted when it is not a Dot-string.
    std::string to_string() const;
    friend bool operator==(const mailbox&, const mailbox&) = default;
};

struct parse_info {
    bool utf8 = false;   // non-ASCII octets in local part or domain (needs SMTPUTF8)
    bool quoted = false; // the local part was a Quoted-string
    bool address_literal = false;
    std::string error; // why parsing failed (for logs; not for clients)
};

// RFC 5321 4.5.3.1: 64 for the local part is the standard's minimum; real-world SRS/VERP senders
// exceed it, so we are liberal (4.5.3.1: "implementations SHOULD NOT impose limits") up to 255.
inline constexpr std::size_t max_local_part = 255;
inline constexpr std::size_t max_domain = 255;

// Parses "local@domain" (the whole input, nothing around it).
std::optional<mailbox> parse_mailbox(std::string_view text, parse_info* info = nullptr);

// Domain (RFC 5321 4.1.2 Domain, with UTF-8 U-labels allowed and reported in *utf8).
bool valid_domain(std::string_view domain, bool* utf8 = nullptr);
// "[...]" address literal: IPv4, "IPv6:" (case-insensitive tag). General literals are refused.
bool valid_address_literal(std::string_view literal);

// True when the unquoted local part is not a Dot-string and must be quoted on the wire.
bool local_part_needs_quoting(std::string_view local);
std::string quote_local_part(std::string_view local);

// Characters that old MTAs treated as routing (user%host, host!user, quoted "a@b"). We never route
// on them; the relay uses this to refuse such local parts for foreign-looking targets / to log.
bool is_routing_trap(const mailbox& m);

// ASCII case folding (A-Z only; other bytes, UTF-8 included, unchanged): for domain names,
// protocol keywords and header names. The one copy: grep before writing another.
constexpr char lower_ascii(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
std::string lower_ascii(std::string_view s);
// a and b equal under lower_ascii, without allocating.
bool iequals_ascii(std::string_view a, std::string_view b);
bool is_ascii(std::string_view s);
// Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF), no C0/DEL controls.
bool valid_utf8(std::string_view s);

} // namespace splitmail::address
