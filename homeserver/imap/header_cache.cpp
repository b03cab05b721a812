// Per-folder cache of SORT values; see header_cache.hpp.
#include "imap/header_cache.hpp"

#include "imap/address.hpp"
#include "imap/mime.hpp"
#include "imap/sort_keys.hpp"
#include "imap/store.hpp"

#include "splitmail/durable/file.hpp"
#include "splitmail/log/log.hpp"

#include <algorithm>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace splitmail::home::imap {
namespace {

// The header block of the file at `p` (up to and including the blank line, or the first
// max_header octets; "" when it cannot be read).
std::string read_header(const fs::path& p) {
    durable::unique_fd fd(::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    std::string out;
    if (!fd) return out;
    char buf[16 * 1024];
    std::size_t scanned = 0;
    while (out.size() < header_cache::max_header) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        // The blank line: "\n\n" or "\n\r\n"; search only the new octets (and 2 before them).
        std::size_t from = scanned > 2 ? scanned - 2 : 0;
        for (std::size_t i = from; i + 1 < out.size(); ++i) {
            if (out[i] != '\n') continue;
            if (out[i + 1] == '\n') return out.substr(0, i + 2);
            if (out[i + 1] == '\r' && i + 2 < out.size() && out[i + 2] == '\n')
                return out.substr(0, i + 3);
        }
        scanned = out.size();
    }
    if (out.size() > header_cache::max_header) out.resize(header_cache::max_header);
    return out;
}

// What a header gives, before it is packed into one block (header_cache::read).
struct header_values {
    std::int64_t sent = sort_fields::no_date;
    bool reply = false;
    // subject, from, to, cc, display_from, display_to, message_id
    std::string s[7];
    std::vector<std::string> refs;
};

header_values values_of(std::string_view header) {
    header_values v;
    if (auto d = mime::field(header, "Date"))
        if (auto t = sort_keys::sent_date(*d)) v.sent = *t;
    if (auto s = mime::field(header, "Subject")) v.s[0] = sort_keys::base_subject(*s, &v.reply);
    if (auto x = mime::field(header, "Message-ID")) {
        auto ids = sort_keys::message_ids(*x, 1);
        if (!ids.empty()) v.s[6] = std::move(ids.back());
    }
    if (auto x = mime::field(header, "References"))
        v.refs = sort_keys::message_ids(*x, header_cache::max_references);
    if (v.refs.empty())
        if (auto x = mime::field(header, "In-Reply-To")) {
            auto ids = sort_keys::message_ids(*x, header_cache::max_references);
            if (!ids.empty()) v.refs.push_back(std::move(ids.front()));
        }
    if (auto x = mime::field(header, "From")) {
        auto l = address::parse_list(*x);
        v.s[1] = sort_keys::first_mailbox(l);
        v.s[4] = sort_keys::first_display(l);
    }
    if (auto x = mime::field(header, "To")) {
        auto l = address::parse_list(*x);
        v.s[2] = sort_keys::first_mailbox(l);
        v.s[5] = sort_keys::first_display(l);
    }
    if (auto x = mime::field(header, "Cc"))
        v.s[3] = sort_keys::first_mailbox(address::parse_list(*x));
    return v;
}

// The seven string fields of f, in the file's order.
std::string_view* strings_of(sort_fields& f, int i) {
    std::string_view* all[] = {&f.subject,      &f.from,       &f.to,        &f.cc,
                               &f.display_from, &f.display_to, &f.message_id};
    return all[i];
}
const std::string_view& strings_of(const sort_fields& f, int i) {
    return *strings_of(const_cast<sort_fields&>(f), i);
}

constexpr std::string_view magic = "splitmail-headercache 2\n";
static_assert(magic.size() + 8 == header_cache::header_size);
// An entry's strings record takes at least 33 octets (flag and eight lengths).
constexpr std::size_t min_record = 33;

template <class T>
void put(std::string& out, T v) {
    char b[sizeof v];
    std::memcpy(b, &v, sizeof v);
    out.append(b, sizeof v);
}
void put_string(std::string& out, std::string_view s) {
    put(out, static_cast<std::uint32_t>(s.size()));
    out += s;
}

// Bounds-checked reader of the file format; strings are views into `in`.
struct reader {
    std::string_view in;
    std::size_t p = 0;
    bool ok = true;
    template <class T>
    T get() {
        T v{};
        if (!ok || in.size() - p < sizeof v) {
            ok = false;
            return v;
        }
        std::memcpy(&v, in.data() + p, sizeof v);
        p += sizeof v;
        return v;
    }
    std::string_view str() {
        auto n = get<std::uint32_t>();
        if (!ok || in.size() - p < n || n > header_cache::max_header) {
            ok = false;
            return {};
        }
        auto s = in.substr(p, n);
        p += n;
        return s;
    }
};

// The checked date table entries of a file ("" and false when the file is not usable).
bool date_table(std::string_view file, std::uint32_t uidvalidity, std::string_view& table) {
    if (file.size() < header_cache::header_size + 8 || !file.starts_with(magic)) return false;
    reader r{file, magic.size()};
    if (r.get<std::uint32_t>() != uidvalidity) return false;
    const auto count = r.get<std::uint32_t>();
    const std::size_t size = header_cache::date_table_size(count);
    if (file.size() < size) return false;
    std::uint64_t sum = 0;
    std::memcpy(&sum, file.data() + size - 8, 8);
    if (sum != header_cache::checksum(file.substr(0, size - 8))) return false;
    std::uint32_t last = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::uint32_t uid = 0;
        std::memcpy(&uid, file.data() + header_cache::header_size + 12 * std::size_t{i}, 4);
        if (i > 0 && uid <= last) return false; // order broken
        last = uid;
    }
    table = file.substr(header_cache::header_size, 12 * std::size_t{count});
    return true;
}

