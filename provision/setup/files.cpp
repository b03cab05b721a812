// Idempotent file writing for `splitmail provision`; see files.hpp.
#include "setup/files.hpp"

#include "splitmail/durable/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace splitmail::provision::setup {

namespace fs = std::filesystem;

namespace {

std::string errno_text(const fs::path& p, int e) { return p.string() + ": " + std::strerror(e); }

// `path` holds `content` with `mode` and `own`, durably (durable/file.hpp).
std::optional<std::string> atomic_write(const fs::path& path, std::string_view content,
                                        mode_t mode, const std::optional<owner>& own) {
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
    out_ << what << ' ' << path.string() << (dir ? "/" : "");
    if (!extra.empty()) out_ << ' ' << extra;
    out_ << '\n';
}

std::expected<outcome, std::string> file_writer::replace_file(const fs::path& path,
                                                              std::string_view content,
                                                              mode_t mode,
                                                              const std::optional<owner>& own,
                                                              std::string_view reason) {
    if (auto e = make_parents(path)) return std::unexpected(*e);
    if (auto e = atomic_write(path, content, mode, own)) return std::unexpected(*e);
    line("renewed", path, false, "(" + std::string(reason) + ")");
    ++changes_;
    return outcome::replaced;
}

void file_writer::report_kept(const fs::path& path, std::string_view reason) {
    line("kept", path, false, "(" + std::string(reason) + ")");
    ++kept_;
}

std::expected<outcome, std::string> file_writer::fix_attributes(const fs::path& path, mode_t mode,
                                                                const std::optional<owner>& own,
                                                                bool dir) {
    struct stat st{};
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
    // Owners are only managed when running as root for the real system: setting them is
    // part of making the installation work, not a replacement of anything the admin made.
    if (!owner_ok && ::chown(path.c_str(), own->uid, own->gid) != 0)
        return std::unexpected(errno_text(path, errno));
    if (!mode_ok && ::chmod(path.c_str(), mode) != 0)
        return std::unexpected(errno_text(path, errno));
    std::string what;
    if (!mode_ok) what = "mode " + mode_text(mode);
    if (!owner_ok) what += std::string(what.empty() ? "" : ", ") + "owner " + own->name;
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
    if (auto e = atomic_write(path, content, mode, own)) return std::unexpected(*e);
    line("replaced", path, false);
    ++changes_;
    return outcome::replaced;
}

std::expected<outcome, std::string> file_writer::file(const fs::path& path,
                                                      std::string_view content, mode_t mode,
                                                      const std::optional<owner>& own) {
    return write(path, content, mode, own, true);
}

std::expected<outcome, std::string> file_writer::initial_file(const fs::path& path,
                                                              std::string_view content,
                                                              mode_t mode,
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
