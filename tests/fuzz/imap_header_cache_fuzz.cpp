// Fuzz target: the splitmail-headercache file reader (imap/header_cache.hpp header_cache::
// parse), on the input as it is and on the input with a valid checksum appended (so the
// record parser is reached, not only the checksum test). Invariants: no crash; a file is
// either refused whole or gives at most one entry per 43 octets, each with at most
// max_references references.
#include "imap/header_cache.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

using namespace splitmail::home::imap;

namespace {
void check(std::string_view in) {
    for (std::uint32_t uv : {1700000000u, 1u}) {
        auto got = header_cache::parse(in, uv);
        if (!got) continue;
        if (got->size() > in.size() / 43) std::abort();
        for (const auto& [uid, f] : *got)
            if (f.references.size() > header_cache::max_references) std::abort();
    }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    check(in);
    // The same bytes as a body with its FNV-1a 64 checksum (the file's last 8 octets).
    std::string body(in);
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : body) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    char sum[8];
    std::memcpy(sum, &h, 8);
    body.append(sum, 8);
    check(body);
    return 0;
}
