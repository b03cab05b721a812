// The relay's spool: see spool.hpp for layout and guarantees.
#include "splitmail/queue/spool.hpp"

#include "splitmail/queue/id.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <future>
#include <map>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace splitmail::queue {

namespace fs = std::filesystem;

namespace {

// Modes of msg/<id> (spool.hpp): written (the committer creates it 0600), queued, finished.
constexpr mode_t mode_queued = 0700;
constexpr mode_t mode_finished = 0500;

constexpr queue_name all_queues[] = {queue_name::incoming, queue_name::deferred, queue_name::hold};
constexpr const char* all_dirs[] = {"tmp",  "msg",     "incoming", "deferred",
                                    "hold", "corrupt", "deleted"};

std::error_code errno_code(int e) { return {e, std::generic_category()}; }

std::error_code make_dir(const fs::path& p) {
    if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) return errno_code(errno);
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return errno_code(errno);
    if (!S_ISDIR(st.st_mode)) return errno_code(ENOTDIR);
    return {};
}

std::error_code fsync_dir(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_code(errno);
    std::error_code ec;
    if (::fsync(fd) != 0) ec = errno_code(errno);
    ::close(fd);
    return ec;
}

std::expected<std::string, std::error_code> read_file(const fs::path& p) {
    int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno_code(errno));
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            return std::unexpected(errno_code(e));
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

int rename_noreplace(const fs::path& from, const fs::path& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return errno;
    if (::link(from.c_str(), to.c_str()) != 0) return errno;
    ::unlink(from.c_str());
    return 0;
}

// "<id>.json" -> id, or "" if the name is not an envelope name.
std::string envelope_id(const std::string& name) {
    constexpr std::string_view ext = ".json";
    if (name.size() <= ext.size() || !name.ends_with(ext)) return "";
    std::string id = name.substr(0, name.size() - ext.size());
    return is_valid_id(id) ? id : "";
}

} // namespace

bool is_disk_full(std::error_code ec) {
    return ec == std::errc::no_space_on_device ||
           (ec.category() == std::generic_category() && ec.value() == EDQUOT) ||
           (ec.category() == std::system_category() && ec.value() == EDQUOT);
}

std::expected<spool, std::error_code> spool::open(const fs::path& root,
                                                  durable::committer& committer, bool create) {
    if (create) {
        std::error_code ec;
        if (root.has_parent_path()) fs::create_directories(root.parent_path(), ec);
        if (ec) return std::unexpected(ec);
        if (auto e = make_dir(root)) return std::unexpected(e); // 0700 when we create it
        for (const char* d : all_dirs)
            if (auto e = make_dir(root / d)) return std::unexpected(e);
        // The directories themselves must survive a crash before anything is queued in them.
        if (auto e = fsync_dir(root)) return std::unexpected(e);
    } else {
        for (const char* d : all_dirs) {
            struct stat st {};
            if (::stat((root / d).c_str(), &st) != 0) return std::unexpected(errno_code(errno));
            if (!S_ISDIR(st.st_mode)) return std::unexpected(errno_code(ENOTDIR));
        }
    }
    return spool(root, committer);
}

fs::path spool::message_path(const std::string& id) const { return root_ / "msg" / id; }

fs::path spool::envelope_path(const std::string& id, queue_name q) const {
    return root_ / std::string(to_string(q)) / (id + ".json");
}

void spool::enqueue(envelope env, std::string prefix, std::string body, completion done) {
    if (!is_valid_id(env.id)) {
        // Through the committer anyway, so `done` always runs on a committer thread.
        c_->submit({}, [done = std::move(done)](std::error_code) { done(errno_code(EINVAL)); });
        return;
    }
    env.size = prefix.size() + body.size();
    env.prefix.clear(); // the prefix goes into the file here
    durable::request r;
    r.tmp_dir = root_ / "tmp";
    // Order matters: the message is durable before its envelope exists (see spool.hpp).
    // The message is written in place: nobody reads msg/<id> before its envelope appears, and
    // it saves a journal commit per message (bench/fsync/README.md).
    r.files.push_back(
        {message_path(env.id), {std::move(prefix), std::move(body)}, false, /*in_place=*/true, {}});
    r.files.push_back({envelope_path(env.id, env.queue), {to_json(env)}, false, false, {}});
    // Once the envelope is durable the message counts as queued: mark it (see spool.hpp).
    c_->submit(std::move(r),
               [msg = message_path(env.id), done = std::move(done)](std::error_code ec) {
                   if (!ec) ::chmod(msg.c_str(), mode_queued);
                   done(ec);
               });
}

