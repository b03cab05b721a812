// Client networks for per-network counts; see network.hpp.
#include "splitmail/net/network.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdio>
#include <cstring>

namespace splitmail::net {

std::optional<std::string> parse_client_network(std::string_view text) {
    std::string s(text);
    if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    if (auto pct = s.find('%'); pct != std::string::npos) s.resize(pct); // zone id
    std::array<unsigned char, 16> b{};
    char out[INET6_ADDRSTRLEN + 4];
    if (::inet_pton(AF_INET, s.c_str(), b.data()) == 1) {
        std::snprintf(out, sizeof out, "%u.%u.%u.0/24", b[0], b[1], b[2]);
        return std::string(out);
    }
    if (::inet_pton(AF_INET6, s.c_str(), b.data()) != 1) return std::nullopt;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b.data(), mapped, sizeof mapped) == 0) {
        std::snprintf(out, sizeof out, "%u.%u.%u.0/24", b[12], b[13], b[14]);
        return std::string(out);
    }
    std::memset(b.data() + 8, 0, 8);
    ::inet_ntop(AF_INET6, b.data(), out, sizeof out);
    return std::string(out) + "/64";
}

std::string client_network(std::string_view ip) {
    if (auto n = parse_client_network(ip)) return *n;
    return std::string(ip.substr(0, 64));
}

} // namespace splitmail::net
