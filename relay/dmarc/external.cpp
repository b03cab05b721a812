// External report destinations; see external.hpp.
#include "dmarc/external.hpp"

#include <algorithm>

namespace splitmail::relay::dmarc {

namespace {
std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    while (!out.empty() && out.back() == '.') out.pop_back();
    return out;
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
