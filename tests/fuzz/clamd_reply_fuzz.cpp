// Fuzz target: clamd's reply (relay/filter/clamd_protocol.hpp) and what decide() makes of it.
// Invariants (abort on violation): a FOUND signature name is 1-128 printable ASCII characters
// without spaces; the refusal it gives is one 554 5.7.1 line whose text has no CR or LF; a
// clean reply carries no detail.
#include "filter/clamd_protocol.hpp"
#include "filter/verdict.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace splitmail::relay::filter;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto r = parse_clamd_reply(in);
    using k = clamd_reply::kind;
    if (r.status == k::clean && !r.detail.empty()) std::abort();
    if (r.status == k::found) {
        if (r.detail.empty() || r.detail.size() > 128) std::abort();
        for (char c : r.detail) {
            auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u >= 0x7f) std::abort();
        }
    }
    clamd_result c;
    c.status = scan_status::done;
    c.reply = r;
    auto v = decide(rspamd_result{}, c, failure_policy{true, true});
    if (r.status == k::found) {
        if (!v.refusal || v.refusal->code != 554 || v.refusal->enhanced != "5.7.1") std::abort();
        if (v.refusal->format().find('\n') != v.refusal->format().size() - 1) std::abort();
    } else if (r.status == k::error) {
        if (!v.refusal || v.refusal->code != 451) std::abort(); // tempfail policy
    } else if (v.refusal) {
        std::abort();
    }
    return 0;
}