std::pair<std::uint32_t, std::int64_t> date_entry(std::string_view table, std::size_t i) {
    std::uint32_t uid = 0;
    std::int64_t sent = 0;
    std::memcpy(&uid, table.data() + 12 * i, 4);
    std::memcpy(&sent, table.data() + 12 * i + 4, 8);
    return {uid, sent};
}

// The file's entries, each handed to emit(uid, sort_fields) as it is read (after
// reserve(count)); false for a file that fails any check (then nothing emitted must be used).
template <class Reserve, class Emit>
bool parse_entries(std::string_view file, std::uint32_t uidvalidity, Reserve reserve, Emit emit) {
    std::string_view table;
    if (!date_table(file, uidvalidity, table)) return false;
    const std::size_t count = table.size() / 12;
    const std::size_t start = header_cache::header_size + table.size() + 8;
    if (file.size() < start + 8) return false;
    std::string_view strings = file.substr(start, file.size() - start - 8);
    std::uint64_t sum = 0;
    std::memcpy(&sum, file.data() + file.size() - 8, 8);
    if (sum != header_cache::checksum(strings)) return false;
    if (count > strings.size() / min_record) return false; // a count the file cannot hold
    reserve(count);
    reader r{strings, 0};
    for (std::size_t i = 0; i < count; ++i) {
        auto [uid, sent] = date_entry(table, i);
        sort_fields f;
        f.sent = sent;
        f.subject_reply = r.get<std::uint8_t>() != 0;
        for (int k = 0; k < 7; ++k) *strings_of(f, k) = r.str();
        auto refs = r.str();
        if (!r.ok || !id_list::valid(refs, header_cache::max_references)) return false;
        f.references = id_list(refs);
        emit(uid, f);
    }
    return r.p == strings.size();
}

// A read-only mapping of the file at `p` (none when it is missing, empty or unreadable).
file_mapping map_whole(const fs::path& p) {
    durable::unique_fd fd(::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) return {};
    const auto len = static_cast<std::size_t>(st.st_size);
    void* a = ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.get(), 0);
    if (a == MAP_FAILED) return {};
    return {a, len};
}

} // namespace

