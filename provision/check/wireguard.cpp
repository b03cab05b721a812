// `wg show latest-handshakes` parsing; see wireguard.hpp.
#include "check/wireguard.hpp"

namespace splitmail::provision::check {

std::optional<std::vector<wg_handshake>> parse_latest_handshakes(std::string_view out) {
    std::vector<wg_handshake> list;
    while (!out.empty()) {
        auto nl = out.find('\n');
        std::string_view line = out.substr(0, nl);
        out = nl == std::string_view::npos ? std::string_view{} : out.substr(nl + 1);
        if (line.empty()) continue;
        auto tab = line.find('\t');
        if (tab == std::string_view::npos) return std::nullopt;
        std::string_view key = line.substr(0, tab), when = line.substr(tab + 1);
        // A WireGuard public key is 32 octets: 44 base64 characters ending in '='.
        if (key.size() != 44 || key.back() != '=' ||
            key.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
                std::string_view::npos)
            return std::nullopt;
        if (when.empty() || when.size() > 19 ||
            when.find_first_not_of("0123456789") != std::string_view::npos)
            return std::nullopt;
        list.push_back({std::string(key), static_cast<std::time_t>(std::stoll(std::string(when)))});
    }
    return list;
}

} // namespace splitmail::provision::check
