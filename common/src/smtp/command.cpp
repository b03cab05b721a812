// SMTP command parsing: see command.hpp.
#include "splitmail/smtp/command.hpp"
#include "splitmail/address/address.hpp"

#include <array>
#include <limits>

namespace splitmail::smtp {
namespace {

using address::lower_ascii;

struct verb_entry {
    std::string_view name;
    verb v;
};
constexpr std::array<verb_entry, 16> verbs{{
    {"HELO", verb::helo},
    {"EHLO", verb::ehlo},
    {"LHLO", verb::lhlo},
    {"MAIL", verb::mail},
    {"RCPT", verb::rcpt},
    {"DATA", verb::data},
    {"BDAT", verb::bdat},
    {"RSET", verb::rset},
    {"NOOP", verb::noop},
    {"QUIT", verb::quit},
    {"HELP", verb::help},
    {"VRFY", verb::vrfy},
    {"EXPN", verb::expn},
    {"STARTTLS", verb::starttls},
    {"AUTH", verb::auth},
    {"XDIRECTORY", verb::xdirectory},
}};

std::string upper_ascii(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

reply syntax_error(bool mail) {
    return make_reply(501, "5.5.4",
                      mail ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>");
}

reply bad_address(bool mail) {
    // RFC 3463 3.2: X.1.7 bad sender's address syntax, X.1.3 bad destination address syntax.
    return mail ? make_reply(501, "5.1.7", "Bad sender address syntax")
                : make_reply(501, "5.1.3", "Bad recipient address syntax");
}

reply bad_param_value(std::string_view keyword) {
    return make_reply(501, "5.5.4", "Invalid value for parameter " + upper_ascii(keyword));
}

reply unknown_param(std::string_view keyword) {
    return make_reply(555, "5.5.4", "Unsupported parameter " + upper_ascii(keyword.substr(0, 40)));
}

struct path {
    address::mailbox mbox;
    bool null = false;
    bool postmaster = false;
    bool utf8 = false;
};

// Splits "FROM:<...> params" into the bracketed path (brackets included) and the parameter
// text. Returns false on syntax errors (missing keyword, missing brackets, junk after '>').
bool split_path(std::string_view args, std::string_view keyword, std::string_view& path_text,
                std::string_view& params) {
    if (args.size() < keyword.size() ||
        !address::iequals_ascii(args.substr(0, keyword.size()), keyword))
        return false;
    std::string_view rest = args.substr(keyword.size());
    // Lenient like Postfix: spaces between "FROM:" and "<" (seen from broken clients).
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty() || rest.front() != '<') return false;
    // Find the closing '>' outside quoted strings.
    bool in_quote = false;
    std::size_t i = 1;
    for (; i < rest.size(); ++i) {
        char c = rest[i];
        if (in_quote) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_quote = false;
        } else if (c == '"') {
            in_quote = true;
        } else if (c == '>') {
            break;
        }
    }
    if (i >= rest.size()) return false;
    path_text = rest.substr(0, i + 1);
    params = rest.substr(i + 1);
    if (!params.empty() && params.front() != ' ') return false;
    while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    return true;
}

// RFC 5321 4.1.2: Path = "<" [ A-d-l ":" ] Mailbox ">".
bool parse_path(std::string_view text, path& out) {
    std::string_view inner = text.substr(1, text.size() - 2);
    if (inner.empty()) {
        out.null = true;
        return true;
    }
    if (inner.front() == '@') {
        // A-d-l = At-domain *( "," At-domain ); At-domain = "@" Domain. Parsed, then ignored
        // (RFC 5321 4.1.1.3 and Appendix C: source routes MUST NOT be used for relaying).
        auto colon = inner.find(':');
        if (colon == std::string_view::npos) return false;
        std::string_view adl = inner.substr(0, colon);
        while (true) {
            if (adl.empty() || adl.front() != '@') return false;
            auto comma = adl.find(',');
            std::string_view dom =
                adl.substr(1, comma == std::string_view::npos ? adl.npos : comma - 1);
            if (!address::valid_domain(dom)) return false;
            if (comma == std::string_view::npos) break;
            adl.remove_prefix(comma + 1);
        }
        inner.remove_prefix(colon + 1);
    }
    address::parse_info info;
    auto m = address::parse_mailbox(inner, &info);
    if (!m) return false;
    out.mbox = std::move(*m);
    out.utf8 = info.utf8;
    return true;
}

bool is_keyword_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// RFC 5321 4.1.2: esmtp-param = esmtp-keyword ["=" esmtp-value];
// esmtp-value = 1*(%d33-60 / %d62-126) (RFC 6531 3.3 adds UTF-8).
struct param {
    std::string keyword; // upper-cased
    std::string_view value;
    bool has_value = false;
};

bool next_param(std::string_view& params, param& p) {
    auto sp = params.find(' ');
    std::string_view item = params.substr(0, sp);
    params = sp == std::string_view::npos ? std::string_view{} : params.substr(sp);
    while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    auto eq = item.find('=');
    std::string_view kw = item.substr(0, eq);
    if (kw.empty() || kw.front() == '-') return false;
    for (char c : kw)
        if (!is_keyword_char(c)) return false;
    p.keyword = upper_ascii(kw);
    p.has_value = eq != std::string_view::npos;
    p.value = p.has_value ? item.substr(eq + 1) : std::string_view{};
    if (p.has_value) {
        if (p.value.empty()) return false;
        for (unsigned char c : p.value)
            if (c < 33 || c == '=' || c == 127) return false;
    }
    return true;
}

bool parse_size(std::string_view v, std::uint64_t& out) {
    // RFC 1870 3: size-value = 1*20DIGIT
    if (v.empty() || v.size() > 20) return false;
    std::uint64_t n = 0;
    constexpr auto max = std::numeric_limits<std::uint64_t>::max();
    for (char c : v) {
        if (c < '0' || c > '9') return false;
        auto d = static_cast<std::uint64_t>(c - '0');
        n = (n > (max - d) / 10) ? max : n * 10 + d;
    }
    out = n;
    return true;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

} // namespace

std::string_view verb_name(verb v) {
    for (const auto& e : verbs)
        if (e.v == v) return e.name;
    return "UNKNOWN";
}

command parse_command(std::string_view line) {
    command cmd;
    auto sp = line.find(' ');
    std::string_view name = line.substr(0, sp);
    std::string_view args = sp == std::string_view::npos ? std::string_view{} : line.substr(sp);
    while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
    while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
    cmd.name = upper_ascii(name.substr(0, 32));
    cmd.args = std::string(args);
    for (const auto& e : verbs)
        if (e.name == cmd.name && name.size() == e.name.size()) cmd.v = e.v;
    return cmd;
}

bool valid_xtext(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '+') {
            if (i + 2 >= s.size()) return false; // "+" needs two hex digits
            if (hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) return false;
            i += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return false;
        }
    }
    return true;
}

