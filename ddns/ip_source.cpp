#include "ip_source.hpp"
#include "splitmail/durable/file.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace splitmail::ddns {

std::expected<ip_address, detect_error> choose_address(std::span<const ip_address> candidates,
                                                       family f, std::string_view where) {
    const ip_address* first_refused = nullptr;
    bool only_cgnat = f == family::v4;
    bool any = false;
    for (const auto& a : candidates) {
        if (a.fam != f) continue;
        any = true;
        auto c = classify(a);
        if (publishable(c)) return a;
        if (!first_refused) first_refused = &a;
        if (c != address_class::cgnat) only_cgnat = false;
    }
    if (!any)
        return std::unexpected(detect_error{detect_error::kind::transient,
                                            std::string("no ") + std::string(family_name(f)) +
                                                " address from " + std::string(where)});
    std::string msg = std::string(where) + " gave " + first_refused->to_string() + ", " +
                      std::string(describe(classify(*first_refused))) + ": not published";
    if (only_cgnat)
        msg += "; this connection has no public IPv4 (carrier-grade NAT), so DDNS cannot make the "
               "home reachable over IPv4: use the WireGuard tunnel to the relay instead";
    return std::unexpected(detect_error{detect_error::kind::refused, std::move(msg)});
}

std::expected<std::vector<ip_address>, std::string> interface_addresses(std::string_view name,
                                                                        family f) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0)
        return std::unexpected(std::string("getifaddrs: ") + std::strerror(errno));
    std::vector<ip_address> out;
    bool seen = false;
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_name || name != i->ifa_name) continue;
        seen = true;
        if (!i->ifa_addr) continue;
        ip_address a;
        if (f == family::v4 && i->ifa_addr->sa_family == AF_INET) {
            a.fam = family::v4;
            std::memcpy(a.bytes.data(), &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
            out.push_back(a);
        } else if (f == family::v6 && i->ifa_addr->sa_family == AF_INET6) {
            a.fam = family::v6;
            std::memcpy(a.bytes.data(), &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr,
                        16);
            out.push_back(a);
        }
    }
    freeifaddrs(list);
    if (!seen) return std::unexpected("no interface named " + std::string(name));
    if (f == family::v6) {
        if (auto text = durable::read_file("/proc/net/if_inet6", {16u << 20})) {
            auto stable = stable_ipv6_from_if_inet6(*text, name);
            std::erase_if(out, [&](const ip_address& a) {
                return std::find(stable.begin(), stable.end(), a) == stable.end();
            });
        }
    }
    return out;
}

std::vector<ip_address> stable_ipv6_from_if_inet6(std::string_view text, std::string_view name) {
    // Line: 32 hex digits, ifindex, prefix length, scope, flags (hex), interface name.
    constexpr unsigned temporary = 0x01, dadfailed = 0x08, deprecated = 0x20, tentative = 0x40;
    std::vector<ip_address> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string line(text.substr(pos, end - pos));
        pos = end + 1;
        char hex[33] = {0};
        char ifname[64] = {0};
        unsigned idx = 0, plen = 0, scope = 0, flags = 0;
        if (std::sscanf(line.c_str(), "%32s %x %x %x %x %63s", hex, &idx, &plen, &scope, &flags,
                        ifname) != 6)
            continue;
        if (name != ifname || std::strlen(hex) != 32) continue;
        if (flags & (temporary | dadfailed | deprecated | tentative)) continue;
        ip_address a;
        a.fam = family::v6;
        bool ok = true;
        for (int i = 0; i < 16 && ok; ++i) {
            unsigned byte = 0;
            ok = std::sscanf(hex + 2 * i, "%2x", &byte) == 1;
            a.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(byte);
        }
        if (ok) out.push_back(a);
    }
    return out;
}

source_detector::source_detector(detector_config config, desec::transport& http)
    : config_(std::move(config)), http_(http) {}

std::expected<ip_address, detect_error> source_detector::fetch(const std::string& url, family f,
                                                               int ip_version) {
    desec::http_request req;
    req.url = url;
    req.ip_version = ip_version;
    req.headers.emplace_back("Accept", "text/plain");
    auto r = http_.perform(req);
    if (!r)
        return std::unexpected(
            detect_error{detect_error::kind::transient, url + ": " + r.error().message});
    if (r->status != 200)
        return std::unexpected(detect_error{detect_error::kind::transient,
                                            url + ": HTTP " + std::to_string(r->status)});
    auto a = parse_ip_answer(r->body, f);
    if (!a)
        return std::unexpected(detect_error{detect_error::kind::transient, url + ": " + a.error()});
    std::array<ip_address, 1> one{*a};
    return choose_address(one, f, url);
}

std::expected<ip_address, detect_error> source_detector::detect(family f) {
    const ip_source& s = f == family::v4 ? config_.v4 : config_.v6;
    switch (s.type) {
    case ip_source::kind::off:
        return std::unexpected(detect_error{detect_error::kind::transient, "source is off"});
    case ip_source::kind::checkip:
        // The checkip host has only an A (or only an AAAA) record; resolve that family only.
        return fetch(f == family::v4 ? config_.checkip_v4 : config_.checkip_v6, f,
                     f == family::v4 ? 4 : 6);
    case ip_source::kind::url: return fetch(s.argument, f, 0);
    case ip_source::kind::interface: {
        auto list = interface_addresses(s.argument, f);
        if (!list)
            return std::unexpected(detect_error{detect_error::kind::transient, list.error()});
        return choose_address(*list, f, "interface " + s.argument);
    }
    }
    return std::unexpected(detect_error{detect_error::kind::transient, "bad source"});
}

} // namespace splitmail::ddns
