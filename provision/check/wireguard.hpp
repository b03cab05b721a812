#pragma once
// The WireGuard part of `splitmail check`: reading `wg show IFACE latest-handshakes` and
// judging it. With PersistentKeepalive 25 s a working tunnel hands-shakes every two minutes
// (WireGuard rekeys after 120 s of traffic), so a last handshake older than three minutes
// means the peer is not reachable.
//
// Guarantees: parse_latest_handshakes() accepts exactly wg's format, one line per peer:
// "<base64 public key>\t<unix seconds>" (0 = never), and refuses anything else.
// Does not: run wg (program.hpp) or configure anything.
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision::check {

struct wg_handshake {
    std::string peer;     // public key (base64)
    std::time_t when = 0; // 0 = no handshake yet
};

std::optional<std::vector<wg_handshake>> parse_latest_handshakes(std::string_view output);

} // namespace splitmail::provision::check
