// Fuzz target: home's reader of the relay's verdict (splitmail/smtp/relay_marks.hpp).
// Invariants (abort on violation): the verdict does not depend on how the message is chunked
// (whole, split at a point taken from the input, byte by byte); once decided, more input
// changes nothing; a reason is one of the documented ones.
#include "splitmail/smtp/relay_marks.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using splitmail::smtp::relay_marks;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    relay_marks whole;
    whole.feed(in);
    const auto& r = whole.reason();
    if (!r.empty() && r != "spam" && r != "dmarc quarantine") std::abort();
    std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
    relay_marks two;
    two.feed(in.substr(0, cut));
    two.feed(in.substr(cut));
    if (two.reason() != r || two.decided() != whole.decided()) std::abort();
    if (size <= 4096) {
        relay_marks bytes;
        for (char c : in) bytes.feed(std::string_view(&c, 1));
        if (bytes.reason() != r) std::abort();
    }
    if (whole.decided()) {
        whole.feed("\r\nX-Spam: Yes\r\n\r\n");
        if (whole.reason() != r) std::abort();
    }
    return 0;
}
