// A user's mailboxes (mailbox_store, store.hpp): names, open, list, create, delete, rename,
// subscriptions, special use.
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
    auto& r = registry_->state();
    const std::string key = d->string();
    std::shared_ptr<folder> f, fresh, evicted;
    {
        std::lock_guard lk(r.open_mu);
        if (auto it = r.open.find(key); it != r.open.end()) f = it->second.lock();
    }
    // A loaded folder's directories exist (its sync() checks them): no mkdir or stat per
    // SELECT, STATUS or APPEND (issue 15).
    if (!f && is_inbox(name)) {
        if (auto ec = make_maildir(*d)) return std::unexpected(ec);
    } else if (!f && !exists(name)) {
        return std::unexpected(std::make_error_code(std::errc::no_such_file_or_directory));
    }
    bool created = !f;
    if (created) {
        // The index is loaded without the registry's mutex held, so one user's cold SELECT
        // never waits for another's. The same folder is not loaded twice at once: a user's
        // sessions run one at a time (their strand); were it to happen, the later one shares.
        fresh = std::make_shared<folder>(*d, host_, root_, registry_);
        std::lock_guard lk(r.open_mu);
        auto& slot = r.open[key];
        f = slot.lock();
        created = !f;
        if (created) slot = f = fresh;
    }
    {
        // Keep the most recently opened folders loaded, so the next SELECT needs no index
        // read. One that falls out is released after the mutex (its destructor fsyncs).
        std::lock_guard lk(r.open_mu);
        std::erase(r.recent, f);
        r.recent.push_front(f);
        if (r.recent.size() > r.keep_loaded) {
            evicted = std::move(r.recent.back());
            r.recent.pop_back();
        }
    }
    evicted.reset();
    if (auto ec = f->sync()) {
        if (created) { // e.g. locked by another process: try afresh next time
            std::lock_guard lk(r.open_mu);
            if (auto it = r.open.find(key); it != r.open.end() && it->second.lock() == f)
                r.open.erase(it);
            std::erase(r.recent, f);
        }
        return std::unexpected(ec);
    }
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
    // RFC 3501 5.1.3: only canonical modified UTF-7 is created (no "&AAA-", "&", ...).
    if (!mutf7_valid(n)) return std::make_error_code(std::errc::invalid_argument);
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
    registry_->state().forget_loaded(*dir_of(name));
    std::error_code ec;
    fs::remove_all(*dir_of(name), ec);
    if (ec) return ec;
    // The subscription stays: RFC 3501 6.3.6 (RFC 9051 6.3.7), the server MUST NOT remove a
    // name from the subscriptions because its mailbox no longer exists.
    return fsync_dir(root_);
}

std::error_code mailbox_store::rename(std::string_view from, std::string_view to) {
    if (is_inbox(from)) return std::make_error_code(std::errc::operation_not_supported);
    if (!exists(from)) return std::make_error_code(std::errc::no_such_file_or_directory);
    if (is_inbox(to) || exists(to)) return std::make_error_code(std::errc::file_exists);
    if (!dir_of(to) || !mutf7_valid(to)) return std::make_error_code(std::errc::invalid_argument);
    // RFC 3501 6.3.5: inferior names are renamed too.
    std::string prefix = std::string(from) + ".";
    std::vector<std::string> moves{std::string(from)};
    for (const auto& n : list())
        if (n.starts_with(prefix)) moves.push_back(n);
    for (const auto& n : moves) {
        std::string target = std::string(to) + n.substr(from.size());
        if (!dir_of(target)) return std::make_error_code(std::errc::invalid_argument);
        registry_->state().forget_loaded(*dir_of(n));
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

namespace {
// Dovecot 2.3 writes "V\t2\n\n" and then one name per line with '\t' between hierarchy
// levels; older Dovecot, Courier and we write plain names, one per line.
constexpr std::string_view dovecot_v2_header = "V\t2\n\n";
} // namespace

std::vector<std::string> mailbox_store::subscriptions() const {
    std::vector<std::string> out;
    auto text = read_small_file(root_ / "subscriptions");
    if (!text) return out;
    std::string_view rest(*text);
    bool v2 = rest.starts_with(dovecot_v2_header);
    if (v2) rest.remove_prefix(dovecot_v2_header.size());
    while (!rest.empty()) {
        auto nl = rest.find('\n');
        std::string line(rest.substr(0, nl));
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        if (v2) std::replace(line.begin(), line.end(), '\t', '.');
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty() && std::find(out.begin(), out.end(), line) == out.end())
            out.push_back(line);
    }
    return out;
}

std::error_code mailbox_store::subscribe(std::string_view name, bool on) {
    auto subs = subscriptions();
    auto it = std::find(subs.begin(), subs.end(), name);
    if (on == (it != subs.end())) return {};
    if (on)
        subs.emplace_back(name);
    else
        subs.erase(it);
    if (auto ec = make_maildir(root_)) return ec;
    auto old = read_small_file(root_ / "subscriptions");
    bool v2 = old && std::string_view(*old).starts_with(dovecot_v2_header);
    std::string text = v2 ? std::string(dovecot_v2_header) : std::string();
    for (auto s : subs) {
        if (v2) std::replace(s.begin(), s.end(), '.', '\t');
        text += s + "\n";
    }
    return replace_file(root_ / "subscriptions", text);
}

bool mailbox_store::has_children(const std::vector<std::string>& names, std::string_view name) {
    // `names` as list() gives them: INBOX, then the rest sorted, where the children of `name`
    // are one run starting at name + "." (a binary search: LIST asks this for every name).
    std::string prefix = std::string(name) + ".";
    auto begin = names.empty() ? names.end() : names.begin() + 1;
    auto it = std::lower_bound(begin, names.end(), prefix);
    return it != names.end() && it->size() > prefix.size() && it->starts_with(prefix);
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

} // namespace splitmail::home::imap
