// Maildir delivery; see deliver.hpp.
#include "maildir/deliver.hpp"

#include "maildir/name.hpp"
#include "splitmail/durable/file.hpp"

#include <boost/asio/post.hpp>

#include <cerrno>
#include <chrono>
#include <expected>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace splitmail::home::maildir {
namespace {

std::error_code errno_code(int e) { return {e, std::generic_category()}; }

struct fd_guard {
    int fd = -1;
    explicit fd_guard(int f) : fd(f) {}
    fd_guard(fd_guard&& o) noexcept : fd(o.fd) { o.fd = -1; }
    fd_guard& operator=(fd_guard&& o) noexcept {
        std::swap(fd, o.fd);
        return *this;
    }
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

bool safe_component(std::string_view c) {
    return !c.empty() && c != "." && c != ".." && c.find('/') == std::string_view::npos &&
           c.find('\0') == std::string_view::npos;
}

// Opens (creating 0700 if missing) directory `name` below `parent`, refusing symlinks.
std::expected<fd_guard, std::error_code> open_or_make(int parent, const std::string& name) {
    bool created = false;
    if (::mkdirat(parent, name.c_str(), 0700) == 0)
        created = true;
    else if (errno != EEXIST)
        return std::unexpected(errno_code(errno));
    int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno_code(errno)); // ELOOP / ENOTDIR for a symlink
    // The new entry must be durable before anything below it counts as delivered.
    if (created && ::fsync(parent) != 0) {
        int e = errno;
        ::close(fd);
        return std::unexpected(errno_code(e));
    }
    return fd_guard(fd);
}

constexpr const char* staging_dir = ".lmtp-tmp"; // not a domain: domains never start with '.'

int plain_link(int olddirfd, const char* oldname, int newdirfd, const char* newname) {
    return ::linkat(olddirfd, oldname, newdirfd, newname, 0);
}

// write(2) all of `bytes` (short writes and EINTR retried).
std::error_code write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_code(errno);
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

// Removes what a crash left in the staging directory (best effort: nothing acknowledged
// depends on it, every delivered copy is a link of its own in some new/).
void clean_staging(const std::filesystem::path& root) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(root / staging_dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec)) std::filesystem::remove(it->path(), ec);
}

} // namespace

staged_message::~staged_message() {
    if (fd_ >= 0) ::close(fd_);
    if (dir_fd_ >= 0) {
        ::unlinkat(dir_fd_, name_.c_str(), 0);
        ::close(dir_fd_);
    }
}

std::error_code staged_message::append(std::string_view bytes) {
    if (ec_) return ec_;
    ec_ = write_all(fd_, bytes);
    if (!ec_) size_ += bytes.size();
    return ec_;
}

std::string trace_headers(std::string_view sender, std::string_view delivered_to) {
    std::string out;
    out.reserve(40 + sender.size() + delivered_to.size());
    out += "Return-Path: <";
    out += sender;
    out += ">\r\nDelivered-To: ";
    out += delivered_to;
    out += "\r\n";
    return out;
}

std::expected<std::filesystem::path, std::error_code>
maildir_path(const std::filesystem::path& root, std::string_view user) {
    auto at = user.rfind('@');
    if (at == std::string_view::npos)
        return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    auto local = user.substr(0, at), domain = user.substr(at + 1);
    if (!safe_component(local) || !safe_component(domain))
        return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    return root / std::string(domain) / std::string(local);
}

deliverer::deliverer(std::filesystem::path root, durable::committer& committer, std::string host,
                     std::size_t workers)
    : root_(std::move(root)), committer_(committer), host_(escape_host(host)), pool_(workers) {
    link_ = plain_link;
    clean_staging(root_);
}

