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
// --aliases FILE (override the config).
//
// Guarantees: every change is checked by building the resulting database (no dangling alias
// targets, loops, duplicate users) before it is written; writes are locked and atomic
// (users/file_edit.hpp); comments and order of untouched lines are kept. splitmail-home
// notices the change on its own (mtime check). Exit 0 ok, 1 refused/failed, 2 usage.
#include <span>
#include <string>

namespace splitmail::provision {

// `args` are the words after "user" / "alias".
int run_user(std::span<const std::string> args);
int run_alias(std::span<const std::string> args);

} // namespace splitmail::provision
