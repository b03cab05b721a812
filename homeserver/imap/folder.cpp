// A folder (store.hpp): construction, IMAP flag names, keywords, flag changes, expunge, new
// messages, reading a message.
#include "imap/store_detail.hpp"

#include "imap/codec.hpp"
#include "imap/header_cache.hpp"
#include "imap/structure_cache.hpp"
#include "imap/uidvalidity.hpp"
#include "maildir/name.hpp"

#include "splitmail/durable/file.hpp"
#include "splitmail/log/log.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

namespace splitmail::home::imap {
using namespace detail;

std::uint8_t flag_from_name(std::string_view n) {
    if (iequals(n, "\\Answered")) return flag_answered;
    if (iequals(n, "\\Flagged")) return flag_flagged;
    if (iequals(n, "\\Deleted")) return flag_deleted;
    if (iequals(n, "\\Seen")) return flag_seen;
    if (iequals(n, "\\Draft")) return flag_draft;
    return 0;
}

bool valid_keyword(std::string_view n) {
    // RFC 3501 9: flag-keyword = atom; atom-specials are ( ) { SP CTL % * " \ ]
    if (n.empty() || n.size() > 128) return false;
    for (unsigned char c : n)
        if (c <= 0x20 || c >= 0x7f ||
            std::string_view("(){%*\"\\]").find(static_cast<char>(c)) != std::string_view::npos)
            return false;
    return true;
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

folder::folder(fs::path dir, std::string host, fs::path user_root, folder_registry* registry)
    : registry_(registry ? *registry : folder_registry::standalone()), dir_(std::move(dir)),
      root_(user_root.empty() ? dir_ : std::move(user_root)), host_(std::move(host)) {
    lock_error_ = registry_.state().lock_folder(dir_, lock_key_);
    if (lock_error_) {
        log::error("imap", "-", "folder index in use by another splitmail-home process",
                   {{"path", (dir_ / index_name).string()}, {"error", lock_error_.message()}});
        return;
    }
    locked_ = true;
    load_keywords();
    if (auto ec = load_index()) {
        // No UIDVALIDITY could be allocated durably: serving the folder could hand out a
        // value a client has seen before (RFC 3501 2.3.1.1), so sync() refuses.
        log::error("imap", "-", "cannot allocate a UIDVALIDITY",
                   {{"path", (root_ / "splitmail-uidvalidity").string()}, {"error", ec.message()}});
        init_error_ = ec;
        return;
    }
    recover_unsynced();
}

header_cache& folder::headers() const {
    if (!headers_) headers_ = std::make_unique<header_cache>();
    return *headers_;
}

structure_cache& folder::structures() const {
    if (!structures_) structures_ = std::make_unique<structure_cache>();
    return *structures_;
}

folder::~folder() {
    bool synced = !dirty_;
    if (fd_ >= 0) {
        if (dirty_) synced = !durable::fsync_fd(fd_);
        ::close(fd_);
    }
    drop_watches();
    // Everything is on disk: the next load needs no MODSEQ skip (recover_unsynced).
    const fs::path marker = dir_ / unsynced_marker_name;
    if (locked_)
        registry_.state().unlock_folder(lock_key_, synced && unsynced_marked_ ? &marker : nullptr);
}

std::string_view folder::keep_name(std::string_view name) {
    if (name.size() > names_left_) {
        std::size_t n = std::max<std::size_t>(name.size(), 64 * 1024);
        names_.push_back(std::make_unique_for_overwrite<char[]>(n));
        names_pos_ = names_.back().get();
        names_left_ = n;
    }
    std::memcpy(names_pos_, name.data(), name.size());
    std::string_view out(names_pos_, name.size());
    names_pos_ += name.size();
    names_left_ -= name.size();
    return out;
}

file_mapping& file_mapping::operator=(file_mapping&& o) noexcept {
    if (this != &o) {
        if (addr) ::munmap(addr, len);
        addr = std::exchange(o.addr, nullptr);
        len = std::exchange(o.len, 0);
    }
    return *this;
}

file_mapping::~file_mapping() {
    if (addr) ::munmap(addr, len);
}

// ---------------------------------------------------------------- folder: keywords

std::optional<unsigned> folder::keyword_index(std::string_view name) const {
    for (std::size_t i = 0; i < keywords_.size(); ++i)
        if (!keywords_[i].empty() && iequals(keywords_[i], name)) return static_cast<unsigned>(i);
    return std::nullopt;
}

std::expected<unsigned, std::error_code> folder::intern_keyword(std::string_view name) {
    if (!valid_keyword(name))
        return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    if (mtime_ns(dir_ / keywords_name) != keywords_mtime_) load_keywords();
    if (auto i = keyword_index(name)) return *i;
    std::size_t slot = keywords_.size();
    for (std::size_t i = 0; i < keywords_.size(); ++i)
        if (keywords_[i].empty()) {
            slot = i;
            break;
        }
    if (slot >= max_keywords)
        return std::unexpected(std::make_error_code(std::errc::no_space_on_device));
    if (slot == keywords_.size()) keywords_.emplace_back();
    keywords_[slot] = std::string(name);
    if (auto ec = save_keywords()) {
        keywords_[slot].clear();
        return std::unexpected(ec);
    }
    return static_cast<unsigned>(slot);
}

bool folder::has_keyword(const message_entry& m, std::string_view name) const {
    auto i = keyword_index(name);
    return i && (m.keywords & (1u << *i));
}

std::string folder::flags_text(const message_entry& m, bool recent) const {
    std::string out;
    append_flags(out, m, recent);
    return out;
}

void folder::append_flags(std::string& out, const message_entry& m, bool recent) const {
    out += '(';
    bool first = true;
    auto add = [&](std::string_view s) {
        if (!first) out += ' ';
        first = false;
        out += s;
    };
    if (m.flags & flag_answered) add("\\Answered");
    if (m.flags & flag_flagged) add("\\Flagged");
    if (m.flags & flag_deleted) add("\\Deleted");
    if (m.flags & flag_seen) add("\\Seen");
    if (m.flags & flag_draft) add("\\Draft");
    if (m.keywords)
        for (std::size_t i = 0; i < keywords_.size(); ++i)
            if ((m.keywords & (1u << i)) && !keywords_[i].empty()) add(keywords_[i]);
    if (recent) add("\\Recent");
    out += ')';
}

std::string folder::flag_list(bool permanent) const {
    std::string out = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    for (const auto& k : keywords_)
        if (!k.empty()) out += " " + k;
    std::size_t used = static_cast<std::size_t>(
        std::count_if(keywords_.begin(), keywords_.end(), [](auto& k) { return !k.empty(); }));
    // RFC 3501 7.1: "\*" = new keywords may be created (while a letter is free).
    if (permanent && used < max_keywords) out += " \\*";
    return out + ")";
}

// ---------------------------------------------------------------- folder: changes

std::error_code folder::set_flags(std::uint32_t uid, std::uint8_t flags, std::uint32_t keywords) {
    auto* m = const_cast<message_entry*>(find(uid));
    if (!m) return std::make_error_code(std::errc::no_such_file_or_directory);
    if (!m->in_new && m->flags == flags && m->keywords == keywords) return {};
    std::string nf = with_flags(m->file, flags, keywords);
    fs::path to = dir_ / "cur" / nf;
    std::int64_t before_new = mtime_ns(dir_ / "new"), before_cur = mtime_ns(dir_ / "cur");
    int from_dir = m->in_new ? 0 : 1;
    bool moves = m->in_new || m->file != nf;
    if (moves) expect(from_dir, 'F', m->file), expect(1, 'T', nf);
    if (::rename(path_of(*m).c_str(), to.c_str()) != 0) {
        auto ec = errno_code();
        if (moves) expect(from_dir, 'F', m->file, false), expect(1, 'T', nf, false);
        return ec;
    }
    bool was_new = m->in_new;
    bool changed = m->flags != flags || m->keywords != keywords;
    m->file = keep_name(nf);
    m->in_new = false;
    m->flags = flags;
    m->keywords = keywords;
    if (changed) m->modseq = ++highest_modseq_;
    if (was_new) note_own_change(0, before_new);
    note_own_change(1, before_cur);
    std::string record;
    append_record(record, *m);
    return append(record, false);
}

std::error_code folder::expunge(std::uint32_t uid) {
    auto* m = find(uid);
    if (!m) return {};
    int which = m->in_new ? 0 : 1;
    std::int64_t before = mtime_ns(dir_ / (which == 0 ? "new" : "cur"));
    expect(which, 'D', m->file);
    if (::unlink(path_of(*m).c_str()) != 0) {
        auto ec = errno_code();
        expect(which, 'D', m->file, false);
        if (ec != std::errc::no_such_file_or_directory) return ec;
    }
    note_own_change(which, before);
    msgs_.erase(msgs_.begin() + (m - msgs_.data()));
    expunged_.emplace_back(uid, ++highest_modseq_);
    ++expunge_count_;
    std::string record;
    append_expunge(record, uid, highest_modseq_);
    return append(record, false);
}

std::vector<std::uint32_t> folder::move_new_to_cur() {
    std::vector<std::uint32_t> moved;
    std::string records;
    std::int64_t before_new = mtime_ns(dir_ / "new"), before_cur = mtime_ns(dir_ / "cur");
    for (auto& m : msgs_) {
        if (!m.in_new) continue;
        std::string nf = with_flags(m.file, m.flags, m.keywords);
        expect(0, 'F', m.file), expect(1, 'T', nf);
        if (::rename(path_of(m).c_str(), (dir_ / "cur" / nf).c_str()) != 0) {
            expect(0, 'F', m.file, false), expect(1, 'T', nf, false);
        } else {
            m.file = keep_name(nf);
            m.in_new = false;
            moved.push_back(m.uid);
            append_record(records, m);
        }
    }
    if (!moved.empty()) {
        note_own_change(0, before_new);
        note_own_change(1, before_cur);
        append(records, false);
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

std::expected<std::uint32_t, std::error_code>
folder::register_file(std::string_view file, std::uint64_t size, std::int64_t date) {
    if (auto ec = fsync_dir(dir_ / "cur")) return std::unexpected(ec);
    message_entry m;
    m.uid = uidnext_++;
    m.file = keep_name(file);
    m.flags = flags_of_filename(m.file);
    m.keywords = keywords_of_filename(m.file);
    m.size = size;
    m.internal_date = date;
    m.modseq = ++highest_modseq_;
    msgs_.push_back(m);
    recent_.push_back(m.uid); // UIDs only grow: recent_ stays sorted
    std::string record;
    append_record(record, m);
    if (auto ec = append(record, true)) return std::unexpected(ec);
    return msgs_.back().uid;
}

std::expected<std::uint32_t, std::error_code> folder::add(std::string_view content,
                                                          std::uint8_t flags,
                                                          std::optional<std::int64_t> date,
                                                          std::uint32_t keywords) {
    std::string name = unique_name(content.size());
    fs::path tmp = dir_ / "tmp" / name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return std::unexpected(errno_code());
    auto fail = [&](std::error_code ec) -> std::expected<std::uint32_t, std::error_code> {
        ::close(fd);
        ::unlink(tmp.c_str());
        return std::unexpected(ec);
    };
    if (auto ec = write_all(fd, content)) return fail(ec);
    if (auto ec = durable::fsync_fd(fd)) return fail(ec);
    std::int64_t when = date.value_or(std::time(nullptr));
    struct timespec ts[2] = {{static_cast<time_t>(when), 0}, {static_cast<time_t>(when), 0}};
    ::futimens(fd, ts); // INTERNALDATE is the file's mtime
    ::close(fd);
    std::string final_name = with_flags(name, flags, keywords);
    std::int64_t before = mtime_ns(dir_ / "cur");
    expect(1, 'T', final_name);
    if (::rename(tmp.c_str(), (dir_ / "cur" / final_name).c_str()) != 0) {
        auto ec = errno_code();
        expect(1, 'T', final_name, false);
        ::unlink(tmp.c_str());
        return std::unexpected(ec);
    }
    note_own_change(1, before);
    return register_file(final_name, content.size(), when);
}

std::expected<std::uint32_t, std::error_code> folder::copy_from(const folder& from,
                                                                std::uint32_t uid) {
    const auto* m = from.find(uid);
    if (!m) return std::unexpected(std::make_error_code(std::errc::no_such_file_or_directory));
    std::uint32_t kw = 0;
    for (std::size_t i = 0; i < from.keywords_.size(); ++i)
        if ((m->keywords & (1u << i)) && !from.keywords_[i].empty())
            if (auto k = intern_keyword(from.keywords_[i])) kw |= 1u << *k;
    std::string name = with_flags(unique_name(m->size), m->flags, kw);
    fs::path to = dir_ / "cur" / name;
    std::int64_t before = mtime_ns(dir_ / "cur");
    expect(1, 'C', name);
    if (::link(from.path_of(*m).c_str(), to.c_str()) == 0) {
        note_own_change(1, before);
        return register_file(name, m->size, from.internal_date(*m));
    }
    expect(1, 'C', name, false);
    auto content = from.read(uid);
    if (!content) return std::unexpected(content.error());
    return add(*content, m->flags, from.internal_date(*m), kw);
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

} // namespace splitmail::home::imap
