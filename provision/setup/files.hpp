#pragma once
// Idempotent file and directory writing for `splitmail provision`: every file is compared with
// what would be written and the outcome is reported as one line per path:
//     created PATH                  absent before
//     unchanged PATH                same content, mode (and owner when owners are managed)
//     replaced PATH                 differed, and --force was given
//     renewed PATH (REASON)         a placeholder provision made and renews on its own
//     kept PATH (differs; --force to replace)
//     kept PATH (mode 0644, expected 0600; --force to change)
// Directories are reported with a trailing '/'. A file that is replaced (--force, a renewed
// placeholder, new tunnel keys) is first copied to PATH.bak-YYYYMMDDTHHMMSS (same mode), and
// the line names the copy: an admin's edit is never lost silently (issue 16 bug 3).
// In dry-run mode nothing is written: the same lines start with "would create", "would
// replace", "would renew", "would fix" (and "unchanged"/"kept" as usual).
//
// Guarantees: a file appears complete or not at all (temporary file in the same directory with
// O_EXCL, fchmod/fchown, fsync, rename, fsync of the directory); the mode is exactly the one
// asked for (umask does not apply); nothing that differs is changed without `force`; owners are
// only touched when an owner is given (run as root without --root).
// Does not: create users, decide modes, or generate content (setup/keys.hpp, setup/render.hpp).
#include <sys/types.h>

#include <expected>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace splitmail::provision::setup {

struct owner {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string name; // "splitmail:splitmail", for the report
};

enum class outcome { created, unchanged, replaced, kept };

class file_writer {
public:
    file_writer(std::ostream& out, bool force, bool dry_run = false)
        : out_(out), force_(force), dry_run_(dry_run) {}

    // `path` holds exactly `content` with `mode` (and `own` when given). Missing parent
    // directories are created with mode 0755 and not reported.
    std::expected<outcome, std::string> file(const std::filesystem::path& path,
                                             std::string_view content, mode_t mode,
                                             const std::optional<owner>& own = std::nullopt);
    // Like file(), but an existing file is never compared or replaced: a database other tools
    // edit (users, aliases). Its mode/owner are still checked.
    std::expected<outcome, std::string>
    initial_file(const std::filesystem::path& path, std::string_view content, mode_t mode,
                 const std::optional<owner>& own = std::nullopt);
    // `path` is a directory with `mode` (and `own`).
    std::expected<outcome, std::string> directory(const std::filesystem::path& path, mode_t mode,
                                                  const std::optional<owner>& own = std::nullopt);

    // Replaces `path` although --force was not given, for a file provision owns outright
    // (the self-signed placeholder it renews): "renewed PATH (REASON)".
    std::expected<outcome, std::string> replace_file(const std::filesystem::path& path,
                                                     std::string_view content, mode_t mode,
                                                     const std::optional<owner>& own,
                                                     std::string_view reason);
    // Reports `path` as kept for `reason` ("kept PATH (REASON)") and counts it as kept.
    void report_kept(const std::filesystem::path& path, std::string_view reason);

    // Number of paths created, replaced or whose mode/owner was changed.
    int changes() const { return changes_; }
    // Number of paths kept although they differ.
    int kept() const { return kept_; }
    bool force() const { return force_; }
    bool dry_run() const { return dry_run_; }

private:
    // Copies an existing `path` to PATH.bak-<UTC time> (O_EXCL, same mode); returns its name.
    std::expected<std::filesystem::path, std::string> backup(const std::filesystem::path& path);
    std::expected<outcome, std::string> write(const std::filesystem::path& path,
                                              std::string_view content, mode_t mode,
                                              const std::optional<owner>& own, bool compare);
    std::expected<outcome, std::string> fix_attributes(const std::filesystem::path& path,
                                                       mode_t mode, const std::optional<owner>& own,
                                                       bool dir);
    void line(std::string_view what, const std::filesystem::path& path, bool dir,
              std::string_view extra = {});

    std::ostream& out_;
    bool force_;
    bool dry_run_;
    int changes_ = 0;
    int kept_ = 0;
};

// The content of `path`, or nullopt when it does not exist; an error when it exists but cannot
// be read.
std::expected<std::optional<std::string>, std::string>
read_if_exists(const std::filesystem::path& path);

// "0640"
std::string mode_text(mode_t mode);

} // namespace splitmail::provision::setup
