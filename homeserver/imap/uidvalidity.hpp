#pragma once
// UIDVALIDITY allocation for the mailboxes of one user (RFC 3501 2.3.1.1, RFC 9051 2.3.1.1):
// a mailbox that is deleted and created again, or whose index is lost, must get a
// UIDVALIDITY strictly greater than any it had, or clients that cached UIDs would take
// different messages for the ones they know. The clock alone (the old rule) repeats a value
// when DELETE and CREATE fall in the same second (issue 15 item 10).
//
// The counter is the file `splitmail-uidvalidity` in the user's Maildir root: the last value
// handed out, in decimal, followed by "\n". next_uidvalidity() returns
// max(now, last + 1, Dovecot's last + 1) and has written it there durably (durable::
// replace_file: temp, fsync, rename, fsync dir) before returning, so even a crash right after
// cannot give the same value out twice. Dovecot's `dovecot-uidvalidity` (its own per-user
// counter, hexadecimal) is read when present, so a migrated user's next mailbox also lies
// above the values Dovecot gave out; it is never written.
//
// Guarantees: values are never 0 and strictly increase per root, across threads and processes
// (an exclusive flock on `splitmail-uidvalidity.lock` serialises the read-modify-write).
// Does not: run often (only when a mailbox gets a new index) or keep anything in memory.
#include <cstdint>
#include <ctime>
#include <expected>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>

namespace splitmail::home::imap {

// The value a counter file holds: a decimal number in 1..2^32-1, optionally followed by "\n";
// nullopt for anything else (such a file counts as absent: the clock still applies).
std::optional<std::uint32_t> parse_uidvalidity_counter(std::string_view text);
// Dovecot's dovecot-uidvalidity: hexadecimal, optionally followed by "\n".
std::optional<std::uint32_t> parse_dovecot_uidvalidity(std::string_view text);

// Allocates the next UIDVALIDITY for the user whose Maildir root is `root` (see above).
// `now` is the clock in seconds (injected for tests). Errors: the errno of the failing
// lock, read or write (ENOSPC ...), errc::value_too_large when the counter is exhausted.
std::expected<std::uint32_t, std::error_code> next_uidvalidity(const std::filesystem::path& root,
                                                               std::time_t now);

} // namespace splitmail::home::imap
