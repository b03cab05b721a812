// Fuzz target: the address text parsers of splitmail-ddns (checkip/URL answers, config text)
// and the classification of whatever parses. Checks: no crash, and a parsed address prints to
// text that parses back to the same address.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "address.hpp"
#include "ip_source.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace splitmail::ddns;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    for (family f : {family::v4, family::v6}) {
        auto a = parse_ip_answer(text, f);
        if (!a) continue;
        (void)describe(classify(*a));
        auto back = parse_ip(a->to_string());
        if (!back || !(*back == *a)) std::abort();
    }
    if (auto a = parse_ip(text)) (void)classify(*a);
    (void)parse_ip_source(text);
    for (const auto& a : stable_ipv6_from_if_inet6(text, "eth0")) (void)classify(a);
    return 0;
}
