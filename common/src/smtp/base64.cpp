// Base64 for SASL, and the lax decoder of MIME bodies and encoded words; see base64.hpp.
#include "splitmail/smtp/base64.hpp"

namespace splitmail::smtp {

int base64_digit(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

std::optional<std::string> decode_base64(std::string_view in) {
    if (in.size() % 4 != 0) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < in.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            char c = in[i + k];
            if (c == '=' && i + 4 == in.size() && k >= 2) {
                v[k] = 0;
                ++pad;
                continue;
            }
            if (pad) return std::nullopt;
            v[k] = base64_digit(c);
            if (v[k] < 0) return std::nullopt;
        }
        // RFC 4648 3.5: the pad bits of the last group are zero in canonical base64; refuse
        // others so one credential has one encoding (found by home_lmtp_xauth_fuzz).
        if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15))) return std::nullopt;
        unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) |
                     unsigned(v[3]);
        out += char((n >> 16) & 0xff);
        if (pad < 2) out += char((n >> 8) & 0xff);
        if (pad < 1) out += char(n & 0xff);
    }
    return out;
}

std::string decode_base64_lax(std::string_view in) {
    std::string out;
    out.reserve(in.size() / 4 * 3 + 3);
    std::uint32_t acc = 0;
    int n = 0; // sextets in `acc`
    auto flush = [&]() {
        // A partial group: its whole octets (2 sextets: 1 octet, 3 sextets: 2 octets).
        if (n == 2) out.push_back(static_cast<char>((acc >> 4) & 0xff));
        if (n == 3) {
            out.push_back(static_cast<char>((acc >> 10) & 0xff));
            out.push_back(static_cast<char>((acc >> 2) & 0xff));
        }
        acc = 0;
        n = 0;
    };
    for (unsigned char c : in) {
        if (c == '=') {
            flush(); // padding ends the group; a later block starts afresh
            continue;
        }
        int v = base64_digit(static_cast<char>(c));
        if (v < 0) continue; // RFC 2045 6.8: characters outside the alphabet are ignored
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        if (++n == 4) {
            out.push_back(static_cast<char>((acc >> 16) & 0xff));
            out.push_back(static_cast<char>((acc >> 8) & 0xff));
            out.push_back(static_cast<char>(acc & 0xff));
            acc = 0;
            n = 0;
        }
    }
    flush();
    return out;
}

std::string encode_base64(std::string_view in) {
    static constexpr char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned n = unsigned((unsigned char)in[i]) << 16 |
                     unsigned((unsigned char)in[i + 1]) << 8 | unsigned((unsigned char)in[i + 2]);
        out += {t[n >> 18], t[(n >> 12) & 63], t[(n >> 6) & 63], t[n & 63]};
    }
    if (in.size() - i == 1) {
        unsigned n = unsigned((unsigned char)in[i]) << 16;
        out += {t[n >> 18], t[(n >> 12) & 63], '=', '='};
    } else if (in.size() - i == 2) {
        unsigned n = unsigned((unsigned char)in[i]) << 16 | unsigned((unsigned char)in[i + 1]) << 8;
        out += {t[n >> 18], t[(n >> 12) & 63], t[(n >> 6) & 63], '='};
    }
    return out;
}

} // namespace splitmail::smtp