std::expected<durable::temp_file, std::error_code> spool::create_message() const {
    return durable::temp_file::create(root_ / "tmp");
}

void spool::enqueue_file(envelope env, std::string prefix, durable::temp_file message,
                         completion done) {
    if (!is_valid_id(env.id)) {
        c_->submit({}, [done = std::move(done)](std::error_code) { done(errno_code(EINVAL)); });
        return;
    }
    env.file_skip = std::min<std::uint64_t>(env.file_skip, message.size());
    env.size = prefix.size() + message.size() - env.file_skip;
    env.prefix = std::move(prefix);
    durable::request r;
    r.tmp_dir = root_ / "tmp";
    // As enqueue(): the message (complete, adopted from tmp/) is durable before its envelope.
    durable::file m;
    m.path = message_path(env.id);
    m.adopt = std::make_shared<durable::temp_file>(std::move(message));
    r.files.push_back(std::move(m));
    r.files.push_back({envelope_path(env.id, env.queue), {to_json(env)}, false, false, {}});
    c_->submit(std::move(r),
               [msg = message_path(env.id), done = std::move(done)](std::error_code ec) {
                   if (!ec) ::chmod(msg.c_str(), mode_queued);
                   done(ec);
               });
}

void spool::update(const envelope& env, completion done) {
    const fs::path target = envelope_path(env.id, env.queue);
    // Do not resurrect an envelope the administrator deleted meanwhile. (A delete that lands
    // between this check and the rename is lost; the window is one write + fsync.)
    if (!is_valid_id(env.id) || ::access(target.c_str(), F_OK) != 0) {
        int e = is_valid_id(env.id) ? errno : EINVAL;
        c_->submit({}, [e, done = std::move(done)](std::error_code) { done(errno_code(e)); });
        return;
    }
    durable::request r;
    r.tmp_dir = root_ / "tmp";
    r.files.push_back({target, {to_json(env)}, true, false, {}});
    c_->submit(std::move(r), std::move(done));
}

std::error_code spool::update_sync(const envelope& env) {
    std::promise<std::error_code> p;
    auto f = p.get_future();
    update(env, [&p](std::error_code ec) { p.set_value(ec); });
    return f.get();
}

std::error_code spool::move(const std::string& id, queue_name from, queue_name to) {
    if (!is_valid_id(id)) return errno_code(EINVAL);
    if (from == to) return {};
    if (int e = rename_noreplace(envelope_path(id, from), envelope_path(id, to)))
        return errno_code(e);
    if (auto ec = fsync_dir(root_ / std::string(to_string(to)))) return ec;
    return fsync_dir(root_ / std::string(to_string(from)));
}

void spool::remove(const envelope& env, completion done) {
    durable::request r;
    if (is_valid_id(env.id)) {
        // Before the envelope goes: a crash between the two unlinks leaves a message that
        // recover() can tell apart from one still owed.
        ::chmod(message_path(env.id).c_str(), mode_finished);
        r.unlinks.push_back(envelope_path(env.id, env.queue));
        r.unlinks.push_back(message_path(env.id));
    }
    c_->submit(std::move(r), [ok = is_valid_id(env.id), done = std::move(done)](
                                 std::error_code ec) { done(ok ? ec : errno_code(EINVAL)); });
}

std::error_code spool::remove_sync(const envelope& env) {
    std::promise<std::error_code> p;
    auto f = p.get_future();
    remove(env, [&p](std::error_code ec) { p.set_value(ec); });
    return f.get();
}

