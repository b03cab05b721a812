// Fuzz target: the DKIM key record parser (relay/dkim/key_record.hpp) and p= loading.
// Invariants (abort on violation): a parsed record with an empty key is refused by
// load_public_key (revoked); a loaded Ed25519 key came from exactly 32 octets; a loaded RSA key
// reports its size; a record containing an invalid tag-list never parses.
#include "dkim/key_record.hpp"
#include "dkim/signature.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace splitmail::relay::dkim;

namespace {
void require(bool ok) {
    if (!ok) std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    auto rec = parse_key_record(in);
    if (!parse_tags(in)) require(!rec);
    if (!rec) return 0;
    auto key = load_public_key(*rec);
    if (rec->public_key.empty()) require(!key);
    if (!key) return 0;
    require(key->pkey != nullptr);
    if (rec->type == key_type::ed25519)
        require(rec->public_key.size() == 32);
    else
        require(key->bits > 0);
    return 0;
}
