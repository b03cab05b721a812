// Fuzz target: the Content-Transfer-Encoding decoders behind FETCH BINARY (mime.hpp).
// Invariants: no crash; output sizes bounded by the input (base64: 3 octets per 4 alphabet
// characters, quoted-printable: at most 2 octets per input octet); base64 of any
// octets decodes back to them exactly, also with line breaks and garbage sprinkled in;
// decoded_body of every leaf part of the input parsed as a message stays bounded.
#include "imap/mime.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace splitmail::home::imap;

namespace {

std::string encode_base64(std::string_view in) {
    static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        std::uint32_t v = (std::uint32_t(std::uint8_t(in[i])) << 16) |
                          (std::uint32_t(std::uint8_t(in[i + 1])) << 8) | std::uint8_t(in[i + 2]);
        out += a[v >> 18];
        out += a[(v >> 12) & 63];
        out += a[(v >> 6) & 63];
        out += a[v & 63];
        if (out.size() % 78 == 76) out += "\r\n"; // RFC 2045 6.8: lines of 76 characters
    }
    if (i + 1 == in.size()) {
        std::uint32_t v = std::uint32_t(std::uint8_t(in[i])) << 16;
        out += a[v >> 18];
        out += a[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        std::uint32_t v = (std::uint32_t(std::uint8_t(in[i])) << 16) |
                          (std::uint32_t(std::uint8_t(in[i + 1])) << 8);
        out += a[v >> 18];
        out += a[(v >> 12) & 63];
        out += a[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

void check_leaves(std::string_view m, const mime::part& p) {
    if (!p.children.empty()) {
        for (const auto& c : p.children) check_leaves(m, c);
        return;
    }
    auto d = mime::decoded_body(m, p);
    if (d && d->size() > 2 * (p.end - p.body_begin)) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto b = mime::decode_base64(in);
    if (b.size() > in.size() / 4 * 3 + 2) std::abort();
    auto q = mime::decode_quoted_printable(in);
    if (q.size() > 2 * in.size()) std::abort();
    // Round trip: our encoding of the input, then with a space and a "!" (outside the
    // alphabet, RFC 2045 6.8: ignored) after every 7th character.
    std::string enc = encode_base64(in);
    if (mime::decode_base64(enc) != in) std::abort();
    std::string noisy;
    for (std::size_t i = 0; i < enc.size(); ++i) {
        noisy += enc[i];
        if (i % 7 == 6) noisy += " !";
    }
    if (mime::decode_base64(noisy) != in) std::abort();
    auto t = mime::parse(in);
    check_leaves(in, t);
    return 0;
}
