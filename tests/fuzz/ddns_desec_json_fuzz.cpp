// Fuzz target: everything splitmail parses from deSEC answers: RRset and domain JSON, error
// bodies (bulk error lists), Retry-After and Link headers, and the ddns state file.
#include <cstdint>
#include <string_view>

#include "splitmail/desec/parse.hpp"
#include "splitmail/ddns/state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace splitmail;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto l = desec::parse_rrset_list(text)) (void)desec::serialize_rrsets(*l);
    (void)desec::parse_rrset(text);
    (void)desec::parse_domain(text);
    (void)desec::parse_domain_list(text);
    for (int status : {400, 401, 429, 503}) (void)desec::parse_error_response(status, text, text);
    (void)desec::parse_retry_after(text);
    (void)desec::parse_link_next(text);
    if (auto s = ddns::state_from_json(text)) (void)ddns::state_to_json(*s);
    return 0;
}
