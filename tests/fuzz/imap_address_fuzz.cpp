// Fuzz target: the RFC 5322 address-list parser behind ENVELOPE and SEARCH FROM/TO/CC/BCC
// (imap/address.hpp). Invariants: no crash; group markers pair up (every start has its end,
// no end without a start); parsed text never grows beyond the input.
#include "imap/address.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace splitmail::home::imap;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view v(reinterpret_cast<const char*>(data), size);
    auto list = address::parse_list(v);
    int open = 0;
    for (const auto& a : list) {
        using k = address::entry::kind;
        if (a.k == k::group_start && open++ != 0) std::abort();
        if (a.k == k::group_end && --open != 0) std::abort();
        if (a.name.size() + a.route.size() + a.mailbox.size() + a.host.size() > size + 2)
            std::abort();
    }
    if (open != 0) std::abort();
    (void)address::search_text(list);
    return 0;
}
