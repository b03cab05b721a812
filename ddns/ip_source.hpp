#pragma once
// Where splitmail-ddns learns the home's public addresses, and the checks on what it learned.
//
// A source is configured as text: "checkip" (deSEC's checkipv4/checkipv6 service),
// "url:https://..." (any HTTPS URL answering the address as plain text), "interface:NAME" (the
// first global address on a local interface, read with getifaddrs) or "off".
// Guarantees: an address is handed out only when classify() says it is global; otherwise the
// error says what was found and why it cannot be published (a CGNAT-only IPv4 gets advice to use
// the tunnel). HTTPS sources use the same verifying transport as the API.
// Does not: cache, retry or rate-limit (the agent schedules detection).
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "address.hpp"
#include "splitmail/config/ddns.hpp"
#include "splitmail/desec/transport.hpp"

namespace splitmail::ddns {

// ip_source, parse_ip_source() and detector_config: splitmail/config/ddns.hpp (the settings).

struct detect_error {
    enum class kind {
        transient, // try again later (network, HTTP error, interface without address yet)
        refused,   // we found an address, but it must not be published
    } type = kind::transient;
    std::string message;
};

// Picks the first global address of `candidates`; `where` names the source in messages.
std::expected<ip_address, detect_error> choose_address(std::span<const ip_address> candidates,
                                                       family f, std::string_view where);

// Addresses of family `f` on interface `name` (getifaddrs order). For IPv6, addresses that
// /proc/net/if_inet6 flags as temporary (RFC 8981 privacy addresses rotate within a day),
// deprecated, tentative or DAD-failed are left out: a server name needs a stable address.
std::expected<std::vector<ip_address>, std::string> interface_addresses(std::string_view name,
                                                                        family f);

// Parses /proc/net/if_inet6 text: the IPv6 addresses of interface `name` that are not
// temporary, deprecated, tentative or DAD-failed (flags from linux/if_addr.h).
std::vector<ip_address> stable_ipv6_from_if_inet6(std::string_view text, std::string_view name);

class ip_detector {
public:
    virtual ~ip_detector() = default;
    virtual std::expected<ip_address, detect_error> detect(family f) = 0;
};

class source_detector final : public ip_detector {
public:
    source_detector(detector_config config, desec::transport& http);
    std::expected<ip_address, detect_error> detect(family f) override;

private:
    std::expected<ip_address, detect_error> fetch(const std::string& url, family f, int ip_version);

    detector_config config_;
    desec::transport& http_;
};

} // namespace splitmail::ddns