std::expected<std::shared_ptr<staged_message>, std::error_code> deliverer::stage() {
    fd_guard root(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (root.fd < 0) return std::unexpected(errno_code(errno));
    auto dir = open_or_make(root.fd, staging_dir);
    if (!dir) return std::unexpected(dir.error());
    auto name = next_name(0);
    // Read-write: the EXDEV fallback copies from it.
    int fd =
        ::openat(dir->fd, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return std::unexpected(errno_code(errno));
    int dfd = std::exchange(dir->fd, -1);
    return std::shared_ptr<staged_message>(new staged_message(dfd, fd, std::move(name)));
}

// What link_only leaves for the directory fsync: new/ (open) and the name linked into it.
struct deliverer::linked {
    delivered result;           // the final path in new/, or the error (then no new_dir)
    durable::unique_fd new_dir; // new/ the name is in
};

delivered deliverer::link_one(staged_message& msg, const std::string& user,
                              const std::string& name) {
    return finish_link(link_only(msg, user, name));
}

delivered deliverer::finish_link(linked l) {
    if (l.result.ec) return l.result;
    // The new name is durable only with its directory (maildir.html; Dovecot fsyncs new/ too).
    if (::fsync(l.new_dir.get()) != 0) {
        auto ec = errno_code(errno);
        // not acknowledged: leave nothing visible
        ::unlinkat(l.new_dir.get(), l.result.file.filename().c_str(), 0);
        return {ec, {}};
    }
    return l.result;
}

deliverer::linked deliverer::link_only(staged_message& msg, const std::string& user,
                                       const std::string& name) {
    auto fail = [](std::error_code ec) { return linked{{ec, {}}, {}}; };
    auto dir = ensure_maildir(user);
    if (!dir) return fail(dir.error());
    fd_guard box(::open(dir->c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (box.fd < 0) return fail(errno_code(errno));
    if (!msg.folder_.empty()) { // a folder of the Maildir (Maildir++: ".NAME/{tmp,new,cur}")
        std::string sub = "." + msg.folder_;
        if (!safe_component(msg.folder_) || msg.folder_.front() == '.')
            return fail(std::make_error_code(std::errc::invalid_argument));
        auto f = open_or_make(box.fd, sub);
        if (!f) return fail(f.error());
        for (const char* part : {"tmp", "new", "cur"}) {
            auto d = open_or_make(f->fd, part);
            if (!d) return fail(d.error());
        }
        box = std::move(*f);
        *dir /= sub;
    }
    fd_guard fresh(::openat(box.fd, "new", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fresh.fd < 0) return fail(errno_code(errno));
    if (link_(msg.dir_fd_, msg.name_.c_str(), fresh.fd, name.c_str()) != 0) {
        if (errno != EXDEV) return fail(errno_code(errno));
        // Another file system (a Maildir on its own mount): this mailbox gets a copy, made
        // durable the classic way (tmp/, fsync, rename into new/).
        fd_guard tmp(::openat(box.fd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (tmp.fd < 0) return fail(errno_code(errno));
        fd_guard out(::openat(tmp.fd, name.c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (out.fd < 0) return fail(errno_code(errno));
        std::error_code ec;
        std::string buf(64 * 1024, '\0');
        for (off_t off = 0; !ec;) {
            ssize_t n = ::pread(msg.fd_, buf.data(), buf.size(), off);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) ec = errno_code(errno);
            if (n <= 0) break;
            ec = write_all(out.fd, std::string_view(buf.data(), static_cast<std::size_t>(n)));
            off += n;
        }
        if (!ec && ::fsync(out.fd) != 0) ec = errno_code(errno);
        if (!ec && ::renameat(tmp.fd, name.c_str(), fresh.fd, name.c_str()) != 0)
            ec = errno_code(errno);
        if (ec) {
            ::unlinkat(tmp.fd, name.c_str(), 0);
            return fail(ec);
        }
    }
    // The directory fsync (finish_link) may run elsewhere: it holds up no session of the user.
    return linked{{{}, *dir / "new" / name}, durable::unique_fd(std::exchange(fresh.fd, -1))};
}

std::error_code deliverer::sync_staged(staged_message& msg) {
    // One fsync of the one file, whatever the number of mailboxes.
    if (!msg.ec_ && !msg.synced_) {
        if (::fsync(msg.fd_) != 0)
            msg.ec_ = errno_code(errno);
        else
            msg.synced_ = true;
    }
    return msg.ec_;
}

std::vector<delivered> deliverer::deliver_shared_now(staged_message& msg,
                                                     const std::vector<std::string>& users) {
    std::vector<delivered> out;
    out.reserve(users.size());
    std::error_code ec = sync_staged(msg);
    if (ec) {
        out.assign(users.size(), delivered{ec, {}});
        return out;
    }
    auto name = next_name(msg.size_);
    for (const auto& u : users) out.push_back(link_one(msg, u, name));
    return out;
}

void deliverer::deliver_shared(std::shared_ptr<staged_message> msg, std::vector<std::string> users,
                               std::function<void(std::vector<delivered>)> done) {
    boost::asio::post(pool_, [this, msg = std::move(msg), users = std::move(users),
                              done = std::move(done)]() mutable {
        if (!users_exec_ || users.empty()) {
            auto r = deliver_shared_now(*msg, users);
            msg.reset(); // unlink the staged name before the replies go out
            return done(std::move(r));
        }
        if (auto ec = sync_staged(*msg)) {
            msg.reset();
            return done(std::vector<delivered>(users.size(), delivered{ec, {}}));
        }
        // One link per mailbox, each on its user's strand; the last one to finish answers.
        struct pending {
            std::shared_ptr<staged_message> msg;
            std::vector<delivered> out;
            std::atomic<std::size_t> left;
            std::function<void(std::vector<delivered>)> done;
        };
        auto p = std::make_shared<pending>();
        p->msg = std::move(msg);
        p->out.resize(users.size());
        p->left = users.size();
        p->done = std::move(done);
        auto name = next_name(p->msg->size_);
        auto finished = [](const std::shared_ptr<pending>& p, std::size_t i, delivered d) {
            p->out[i] = std::move(d);
            if (p->left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                p->msg.reset(); // unlink the staged name before the replies go out
                p->done(std::move(p->out));
            }
        };
        // The link on the user's strand (ordered with the user's IMAP work); the fsync of new/
        // after it on any thread of the same pool, so a slow disk holds up the reply to the
        // relay, not the user's IMAP sessions.
        for (std::size_t i = 0; i < users.size(); ++i)
            users_exec_->post(users[i], [this, p, i, name, finished, user = users[i]] {
                auto l = std::make_shared<linked>(link_only(*p->msg, user, name));
                if (l->result.ec) return finished(p, i, std::move(l->result));
                users_exec_->post_unordered(
                    [this, p, i, l, finished] { finished(p, i, finish_link(std::move(*l))); });
            });
    });
}

deliverer::~deliverer() { pool_.join(); }

std::expected<std::filesystem::path, std::error_code>
deliverer::ensure_maildir(std::string_view user) {
    auto path = maildir_path(root_, user);
    if (!path) return path;
    auto at = user.rfind('@');
    std::string local(user.substr(0, at)), domain(user.substr(at + 1));
    fd_guard root(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (root.fd < 0) return std::unexpected(errno_code(errno));
    auto dom = open_or_make(root.fd, domain);
    if (!dom) return std::unexpected(dom.error());
    auto box = open_or_make(dom->fd, local);
    if (!box) return std::unexpected(box.error());
    for (const char* sub : {"tmp", "new", "cur"}) {
        auto d = open_or_make(box->fd, sub);
        if (!d) return std::unexpected(d.error());
    }
    return path;
}

std::string deliverer::next_name(std::uint64_t size) {
    using namespace std::chrono;
    auto now = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
    unique_name n;
    n.sec = now / 1'000'000;
    n.usec = now % 1'000'000;
    n.pid = ::getpid();
    n.counter = counter_.fetch_add(1, std::memory_order_relaxed);
    n.host = host_;
    n.size = size;
    return make_name(n);
}

void deliverer::deliver(std::string user, std::string headers,
                        std::shared_ptr<const std::string> body,
                        std::function<void(delivered)> done) {
    boost::asio::post(pool_, [this, user = std::move(user), headers = std::move(headers),
                              body = std::move(body), done = std::move(done)]() mutable {
        auto dir = ensure_maildir(user);
        if (!dir) return done(delivered{dir.error(), {}});
        auto name = next_name(headers.size() + body->size());
        auto final_path = *dir / "new" / name;
        durable::request req;
        req.tmp_dir = *dir / "tmp";
        durable::file f;
        f.path = final_path;
        f.chunks.push_back(std::move(headers));
        f.chunks.push_back(*body);
        req.files.push_back(std::move(f));
        committer_.submit(std::move(req), [final_path, done = std::move(done)](std::error_code ec) {
            done(delivered{ec, ec ? std::filesystem::path{} : final_path});
        });
    });
}

} // namespace splitmail::home::maildir
