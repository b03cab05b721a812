// Hex encoding; see text/hex.hpp.
#include "splitmail/text/hex.hpp"

namespace splitmail::text {

std::string hex(std::span<const unsigned char> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

} // namespace splitmail::text
