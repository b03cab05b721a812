// Fuzz target: MX, A and AAAA rdata parsing and MX ordering (relay/dns/mx.hpp), i.e. the bytes
// libunbound hands over from the network. Input: a list of rdata items, each a length byte then
// that many bytes. Invariants (abort on violation):
// - an MX the parser accepts is lower case and re-encodes (RFC 1035 3.3.9: preference +
//   labels, its zone-file escapes "\." "\\" "\DDD" undone) into rdata that parses back to the
//   same record, of at most 255 octets (RFC 1035 2.3.4): escaping keeps every label apart;
// - parse_wire_name of the rdata after the preference agrees with parse_mx_rdata;
// - A/AAAA accept exactly 4/16 octets and their text converts back to the same octets;
// - order_mx returns a subset of the records without the root, with no exchange twice, sorted
//   by preference, each exchange at the best preference it was listed with (RFC 5321 5.1);
// - is_null_mx only for the single record "0 ." (RFC 7505 3).
#include "dns/mx.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <vector>

using namespace splitmail::relay::dns;

namespace {
// The exchange back to rdata: labels split at unescaped dots, escapes undone.
std::vector<std::uint8_t> encode_mx(const mx_record& r) {
    std::vector<std::uint8_t> w{static_cast<std::uint8_t>(r.preference >> 8),
                                static_cast<std::uint8_t>(r.preference & 0xff)};
    const std::string& x = r.exchange;
    std::vector<std::uint8_t> label;
    auto flush = [&] {
        w.push_back(static_cast<std::uint8_t>(label.size()));
        w.insert(w.end(), label.begin(), label.end());
        label.clear();
    };
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (x[i] == '.') {
            flush();
        } else if (x[i] == '\\' && i + 3 < x.size() &&
                   std::isdigit(static_cast<unsigned char>(x[i + 1]))) {
            label.push_back(static_cast<std::uint8_t>(std::stoi(x.substr(i + 1, 3))));
            i += 3;
        } else if (x[i] == '\\' && i + 1 < x.size()) {
            label.push_back(static_cast<std::uint8_t>(x[++i]));
        } else {
            label.push_back(static_cast<std::uint8_t>(x[i]));
        }
    }
    if (!x.empty()) flush();
    w.push_back(0);
    return w;
}

void check_address(std::span<const std::uint8_t> rdata) {
    auto a = parse_a_rdata(rdata);
    if (a.has_value() != (rdata.size() == 4)) std::abort();
    auto aaaa = parse_aaaa_rdata(rdata);
    if (aaaa.has_value() != (rdata.size() == 16)) std::abort();
    unsigned char buf[16];
    if (a && (::inet_pton(AF_INET, a->c_str(), buf) != 1 || std::memcmp(buf, rdata.data(), 4)))
        std::abort();
    if (aaaa &&
        (::inet_pton(AF_INET6, aaaa->c_str(), buf) != 1 || std::memcmp(buf, rdata.data(), 16)))
        std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const std::uint8_t> in(data, size);
    std::vector<mx_record> records;
    while (!in.empty()) {
        std::size_t n = std::min<std::size_t>(in[0], in.size() - 1);
        auto rdata = in.subspan(1, n);
        in = in.subspan(1 + n);
        check_address(rdata);
        auto mx = parse_mx_rdata(rdata);
        if (rdata.size() >= 2) {
            auto name = parse_wire_name(rdata.subspan(2));
            if (name.has_value() != mx.has_value() && rdata.size() >= 3) std::abort();
            if (mx && *name != mx->exchange) std::abort();
        }
        if (!mx) continue;
        if (std::any_of(mx->exchange.begin(), mx->exchange.end(),
                        [](char c) { return c >= 'A' && c <= 'Z'; }))
            std::abort();
        auto wire = encode_mx(*mx);
        if (wire.size() > 2 + 255) std::abort();
        auto again = parse_mx_rdata(wire);
        if (!again || !(*again == *mx)) std::abort();
        records.push_back(*mx);
    }

    bool null_mx = is_null_mx(records);
    if (null_mx !=
        (records.size() == 1 && records[0].preference == 0 && records[0].exchange.empty()))
        std::abort();
    std::map<std::string, std::uint16_t> best;
    for (const auto& r : records) {
        if (r.exchange.empty()) continue;
        auto [it, fresh] = best.emplace(r.exchange, r.preference);
        if (!fresh) it->second = std::min(it->second, r.preference);
    }
    std::mt19937_64 rng(size);
    auto ordered = order_mx(records, rng);
    if (ordered.size() != best.size()) std::abort();
    for (std::size_t i = 0; i < ordered.size(); ++i) {
        if (ordered[i].exchange.empty()) std::abort();
        if (i && ordered[i - 1].preference > ordered[i].preference) std::abort();
        auto it = best.find(ordered[i].exchange);
        if (it == best.end() || it->second != ordered[i].preference) std::abort();
    }
    return 0;
}
