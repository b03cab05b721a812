#pragma once
// ASCII white space (space, tab, CR, LF) off both ends of a text: config lines, tokens read
// from files or a terminal, command output. The one copy; RFC 5322 folding and comments are
// not this (the IMAP header code has its own rules).
#include <string_view>

namespace splitmail::text {

constexpr std::string_view trim(std::string_view s) {
    constexpr std::string_view ws = " \t\r\n";
    const auto b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

static_assert(trim(" \t a b\r\n") == "a b");
static_assert(trim(" \r\n").empty());

} // namespace splitmail::text
