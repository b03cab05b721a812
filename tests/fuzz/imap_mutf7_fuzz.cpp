// Fuzz target: mailbox-name conversion between modified UTF-7 (RFC 3501 5.1.3) and UTF-8
// (IMAP4rev2). Invariants: no crash; whatever UTF-8 is accepted encodes to printable ASCII
// that decodes back to the same UTF-8; whatever modified UTF-7 is accepted decodes to UTF-8
// that encodes to a name decoding to the same text; a name mutf7_valid accepts round-trips
// exactly and decodes to no control character.
#include "imap/codec.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace splitmail::home::imap;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    if (auto m = utf8_to_mutf7(in)) {
        for (unsigned char c : *m)
            if (c < 0x20 || c > 0x7e) std::abort();
        auto back = mutf7_to_utf8(*m);
        if (!back || *back != in) std::abort();
    }
    // mutf7_valid: canonical, so it decodes and encodes back to exactly the input, and what it
    // decodes to holds no control character (no NUL in a mailbox name, issue 11).
    if (mutf7_valid(in)) {
        auto u = mutf7_to_utf8(in);
        if (!u) std::abort();
        for (unsigned char c : *u)
            if (c < 0x20 || c == 0x7f) std::abort();
        auto back = utf8_to_mutf7(*u);
        if (!back || *back != in) std::abort();
    }
    if (auto u = mutf7_to_utf8(in)) {
        auto again = utf8_to_mutf7(*u);
        // Control characters cannot come out of valid modified UTF-7 except when encoded in a
        // run; those are refused by the encoder, which is fine. Otherwise it must round-trip.
        if (again) {
            auto u2 = mutf7_to_utf8(*again);
            if (!u2 || *u2 != *u) std::abort();
        }
    }
    return 0;
}
