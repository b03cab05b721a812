// RFC 5322 address lists for ENVELOPE and SEARCH (imap/address.hpp).
#include "imap/address.hpp"

#include <gtest/gtest.h>

namespace splitmail::home::imap::address {
namespace {

std::string show(std::string_view v) {
    std::string out;
    for (const auto& a : parse_list(v)) {
        if (a.k == entry::kind::group_start)
            out += "[" + a.name + ":";
        else if (a.k == entry::kind::group_end)
            out += "]";
        else
            out += "(" + a.name + "|" + a.route + "|" + a.mailbox + "|" + a.host + ")";
    }
    return out;
}

TEST(ImapAddress, Forms) {
    const std::pair<const char*, const char*> cases[] = {
        {"a@b.org", "(||a|b.org)"},
        {"John Q. Public <jqp@x.org>", "(John Q. Public||jqp|x.org)"},
        {"\"B, C\" <b@c.test>, d@e", "(B, C||b|c.test)(||d|e)"},
        {"<user-from (comment)@ (comment) domain.org>", "(||user-from|domain.org)"},
        {"user (c) @ (c) host . org (Name)", "(Name||user|host.org)"},
        {"\"john doe\"@x.org", "(||john doe|x.org)"},
        {"u@[1.2.3.4]", "(||u|[1.2.3.4])"},
        {"g:;", "[g:]"},
        {"g: a@b", "[g:(||a|b)]"},
        {"g: a@b;, h: c@d, e@f;", "[g:(||a|b)][h:(||c|d)(||e|f)]"},
        {"<@r1,@r2:u@h>", "(|@r1,@r2|u|h)"},
        {"undisclosed", "(||undisclosed|)"},
        {"", ""},
        {"(only a comment)", ""},
        {"\"unterminated", "(||unterminated|)"},
        {"a <b@c", "(a||b|c)"},
        {"((nested) comment) x@y", "((nested) comment||x|y)"},
    };
    for (auto [in, want] : cases) EXPECT_EQ(show(in), want) << in;
}

TEST(ImapAddress, SearchText) {
    EXPECT_EQ(search_text(parse_list("A <a@x>, g: b@y;, c@z (C)")), "A <a@x>, g:, b@y, C <c@z>");
}

} // namespace
} // namespace splitmail::home::imap::address
