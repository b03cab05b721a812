#include "splitmail/address/ip.hpp"

#include <arpa/inet.h>

#include <string>

namespace splitmail::address {

namespace {
bool parses(int family, std::string_view s) {
    if (s.empty() || s.size() > 45 || s.find('\0') != std::string_view::npos) return false;
    unsigned char buf[16];
    return inet_pton(family, std::string(s).c_str(), buf) == 1;
}
} // namespace

bool is_ipv4_text(std::string_view s) { return parses(AF_INET, s); }
bool is_ipv6_text(std::string_view s) { return parses(AF_INET6, s); }

} // namespace splitmail::address
