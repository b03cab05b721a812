#pragma once
// What SORT and THREAD need of each message, read once and kept with the folder (the way
// Dovecot keeps header fields in dovecot.index.cache): the base subject, the sent date, the
// sort values of From, To and Cc (sort_keys.hpp), Message-ID and References. Filled on first
// use, per message; shared by every session that has the folder open (the folder object is
// shared, store.hpp), so a second SORT, in any session, reads no file.
//
// Guarantees: a message's header is read at most once per process while its folder stays
// loaded (a message's content never changes under one UID); only the header is read, at most
// `max_header` octets of it. The values are views: into the cache file, mapped where it lies
// in the page cache (nothing copied: on a 100,000 message folder a restart then costs a few
// milliseconds instead of the hundreds that fresh memory for 30 MB of strings took), or into
// one block per message whose header was read. They stay valid until the folder gets a new
// UIDVALIDITY (never within a command).
// Memory: the mapped file (shared with the page cache), one 152-octet entry per message of the
// file once a key needs strings, and one entry and block per header read since (about 100
// octets of values for typical headers); read entries of expunged UIDs are dropped when they
// are more than half of those; a new UIDVALIDITY empties it.
// Persisted: `splitmail-headercache` in the folder's directory holds the entries (written
// whole with durable::replace_file by persist() once `persist_after` entries were read since
// the last write, so a folder of a few hundred messages never writes one), and the first use
// after a restart maps it instead of reading the headers again. SORT (DATE) needs only the
// dates: sent() looks at the file's fixed-size date table alone (12 octets per message) and
// leaves the strings untouched until a key needs them (get()).
// Layout (little-endian):
//   "splitmail-headercache 2\n", u32 UIDVALIDITY, u32 count,
//   the date table: count times (u32 UID, i64 sent), UIDs strictly ascending,
//   u64 checksum of everything before (checksum(): 64-bit words, multiply and xorshift),
//   the strings, per entry in the date table's order: u8 reply flag, 7 strings (subject, from,
//   to, cc, display_from, display_to, message_id) and the references, each as u32 length +
//   octets (the references: each Message-ID followed by a NUL); then the u64 checksum of the
//   strings part.
// A file that fails any check (magic, checksums, lengths, counts, order, UIDVALIDITY) is
// ignored as a whole (logged); entries of UIDs no longer present are never asked for and are
// not written again. The file is only ever replaced by rename (this process holds the
// folder's lock): a mapping keeps the inode it was made of.
// Does not: lock: it is used from the thread that runs the folder's sessions.
#include "imap/file_mapping.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace splitmail::home::imap {

class folder;
struct message_entry;

// Message-IDs, each followed by a NUL (a view into the cache): iterates string_views.
class id_list {
public:
    id_list() = default;
    explicit id_list(std::string_view joined) : s_(joined) {}
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::string_view;
        using difference_type = std::ptrdiff_t;
        using pointer = const std::string_view*;
        using reference = std::string_view;
        iterator() = default;
        explicit iterator(std::string_view rest) : rest_(rest) {}
        std::string_view operator*() const { return rest_.substr(0, rest_.find('\0')); }
        iterator& operator++() {
            rest_.remove_prefix(std::min(rest_.size(), rest_.find('\0') + 1));
            return *this;
        }
        iterator operator++(int) {
            auto t = *this;
            ++*this;
            return t;
        }
        bool operator==(const iterator& o) const { return rest_.size() == o.rest_.size(); }

    private:
        std::string_view rest_;
    };
    iterator begin() const { return iterator(s_); }
    iterator end() const { return iterator(s_.substr(s_.size())); }
    bool empty() const { return s_.empty(); }
    std::size_t size() const {
        return static_cast<std::size_t>(std::count(s_.begin(), s_.end(), '\0'));
    }
    std::string_view joined() const { return s_; }
    // True for "" or one or more non-empty ids each followed by a NUL, at most `max` of them.
    static bool valid(std::string_view joined, std::size_t max);

private:
    std::string_view s_;
};

struct sort_fields {
    static constexpr std::int64_t no_date = INT64_MIN;
    std::int64_t sent = no_date;               // Date: in UTC seconds; no_date: use INTERNALDATE
    std::string_view subject;                  // base subject, i;ascii-casemap
    std::string_view from, to, cc;             // addr-mailbox of the first address, i;ascii-casemap
    std::string_view display_from, display_to; // RFC 5957 display values
    bool subject_reply = false; // "Re:", "Fwd:" ... were removed (THREAD, RFC 5256 REFERENCES 5)
    // THREAD=REFERENCES: the Message-ID, and the parents: References (its last
    // max_references ids), or the first id of In-Reply-To when there is no References.
    std::string_view message_id;
    id_list references;
};

class header_cache {
public:
    static constexpr std::size_t max_header = 256 * 1024;
    static constexpr std::size_t max_references = 64;

    static constexpr std::size_t persist_after = 1000;
    static constexpr const char* file_name = "splitmail-headercache";

    const sort_fields& get(const folder& f, const message_entry& m);
    // The sent date alone (sort_fields::sent): from an entry in memory, else from the file's
    // date table, else from the message's header (then kept as get() would). Never touches
    // the file's strings.
    std::int64_t sent(const folder& f, const message_entry& m);
    // Writes the cache file when persist_after entries were read since the last write (or
    // load); errors are logged, never reported (it is a cache). Values handed out stay valid.
    void persist(const folder& f);

    // The file format (see above), for persist/load, the tests and the fuzz target. parse()'s
    // values are views into `file`.
    using entries = std::vector<std::pair<std::uint32_t, sort_fields>>;
    static std::optional<entries> parse(std::string_view file, std::uint32_t uidvalidity);
    // The date table of a file (its first date_table_size(count) octets suffice): (UID, sent)
    // ascending by UID; nullopt when its header, order or checksum fails.
    using dates = std::vector<std::pair<std::uint32_t, std::int64_t>>;
    static std::optional<dates> parse_dates(std::string_view file, std::uint32_t uidvalidity);
    static constexpr std::size_t header_size = 32; // magic, UIDVALIDITY, count
    static constexpr std::size_t date_table_size(std::uint32_t count) {
        return header_size + 12 * std::size_t{count} + 8;
    }
    static std::uint64_t checksum(std::string_view s);

    std::size_t size() const { return from_file_.size() + read_.size(); }
    std::size_t reads() const { return reads_; }    // headers read from files so far
    bool strings_loaded() const { return loaded_; } // the file's strings were parsed

private:
    struct owned {
        sort_fields f;
        std::unique_ptr<char[]> text; // the octets f's views point into
    };
    void reset_if_stale(const folder& f);
    void map_file(const folder& f);
    void load_strings(const folder& f);
    const sort_fields* in_file(std::uint32_t uid) const;
    std::optional<std::int64_t> in_date_table(std::uint32_t uid) const;
    const sort_fields& read(const folder& f, const message_entry& m);
    std::string serialize(const folder& f) const;

    file_mapping map_;       // the cache file as found at the first use
    std::string_view table_; // its date table entries (checked), "" when none or not usable
    std::vector<std::pair<std::uint32_t, sort_fields>> from_file_; // views into map_, by UID
    std::unordered_map<std::uint32_t, owned> read_;                // headers read since
    std::uint32_t uidvalidity_ = 0;
    std::size_t reads_ = 0;
    std::size_t unsaved_ = 0; // entries read from files since the last persist()
    bool mapped_ = false;     // the file was looked at (map_, table_)
    bool loaded_ = false;     // its strings were parsed into from_file_
};

} // namespace splitmail::home::imap
