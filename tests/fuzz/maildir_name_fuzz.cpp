// Fuzz target: Maildir file names (homeserver/maildir/name.hpp), which the server reads back
// from disk: its own, Dovecot's, anything found in cur/ and new/. Invariants (abort on
// violation):
// - a name parse_name accepts is rebuilt by make_name into a name that parses to the same
//   value (make/parse are inverse), and size_from_name agrees with the parsed ",S=";
// - a name built by make_name from fields taken from the input (host escaped) parses back to
//   exactly those fields, and contains neither '/' nor an info separator ':' before the info;
// - escape_host never leaves '/' or ':'.
#include "maildir/name.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

using namespace splitmail::home::maildir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);

    if (auto n = parse_name(in)) {
        auto made = make_name(*n);
        auto back = parse_name(made);
        if (!back || !(*back == *n)) std::abort();
        auto colon = in.find(':');
        // size_from_name reads any name; for ours it must agree with the parser.
        auto s = size_from_name(in);
        if (n->size && (!s || *s != *n->size)) std::abort();
        if (n->info != (colon == std::string_view::npos ? "" : in.substr(colon + 1))) std::abort();
    }
    (void)size_from_name(in);

    // Build a name from fields of the input: 4 numbers from the first 26 bytes, the rest is
    // the host (escaped) and, after a NUL, the info.
    if (size < 26) return 0;
    auto read = [&](std::size_t at, std::size_t n) {
        std::uint64_t v = 0;
        std::memcpy(&v, data + at, n);
        return v;
    };
    unique_name u;
    u.sec = static_cast<std::int64_t>(read(0, 5));
    u.usec = static_cast<std::int64_t>(read(5, 3) % 1'000'000);
    u.pid = static_cast<std::int64_t>(read(8, 4));
    u.counter = read(12, 8);
    if (data[20] & 1) u.size = read(21, 5);
    auto rest = in.substr(26);
    auto nul = rest.find('\0');
    auto host = rest.substr(0, nul);
    u.host = escape_host(host);
    if (u.host.find_first_of("/:") != std::string::npos) std::abort();
    if (nul != std::string_view::npos) u.info = std::string(rest.substr(nul + 1));
    if (u.info.find('\0') != std::string::npos || u.host.find('\0') != std::string::npos ||
        u.host.empty())
        return 0;
    auto made = make_name(u);
    if (made.substr(0, made.find(':')).find('/') != std::string::npos) std::abort();
    auto back = parse_name(made);
    // The host is free text: a ',' in it may read as a ",S=" field, so only compare when it
    // has none (our own host names never do).
    if (host.find(',') == std::string_view::npos && (!back || !(*back == u))) std::abort();
    return 0;
}
