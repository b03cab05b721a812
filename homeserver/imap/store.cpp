// Maildir++ mailboxes with a persistent UID index; see store.hpp.
#include "imap/store.hpp"

#include "imap/codec.hpp"
#include "maildir/name.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace splitmail::home::imap {
namespace {

constexpr const char* index_name = "splitmail-uidlist";

std::int64_t mtime_ns(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return -1;
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::error_code errno_code() { return {errno, std::generic_category()}; }

std::error_code fsync_dir(const fs::path& d) {
    int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return errno_code();
    int r = ::fsync(fd);
    ::close(fd);
    return r == 0 ? std::error_code{} : errno_code();
}

std::error_code make_maildir(const fs::path& d) {
    std::error_code ec;
    fs::create_directories(d.parent_path(), ec);
    if (ec) return ec;
    for (auto sub : {"", "cur", "new", "tmp"}) {
        fs::path p = *sub ? d / sub : d;
        if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) return errno_code();
    }
    return {};
}

// Open folders shared by the sessions of this process.
std::mutex registry_mu;
std::map<std::string, std::weak_ptr<folder>>& registry() {
    static std::map<std::string, std::weak_ptr<folder>> r;
    return r;
}

std::atomic<std::uint64_t> name_counter{0};

} // namespace

std::uint8_t flag_from_name(std::string_view n) {
    if (iequals(n, "\\Answered")) return flag_answered;
    if (iequals(n, "\\Flagged")) return flag_flagged;
    if (iequals(n, "\\Deleted")) return flag_deleted;
    if (iequals(n, "\\Seen")) return flag_seen;
    if (iequals(n, "\\Draft")) return flag_draft;
    return 0;
}

std::string flags_text(std::uint8_t f, bool recent) {
    std::string out = "(";
    auto add = [&](const char* s) {
        if (out.size() > 1) out += ' ';
        out += s;
    };
    if (f & flag_answered) add("\\Answered");
    if (f & flag_flagged) add("\\Flagged");
    if (f & flag_deleted) add("\\Deleted");
    if (f & flag_seen) add("\\Seen");
    if (f & flag_draft) add("\\Draft");
    if (recent) add("\\Recent");
    return out + ")";
}

std::uint8_t flags_of_filename(std::string_view file) {
    auto p = file.find(":2,");
    if (p == std::string_view::npos) return 0;
    std::uint8_t f = 0;
    for (char c : file.substr(p + 3)) {
        switch (c) {
        case 'D': f |= flag_draft; break;
        case 'F': f |= flag_flagged; break;
        case 'R': f |= flag_answered; break;
        case 'S': f |= flag_seen; break;
        case 'T': f |= flag_deleted; break;
        default: break;
        }
    }
    return f;
}

std::string with_flags(std::string_view file, std::uint8_t f) {
    std::string base(file.substr(0, file.find(':')));
    std::string other;
    auto p = file.find(":2,");
    if (p != std::string_view::npos)
        for (char c : file.substr(p + 3))
            if (std::string_view("DFRST").find(c) == std::string_view::npos) other += c;
    std::string letters;
    if (f & flag_draft) letters += 'D';
    if (f & flag_flagged) letters += 'F';
    if (f & flag_answered) letters += 'R';
    if (f & flag_seen) letters += 'S';
    if (f & flag_deleted) letters += 'T';
    letters += other;
    std::sort(letters.begin(), letters.end()); // maildir spec: info letters in ASCII order
    return base + ":2," + letters;
}

folder::folder(fs::path dir, std::string host) : dir_(std::move(dir)), host_(std::move(host)) {
    load_index();
}

std::error_code folder::load_index() {
    std::ifstream in(dir_ / index_name);
    if (!in) {
        // RFC 3501 2.3.1.1: a new UIDVALIDITY must be larger than any earlier one for this
        // name; the clock gives that for folders recreated later.
        uidvalidity_ = static_cast<std::uint32_t>(std::time(nullptr));
        uidnext_ = 1;
        return {};
    }
    std::string version;
    in >> version >> uidvalidity_ >> uidnext_;
    if (version != "V1" || uidvalidity_ == 0 || uidnext_ == 0) {
        uidvalidity_ = static_cast<std::uint32_t>(std::time(nullptr));
        uidnext_ = 1;
        return {};
    }
    std::uint32_t uid;
    std::string base;
    while (in >> uid >> base) index_.emplace_back(base, uid);
    std::sort(index_.begin(), index_.end());
    return {};
}

