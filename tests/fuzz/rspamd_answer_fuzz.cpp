// Fuzz target: rspamd's answer, HTTP framing then the /checkv2 JSON (relay/filter), and what
// decide() makes of it. Invariants (abort on violation): framing whole and at every cut agree
// (a prefix never completes differently); a parsed answer keeps its bounds (200 symbols, 32
// header changes); the header lines decide() builds from it are well formed: every line ends
// in CRLF, continuation lines start with a tab, no line exceeds 998 octets, no bare CR or LF.
#include "filter/rspamd_protocol.hpp"
#include "filter/verdict.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace splitmail::relay::filter;

namespace {

void check_header_block(const std::string& h) {
    std::size_t start = 0;
    while (start < h.size()) {
        auto e = h.find("\r\n", start);
        if (e == std::string::npos) std::abort(); // unterminated line
        auto line = std::string_view(h).substr(start, e - start);
        if (line.size() > 998) std::abort();
        if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos)
            std::abort();
        if (line.empty()) std::abort(); // an empty line would end the header block
        bool continuation = line[0] == '\t' || line[0] == ' ';
        if (!continuation && line.find(':') == std::string_view::npos) std::abort();
        start = e + 2;
    }
}

void check_answer(std::string_view json) {
    auto a = parse_rspamd_answer(json);
    if (!a) return;
    if (a->symbols.size() > 200 || a->add_headers.size() > 32 || a->remove_headers.size() > 32)
        std::abort();
    rspamd_result r;
    r.status = scan_status::done;
    r.answer = *a;
    auto v = decide(r, clamd_result{}, failure_policy{});
    check_header_block(v.headers);
    if (v.refusal && !v.headers.empty()) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    check_answer(in); // the input as a JSON body
    auto whole = parse_http_response(in, true);
    auto open = parse_http_response(in, false);
    if (whole && *whole) {
        if ((*whole)->status < 100 || (*whole)->status > 599) std::abort();
        check_answer((*whole)->body);
    }
    // A complete answer without EOF is the same answer with EOF.
    if (open && *open) {
        if (!whole || !*whole || (*whole)->body != (*open)->body) std::abort();
    }
    // No prefix of the input completes an answer that the whole input rejects as malformed
    // before its body (framing errors come from the head).
    for (std::size_t cut = 0; cut < in.size() && cut < 512; ++cut) {
        auto p = parse_http_response(in.substr(0, cut), false);
        if (p && *p && open && !*open) std::abort();
    }
    return 0;
}
