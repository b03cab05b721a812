// MX record parsing and ordering; see mx.hpp.
#include "dns/mx.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <set>

namespace splitmail::relay::dns {

namespace {
// Reads a name starting at `pos`; sets `end` past it. No compression pointers (RFC 1035
// 4.1.4 compression only exists inside messages; rdata handed out by libunbound is expanded).
std::optional<std::string> read_name(std::span<const std::uint8_t> w, std::size_t pos,
                                     std::size_t& end) {
    std::string out;
    std::size_t total = 0;
    for (;;) {
        if (pos >= w.size()) return std::nullopt;
        std::uint8_t len = w[pos++];
        if (len == 0) break;
        if (len > 63) return std::nullopt; // pointers and extended labels are not valid here
        if (pos + len > w.size()) return std::nullopt;
        total += len + 1;
        if (total > 254) return std::nullopt; // RFC 1035 2.3.4: 255 octets in wire form
        if (!out.empty()) out += '.';
        for (std::size_t i = 0; i < len; ++i) {
            char c = static_cast<char>(w[pos + i]);
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            out += c;
        }
        pos += len;
    }
    end = pos;
    return out;
}
} // namespace

std::optional<std::string> parse_wire_name(std::span<const std::uint8_t> wire) {
    std::size_t end = 0;
    auto n = read_name(wire, 0, end);
    if (!n || end != wire.size()) return std::nullopt;
    return n;
}

std::optional<mx_record> parse_mx_rdata(std::span<const std::uint8_t> rdata) {
    if (rdata.size() < 3) return std::nullopt;
    mx_record r;
    r.preference = static_cast<std::uint16_t>((rdata[0] << 8) | rdata[1]);
    auto name = parse_wire_name(rdata.subspan(2));
    if (!name) return std::nullopt;
    r.exchange = std::move(*name);
    return r;
}

std::optional<std::string> parse_a_rdata(std::span<const std::uint8_t> rdata) {
    if (rdata.size() != 4) return std::nullopt;
    char buf[INET_ADDRSTRLEN];
    if (!::inet_ntop(AF_INET, rdata.data(), buf, sizeof buf)) return std::nullopt;
    return std::string(buf);
}

std::optional<std::string> parse_aaaa_rdata(std::span<const std::uint8_t> rdata) {
    if (rdata.size() != 16) return std::nullopt;
    char buf[INET6_ADDRSTRLEN];
    if (!::inet_ntop(AF_INET6, rdata.data(), buf, sizeof buf)) return std::nullopt;
    return std::string(buf);
}

bool is_null_mx(const std::vector<mx_record>& records) {
    return records.size() == 1 && records[0].exchange.empty() && records[0].preference == 0;
}

std::vector<mx_record> order_mx(std::vector<mx_record> records, std::mt19937_64& rng) {
    std::erase_if(records, [](const mx_record& r) { return r.exchange.empty(); });
    std::ranges::shuffle(records, rng);
    std::ranges::stable_sort(records, {}, &mx_record::preference);
    // The same exchange listed twice (at different preferences): keep the best one.
    std::set<std::string> seen;
    std::erase_if(records, [&](const mx_record& r) { return !seen.insert(r.exchange).second; });
    return records;
}

} // namespace splitmail::relay::dns