std::optional<std::string> xtext_decode(std::string_view s) {
    if (!valid_xtext(s)) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string xtext_encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (c < 33 || c > 126 || c == '+' || c == '=') {
            out += '+';
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

parse_result<mail_from> parse_mail_from(std::string_view args) {
    std::string_view path_text, params;
    if (!split_path(args, "FROM:", path_text, params)) return syntax_error(true);
    path p;
    if (!parse_path(path_text, p)) return bad_address(true);
    mail_from mf;
    mf.null_sender = p.null;
    mf.sender = std::move(p.mbox);
    mf.utf8_address = p.utf8;
    bool seen_size = false, seen_body = false, seen_ret = false, seen_envid = false,
         seen_auth = false;
    while (!params.empty()) {
        param prm;
        if (!next_param(params, prm)) return make_reply(501, "5.5.4", "Malformed parameter");
        const std::string& k = prm.keyword;
        if (k == "SIZE") {
            std::uint64_t n = 0;
            if (seen_size || !prm.has_value || !parse_size(prm.value, n)) return bad_param_value(k);
            seen_size = true;
            mf.size = n;
        } else if (k == "BODY") {
            if (seen_body || !prm.has_value) return bad_param_value(k);
            seen_body = true;
            std::string v = upper_ascii(prm.value);
            if (v == "7BIT")
                mf.body = body_type::seven_bit;
            else if (v == "8BITMIME")
                mf.body = body_type::eight_bit_mime;
            else if (v == "BINARYMIME")
                mf.body = body_type::binary_mime;
            else
                return bad_param_value(k);
        } else if (k == "SMTPUTF8") {
            // RFC 6531 3.4: no value.
            if (mf.smtputf8 || prm.has_value) return bad_param_value(k);
            mf.smtputf8 = true;
        } else if (k == "RET") {
            if (seen_ret || !prm.has_value) return bad_param_value(k);
            seen_ret = true;
            std::string v = upper_ascii(prm.value);
            if (v == "FULL")
                mf.ret = ret_type::full;
            else if (v == "HDRS")
                mf.ret = ret_type::hdrs;
            else
                return bad_param_value(k);
        } else if (k == "ENVID") {
            // RFC 3461 4.4: xtext, at most 100 characters.
            if (seen_envid || !prm.has_value || !valid_xtext(prm.value) ||
                xtext_decode(prm.value)->size() > 100)
                return bad_param_value(k);
            seen_envid = true;
            mf.envid = std::string(prm.value);
        } else if (k == "AUTH") {
            // RFC 4954 5: AUTH=<> or AUTH=xtext(mailbox); kept for a later submission hook.
            if (seen_auth || !prm.has_value || (prm.value != "<>" && !valid_xtext(prm.value)))
                return bad_param_value(k);
            seen_auth = true;
            mf.auth = std::string(prm.value);
        } else {
            return unknown_param(k);
        }
    }
    return mf;
}

parse_result<rcpt_to> parse_rcpt_to(std::string_view args) {
    std::string_view path_text, params;
    if (!split_path(args, "TO:", path_text, params)) return syntax_error(false);
    rcpt_to rt;
    // RFC 5321 4.1.1.3: "<Postmaster>" without a domain MUST be accepted.
    if (address::iequals_ascii(path_text, "<Postmaster>")) {
        rt.postmaster = true;
        rt.recipient.local = "Postmaster";
    } else {
        path p;
        if (!parse_path(path_text, p) || p.null) return bad_address(false);
        rt.recipient = std::move(p.mbox);
        rt.utf8_address = p.utf8;
    }
    bool seen_orcpt = false;
    while (!params.empty()) {
        param prm;
        if (!next_param(params, prm)) return make_reply(501, "5.5.4", "Malformed parameter");
        const std::string& k = prm.keyword;
        if (k == "NOTIFY") {
            // RFC 3461 4.1: "NEVER" alone, or a comma list of SUCCESS, FAILURE, DELAY.
            if (rt.notify != 0 || !prm.has_value) return bad_param_value(k);
            std::string_view v = prm.value;
            unsigned flags = 0;
            while (true) {
                auto comma = v.find(',');
                std::string item = upper_ascii(v.substr(0, comma));
                unsigned f = item == "NEVER"     ? notify::never
                             : item == "SUCCESS" ? notify::success
                             : item == "FAILURE" ? notify::failure
                             : item == "DELAY"   ? notify::delay
                                                 : 0;
                if (f == 0 || (flags & f)) return bad_param_value(k);
                flags |= f;
                if (comma == std::string_view::npos) break;
                v.remove_prefix(comma + 1);
            }
            if ((flags & notify::never) && flags != notify::never) return bad_param_value(k);
            rt.notify = flags;
        } else if (k == "ORCPT") {
            // RFC 3461 4.2: ORCPT=addr-type ";" xtext, at most 500 characters.
            if (seen_orcpt || !prm.has_value || prm.value.size() > 500) return bad_param_value(k);
            auto semi = prm.value.find(';');
            if (semi == std::string_view::npos || semi == 0) return bad_param_value(k);
            std::string_view type = prm.value.substr(0, semi);
            for (char c : type)
                if (!is_keyword_char(c)) return bad_param_value(k);
            std::string_view addr = prm.value.substr(semi + 1);
            if (addr.empty() || !valid_xtext(addr)) return bad_param_value(k);
            seen_orcpt = true;
            rt.orcpt_type = std::string(type);
            rt.orcpt = std::string(addr);
        } else {
            return unknown_param(k);
        }
    }
    return rt;
}

} // namespace splitmail::smtp
