// Maildir delivery; see deliver.hpp.
#include "maildir/deliver.hpp"

#include "maildir/name.hpp"

#include <boost/asio/post.hpp>

#include <cerrno>
#include <chrono>
#include <expected>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
    if (::mkdirat(parent, name.c_str(), 0700) == 0) created = true;
    else if (errno != EEXIST) return std::unexpected(errno_code(errno));
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

} // namespace

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

std::expected<std::filesystem::path, std::error_code> maildir_path(
    const std::filesystem::path& root, std::string_view user) {
    auto at = user.rfind('@');
    if (at == std::string_view::npos) return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    auto local = user.substr(0, at), domain = user.substr(at + 1);
    if (!safe_component(local) || !safe_component(domain))
        return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    return root / std::string(domain) / std::string(local);
}

deliverer::deliverer(std::filesystem::path root, durable::committer& committer, std::string host,
                     std::size_t workers)
    : root_(std::move(root)), committer_(committer), host_(escape_host(host)), pool_(workers) {}

deliverer::~deliverer() { pool_.join(); }

std::expected<std::filesystem::path, std::error_code> deliverer::ensure_maildir(
    std::string_view user) {
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
        committer_.submit(std::move(req),
                          [final_path, done = std::move(done)](std::error_code ec) {
                              done(delivered{ec, ec ? std::filesystem::path{} : final_path});
                          });
    });
}

} // namespace splitmail::home::maildir
