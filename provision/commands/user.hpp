#pragma once
// `splitmail user ...` and `splitmail alias ...`: edit the users and aliases files of
// splitmail-home (formats in docs/internal/contracts.md).
//
//   splitmail user add ADDRESS      password from stdin when it is not a terminal, else asked
//   splitmail user passwd ADDRESS   twice without echo; never taken from the command line
//   splitmail user del ADDRESS
//   splitmail user list
//   splitmail alias add ALIAS TARGET...     (adds targets to an existing alias; "@dom" is a
//   splitmail alias del ALIAS [TARGET...]    catch-all)
//   splitmail alias list
// Options everywhere: --config FILE (home.toml: users.file, users.aliases, home.domains,
// maildir.recipient_delimiter; default /etc/splitmail/home.toml when it exists), --users FILE,
// --aliases FILE (override the config). With --users FILE and no --config, the home.toml next to
// FILE or /etc/splitmail/home.toml is used when its users.file is FILE; a write with no home
// configuration at all is refused (issue 16 bug 4: home.domains must be checked).
//
// Guarantees: every change is checked by building the resulting database (no dangling alias
// targets, loops, duplicate users) before it is written; writes are locked and atomic
// (users/file_edit.hpp); comments and order of untouched lines are kept. splitmail-home
// notices the change on its own (mtime check). Exit 0 ok, 1 refused/failed, 2 usage.
// Passwords shorter than users.min_password_length (home.toml, default 12) or otherwise trivial
// are refused (issue 11). The users file holds password hashes: an existing file readable or
// writable by others (or writable by its group) is narrowed to at most 0640 on the next edit,
// with a warning naming the old and new modes.
#include <span>
#include <string>
#include <string_view>

namespace splitmail::provision {

// Why `password` is too weak for `address` (local@domain), or "" when it is acceptable:
// fewer than `min_length` characters (UTF-8 code points), one character repeated, or the
// address or its local part itself (any case).
std::string weak_password_reason(std::string_view password, std::string_view address,
                                 std::size_t min_length);

// `args` are the words after "user" / "alias".
int run_user(std::span<const std::string> args);
int run_alias(std::span<const std::string> args);

} // namespace splitmail::provision
