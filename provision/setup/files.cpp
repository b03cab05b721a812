// Idempotent file writing for `splitmail provision`; see files.hpp.
#include "setup/files.hpp"

#include "splitmail/durable/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace splitmail::provision::setup {

namespace fs = std::filesystem;

namespace {

std::string errno_text(const fs::path& p, int e) { return p.string() + ": " + std::strerror(e); }

// `path` holds `content` with `mode` and `own`, durably (durable/file.hpp).
std::optional<std::string> atomic_write(const fs::path& path, std::string_view content, mode_t mode,
                                        const std::optional<owner>& own) {
    durable::replace_options opt;
    opt.mode = mode;
    if (own) opt.owner.emplace(own->uid, own->gid);
    auto r = durable::replace_file(path, content, opt);
    if (!r) return r.error().text();
    return std::nullopt;
}

std::optional<std::string> make_parents(const fs::path& path) {
    std::error_code ec;
    const fs::path parent = path.parent_path();
    if (parent.empty() || fs::is_directory(parent, ec)) return std::nullopt;
    // Parents get 0755 regardless of the umask: they are ordinary system directories.
    fs::path at;
    for (const auto& part : parent) {
        at /= part;
        if (fs::is_directory(at, ec)) continue;
        if (::mkdir(at.c_str(), 0755) != 0 && errno != EEXIST) return errno_text(at, errno);
        ::chmod(at.c_str(), 0755);
    }
    return std::nullopt;
}

} // namespace

std::string mode_text(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

std::expected<std::optional<std::string>, std::string> read_if_exists(const fs::path& path) {
    // Everything provision reads back is a small text file it wrote.
    auto r = durable::read_file_if_exists(path, {16u << 20});
    if (!r) return std::unexpected(r.error().text());
    return std::move(*r);
}

void file_writer::line(std::string_view what, const fs::path& path, bool dir,
                       std::string_view extra) {
    if (dry_run_) {
        if (what == "created")
            what = "would create";
        else if (what == "replaced")
            what = "would replace";
        else if (what == "renewed")
            what = "would renew";
        else if (what == "fixed")
            what = "would fix";
    }
    out_ << what << ' ' << path.string() << (dir ? "/" : "");
    if (!extra.empty()) out_ << ' ' << extra;
    out_ << '\n';
}

std::expected<outcome, std::string> file_writer::replace_file(const fs::path& path,
                                                              std::string_view content, mode_t mode,
                                                              const std::optional<owner>& own,
                                                              std::string_view reason) {
    ++changes_;
    if (dry_run_) {
        line("renewed", path, false, "(" + std::string(reason) + ")");
        return outcome::replaced;
    }
    if (auto e = make_parents(path)) return std::unexpected(*e);
    std::string kept_copy;
    {
        std::error_code ec;
        if (fs::exists(path, ec)) {
            auto b = backup(path);
            if (!b) return std::unexpected(b.error());
            kept_copy = "; previous copy " + b->string();
        }
    }
    if (auto e = atomic_write(path, content, mode, own)) return std::unexpected(*e);
    line("renewed", path, false, "(" + std::string(reason) + kept_copy + ")");
    return outcome::replaced;
}

std::expected<fs::path, std::string> file_writer::backup(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::unexpected(errno_text(path, errno));
    auto text = read_if_exists(path);
    if (!text) return std::unexpected(text.error());
    if (!*text) return std::unexpected(path.string() + ": vanished while being backed up");
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
    // Two replacements in the same second (never in practice) get a counter.
    for (int n = 0; n < 100; ++n) {
        fs::path b = path.string() + ".bak-" + stamp + (n == 0 ? "" : "-" + std::to_string(n));
        std::error_code ec;
        if (fs::exists(b, ec)) continue;
        durable::replace_options opt;
        opt.mode = st.st_mode & 07777;
        opt.owner.emplace(st.st_uid, st.st_gid);
        opt.owner_best_effort = true;
        auto r = durable::replace_file(b, **text, opt);
        if (!r) return std::unexpected("backup of " + path.string() + ": " + r.error().text());
        return b;
    }
    return std::unexpected(path.string() + ": too many backups made this second");
}

void file_writer::report_kept(const fs::path& path, std::string_view reason) {
    line("kept", path, false, "(" + std::string(reason) + ")");
    ++kept_;
}

std::expected<outcome, std::string> file_writer::fix_attributes(const fs::path& path, mode_t mode,
                                                                const std::optional<owner>& own,
                                                                bool dir) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::unexpected(errno_text(path, errno));
    const bool mode_ok = (st.st_mode & 07777) == mode;
    const bool owner_ok = !own || (st.st_uid == own->uid && st.st_gid == own->gid);
    if (mode_ok && owner_ok) {
        line("unchanged", path, dir);
        return outcome::unchanged;
    }
    if (!mode_ok && !force_) {
        line("kept", path, dir,
             "(mode " + mode_text(st.st_mode) + ", expected " + mode_text(mode) +
                 "; --force to change)");
        ++kept_;
        return outcome::kept;
    }
    std::string what;
    if (!mode_ok) what = "mode " + mode_text(mode);
    if (!owner_ok) what += std::string(what.empty() ? "" : ", ") + "owner " + own->name;
    if (dry_run_) {
        line("fixed", path, dir, "(" + what + ")");
        ++changes_;
        return outcome::replaced;
    }
    // Owners are only managed when running as root for the real system: setting them is
    // part of making the installation work, not a replacement of anything the admin made.
    if (!owner_ok && ::chown(path.c_str(), own->uid, own->gid) != 0)
        return std::unexpected(errno_text(path, errno));
    if (!mode_ok && ::chmod(path.c_str(), mode) != 0)
        return std::unexpected(errno_text(path, errno));
    line("fixed", path, dir, "(" + what + ")");
    ++changes_;
    return outcome::replaced;
}

