// Fuzz target: rspamd's header edits applied to a sender's header block
// (filter::apply_header_edits, relay/filter/verdict.hpp). The input is the header block; the
// first octet picks the new Subject's text from the input. Invariants (abort on violation):
// no edits is the identity; afterwards no field of a removed name is left; with a new Subject
// there is exactly one Subject field and it holds no CR/LF of its own outside folding; every
// other field of the input is kept, octet for octet and in order; what follows the fields
// (the empty line) is kept.
#include "dkim/message.hpp"
#include "filter/verdict.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace splitmail::relay;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (filter::apply_header_edits(in, {}) != in) std::abort();

    filter::header_edits e;
    e.remove = {"X-Spam", "x-spamd-bar"};
    const std::size_t cut = data[0] % (in.size() + 1);
    e.subject = "[SPAM] " + std::string(in.substr(0, cut));
    const auto out = filter::apply_header_edits(in, e);

    const auto in_header = dkim::split_message(in).header;
    const auto out_header = dkim::split_message(out).header;
    if (std::string_view(out).substr(out_header.size()) != in.substr(in_header.size()))
        std::abort();
    std::vector<std::string_view> kept;
    for (const auto& f : dkim::parse_header(in_header))
        if (f.name.empty() ||
            (!dkim::iequals(f.name, "X-Spam") && !dkim::iequals(f.name, "X-Spamd-Bar") &&
             !dkim::iequals(f.name, "Subject")))
            kept.push_back(f.raw);
    std::size_t subjects = 0, next = 0;
    for (const auto& f : dkim::parse_header(out_header)) {
        if (dkim::iequals(f.name, "X-Spam") || dkim::iequals(f.name, "X-Spamd-Bar")) std::abort();
        if (dkim::iequals(f.name, "Subject")) {
            ++subjects;
            // Our own field: CRLF only as folding (followed by a tab), and a CRLF at the end.
            for (std::size_t i = 0; i + 1 < f.raw.size(); ++i)
                if ((f.raw[i] == '\r' || f.raw[i] == '\n') &&
                    !(f.raw.substr(i, 3) == "\r\n\t" || f.raw.substr(i) == "\r\n" ||
                      (f.raw[i] == '\n' && i > 0 && f.raw[i - 1] == '\r')))
                    std::abort();
            continue;
        }
        // A sender's field without its line end may gain one when Subject is added after it.
        if (next >= kept.size()) std::abort();
        if (f.raw != kept[next] && std::string(kept[next]) + "\r\n" != f.raw) std::abort();
        ++next;
    }
    if (subjects != 1 || next != kept.size()) std::abort();
    return 0;
}
