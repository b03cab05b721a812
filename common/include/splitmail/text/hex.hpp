#pragma once
// Lower-case hexadecimal of bytes ("00ff10"): digests, pins, TLSA data, random secrets.
// The one copy: percent-, xtext- and \u-escapes that encode single characters are not this.
// Does not: decode (nobody needs it yet), or add separators.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace splitmail::text {

std::string hex(std::span<const unsigned char> bytes);
inline std::string hex(const unsigned char* p, std::size_t n) { return hex(std::span(p, n)); }
inline std::string hex(std::string_view bytes) {
    return hex(std::span(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()));
}

} // namespace splitmail::text
