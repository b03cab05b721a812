// Fuzz target: PROXY protocol v2 parser. Invariants (abort on violation): whole-buffer and
// exact-read (driver-style) parsing agree; `need` never exceeds max_header and never shrinks
// below what was consumed; a parsed PROXY header re-encodes and re-parses to the same
// addresses; a prefix of a valid header is never an error.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "splitmail/proxy/v2.hpp"

using namespace splitmail::proxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const unsigned char> in(data, size);
    auto whole = parse(in);
    if (whole.need > max_header) std::abort();
    // Driver style: read exactly `need` bytes at each step.
    std::size_t have = 0;
    parse_result step;
    for (;;) {
        step = parse(in.first(have));
        if (step.st != parse_result::status::need_more) break;
        if (step.need <= have) std::abort(); // no progress would be a hang
        if (step.need > size) break;
        have = step.need;
    }
    if (step.st != parse_result::status::need_more && step.st != whole.st) std::abort();
    if (whole.st == parse_result::status::done) {
        if (whole.need > size) std::abort();
        for (std::size_t n = 0; n < whole.need; ++n)
            if (parse(in.first(n)).st != parse_result::status::need_more) std::abort();
        if (whole.value.cmd == command::proxy) {
            auto again = encode(whole.value.source, whole.value.destination);
            auto r = parse({reinterpret_cast<const unsigned char*>(again.data()), again.size()});
            if (r.st != parse_result::status::done ||
                r.value.source.ip_text() != whole.value.source.ip_text() ||
                r.value.source.port != whole.value.source.port ||
                r.value.destination.ip_text() != whole.value.destination.ip_text())
                std::abort();
        }
    }
    return 0;
}
