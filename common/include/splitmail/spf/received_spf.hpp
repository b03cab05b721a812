#pragma once
// The Received-SPF trace header (RFC 7208 9.1) recording one SPF evaluation.
//
// Guarantees: the result keyword first, a comment explaining it, then key=value pairs
// (receiver, client-ip, envelope-from, helo, identity, mechanism or problem) whose values are
// RFC 5322 quoted-strings, so client text (HELO, sender) can neither end the field nor add a
// pair; folded before each pair; ends in CRLF; under 998 octets per line (values are cut).
// Does not: decide anything from the result.
#include "splitmail/spf/evaluator.hpp"

#include <string>
#include <string_view>

namespace splitmail::spf {

struct received_spf_input {
    std::string_view receiver;      // our host name
    std::string_view client_ip;     // "192.0.2.1", "2001:db8::1"
    std::string_view envelope_from; // "" for the null reverse-path
    std::string_view helo;
    bool helo_identity = false; // the identity checked was HELO (null sender or HELO check)
};

std::string received_spf_header(const evaluation& ev, const received_spf_input& in);

} // namespace splitmail::spf