std::error_code folder::save_index() {
    std::string text = "V1 " + std::to_string(uidvalidity_) + " " + std::to_string(uidnext_) + "\n";
    for (const auto& m : msgs_) text += std::to_string(m.uid) + " " + m.base + "\n";
    fs::path tmp = dir_ / (std::string(index_name) + ".tmp");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return errno_code();
    std::size_t off = 0;
    while (off < text.size()) {
        auto n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            auto ec = errno_code();
            ::close(fd);
            return ec;
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        auto ec = errno_code();
        ::close(fd);
        return ec;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), (dir_ / index_name).c_str()) != 0) return errno_code();
    index_.clear();
    for (const auto& m : msgs_) index_.emplace_back(m.base, m.uid);
    std::sort(index_.begin(), index_.end());
    return {};
}

std::error_code folder::sync(bool force) {
    std::int64_t nm = mtime_ns(dir_ / "new"), cm = mtime_ns(dir_ / "cur");
    if (nm < 0 || cm < 0) return std::make_error_code(std::errc::no_such_file_or_directory);
    auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    // Directory mtimes have coarse (tick) granularity: a change in the same tick as our last
    // scan would keep the mtime, so recent mtimes are never trusted.
    bool recent = now_ns - std::max(nm, cm) < 2'000'000'000LL;
    if (!force && scanned_ && !recent && nm == new_mtime_ && cm == cur_mtime_) return {};
    struct found {
        std::string base, file;
        bool in_new;
    };
    std::vector<found> files;
    for (bool in_new : {true, false}) {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir_ / (in_new ? "new" : "cur"), ec)) {
            std::string f = e.path().filename().string();
            if (f.empty() || f[0] == '.') continue;
            files.push_back({f.substr(0, f.find(':')), f, in_new});
        }
        if (ec) return ec;
    }
    std::map<std::string, const message_entry*, std::less<>> known;
    for (const auto& m : msgs_) known.emplace(m.base, &m);
    std::vector<message_entry> next;
    std::vector<found> fresh;
    bool changed = false;
    for (auto& f : files) {
        auto k = known.find(f.base);
        std::uint32_t uid = 0;
        if (k != known.end()) {
            message_entry m = *k->second;
            m.file = f.file;
            m.in_new = f.in_new;
            m.flags = flags_of_filename(f.file);
            next.push_back(std::move(m));
            continue;
        }
        auto ix = std::lower_bound(index_.begin(), index_.end(),
                                   std::pair<std::string, std::uint32_t>(f.base, 0));
        if (ix != index_.end() && ix->first == f.base) uid = ix->second;
        if (uid == 0) {
            fresh.push_back(f);
            continue;
        }
        message_entry m;
        m.uid = uid;
        m.base = f.base;
        m.file = f.file;
        m.in_new = f.in_new;
        next.push_back(std::move(m));
    }
    // New files get UIDs in name order (names start with the delivery time).
    std::sort(fresh.begin(), fresh.end(), [](auto& a, auto& b) { return a.base < b.base; });
    for (auto& f : fresh) {
        message_entry m;
        m.uid = uidnext_++;
        m.base = f.base;
        m.file = f.file;
        m.in_new = f.in_new;
        next.push_back(std::move(m));
        changed = true;
    }
    for (auto& m : next) {
        if (m.size == 0 && m.internal_date == 0) {
            struct stat st {};
            if (::stat(path_of(m).c_str(), &st) == 0) {
                m.internal_date = st.st_mtim.tv_sec;
                m.size = static_cast<std::uint64_t>(st.st_size);
            }
            if (auto s = maildir::size_from_name(m.file)) m.size = *s;
        }
        m.flags = flags_of_filename(m.file);
    }
    std::sort(next.begin(), next.end(), [](auto& a, auto& b) { return a.uid < b.uid; });
    if (next.size() != msgs_.size()) changed = true;
    msgs_ = std::move(next);
    scanned_ = true;
    new_mtime_ = nm;
    cur_mtime_ = cm;
    if (changed || !fs::exists(dir_ / index_name)) return save_index();
    return {};
}

