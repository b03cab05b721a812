#pragma once
// A user database that follows its files: reload() on demand (SIGHUP) and refresh() before a
// batch of lookups, which re-reads the files only when one of them changed (a stat of each:
// mtime, size, inode, so an atomic rename by the CLI is seen even within one second).
//
// Guarantees: current() always returns a complete, valid database; a reload that fails keeps
// the previous one (the error is returned for the caller to log). Thread-safe: lookups on
// other threads keep the snapshot they hold while a reload swaps in a new one.
// Does not: log, or watch files with inotify (a stat per lookup batch is cheap enough).
#include "splitmail/users/database.hpp"

#include <chrono>
#include <expected>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace splitmail::users {

struct sources {
    std::filesystem::path users_file;
    std::filesystem::path aliases_file; // may be empty
    std::string delimiter = "+";
    std::vector<std::string> domains; // empty: every domain named in the files
};

class live_database {
public:
    explicit live_database(sources src);

    // Loads unconditionally. On failure the previous database (if any) stays current.
    std::expected<void, std::string> reload();
    // Reloads if a file changed since the last (attempted) load. Returns the error of a failed
    // reload, nullopt when nothing changed or the reload worked. `changed` tells which.
    std::optional<std::string> refresh(bool* changed = nullptr);

    // Null until a load succeeded.
    std::shared_ptr<const database> current() const;
    const sources& source() const { return src_; }

private:
    struct stamp {
        bool exists = false;
        std::int64_t mtime_ns = 0;
        std::uint64_t size = 0, inode = 0;
        friend bool operator==(const stamp&, const stamp&) = default;
    };
    static stamp stat_of(const std::filesystem::path& p);

    sources src_;
    mutable std::mutex mu_;
    std::shared_ptr<const database> db_;
    stamp users_stamp_, aliases_stamp_;
};

} // namespace splitmail::users
