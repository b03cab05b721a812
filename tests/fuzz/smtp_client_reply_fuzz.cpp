// Fuzz target: what the outbound SMTP client reads from a remote MX beyond the reply parser:
// the EHLO capability list (parse_ehlo). Every reply the parser yields is treated as an EHLO
// answer. Invariants (abort on violation): no crash; parsing is deterministic; a SIZE limit is
// only reported when SIZE is; nothing is offered by a reply with a single line.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smtp_out/client.hpp"

using namespace splitmail;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    smtp::reply_parser p(2048, 1000);
    p.feed(in);
    for (int i = 0; i < 1000; ++i) {
        auto r = p.next();
        if (r.st != smtp::reply_parser::status::reply) break;
        auto a = relay::parse_ehlo(r.value);
        auto b = relay::parse_ehlo(r.value);
        if (a.pipelining != b.pipelining || a.max_size != b.max_size || a.smtputf8 != b.smtputf8)
            std::abort();
        if (a.max_size != 0 && !a.size) std::abort();
        if (r.value.lines.size() <= 1 &&
            (a.pipelining || a.starttls || a.size || a.smtputf8 || a.eight_bit_mime || a.dsn))
            std::abort();
    }
    return 0;
}
