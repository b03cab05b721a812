// DKIM key record comparison; see dkim_record.hpp.
#include "check/dkim_record.hpp"
#include "splitmail/address/address.hpp"
#include "splitmail/dkim/record.hpp"

namespace splitmail::provision::check {

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string strip_ws(std::string_view s) {
    std::string out;
    for (char c : s)
        if (!is_ws(c)) out += c;
    return out;
}

} // namespace

dkim_match compare_dkim(std::string_view local, std::string_view published) {
    auto mine = dkim::parse_tag_list(local);
    auto theirs = dkim::parse_tag_list(published);
    if (!theirs || !theirs->contains("p")) return dkim_match::not_dkim;
    if (auto v = theirs->find("v"); v != theirs->end() && v->second != "DKIM1")
        return dkim_match::not_dkim; // RFC 6376 3.6.1: v= must be exactly DKIM1 when present
    const std::string their_p = strip_ws(theirs->at("p"));
    if (their_p.empty()) return dkim_match::revoked;
    if (!mine || !mine->contains("p")) return dkim_match::different;
    auto key_type = [](const std::map<std::string, std::string>& t) {
        auto k = t.find("k");
        return k == t.end() ? std::string("rsa") : address::lower_ascii(strip_ws(k->second));
    };
    if (key_type(*mine) != key_type(*theirs)) return dkim_match::different;
    return strip_ws(mine->at("p")) == their_p ? dkim_match::same : dkim_match::different;
}

} // namespace splitmail::provision::check