const message_entry* folder::find(std::uint32_t uid) const {
    auto it = std::lower_bound(msgs_.begin(), msgs_.end(), uid,
                               [](const message_entry& m, std::uint32_t u) { return m.uid < u; });
    return it != msgs_.end() && it->uid == uid ? &*it : nullptr;
}

std::size_t folder::count_in_new() const {
    return static_cast<std::size_t>(
        std::count_if(msgs_.begin(), msgs_.end(), [](auto& m) { return m.in_new; }));
}

fs::path folder::path_of(const message_entry& m) const {
    return dir_ / (m.in_new ? "new" : "cur") / m.file;
}

std::error_code folder::set_flags(std::uint32_t uid, std::uint8_t flags) {
    auto* m = const_cast<message_entry*>(find(uid));
    if (!m) return std::make_error_code(std::errc::no_such_file_or_directory);
    if (!m->in_new && m->flags == flags) return {};
    std::string nf = with_flags(m->file, flags);
    fs::path to = dir_ / "cur" / nf;
    if (::rename(path_of(*m).c_str(), to.c_str()) != 0) return errno_code();
    m->file = nf;
    m->in_new = false;
    m->flags = flags;
    return {};
}

std::error_code folder::expunge(std::uint32_t uid) {
    auto* m = find(uid);
    if (!m) return {};
    if (::unlink(path_of(*m).c_str()) != 0 && errno != ENOENT) return errno_code();
    msgs_.erase(msgs_.begin() + (m - msgs_.data()));
    return save_index();
}

std::vector<std::uint32_t> folder::move_new_to_cur() {
    std::vector<std::uint32_t> moved;
    for (auto& m : msgs_) {
        if (!m.in_new) continue;
        std::string nf = with_flags(m.file, m.flags);
        if (::rename(path_of(m).c_str(), (dir_ / "cur" / nf).c_str()) == 0) {
            m.file = nf;
            m.in_new = false;
            moved.push_back(m.uid);
        }
    }
    return moved;
}

std::string folder::unique_name(std::uint64_t size) {
    using namespace std::chrono;
    auto now = system_clock::now().time_since_epoch();
    maildir::unique_name n;
    n.sec = duration_cast<seconds>(now).count();
    n.usec = duration_cast<microseconds>(now).count() % 1000000;
    n.pid = ::getpid();
    n.counter = 1000000 + name_counter.fetch_add(1); // apart from the LMTP deliverer's counter
    n.host = maildir::escape_host(host_);
    n.size = size;
    return maildir::make_name(n);
}

std::expected<std::uint32_t, std::error_code> folder::register_file(std::string file,
                                                                    std::uint64_t size,
                                                                    std::int64_t date) {
    if (auto ec = fsync_dir(dir_ / "cur")) return std::unexpected(ec);
    message_entry m;
    m.uid = uidnext_++;
    m.base = file.substr(0, file.find(':'));
    m.file = std::move(file);
    m.flags = flags_of_filename(m.file);
    m.size = size;
    m.internal_date = date;
    msgs_.push_back(std::move(m));
    if (auto ec = save_index()) return std::unexpected(ec);
    return msgs_.back().uid;
}

