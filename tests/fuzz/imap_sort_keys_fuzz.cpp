// Fuzz target: SORT and THREAD values (imap/sort_keys.hpp) from raw header text:
// base_subject (RFC 5256 2.1), sent_date (RFC 5322 date-time), first_mailbox / first_display,
// message_ids (THREAD=REFERENCES). Invariants: no crash; at most `keep` ids, none empty or
// holding white space or angle brackets;
// the base subject is never longer than the decoded subject (encoded words decode to at most
// 3 octets per input octet) and has no leading or trailing space; a parsed date lies between
// years 0 and 10000.
#include "imap/sort_keys.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace splitmail::home::imap;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    bool reply = false;
    auto base = sort_keys::base_subject(in, &reply);
    if (base.size() > 3 * size + 3) std::abort();
    if (!base.empty() && (base.front() == ' ' || base.back() == ' ')) std::abort();
    if (auto t = sort_keys::sent_date(in))
        if (*t < -62167219200LL - 86400 || *t > 253402300800LL + 86400) std::abort();
    auto list = address::parse_list(in);
    (void)sort_keys::first_mailbox(list);
    (void)sort_keys::first_display(list);
    for (const auto& id : sort_keys::message_ids(in, 8)) {
        if (id.empty() || id.find_first_of("<> \t\r\n") != std::string::npos) std::abort();
    }
    if (sort_keys::message_ids(in, 8).size() > 8) std::abort();
    return 0;
}
