// Helpers shared by the IMAP store's files (store_detail.hpp).
#include "imap/store_detail.hpp"

#include "imap/codec.hpp"
#include "imap/header_cache.hpp"
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

namespace detail {

std::int64_t mtime_ns(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return -1;
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// How far back an mtime must lie before we trust that a later change would alter it: the
// kernel stamps directories from a coarse clock (a few ms); a file system with whole-second
// stamps (nanoseconds always 0) needs a second.
std::int64_t trust_margin(std::int64_t mtime) {
    return mtime % 1000000000 == 0 ? 1'100'000'000LL : 20'000'000LL;
}

std::error_code errno_code() { return {errno, std::generic_category()}; }

std::error_code fsync_dir(const fs::path& d) {
    auto r = durable::fsync_dir(d);
    return r ? std::error_code{} : r.error().code;
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

// Writes `parts` to `path` through a temp file: write, fsync, rename, fsync of the directory
// (until then a crash may bring back the old file, and with it lose records appended to the
// new one after its UIDs were handed out).
// The folder lock makes us the only writer: a fixed "<name>.tmp".
std::error_code replace_file(const fs::path& path, std::initializer_list<std::string_view> parts) {
    durable::replace_options opt;
    opt.locked = true;
    auto r = durable::replace_file(path, parts, opt);
    return r ? std::error_code{} : r.error().code;
}
std::error_code replace_file(const fs::path& path, std::string_view text) {
    return replace_file(path, {text});
}

// nullopt when missing or unreadable. The cap only guards against a wrong file: an index of
// a million messages is well under 100 MiB.
std::optional<std::string> read_small_file(const fs::path& p) {
    auto r = durable::read_file(p, {std::size_t{1} << 30, true});
    if (!r) return std::nullopt;
    return std::move(*r);
}

// Splits the next space-separated field off `s`.
std::string_view field(std::string_view& s) {
    auto sp = s.find(' ');
    std::string_view f = s.substr(0, sp);
    s = sp == std::string_view::npos ? std::string_view() : s.substr(sp + 1);
    return f;
}

bool acceptable_file(std::string_view f) {
    if (f.empty() || f[0] == '.' || f.size() > 255) return false;
    return f.find_first_of("\n\r/ ") == std::string_view::npos;
}

std::atomic<std::uint64_t> name_counter{0};

void put_u64(std::string& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}
void put_i64(std::string& out, std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

} // namespace detail

} // namespace splitmail::home::imap
