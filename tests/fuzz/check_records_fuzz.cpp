// Fuzz target: what `splitmail check` parses from the network and from helper programs.
// The first byte picks a record type; the rest is fed as wire rdata to rdata_to_text, and as
// text to the TXT, SPF, DKIM tag-list, TLSA and `wg show` parsers. Invariants: no crash, and
// the presentation text made from wire rdata is itself accepted by canonical() (what check
// compares) - for TXT it joins back to the original octets, as common/dns's txt_joined does.
#include "check/dkim_record.hpp"
#include "check/records.hpp"
#include "check/spf.hpp"
#include "check/wireguard.hpp"

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace splitmail::provision::check;
    if (size == 0) return 0;
    static constexpr rr_type types[] = {rr_type::a,   rr_type::aaaa, rr_type::mx,
                                        rr_type::txt, rr_type::srv,  rr_type::tlsa,
                                        rr_type::ptr, rr_type::ns,   rr_type::cname};
    const rr_type t = types[data[0] % std::size(types)];
    std::span<const std::uint8_t> rest(data + 1, size - 1);
    if (auto text = rdata_to_text(t, rest)) {
        // Names with escaped octets are not re-parsed by canonical(): it only lower-cases.
        if (!canonical(t, *text)) std::abort();
        if (t == rr_type::txt) {
            std::string octets;
            for (std::size_t i = 0; i < rest.size();) {
                const std::size_t len = rest[i++];
                octets.append(reinterpret_cast<const char*>(rest.data() + i), len);
                i += len;
            }
            if (txt_joined(*text) != octets) std::abort();
            // The rdata read directly (what SPF and DKIM at the relay read) says the same.
            if (splitmail::dns::txt_joined(rest) != octets) std::abort();
        }
    }
    const std::string_view s(reinterpret_cast<const char*>(rest.data()), rest.size());
    (void)parse_txt_strings(s);
    (void)canonical(t, s);
    if (auto spf = parse_spf(s)) {
        spf_lookups none;
        none.addresses = [](const std::string&,
                            bool) -> std::expected<std::vector<std::string>, std::string> {
            return std::vector<std::string>{"192.0.2.1", "2001:db8::1"};
        };
        none.mx_addresses = none.addresses;
        (void)spf_covers(*spf, "192.0.2.1", "example.com", none);
        (void)spf_covers(*spf, "2001:db8::1", "example.com", none);
    }
    (void)parse_tag_list(s);
    (void)compare_dkim("v=DKIM1; k=rsa; p=AAAA", s);
    (void)parse_latest_handshakes(s);
    return 0;
}