bool id_list::valid(std::string_view joined, std::size_t max) {
    if (joined.empty()) return true;
    if (joined.front() == '\0' || joined.back() != '\0') return false;
    std::size_t n = 0;
    for (std::size_t i = 0; i < joined.size(); ++i)
        if (joined[i] == '\0') {
            if (++n > max) return false;
            if (i + 1 < joined.size() && joined[i + 1] == '\0') return false; // an empty id
        }
    return true;
}

std::uint64_t header_cache::checksum(std::string_view s) {
    // A damage check, not a defence: eight octets per step.
    std::uint64_t h = 1469598103934665603ULL ^ s.size();
    auto mix = [&h](std::uint64_t w) {
        h = (h ^ w) * 1099511628211ULL;
        h ^= h >> 29;
    };
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        mix(w);
    }
    std::uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    mix(tail);
    return h;
}

std::optional<header_cache::dates> header_cache::parse_dates(std::string_view file,
                                                             std::uint32_t uidvalidity) {
    std::string_view table;
    if (!date_table(file, uidvalidity, table)) return std::nullopt;
    dates out;
    out.reserve(table.size() / 12);
    for (std::size_t i = 0; i < table.size() / 12; ++i) out.push_back(date_entry(table, i));
    return out;
}

std::optional<header_cache::entries> header_cache::parse(std::string_view file,
                                                         std::uint32_t uidvalidity) {
    entries out;
    bool ok = parse_entries(
        file, uidvalidity, [&](std::size_t n) { out.reserve(n); },
        [&](std::uint32_t uid, const sort_fields& f) { out.emplace_back(uid, f); });
    if (!ok) return std::nullopt;
    return out;
}

std::string header_cache::serialize(const folder& f) const {
    // Every entry of a message still present, ascending by UID: the file's (already in order)
    // merged with the ones read since.
    std::vector<std::pair<std::uint32_t, const sort_fields*>> all;
    all.reserve(from_file_.size() + read_.size());
    for (const auto& [uid, e] : from_file_)
        if (f.find(uid)) all.emplace_back(uid, &e);
    const std::size_t file_part = all.size();
    for (const auto& [uid, e] : read_)
        if (f.find(uid)) all.emplace_back(uid, &e.f);
    std::sort(all.begin() + static_cast<std::ptrdiff_t>(file_part), all.end());
    std::inplace_merge(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(file_part),
                       all.end());
    std::string out(magic);
    put(out, uidvalidity_);
    put(out, static_cast<std::uint32_t>(all.size()));
    for (const auto& [uid, e] : all) {
        put(out, uid);
        put(out, e->sent);
    }
    put(out, checksum(out));
    const std::size_t strings = out.size();
    for (const auto& [uid, e] : all) {
        put(out, static_cast<std::uint8_t>(e->subject_reply ? 1 : 0));
        for (int k = 0; k < 7; ++k) put_string(out, strings_of(*e, k));
        put_string(out, e->references.joined());
    }
    put(out, checksum(std::string_view(out).substr(strings)));
    return out;
}

void header_cache::map_file(const folder& f) {
    mapped_ = true;
    const auto path = f.dir() / file_name;
    map_ = map_whole(path);
    if (!map_.addr) return; // no file yet: nothing to say
    if (!date_table(map_.view(), uidvalidity_, table_)) {
        log::warn("imap", "-", "header cache file not used (damaged, stale or of an older version)",
                  {{"path", path.string()}});
        table_ = {};
        map_ = {};
    }
}

void header_cache::load_strings(const folder& f) {
    loaded_ = true;
    if (!mapped_) map_file(f);
    if (table_.empty()) return;
    // Only the entries of messages still present (both lists ascend by UID).
    const auto& msgs = f.messages();
    auto m = msgs.begin();
    from_file_.reserve(std::min(table_.size() / 12, msgs.size()));
    bool ok = parse_entries(
        map_.view(), uidvalidity_, [](std::size_t) {},
        [&](std::uint32_t uid, const sort_fields& e) {
            while (m != msgs.end() && m->uid < uid) ++m;
            if (m != msgs.end() && m->uid == uid) from_file_.emplace_back(uid, e);
        });
    table_ = {}; // from_file_ has the dates now
    if (!ok) {
        from_file_.clear();
        log::warn("imap", "-", "header cache file not used (damaged)",
                  {{"path", (f.dir() / file_name).string()}});
        map_ = {};
    }
}

