// MX record parsing and ordering; see mx.hpp.
#include "dns/mx.hpp"

#include "splitmail/dns/rdata.hpp"

#include <algorithm>
#include <set>

namespace splitmail::relay::dns {

namespace common_dns = splitmail::dns;

std::optional<std::string> parse_wire_name(std::span<const std::uint8_t> wire) {
    auto name = common_dns::wire_name_to_text(wire);
    if (!name) return std::nullopt;
    return common_dns::host_name(std::move(*name));
}

std::optional<mx_record> parse_mx_rdata(std::span<const std::uint8_t> rdata) {
    if (rdata.size() < 3) return std::nullopt;
    auto name = parse_wire_name(rdata.subspan(2));
    if (!name) return std::nullopt;
    return mx_record{static_cast<std::uint16_t>((rdata[0] << 8) | rdata[1]), std::move(*name)};
}

std::optional<std::string> parse_a_rdata(std::span<const std::uint8_t> rdata) {
    return common_dns::rdata_to_text(common_dns::rr_type::a, rdata);
}

std::optional<std::string> parse_aaaa_rdata(std::span<const std::uint8_t> rdata) {
    return common_dns::rdata_to_text(common_dns::rr_type::aaaa, rdata);
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
