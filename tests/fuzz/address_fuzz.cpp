// Fuzz target: mailbox parser. Invariants (abort on violation): accepted mailboxes respect the
// length limits, have a lower-case domain, and their wire form parses back to the same value.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "splitmail/address/address.hpp"

using namespace splitmail::address;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    parse_info info;
    auto m = parse_mailbox(in, &info);
    if (!m) {
        if (info.error.empty()) std::abort();
        return 0;
    }
    if (m->local.size() > max_local_part || m->domain.size() > max_domain) std::abort();
    if (m->domain != lower_ascii(m->domain)) std::abort();
    if (info.utf8 == (is_ascii(m->local) && is_ascii(m->domain))) std::abort();
    auto back = parse_mailbox(m->to_string());
    if (!back || !(*back == *m)) std::abort();
    if (m->canonical() != lower_ascii(m->local) + "@" + m->domain) std::abort();
    (void)is_routing_trap(*m);
    return 0;
}
