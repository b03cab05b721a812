// External report destinations; see external.hpp.
#include "dmarc/external.hpp"

#include "splitmail/address/address.hpp"

#include <algorithm>

namespace splitmail::relay::dmarc {

namespace {
// A domain for comparing: lower case, without the root's trailing dots.
std::string lower(std::string_view s) {
    while (!s.empty() && s.back() == '.') s.remove_suffix(1);
    return address::lower_ascii(s);
}
} // namespace

std::string address_domain(std::string_view address) {
    const auto at = address.rfind('@');
    if (at == std::string_view::npos) return "";
    return lower(address.substr(at + 1));
}

bool is_external(std::string_view policy_domain, std::string_view dest_domain,
                 const suffix_list& psl) {
    // RFC 7489 7.1: "the Organizational Domain of the domain in the report URI differs from
    // the Organizational Domain of the domain that published the policy".
    return psl.organizational_domain(lower(policy_domain)) !=
           psl.organizational_domain(lower(dest_domain));
}

std::string verification_name(std::string_view policy_domain, std::string_view dest_domain) {
    return lower(policy_domain) + "._report._dmarc." + lower(dest_domain);
}

bool authorises(const lookup& answer) {
    if (answer.st != lookup::status::found) return false;
    // RFC 7489 7.1 step 3: a record starting "v=DMARC1" (several are fine here).
    return std::any_of(answer.txt.begin(), answer.txt.end(),
                       [](const std::string& t) { return t.starts_with("v=DMARC1"); });
}

} // namespace splitmail::relay::dmarc
