// Fuzz target: RFC 2047 encoded-word decoding (common/text/encoded_words.hpp) as SEARCH uses it
// and as the relay's author check uses it (unknown charsets decoded to their octets).
// Invariants, in both modes: no crash; text without "=?" comes back unchanged; the output is
// bounded by the input (a decoded word never grows beyond 3 UTF-8 octets per input octet).
#include "imap/encoded_words.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace splitmail::home::imap;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    for (auto mode :
         {encoded_words::unknown_charset::keep_word, encoded_words::unknown_charset::octets}) {
        auto out = encoded_words::decode(in, mode);
        if (in.find("=?") == std::string_view::npos && out != in) std::abort();
        if (out.size() > 3 * size + 3) std::abort();
    }
    return 0;
}