std::expected<outcome, std::string> file_writer::write(const fs::path& path,
                                                       std::string_view content, mode_t mode,
                                                       const std::optional<owner>& own,
                                                       bool compare) {
    std::error_code ec;
    const auto st = fs::symlink_status(path, ec);
    if (st.type() == fs::file_type::directory)
        return std::unexpected(path.string() + ": is a directory; move it away and run again");
    auto existing = read_if_exists(path);
    if (!existing) return std::unexpected(existing.error());
    if (!*existing) {
        if (dry_run_) {
            line("created", path, false);
            ++changes_;
            return outcome::created;
        }
        if (auto e = make_parents(path)) return std::unexpected(*e);
        if (auto e = atomic_write(path, content, mode, own)) return std::unexpected(*e);
        line("created", path, false);
        ++changes_;
        return outcome::created;
    }
    if (!compare || **existing == content) return fix_attributes(path, mode, own, false);
    if (!force_) {
        line("kept", path, false, "(differs; --force to replace)");
        ++kept_;
        return outcome::kept;
    }
    ++changes_;
    if (dry_run_) {
        line("replaced", path, false, "(a copy of the old one would be kept)");
        return outcome::replaced;
    }
    // --force: the old content may hold the admin's edits; keep a copy (issue 16 bug 3).
    auto b = backup(path);
    if (!b) return std::unexpected(b.error());
    if (auto e = atomic_write(path, content, mode, own)) return std::unexpected(*e);
    line("replaced", path, false, "(previous copy " + b->string() + ")");
    return outcome::replaced;
}

std::expected<outcome, std::string> file_writer::file(const fs::path& path,
                                                      std::string_view content, mode_t mode,
                                                      const std::optional<owner>& own) {
    return write(path, content, mode, own, true);
}

std::expected<outcome, std::string> file_writer::initial_file(const fs::path& path,
                                                              std::string_view content, mode_t mode,
                                                              const std::optional<owner>& own) {
    return write(path, content, mode, own, false);
}

std::expected<outcome, std::string> file_writer::directory(const fs::path& path, mode_t mode,
                                                           const std::optional<owner>& own) {
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (st.type() == fs::file_type::directory) return fix_attributes(path, mode, own, true);
    if (st.type() != fs::file_type::not_found)
        return std::unexpected(path.string() + ": exists and is not a directory; move it away "
                                               "and run again");
    if (dry_run_) {
        line("created", path, true);
        ++changes_;
        return outcome::created;
    }
    if (auto e = make_parents(path)) return std::unexpected(*e);
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
        return std::unexpected(errno_text(path, errno));
    if (::chmod(path.c_str(), mode) != 0) return std::unexpected(errno_text(path, errno));
    if (own && ::chown(path.c_str(), own->uid, own->gid) != 0)
        return std::unexpected(errno_text(path, errno));
    line("created", path, true);
    ++changes_;
    return outcome::created;
}

} // namespace splitmail::provision::setup
