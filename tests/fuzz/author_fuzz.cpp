// Fuzz target: From:/Sender: parsing and the author check of submissions
// (relay/submission/author.hpp). Invariants (abort on violation):
//  - every parsed address holds an '@' and no upper-case ASCII;
//  - decode_encoded_words stays within 3 octets per input octet (charsets are converted to
//    UTF-8: one Latin-1 octet becomes two); addresses_in_text finds '@' and a dot after it;
//  - check_authors' refusal text is printable ASCII and bounded; a header accepted with the
//    parsed addresses as the allowed list is refused with an empty list unless it has no
//    author at all.
#include "submission/author.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace splitmail::relay;

namespace {
void require(bool ok) {
    if (!ok) std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> allowed;
    if (auto l = parse_address_list(in)) {
        for (const auto& a : l->addresses) {
            require(a.find('@') != std::string::npos);
            for (char c : a) require(!(c >= 'A' && c <= 'Z'));
        }
        allowed = l->addresses;
        for (const auto& t : l->texts) {
            auto d = decode_encoded_words(t);
            require(d.size() <= 3 * t.size() + 3);
            for (const auto& a : addresses_in_text(d)) {
                auto at = a.find('@');
                require(at != std::string::npos && at > 0 && a.find('.', at) != std::string::npos);
                allowed.push_back(a);
            }
            for (const auto& a : addresses_in_text(t)) allowed.push_back(a);
        }
    }
    const std::string msg = "From:" + std::string(in) + "\r\n\r\nbody\r\n";
    auto v = check_authors(msg, allowed, "user@example.test");
    if (v.st == author_verdict::status::refused) {
        require(!v.text.empty() && v.text.size() < 600);
        for (char c : v.text) require(c >= ' ' && c < 127);
    }
    if (v.st == author_verdict::status::ok) {
        auto none = check_authors(msg, {}, "user@example.test");
        require(none.st != author_verdict::status::ok);
    }
    return 0;
}
