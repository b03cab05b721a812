#pragma once
// Safe rewriting of the users and aliases files by the admin CLI.
//
// Guarantees: edits are serialised by an exclusive flock(2) on "FILE.lock" (the file itself is
// replaced by rename, so it cannot carry the lock); the new content is written to a temporary
// file in the same directory, fsync'd, renamed over FILE and the directory fsync'd, so a reader
// (splitmail-home reloading) sees either the old or the new file, never a partial one, and a
// crash leaves one of the two. The mode, owner and group of an existing file are kept (owner
// and group when the caller may set them, i.e. as root), except mode bits outside `allowed`,
// which are dropped; new files get `new_mode`.
// Does not: parse or validate the content (the caller's `change` does).
#include <expected>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace splitmail::users {

// `change` receives the current content ("" if FILE does not exist yet) and returns the new
// content or an error message, which is returned unchanged (FILE untouched).
using file_change = std::function<std::expected<std::string, std::string>(std::string_view)>;

std::expected<void, std::string> rewrite_file(const std::filesystem::path& file,
                                              const file_change& change, ::mode_t new_mode = 0600,
                                              ::mode_t allowed = 07777);

} // namespace splitmail::users