std::expected<std::uint32_t, std::error_code> folder::add(std::string_view content,
                                                          std::uint8_t flags,
                                                          std::optional<std::int64_t> date) {
    std::string name = unique_name(content.size());
    fs::path tmp = dir_ / "tmp" / name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return std::unexpected(errno_code());
    auto fail = [&](std::error_code ec) -> std::expected<std::uint32_t, std::error_code> {
        ::close(fd);
        ::unlink(tmp.c_str());
        return std::unexpected(ec);
    };
    std::size_t off = 0;
    while (off < content.size()) {
        auto n = ::write(fd, content.data() + off, content.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(errno_code());
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return fail(errno_code());
    std::int64_t when = date.value_or(std::time(nullptr));
    struct timespec ts[2] = {{static_cast<time_t>(when), 0}, {static_cast<time_t>(when), 0}};
    ::futimens(fd, ts); // INTERNALDATE is the file's mtime
    ::close(fd);
    std::string final_name = with_flags(name, flags);
    if (::rename(tmp.c_str(), (dir_ / "cur" / final_name).c_str()) != 0) {
        auto ec = errno_code();
        ::unlink(tmp.c_str());
        return std::unexpected(ec);
    }
    return register_file(final_name, content.size(), when);
}

std::expected<std::uint32_t, std::error_code> folder::copy_from(const folder& from,
                                                                std::uint32_t uid) {
    const auto* m = from.find(uid);
    if (!m) return std::unexpected(std::make_error_code(std::errc::no_such_file_or_directory));
    std::string name = with_flags(unique_name(m->size), m->flags);
    fs::path to = dir_ / "cur" / name;
    if (::link(from.path_of(*m).c_str(), to.c_str()) == 0)
        return register_file(name, m->size, m->internal_date);
    auto content = from.read(uid);
    if (!content) return std::unexpected(content.error());
    return add(*content, m->flags, m->internal_date);
}

std::expected<std::string, std::error_code> folder::read(std::uint32_t uid) const {
    const auto* m = find(uid);
    if (!m) return std::unexpected(std::make_error_code(std::errc::no_such_file_or_directory));
    int fd = ::open(path_of(*m).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno_code());
    std::string out;
    char buf[65536];
    while (true) {
        auto n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            auto ec = errno_code();
            ::close(fd);
            return std::unexpected(ec);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

// ---------------------------------------------------------------- mailbox_store

bool mailbox_store::is_inbox(std::string_view name) { return iequals(name, "INBOX"); }

bool mailbox_store::valid_name(std::string_view name) {
    if (name.empty() || name.size() > 255) return false;
    if (name.front() == '.' || name.back() == '.') return false;
    if (name.find("..") != std::string_view::npos) return false;
    for (unsigned char c : name)
        if (c < 0x20 || c >= 0x7f || c == '/' || c == '\\' || c == '*' || c == '%') return false;
    return true;
}

std::optional<fs::path> mailbox_store::dir_of(std::string_view name) const {
    if (is_inbox(name)) return root_;
    if (!valid_name(name)) return std::nullopt;
    return root_ / ("." + std::string(name));
}

bool mailbox_store::exists(std::string_view name) const {
    auto d = dir_of(name);
    if (!d) return false;
    struct stat st {};
    return ::lstat((*d / "cur").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::expected<std::shared_ptr<folder>, std::error_code> mailbox_store::open(std::string_view name) {
    auto d = dir_of(name);
    if (!d) return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    if (is_inbox(name)) {
        if (auto ec = make_maildir(*d)) return std::unexpected(ec);
    } else if (!exists(name)) {
        return std::unexpected(std::make_error_code(std::errc::no_such_file_or_directory));
    }
    std::lock_guard lk(registry_mu);
    auto& slot = registry()[d->string()];
    auto f = slot.lock();
    if (!f) {
        f = std::make_shared<folder>(*d, host_);
        slot = f;
    }
    if (auto ec = f->sync()) return std::unexpected(ec);
    return f;
}

std::vector<std::string> mailbox_store::list() const {
    std::vector<std::string> out{"INBOX"};
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root_, ec)) {
        std::string n = e.path().filename().string();
        if (n.size() < 2 || n[0] != '.' || !e.is_directory()) continue;
        std::string name = n.substr(1);
        if (!valid_name(name) || is_inbox(name)) continue;
        if (!fs::is_directory(e.path() / "cur")) continue;
        out.push_back(name);
    }
    std::sort(out.begin() + 1, out.end());
    return out;
}

std::error_code mailbox_store::create(std::string_view name) {
    std::string n(name);
    if (!n.empty() && n.back() == '.') n.pop_back(); // RFC 3501 6.3.3 trailing delimiter
    if (is_inbox(n) || exists(n)) return std::make_error_code(std::errc::file_exists);
    auto d = dir_of(n);
    if (!d) return std::make_error_code(std::errc::invalid_argument);
    if (auto ec = make_maildir(root_)) return ec;
    if (auto ec = make_maildir(*d)) return ec;
    return fsync_dir(root_);
}

std::error_code mailbox_store::remove(std::string_view name) {
    if (is_inbox(name)) return std::make_error_code(std::errc::permission_denied);
    if (!exists(name)) return std::make_error_code(std::errc::no_such_file_or_directory);
    for (const auto& other : list())
        if (other.size() > name.size() && other.starts_with(std::string(name) + "."))
            return std::make_error_code(std::errc::directory_not_empty);
    std::error_code ec;
    fs::remove_all(*dir_of(name), ec);
    if (ec) return ec;
    subscribe(name, false);
    return fsync_dir(root_);
}

std::error_code mailbox_store::rename(std::string_view from, std::string_view to) {
    if (is_inbox(from)) return std::make_error_code(std::errc::operation_not_supported);
    if (!exists(from)) return std::make_error_code(std::errc::no_such_file_or_directory);
    if (is_inbox(to) || exists(to)) return std::make_error_code(std::errc::file_exists);
    if (!dir_of(to)) return std::make_error_code(std::errc::invalid_argument);
    // RFC 3501 6.3.5: inferior names are renamed too.
    std::string prefix = std::string(from) + ".";
    std::vector<std::string> moves{std::string(from)};
    for (const auto& n : list())
        if (n.starts_with(prefix)) moves.push_back(n);
    for (const auto& n : moves) {
        std::string target = std::string(to) + n.substr(from.size());
        if (!dir_of(target)) return std::make_error_code(std::errc::invalid_argument);
        if (::rename(dir_of(n)->c_str(), dir_of(target)->c_str()) != 0) return errno_code();
    }
    auto subs = subscriptions();
    for (const auto& n : moves)
        if (std::find(subs.begin(), subs.end(), n) != subs.end()) {
            subscribe(n, false);
            subscribe(std::string(to) + n.substr(from.size()), true);
        }
    return fsync_dir(root_);
}

std::vector<std::string> mailbox_store::subscriptions() const {
    std::vector<std::string> out;
    std::ifstream in(root_ / "subscriptions");
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(line);
    return out;
}

std::error_code mailbox_store::subscribe(std::string_view name, bool on) {
    auto subs = subscriptions();
    auto it = std::find(subs.begin(), subs.end(), name);
    if (on == (it != subs.end())) return {};
    if (on) subs.emplace_back(name);
    else subs.erase(it);
    if (auto ec = make_maildir(root_)) return ec;
    std::string text;
    for (auto& s : subs) text += s + "\n";
    fs::path tmp = root_ / "subscriptions.tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text;
        if (!out) return std::make_error_code(std::errc::io_error);
    }
    if (::rename(tmp.c_str(), (root_ / "subscriptions").c_str()) != 0) return errno_code();
    return {};
}

std::string mailbox_store::special_use(std::string_view name) {
    // RFC 6154 2: attributes of the folders we create.
    if (name == "Drafts") return "\\Drafts";
    if (name == "Sent") return "\\Sent";
    if (name == "Trash") return "\\Trash";
    if (name == "Junk") return "\\Junk";
    if (name == "Archive") return "\\Archive";
    return "";
}

void mailbox_store::ensure_special_use() {
    fs::path marker = root_ / "splitmail-special-use";
    if (fs::exists(marker)) return;
    if (make_maildir(root_)) return;
    subscribe("INBOX", true);
    for (auto n : {"Drafts", "Sent", "Trash", "Junk", "Archive"}) {
        if (!exists(n)) create(n);
        subscribe(n, true);
    }
    std::ofstream(marker) << "created\n";
}

bool list_match(std::string_view pat, std::string_view name, char delim) {
    if (pat.empty()) return name.empty();
    if (pat[0] == '*') {
        for (std::size_t i = 0; i <= name.size(); ++i)
            if (list_match(pat.substr(1), name.substr(i), delim)) return true;
        return false;
    }
    if (pat[0] == '%') {
        for (std::size_t i = 0; i <= name.size(); ++i) {
            if (list_match(pat.substr(1), name.substr(i), delim)) return true;
            if (i < name.size() && name[i] == delim) break;
        }
        return false;
    }
    if (name.empty()) return false;
    // INBOX is case-insensitive (RFC 3501 5.1); other names are compared exactly.
    if (pat[0] != name[0]) return false;
    return list_match(pat.substr(1), name.substr(1), delim);
}

} // namespace splitmail::home::imap