std::expected<recovery_report, std::error_code> spool::recover(std::chrono::seconds orphan_age) {
    recovery_report rep;
    const fs::path corrupt = root_ / "corrupt";
    std::set<std::string> touched_dirs;

    // Moves root_/rel into corrupt/, never over an existing file there.
    auto to_corrupt = [&](const fs::path& rel, const std::string& reason) -> std::error_code {
        const std::string name = rel.filename().string();
        fs::path target = corrupt / name;
        for (int n = 1; ::access(target.c_str(), F_OK) == 0; ++n)
            target = corrupt / (name + "." + std::to_string(n));
        if (::rename((root_ / rel).c_str(), target.c_str()) != 0) return errno_code(errno);
        touched_dirs.insert(rel.parent_path().string());
        rep.moved_to_corrupt.push_back(rel.string());
        rep.problems.push_back(rel.string() + ": " + reason + " (moved to " +
                               fs::relative(target, root_).string() + ")");
        return {};
    };

    // 1. tmp/ holds only unfinished commits: nothing in it was ever acknowledged.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root_ / "tmp", ec)) {
        if (::unlink(e.path().c_str()) == 0) ++rep.tmp_removed;
    }
    if (ec) return std::unexpected(ec);

    // 2. Envelopes. A duplicate id (only possible by hand-copying) keeps the first of
    //    hold, deferred, incoming: the later stages of a message's life.
    std::map<std::string, envelope> kept;
    for (queue_name q : {queue_name::hold, queue_name::deferred, queue_name::incoming}) {
        const std::string qdir(to_string(q));
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(root_ / qdir, ec))
            names.push_back(e.path().filename().string());
        if (ec) return std::unexpected(ec);
        std::sort(names.begin(), names.end());
        for (const auto& name : names) {
            const fs::path rel = fs::path(qdir) / name;
            const std::string id = envelope_id(name);
            std::string reason;
            std::expected<envelope, std::string> env = std::unexpected("");
            if (id.empty()) {
                reason = "not an envelope file name";
            } else if (auto text = read_file(root_ / rel); !text) {
                reason = "unreadable: " + text.error().message();
            } else if (env = from_json(*text); !env) {
                reason = "unparsable envelope: " + env.error();
            } else if (env->id != id) {
                reason = "envelope id " + env->id + " does not match the file name";
            } else if (kept.contains(id)) {
                reason = "duplicate of " + std::string(to_string(kept[id].queue)) + "/" + name;
            } else if (::access(message_path(id).c_str(), F_OK) != 0) {
                reason = "message file msg/" + id + " is missing";
            }
            if (reason.empty()) {
                env->queue = q;
                kept.emplace(id, std::move(*env));
                continue;
            }
            if (auto e = to_corrupt(rel, reason)) return std::unexpected(e);
            // The message of an unreadable envelope goes along, so the two stay together.
            if (!id.empty() && !kept.contains(id) && ::access(message_path(id).c_str(), F_OK) == 0)
                if (auto e = to_corrupt(fs::path("msg") / id,
                                        "its envelope " + rel.string() + " was moved to corrupt/"))
                    return std::unexpected(e);
        }
    }

    // 3. Message files without an envelope. Their mode tells why (spool.hpp): a commit that
    //    crashed before its envelope appeared (never acknowledged), a removal cut short after
    //    the envelope went (delivered), a `queue delete` cut short: none is owed, so they go.
    //    An orphan that was queued and never finished (an envelope lost by hand or by the
    //    file system) is kept in corrupt/ for the administrator.
    const auto now = fs::file_time_type::clock::now();
    std::vector<std::string> msgs;
    for (const auto& e : fs::directory_iterator(root_ / "msg", ec))
        msgs.push_back(e.path().filename().string());
    if (ec) return std::unexpected(ec);
    bool msg_dir_changed = false;
    for (const auto& name : msgs) {
        if (kept.contains(name)) continue;
        const fs::path path = root_ / "msg" / name;
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0) continue; // vanished meanwhile
        std::error_code tec;
        auto mtime = fs::last_write_time(path, tec);
        if (tec) continue;
        if (now - mtime < orphan_age) continue;
        const fs::path rel = fs::path("msg") / name;
        const mode_t mode = st.st_mode & 07777;
        std::string why;
        if (S_ISREG(st.st_mode) && is_valid_id(name) &&
            ::access((root_ / "deleted" / (name + ".json")).c_str(), F_OK) == 0) {
            // `splitmail queue delete` moved the envelope and died before the message.
            if (rename_noreplace(path, root_ / "deleted" / name) == 0) {
                touched_dirs.insert("deleted");
                msg_dir_changed = true;
                rep.leftovers.push_back(rel.string() +
                                        ": its envelope was deleted by the administrator; "
                                        "moved to deleted/");
                continue;
            }
        } else if (S_ISREG(st.st_mode) && is_valid_id(name) && (mode & S_IXUSR) == 0) {
            why = "enqueue cut short before its envelope existed (never acknowledged)";
        } else if (S_ISREG(st.st_mode) && is_valid_id(name) && mode == mode_finished) {
            why = "delivered; removal cut short";
        }
        if (!why.empty()) {
            if (::unlink(path.c_str()) != 0) return std::unexpected(errno_code(errno));
            msg_dir_changed = true;
            rep.leftovers.push_back(rel.string() + ": " + why + "; removed");
            continue;
        }
        if (auto e = to_corrupt(rel, "queued message without an envelope"))
            return std::unexpected(e);
    }
    if (msg_dir_changed) touched_dirs.insert("msg");

    if (!rep.moved_to_corrupt.empty() || msg_dir_changed) {
        if (auto e = fsync_dir(corrupt)) return std::unexpected(e);
        for (const auto& d : touched_dirs)
            if (auto e = fsync_dir(root_ / d)) return std::unexpected(e);
    }
    for (auto& [id, env] : kept) rep.envelopes.push_back(std::move(env)); // map: sorted by id
    return rep;
}

