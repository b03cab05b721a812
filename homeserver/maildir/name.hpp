#pragma once
// Maildir file names (cr.yp.to/proto/maildir.html, "The Maildir format", and Dovecot's
// extension ",S=<size>"): "<sec>.M<usec>P<pid>Q<counter>.<host>,S=<size>".
//
// Guarantees: make/parse are pure and inverse for what make produces; the host part is
// escaped as the spec asks ('/' -> "\057", ':' -> "\072") so a name never contains a path
// separator or the info separator ':'. Uniqueness comes from the caller's inputs: one process
// (pid) never reuses (second, microsecond, counter).
// Does not: touch the file system, or parse flags after ":2," (kept verbatim in `info`).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace splitmail::home::maildir {

struct unique_name {
    std::int64_t sec = 0;
    std::int64_t usec = 0;
    std::int64_t pid = 0;
    std::uint64_t counter = 0;
    std::string host;                  // escaped form
    std::optional<std::uint64_t> size; // ",S=" (file size, Dovecot extension)
    std::string info;                  // after ':' ("2,S" ...), "" in new/
    friend bool operator==(const unique_name&, const unique_name&) = default;
};

std::string escape_host(std::string_view host);
std::string make_name(const unique_name& n);
// Parses names this module makes (and the same with ":2,FLAGS" or extra ",X=" fields).
std::optional<unique_name> parse_name(std::string_view name);
// ",S=<n>" of any Maildir name (ours, Dovecot's), before the ':' info part.
std::optional<std::uint64_t> size_from_name(std::string_view name);

} // namespace splitmail::home::maildir
