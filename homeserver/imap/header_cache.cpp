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

sort_fields fields_of(std::string_view header) {
    sort_fields f;
    if (auto d = mime::field(header, "Date"))
        if (auto t = sort_keys::sent_date(*d)) f.sent = *t;
    if (auto s = mime::field(header, "Subject"))
        f.subject = sort_keys::base_subject(*s, &f.subject_reply);
    if (auto v = mime::field(header, "Message-ID")) {
        auto ids = sort_keys::message_ids(*v, 1);
        if (!ids.empty()) f.message_id = std::move(ids.back());
    }
    if (auto v = mime::field(header, "References"))
        f.references = sort_keys::message_ids(*v, header_cache::max_references);
    if (f.references.empty())
        if (auto v = mime::field(header, "In-Reply-To")) {
            auto ids = sort_keys::message_ids(*v, header_cache::max_references);
            if (!ids.empty()) f.references.push_back(std::move(ids.front()));
        }
    if (auto v = mime::field(header, "From")) {
        auto l = address::parse_list(*v);
        f.from = sort_keys::first_mailbox(l);
        f.display_from = sort_keys::first_display(l);
    }
    if (auto v = mime::field(header, "To")) {
        auto l = address::parse_list(*v);
        f.to = sort_keys::first_mailbox(l);
        f.display_to = sort_keys::first_display(l);
    }
    if (auto v = mime::field(header, "Cc"))
        f.cc = sort_keys::first_mailbox(address::parse_list(*v));
    return f;
}

constexpr std::string_view magic = "splitmail-headercache 2\n";
static_assert(magic.size() + 8 == header_cache::header_size);

template <class T>
void put(std::string& out, T v) {
    char b[sizeof v];
    std::memcpy(b, &v, sizeof v);
    out.append(b, sizeof v);
}
void put_string(std::string& out, const std::string& s) {
    put(out, static_cast<std::uint32_t>(s.size()));
    out += s;
}

// Bounds-checked reader of the file format.
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
    std::string str() {
        auto n = get<std::uint32_t>();
        if (!ok || in.size() - p < n || n > header_cache::max_header) {
            ok = false;
            return {};
        }
        std::string s(in.substr(p, n));
        p += n;
        return s;
    }
};

} // namespace

std::uint64_t header_cache::checksum(std::string_view s) {
    // A damage check, not a defence: eight octets per step (the strings part of a 100,000
    // message folder is some 30 MB, checked when it is loaded).
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

std::string header_cache::serialize() const {
    std::vector<const std::pair<const std::uint32_t, sort_fields>*> order;
    order.reserve(by_uid_.size());
    for (const auto& e : by_uid_) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](auto* x, auto* y) { return x->first < y->first; });
    std::string out(magic);
    put(out, uidvalidity_);
    put(out, static_cast<std::uint32_t>(order.size()));
    for (const auto* e : order) {
        put(out, e->first);
        put(out, e->second.sent);
    }
    put(out, checksum(out));
    const std::size_t strings = out.size();
    for (const auto* e : order) {
        const auto& f = e->second;
        put(out, static_cast<std::uint8_t>(f.subject_reply ? 1 : 0));
        for (const auto* s :
             {&f.subject, &f.from, &f.to, &f.cc, &f.display_from, &f.display_to, &f.message_id})
            put_string(out, *s);
        put(out, static_cast<std::uint16_t>(f.references.size()));
        for (const auto& r : f.references) put_string(out, r);
    }
    put(out, checksum(std::string_view(out).substr(strings)));
    return out;
}

std::optional<header_cache::dates> header_cache::parse_dates(std::string_view file,
                                                             std::uint32_t uidvalidity) {
    if (file.size() < header_size + 8 || !file.starts_with(magic)) return std::nullopt;
    reader r{file, magic.size()};
    if (r.get<std::uint32_t>() != uidvalidity) return std::nullopt;
    const auto count = r.get<std::uint32_t>();
    const std::size_t size = date_table_size(count);
    if (file.size() < size) return std::nullopt;
    std::uint64_t sum = 0;
    std::memcpy(&sum, file.data() + size - 8, 8);
    if (sum != checksum(file.substr(0, size - 8))) return std::nullopt;
    dates out;
    out.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        const auto uid = r.get<std::uint32_t>();
        const auto sent = r.get<std::int64_t>();
        if (!out.empty() && uid <= out.back().first) return std::nullopt; // order broken
        out.emplace_back(uid, sent);
    }
    return out;
}

namespace {

// The file's entries, each handed to emit(uid, sort_fields&&) as it is read (after
// reserve(count)); false for a file that fails any check (then nothing emitted must be used).
template <class Reserve, class Emit>
bool parse_entries(std::string_view file, std::uint32_t uidvalidity, Reserve reserve, Emit emit) {
    auto table = header_cache::parse_dates(file, uidvalidity);
    if (!table) return false;
    const std::size_t start =
        header_cache::date_table_size(static_cast<std::uint32_t>(table->size()));
    if (file.size() < start + 8) return false;
    std::string_view strings = file.substr(start, file.size() - start - 8);
    std::uint64_t sum = 0;
    std::memcpy(&sum, file.data() + file.size() - 8, 8);
    if (sum != header_cache::checksum(strings)) return false;
    // An entry's strings take at least 31 octets: a count the file cannot hold is a bad file.
    if (table->size() > strings.size() / 31) return false;
    reserve(table->size());
    reader r{strings, 0};
    for (const auto& [uid, sent] : *table) {
        sort_fields f;
        f.sent = sent;
        f.subject_reply = r.get<std::uint8_t>() != 0;
        for (auto* s :
             {&f.subject, &f.from, &f.to, &f.cc, &f.display_from, &f.display_to, &f.message_id})
            *s = r.str();
        auto refs = r.get<std::uint16_t>();
        if (refs > header_cache::max_references) r.ok = false;
        for (std::uint16_t k = 0; k < refs && r.ok; ++k) f.references.push_back(r.str());
        if (!r.ok) return false;
        emit(uid, std::move(f));
    }
    return r.p == strings.size();
}

// Exactly n octets at offset `at` of fd (nullopt: an error or a shorter file).
std::optional<std::string> read_at(int fd, std::size_t at, std::size_t n) {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
        ssize_t k = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(at + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return std::nullopt;
        got += static_cast<std::size_t>(k);
    }
    return out;
}

} // namespace

