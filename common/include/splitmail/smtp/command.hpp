#pragma once
// SMTP/LMTP command parsing: verb recognition and the MAIL FROM / RCPT TO argument grammar
// (RFC 5321 4.1.1.2-3, 4.1.2) with the ESMTP parameters splitmail supports:
//   MAIL: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), RET and ENVID
//         (RFC 3461 4.3-4.4), AUTH (RFC 4954 5, kept as received);
//   RCPT: NOTIFY and ORCPT (RFC 3461 4.1-4.2).
// Guarantees: angle brackets are required (a space after the colon is tolerated); source routes
// "<@a,@b:user@c>" are accepted and the route dropped (RFC 5321 4.1.1.3, Appendix C); quoted
// local parts and address literals are accepted; UTF-8 addresses are accepted but reported
// (utf8_address) so the session refuses them without SMTPUTF8. Every error carries the reply
// to send: 501 5.5.4 (syntax), 501 5.1.7 / 501 5.1.3 (bad sender / recipient address, RFC 3463),
// 501 5.5.4 (bad value of a known parameter), 555 5.5.4 (unknown parameter, RFC 5321 4.1.1.11).
// Does not do: policy (size limits, SMTPUTF8 requirement, recipient checks): see the session.
// No std::expected here on purpose: the codec must also build with clang 14 for fuzzing.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "splitmail/address/address.hpp"
#include "splitmail/smtp/reply.hpp"

namespace splitmail::smtp {

// A parsed value or the reply explaining why not.
template <class T>
class parse_result {
public:
    parse_result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    parse_result(reply error) : v_(std::in_place_index<1>, std::move(error)) {}
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const reply& error() const { return std::get<1>(v_); }

private:
    std::variant<T, reply> v_;
};

enum class verb {
    helo,
    ehlo,
    lhlo,
    mail,
    rcpt,
    data,
    bdat,
    rset,
    noop,
    quit,
    help,
    vrfy,
    expn,
    starttls,
    auth,
    xdirectory,
    unknown
};

struct command {
    verb v = verb::unknown;
    std::string name; // the verb as sent, upper-cased (for logs)
    std::string args; // everything after the verb and its separating spaces, trailing spaces cut
};

// Verbs are case-insensitive (RFC 5321 2.4). Never fails: unrecognised verbs give verb::unknown.
command parse_command(std::string_view line);
std::string_view verb_name(verb v);

enum class body_type { unspecified, seven_bit, eight_bit_mime, binary_mime };
enum class ret_type { unspecified, full, hdrs };

// RFC 3461 4.1 NOTIFY values as bit flags; 0 means the parameter was not given.
namespace notify {
inline constexpr unsigned never = 1, success = 2, failure = 4, delay = 8;
}

struct mail_from {
    address::mailbox sender; // empty for the null reverse-path "<>"
    bool null_sender = false;
    std::optional<std::uint64_t> size; // SIZE=, saturated at UINT64_MAX
    body_type body = body_type::unspecified;
    bool smtputf8 = false;
    ret_type ret = ret_type::unspecified;
    std::string envid;               // ENVID xtext as received (validated), "" when absent
    std::optional<std::string> auth; // AUTH= value as received ("<>" or xtext)
    bool utf8_address = false;       // non-ASCII in the address (needs SMTPUTF8, RFC 6531)
};

struct rcpt_to {
    address::mailbox recipient;
    // "<Postmaster>" with no domain (RFC 5321 4.1.1.3 requires accepting it): recipient is
    // {"Postmaster", ""}; the recipient checker decides which local postmaster it is.
    bool postmaster = false;
    unsigned notify = 0;    // notify:: flags; 0 = absent
    std::string orcpt_type; // e.g. "rfc822" (as received), "" when absent
    std::string orcpt;      // ORCPT address xtext as received (validated)
    bool utf8_address = false;
};

// `args` is command::args of a MAIL / RCPT command ("FROM:<a@b> SIZE=10").
parse_result<mail_from> parse_mail_from(std::string_view args);
parse_result<rcpt_to> parse_rcpt_to(std::string_view args);

// RFC 3461 4: xtext = *( xchar / hexchar ), xchar = %d33-42 / %d44-60 / %d62-126,
// hexchar = "+" 2HEXDIG (upper-case per the RFC; lower-case tolerated on input).
bool valid_xtext(std::string_view s);
std::optional<std::string> xtext_decode(std::string_view s);
std::string xtext_encode(std::string_view s);

} // namespace splitmail::smtp
