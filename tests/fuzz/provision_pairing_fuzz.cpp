// Fuzz target: the pairing file parser of `splitmail provision home` (provision/setup/
// pairing.hpp) and the wg-quick key reader.
// Invariants checked: no crash; a pairing that parses renders to text that parses to the same
// pairing (render is the inverse of parse); its endpoint splits and its keys are valid.
#include "setup/keys.hpp"
#include "setup/pairing.hpp"
#include "setup/render.hpp"
#include "tomlpp_workaround.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace splitmail::provision::setup;
    const std::string text(reinterpret_cast<const char*>(data), size);
    if (hits_tomlpp_unreachable(text)) return 0; // third-party UB, see tomlpp_workaround.hpp
    (void)read_wg_keys(text);
    auto p = parse_pairing(text, "fuzz");
    if (!p) return 0;
    std::string host;
    std::uint16_t port = 0;
    if (!split_endpoint(p->relay_endpoint, host, port)) std::abort();
    if (!valid_wg_key(p->home_private_key) || !valid_wg_key(p->relay_public_key)) std::abort();
    const std::string again = render_pairing(*p);
    auto q = parse_pairing(again, "fuzz");
    if (!q) std::abort();
    if (render_pairing(*q) != again || q->domains != p->domains ||
        q->relay_endpoint != p->relay_endpoint || q->imap_host != p->imap_host)
        std::abort();
    return 0;
}