const sort_fields* header_cache::in_file(std::uint32_t uid) const {
    auto it = std::lower_bound(from_file_.begin(), from_file_.end(), uid,
                               [](const auto& e, std::uint32_t u) { return e.first < u; });
    return it != from_file_.end() && it->first == uid ? &it->second : nullptr;
}

std::optional<std::int64_t> header_cache::in_date_table(std::uint32_t uid) const {
    std::size_t lo = 0, hi = table_.size() / 12;
    while (lo < hi) {
        std::size_t mid = lo + (hi - lo) / 2;
        auto [u, sent] = date_entry(table_, mid);
        if (u == uid) return sent;
        if (u < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return std::nullopt;
}

void header_cache::persist(const folder& f) {
    if (unsaved_ < persist_after) return;
    if (!loaded_) load_strings(f); // the file's entries are written again
    durable::replace_options opt;
    opt.locked = true; // the folder's flock makes this process the only writer
    auto r = durable::replace_file(f.dir() / file_name, serialize(f), opt);
    if (!r) {
        log::warn("imap", "-", "cannot write the header cache", {{"error", r.error().text()}});
        return;
    }
    // The entries in memory stay where they are (views handed out remain valid); the mapping
    // keeps the replaced file's inode until the next restart.
    unsaved_ = 0;
}

void header_cache::reset_if_stale(const folder& f) {
    if (f.uidvalidity() == uidvalidity_) return;
    read_.clear();
    from_file_.clear();
    table_ = {};
    map_ = {};
    uidvalidity_ = f.uidvalidity();
    loaded_ = false;
    mapped_ = false;
    unsaved_ = 0;
}

const sort_fields& header_cache::read(const folder& f, const message_entry& m) {
    if (read_.size() >= 64 && read_.size() > 2 * f.messages().size())
        std::erase_if(read_, [&](const auto& kv) { return f.find(kv.first) == nullptr; });
    ++reads_;
    ++unsaved_;
    auto v = values_of(read_header(f.path_of(m)));
    // One block for all values; ids holding a NUL (it separates them) are left out.
    std::size_t len = 0;
    for (const auto& s : v.s) len += s.size();
    for (const auto& r : v.refs) len += r.size() + 1;
    owned o;
    o.text = std::make_unique_for_overwrite<char[]>(std::max<std::size_t>(len, 1));
    char* p = o.text.get();
    auto place = [&p](std::string_view s) {
        std::memcpy(p, s.data(), s.size());
        std::string_view out(p, s.size());
        p += s.size();
        return out;
    };
    o.f.sent = v.sent;
    o.f.subject_reply = v.reply;
    for (int k = 0; k < 7; ++k) *strings_of(o.f, k) = place(v.s[k]);
    const char* refs = p;
    for (const auto& r : v.refs) {
        if (r.empty() || r.find('\0') != std::string::npos) continue;
        place(r);
        *p++ = '\0';
    }
    o.f.references = id_list(std::string_view(refs, static_cast<std::size_t>(p - refs)));
    return read_.insert_or_assign(m.uid, std::move(o)).first->second.f;
}

const sort_fields& header_cache::get(const folder& f, const message_entry& m) {
    reset_if_stale(f);
    if (auto it = read_.find(m.uid); it != read_.end()) return it->second.f;
    if (!loaded_) load_strings(f);
    if (const auto* e = in_file(m.uid)) return *e;
    return read(f, m);
}

std::int64_t header_cache::sent(const folder& f, const message_entry& m) {
    reset_if_stale(f);
    if (auto it = read_.find(m.uid); it != read_.end()) return it->second.f.sent;
    if (loaded_) {
        if (const auto* e = in_file(m.uid)) return e->sent;
    } else {
        if (!mapped_) map_file(f);
        if (auto d = in_date_table(m.uid)) return *d;
    }
    return read(f, m).sent;
}

} // namespace splitmail::home::imap
