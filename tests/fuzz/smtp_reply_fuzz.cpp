// Fuzz target: reply parser. Invariants (abort on violation): whole and byte-by-byte parsing
// agree; every parsed reply formats and re-parses to itself; codes stay within 200-599.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "splitmail/smtp/reply.hpp"

using namespace splitmail::smtp;

namespace {
std::vector<reply> collect(reply_parser& p, bool& failed) {
    std::vector<reply> out;
    while (true) {
        auto r = p.next();
        if (r.st != reply_parser::status::reply) {
            failed = r.st == reply_parser::status::error;
            return out;
        }
        out.push_back(std::move(r.value));
    }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    reply_parser whole(256, 64);
    whole.feed(in);
    bool failed_whole = false;
    auto a = collect(whole, failed_whole);

    reply_parser bytes(256, 64);
    std::vector<reply> b;
    bool failed_bytes = false;
    for (std::size_t i = 0; i < in.size(); ++i) {
        bytes.feed(in.substr(i, 1));
        for (auto& r : collect(bytes, failed_bytes)) b.push_back(std::move(r));
    }
    if (a != b || failed_whole != failed_bytes) std::abort();
    for (const auto& r : a) {
        if (r.code < 200 || r.code > 599 || r.lines.empty()) std::abort();
        // Lines that were read may contain a lone CR; only re-check clean replies.
        bool clean = true;
        for (const auto& l : r.lines)
            if (l.find('\r') != std::string::npos) clean = false;
        if (!clean) continue;
        reply_parser again(1 << 20, 1 << 20);
        again.feed(r.format());
        auto rr = again.next();
        if (rr.st != reply_parser::status::reply || !(rr.value == r)) std::abort();
    }
    return 0;
}
