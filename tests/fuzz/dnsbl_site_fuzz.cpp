// Fuzz target: DNS list definitions and answers (splitmail/net/dnsbl.hpp). The input's first
// line is a site in postscreen syntax, the rest answer addresses, one per line. Invariants
// (abort on violation): a parsed site has a valid zone and a weight within +-100; its text
// parses again to the same site; judge() never lists from an answer outside 127.0.0.0/8 or in
// 127.255.255.0/24, and what it returns as codes is among the answers.
#include "splitmail/net/dnsbl.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace splitmail::net;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto nl = in.find('\n');
    auto site = parse_site(in.substr(0, nl));
    (void)dnsbl_query_name(in.substr(0, nl), "bl.example");
    if (!site) return 0;
    if (site->weight < -100 || site->weight > 100 || site->zone.empty()) std::abort();
    auto again = parse_site(site->text);
    if (!again || again->zone != site->zone || again->weight != site->weight ||
        again->mask != site->mask || again->octets != site->octets)
        std::abort();
    std::vector<std::string> answers;
    std::string_view rest = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    while (!rest.empty() && answers.size() < 64) {
        auto e = rest.find('\n');
        answers.emplace_back(rest.substr(0, e));
        rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 1);
    }
    auto r = judge(*site, answers);
    if (r.result == site_result::what::listed) {
        std::string_view codes = r.codes;
        while (!codes.empty()) {
            auto c = codes.substr(0, codes.find(','));
            if (!c.starts_with("127.") || c.starts_with("127.255.255.")) std::abort();
            bool found = false;
            for (const auto& a : answers) found = found || a == c;
            if (!found) std::abort();
            codes = c.size() < codes.size() ? codes.substr(c.size() + 1) : std::string_view();
        }
    }
    return 0;
}
