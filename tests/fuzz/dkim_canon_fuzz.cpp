// Fuzz target: DKIM relaxed canonicalization (relay/dkim/canon.hpp) and the header section
// handling around it (message.hpp). Invariants (abort on violation):
//  - relaxed_body: idempotent; no bare CR or LF; ends in CRLF unless empty; no empty line at
//    the end; no WSP before a CRLF; no WSP run; streaming (cut at a point taken from the input,
//    and byte by byte) gives the same octets as the whole;
//  - simple_body: see check_simple_body();
//  - relaxed_header: exactly one CR and one LF, as the final CRLF; a colon; lower-case name;
//    no WSP run, no WSP after the colon or before the CRLF; idempotent;
//  - header_hash_input over the parsed header: one canonical field per signed name that exists,
//    then the signature field without CRLF.
#include "dkim/canon.hpp"
#include "dkim/message.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace splitmail::relay::dkim;

namespace {
void require(bool ok) {
    if (!ok) std::abort();
}
bool wsp(char c) { return c == ' ' || c == '\t'; }

void check_no_bare_cr_lf(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') require(i + 1 < s.size() && s[i + 1] == '\n');
        if (s[i] == '\n') require(i > 0 && s[i - 1] == '\r');
    }
}

void check_body(std::string_view in) {
    const std::string out = relaxed_body(in);
    check_no_bare_cr_lf(out);
    require(relaxed_body(out) == out);
    if (!out.empty()) {
        require(out.ends_with("\r\n"));
        require(out.size() == 2 || !out.ends_with("\r\n\r\n"));
        require(out != "\r\n"); // a body of empty lines is the null input
    }
    for (std::size_t i = 0; i + 1 < out.size(); ++i) {
        require(!(wsp(out[i]) && (out[i + 1] == '\r' || wsp(out[i + 1]))));
        require(out[i] != '\t');
    }
    const std::size_t cut = in.empty() ? 0 : static_cast<unsigned char>(in[0]) % (in.size() + 1);
    for (std::size_t step : {std::size_t{1}, std::size_t{0}}) {
        body_canonicalizer c;
        std::string streamed;
        auto sink = [&](std::string_view s) { streamed.append(s); };
        if (step == 1) {
            for (char ch : in) c.update(std::string_view(&ch, 1), sink);
        } else {
            c.update(in.substr(0, cut), sink);
            c.update(in.substr(cut), sink);
        }
        c.finish(sink);
        require(streamed == out);
        require(c.emitted() == out.size());
    }
}

// RFC 6376 3.4.3 simple: never empty, ends in CRLF, no empty line at the end unless the body
// is exactly one CRLF, idempotent, and streaming byte by byte gives the same octets.
void check_simple_body(std::string_view in) {
    const std::string out = simple_body(in);
    check_no_bare_cr_lf(out);
    require(out.ends_with("\r\n"));
    require(out == "\r\n" || !out.ends_with("\r\n\r\n"));
    require(simple_body(out) == out);
    body_canonicalizer c(canon::simple);
    std::string streamed;
    auto sink = [&](std::string_view s) { streamed.append(s); };
    for (char ch : in) c.update(std::string_view(&ch, 1), sink);
    c.finish(sink);
    require(streamed == out);
    require(c.emitted() == out.size());
}

void check_header(std::string_view field) {
    const std::string out = relaxed_header(field);
    require(out.size() >= 3 && out.ends_with("\r\n"));
    const std::string_view body(out.data(), out.size() - 2);
    require(body.find('\r') == std::string_view::npos && body.find('\n') == std::string_view::npos);
    const auto colon = body.find(':');
    require(colon != std::string_view::npos);
    for (std::size_t i = 0; i < colon; ++i) require(!(body[i] >= 'A' && body[i] <= 'Z'));
    if (colon > 0) require(!wsp(body[colon - 1]));
    const std::string_view value = body.substr(colon + 1);
    if (!value.empty()) require(!wsp(value.front()) && !wsp(value.back()));
    for (std::size_t i = 0; i + 1 < value.size(); ++i)
        require(value[i] != '\t' && !(value[i] == ' ' && value[i + 1] == ' '));
    require(relaxed_header(out) == out);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    check_body(in);
    check_simple_body(in);
    check_header(in);

    const message_view m = split_message(in);
    require(m.header.size() + m.body.size() <= in.size());
    const auto fields = parse_header(m.header);
    std::size_t total = 0;
    for (const auto& f : fields) {
        total += f.raw.size();
        check_header(f.raw);
    }
    require(total == m.header.size()); // the fields tile the header section
    if (auto h = headers_to_sign(fields)) {
        const std::string sig = "DKIM-Signature: v=1;\r\n b=";
        const std::string hashed = header_hash_input(fields, *h, sig);
        require(hashed.ends_with("dkim-signature:v=1; b="));
        check_no_bare_cr_lf(hashed.substr(0, hashed.size() - 22));
    }
    return 0;
}
