// Reloading holder of the user database; see users/live_database.hpp.
#include "splitmail/users/live_database.hpp"

#include <sys/stat.h>

namespace splitmail::users {

live_database::live_database(sources src) : src_(std::move(src)) {}

live_database::stamp live_database::stat_of(const std::filesystem::path& p) {
    stamp s;
    if (p.empty()) return s;
    struct ::stat st {};
    if (::stat(p.c_str(), &st) != 0) return s;
    s.exists = true;
    s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    s.size = static_cast<std::uint64_t>(st.st_size);
    s.inode = static_cast<std::uint64_t>(st.st_ino);
    return s;
}

std::expected<void, std::string> live_database::reload() {
    // Stamps are taken before reading: a change during the read is seen by the next refresh.
    auto us = stat_of(src_.users_file);
    auto as = stat_of(src_.aliases_file);
    auto db = database::load(src_.users_file, src_.aliases_file, src_.delimiter, src_.domains);
    std::lock_guard lock(mu_);
    users_stamp_ = us;
    aliases_stamp_ = as;
    if (!db) return std::unexpected(db.error());
    db_ = std::make_shared<const database>(std::move(*db));
    return {};
}

std::optional<std::string> live_database::refresh(bool* changed) {
    if (changed) *changed = false;
    auto us = stat_of(src_.users_file);
    auto as = stat_of(src_.aliases_file);
    {
        std::lock_guard lock(mu_);
        if (us == users_stamp_ && as == aliases_stamp_) return std::nullopt;
    }
    if (changed) *changed = true;
    auto r = reload();
    if (!r) return r.error();
    return std::nullopt;
}

std::shared_ptr<const database> live_database::current() const {
    std::lock_guard lock(mu_);
    return db_;
}

} // namespace splitmail::users
