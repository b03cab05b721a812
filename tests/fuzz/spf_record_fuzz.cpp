// Fuzz target: SPF record parser, macro-string parser and expander, and check_host over a DNS
// that answers every TXT query with the input itself (common/spf). Invariants (abort on
// violation):
// - parse_record never throws; an accepted record has only ASCII and starts with "v=spf1";
// - a macro-string accepted as a domain-spec is also accepted as explanation text, and its
//   expansion (with fixed, short values) is bounded by the input length times the longest value;
// - evaluating the input as a published record ends, and asks DNS a bounded number of times
//   (RFC 7208 4.6.4: 10 terms, 10 MX / PTR names each) whatever the record does (include
//   loops, redirect loops, %{p} everywhere);
// - the result is a permerror exactly when the record does not parse, unless DNS decides
//   earlier (a matching mechanism before the syntax error is never reached: parsing comes first).
#include "splitmail/spf/evaluator.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace splitmail::spf;

namespace {
struct echo_dns final : dns_client {
    std::string txt;
    unsigned queries = 0;
    dns_answer query(std::string_view name, rr_type t) override {
        ++queries;
        if (name.size() > 253) std::abort(); // 7.3: names are cut to 253 octets
        switch (t) {
        case rr_type::txt: return {dns_status::ok, {txt}};
        case rr_type::a: return {dns_status::ok, {"192.0.2.1"}};
        case rr_type::aaaa: return {dns_status::no_data, {}};
        case rr_type::mx: return {dns_status::ok, {"mx1.example.com", "mx2.example.com"}};
        case rr_type::ptr: return {dns_status::ok, {"host.example.com"}};
        }
        return {dns_status::temp_error, {}};
    }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);

    auto as_domain = parse_macro_string(in, macro_syntax::domain_spec);
    auto as_text = parse_macro_string(in, macro_syntax::explain_string);
    if (as_domain && !as_text) std::abort();
    if (as_text) {
        auto ip = *parse_ip("192.0.2.1");
        macro_context c;
        c.sender = "user@example.com";
        c.local = "user";
        c.sender_domain = "example.com";
        c.domain = "example.com";
        c.ip = &ip;
        c.helo = "mx.example.com";
        c.receiver = "relay.example.net";
        c.now = 1;
        auto out = expand_macros(*as_text, c);
        // The longest value above is %{S}/%{s} (16 octets, 20 escaped); %- gives 3 octets.
        if (out.size() > in.size() * 24 + 24) std::abort();
    }

    auto rec = parse_record(in);
    if (rec) {
        for (char ch : in)
            if (static_cast<unsigned char>(ch) >= 0x80) std::abort();
        if (!is_spf_record(in)) std::abort();
    }

    echo_dns dns;
    dns.txt = in;
    auto ev = check_mail_from(dns, *parse_ip("192.0.2.1"), "user@example.com", "mx.example.com");
    // 11 terms x (1 + 10 names) + %{p} and explanation lookups: far below 1000.
    if (dns.queries > 1000) std::abort();
    if (is_spf_record(in) && !rec && ev.code != result::permerror) std::abort();
    if (!is_spf_record(in) && ev.code != result::none) std::abort();
    return 0;
}