std::optional<header_cache::entries> header_cache::parse(std::string_view file,
                                                         std::uint32_t uidvalidity) {
    entries out;
    bool ok = parse_entries(
        file, uidvalidity, [&](std::size_t n) { out.reserve(n); },
        [&](std::uint32_t uid, sort_fields&& f) { out.emplace_back(uid, std::move(f)); });
    if (!ok) return std::nullopt;
    return out;
}

void header_cache::load(const folder& f) {
    loaded_ = true;
    dates_ = {}; // the full entries replace the date table
    dates_looked_ = true;
    auto text = durable::read_file_if_exists(f.dir() / file_name, {std::size_t{1} << 30, true});
    if (!text || !*text) return;
    // Straight into the map (one sort_fields per entry, no intermediate list: on a 100,000
    // message folder the first SORT after a restart was mostly allocation and page faults).
    std::unordered_map<std::uint32_t, sort_fields> loaded;
    bool ok = parse_entries(
        **text, uidvalidity_, [&](std::size_t n) { loaded.reserve(n + by_uid_.size()); },
        [&](std::uint32_t uid, sort_fields&& fields) {
            if (f.find(uid)) loaded.insert_or_assign(uid, std::move(fields));
        });
    if (!ok) {
        log::warn("imap", "-", "header cache file not used (damaged, stale or of an older version)",
                  {{"path", (f.dir() / file_name).string()}});
        return;
    }
    // Entries read before the load (by sent(), or get() before it) stay; they count as unsaved
    // when they were read from headers.
    for (auto& [uid, fields] : by_uid_) loaded.insert_or_assign(uid, std::move(fields));
    by_uid_ = std::move(loaded);
}

void header_cache::load_dates(const folder& f) {
    dates_looked_ = true;
    const auto path = f.dir() / file_name;
    durable::unique_fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return; // no file yet (or unreadable: load() reports it)
    auto head = read_at(fd.get(), 0, header_size);
    if (!head) return;
    std::uint32_t count = 0;
    std::memcpy(&count, head->data() + magic.size() + 4, 4);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 ||
        static_cast<std::size_t>(st.st_size) < date_table_size(count))
        return;
    auto table = read_at(fd.get(), 0, date_table_size(count));
    if (!table) return;
    if (auto d = parse_dates(*table, uidvalidity_)) dates_ = std::move(*d);
}

void header_cache::persist(const folder& f) {
    if (unsaved_ < persist_after) return;
    if (!loaded_) load(f); // the file's entries not in memory yet are written again
    durable::replace_options opt;
    opt.locked = true; // the folder's flock makes this process the only writer
    auto r = durable::replace_file(f.dir() / file_name, serialize(), opt);
    if (!r) {
        log::warn("imap", "-", "cannot write the header cache", {{"error", r.error().text()}});
        return;
    }
    unsaved_ = 0;
}

void header_cache::reset_if_stale(const folder& f) {
    if (f.uidvalidity() == uidvalidity_) return;
    by_uid_.clear();
    dates_ = {};
    uidvalidity_ = f.uidvalidity();
    loaded_ = false;
    dates_looked_ = false;
    unsaved_ = 0;
}

sort_fields& header_cache::read(const folder& f, const message_entry& m) {
    if (by_uid_.size() >= 64 && by_uid_.size() > 2 * f.messages().size()) prune(f);
    ++reads_;
    ++unsaved_;
    return by_uid_.emplace(m.uid, fields_of(read_header(f.path_of(m)))).first->second;
}

const sort_fields& header_cache::get(const folder& f, const message_entry& m) {
    reset_if_stale(f);
    if (!loaded_) load(f);
    auto it = by_uid_.find(m.uid);
    if (it != by_uid_.end()) return it->second;
    return read(f, m);
}

std::int64_t header_cache::sent(const folder& f, const message_entry& m) {
    reset_if_stale(f);
    auto it = by_uid_.find(m.uid);
    if (it != by_uid_.end()) return it->second.sent;
    if (!loaded_) {
        if (!dates_looked_) load_dates(f);
        auto d = std::lower_bound(dates_.begin(), dates_.end(), m.uid,
                                  [](const auto& e, std::uint32_t u) { return e.first < u; });
        if (d != dates_.end() && d->first == m.uid) return d->second;
    }
    return read(f, m).sent;
}

void header_cache::prune(const folder& f) {
    std::erase_if(by_uid_, [&](const auto& kv) { return f.find(kv.first) == nullptr; });
}

} // namespace splitmail::home::imap
