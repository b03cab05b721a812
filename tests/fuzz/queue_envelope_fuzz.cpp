// Fuzz target: the envelope JSON reader (spool files may be damaged by crashes, disks or
// hands). Anything must be rejected or accepted without a crash, and what is accepted must
// survive a write/read round trip unchanged. Also feeds the bytes to parse_notify.
#include "splitmail/queue/envelope.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace splitmail::queue;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto n = parse_notify(text)) {
        if (parse_notify(to_string(*n)) != n) std::abort();
    }
    auto e = from_json(text);
    if (!e) return 0;
    auto again = from_json(to_json(*e));
    // Invalid UTF-8 in strings is replaced on writing, so compare only when it round-trips.
    if (!again) std::abort();
    if (to_json(*again) != to_json(*e)) std::abort();
    return 0;
}
