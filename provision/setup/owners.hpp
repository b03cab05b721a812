#pragma once
// The owners of what `splitmail provision` writes: the system users `splitmail` (and
// `splitmail-ddns` on home), made with `useradd --system` when missing, and the user:group
// pairs the files and directories get (setup/files.hpp applies them).
//
// Guarantees: owners are managed only for the real system (no --root) and only as root; under
// --root no user is made and every owner is empty (the output says so once); without root
// for the real system the answer is an error that says to run as root or give --root. A dry
// run makes no user ("would create user NAME") and compares owners only where users exist.
// Each user made or found is reported on one line ("created user N", "unchanged user N").
// Does not: change an existing user or group, or decide which file gets which owner.
#include "setup/files.hpp"

#include <expected>
#include <optional>
#include <ostream>
#include <string>

namespace splitmail::provision::setup {

struct owners {
    std::optional<owner> service;      // splitmail:splitmail (spool, Maildir, DKIM keys)
    std::optional<owner> root_service; // root:splitmail (TLS keys, users files: read-only)
    std::optional<owner> root;         // root:root
    std::optional<owner> ddns;         // splitmail-ddns:splitmail-ddns
};

// `under_root`: --root DIR was given (a staging tree). `with_ddns`: home also runs
// splitmail-ddns under its own user.
std::expected<owners, std::string> prepare_owners(bool under_root, bool dry_run, bool with_ddns,
                                                  std::ostream& out);

} // namespace splitmail::provision::setup
