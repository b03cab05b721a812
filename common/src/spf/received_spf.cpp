// RFC 7208 9.1: Received-SPF.
#include "splitmail/spf/received_spf.hpp"

namespace splitmail::spf {
namespace {

constexpr std::size_t max_value = 200; // keeps every folded line far below 998 octets

// RFC 5322 3.2.4 quoted-string of printable ASCII; anything else becomes '?'.
std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s.substr(0, max_value)) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c >= ' ' && c < 127 ? c : '?');
    }
    return out + "\"";
}

// RFC 5322 3.2.2 ctext: no parentheses or backslash inside a comment.
std::string comment_text(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, max_value))
        out.push_back(c >= ' ' && c < 127 && c != '(' && c != ')' && c != '\\' ? c : '_');
    return out;
}

} // namespace

std::string received_spf_header(const evaluation& ev, const received_spf_input& in) {
    std::string who =
        in.helo_identity ? "postmaster@" + std::string(in.helo) : std::string(in.envelope_from);
    std::string comment = comment_text(in.receiver) + ": ";
    switch (ev.code) {
    case result::pass:
        comment += "domain of " + comment_text(who) + " designates " + comment_text(in.client_ip) +
                   " as permitted sender";
        break;
    case result::fail:
    case result::softfail:
        comment += "domain of " + comment_text(who) + " does not designate " +
                   comment_text(in.client_ip) + " as permitted sender";
        break;
    case result::neutral:
        comment += comment_text(in.client_ip) + " is neither permitted nor denied by domain of " +
                   comment_text(who);
        break;
    case result::none: comment += "domain of " + comment_text(who) + " does not publish SPF"; break;
    case result::temperror:
    case result::permerror:
        comment += "error in processing during lookup of " + comment_text(who);
        break;
    }
    std::string h = "Received-SPF: " + std::string(to_string(ev.code)) + " (" + comment + ")";
    auto pair = [&h](std::string_view key, std::string_view value) {
        h += "\r\n\t" + std::string(key) + "=" + quoted(value) + ";";
    };
    pair("receiver", in.receiver);
    pair("client-ip", in.client_ip);
    pair("envelope-from", in.envelope_from);
    pair("helo", in.helo);
    pair("identity", in.helo_identity ? "helo" : "mailfrom");
    if (!ev.mechanism.empty()) pair("mechanism", ev.mechanism);
    if (ev.code == result::permerror || ev.code == result::temperror) pair("problem", ev.problem);
    return h + "\r\n";
}

} // namespace splitmail::spf