listing spool::list() const {
    listing out;
    for (queue_name q : all_queues) {
        const std::string qdir(to_string(q));
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(root_ / qdir, ec)) {
            const std::string name = e.path().filename().string();
            if (envelope_id(name).empty()) continue;
            auto text = read_file(e.path());
            if (!text) {
                out.errors.push_back(qdir + "/" + name + ": " + text.error().message());
                continue;
            }
            auto env = from_json(*text);
            if (!env) {
                out.errors.push_back(qdir + "/" + name + ": " + env.error());
                continue;
            }
            env->queue = q;
            out.envelopes.push_back(std::move(*env));
        }
        if (ec) out.errors.push_back(qdir + "/: " + ec.message());
    }
    std::sort(out.envelopes.begin(), out.envelopes.end(),
              [](const envelope& a, const envelope& b) { return a.id < b.id; });
    return out;
}

std::expected<envelope, std::error_code> spool::load(const std::string& id) const {
    if (!is_valid_id(id)) return std::unexpected(errno_code(EINVAL));
    for (queue_name q : all_queues) {
        auto text = read_file(envelope_path(id, q));
        if (!text) {
            if (text.error().value() == ENOENT) continue;
            return std::unexpected(text.error());
        }
        auto env = from_json(*text);
        if (!env) return std::unexpected(errno_code(EBADMSG));
        env->queue = q;
        return *env;
    }
    return std::unexpected(errno_code(ENOENT));
}

std::expected<std::string, std::error_code> spool::read_message(const std::string& id) const {
    if (!is_valid_id(id)) return std::unexpected(errno_code(EINVAL));
    // A streamed message keeps its prefix in the envelope (enqueue_file); without an envelope
    // (an orphan the CLI looks at) the file alone is what there is.
    std::string prefix;
    std::uint64_t skip = 0;
    if (auto env = load(id)) {
        prefix = std::move(env->prefix);
        skip = env->file_skip;
    } else if (env.error() != std::errc::no_such_file_or_directory)
        return std::unexpected(env.error());
    auto body = read_file(message_path(id));
    if (!body || (prefix.empty() && skip == 0)) return body;
    prefix += std::string_view(*body).substr(std::min<std::uint64_t>(skip, body->size()));
    return prefix;
}

std::expected<spool::stored_message, std::error_code>
spool::open_message(const std::string& id) const {
    if (!is_valid_id(id)) return std::unexpected(errno_code(EINVAL));
    stored_message m;
    std::uint64_t skip = 0;
    if (auto env = load(id)) {
        m.prefix = std::move(env->prefix);
        skip = env->file_skip;
    } else if (env.error() != std::errc::no_such_file_or_directory)
        return std::unexpected(env.error());
    m.fd = durable::unique_fd(::open(message_path(id).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!m.fd) return std::unexpected(errno_code(errno));
    struct stat st {};
    if (::fstat(m.fd.get(), &st) != 0) return std::unexpected(errno_code(errno));
    m.file_size = static_cast<std::uint64_t>(st.st_size);
    m.file_offset = std::min(skip, m.file_size);
    return m;
}

std::expected<queue_name, std::error_code> spool::remove_to_deleted(const std::string& id) {
    if (!is_valid_id(id)) return std::unexpected(errno_code(EINVAL));
    const fs::path deleted = root_ / "deleted";
    for (queue_name q : all_queues) {
        int e = rename_noreplace(envelope_path(id, q), deleted / (id + ".json"));
        if (e == ENOENT) continue;
        if (e != 0) return std::unexpected(errno_code(e));
        // The envelope is gone from the queue: a running relay will not pick it up again.
        // The message follows; if it is already gone, there is nothing more to move.
        int m = rename_noreplace(message_path(id), deleted / id);
        if (m != 0 && m != ENOENT) return std::unexpected(errno_code(m));
        if (auto ec = fsync_dir(deleted)) return std::unexpected(ec);
        if (auto ec = fsync_dir(root_ / std::string(to_string(q)))) return std::unexpected(ec);
        if (auto ec = fsync_dir(root_ / "msg")) return std::unexpected(ec);
        return q;
    }
    return std::unexpected(errno_code(ENOENT));
}

} // namespace splitmail::queue
