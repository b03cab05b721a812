#pragma once
// What SORT and THREAD need of each message, read once and kept with the folder (the way
// Dovecot keeps header fields in dovecot.index.cache): the base subject, the sent date, the
// sort values of From, To and Cc (sort_keys.hpp), Message-ID and References. Filled on first use, per message; shared by every
// session that has the folder open (the folder object is shared, store.hpp), so a second SORT,
// in any session, reads no file.
//
// Guarantees: a message's header is read at most once per process while its folder stays
// loaded (a message's content never changes under one UID); only the header is read, at most
// `max_header` octets of it. Memory: one entry per message asked for (the sort values, about
// 100 octets for typical headers); entries of expunged UIDs are dropped when they are more
// than half of the cache. A new UIDVALIDITY empties it.
// Persisted: `splitmail-headercache` in the folder's directory holds the entries (written
// whole with durable::replace_file by persist() once `persist_after` entries were read since
// the last write, so a folder of a few hundred messages never writes one), and the first use
// after a restart loads it instead of reading the headers again. SORT (DATE) after a restart
// needs only the dates: sent() reads the file's fixed-size date table alone (12 octets per
// message, about 1 MB for 100,000 messages) and leaves the strings on disk until a key needs
// them (get()); that is how a restarted server answers it as fast as a warm one.
// Layout (little-endian):
//   "splitmail-headercache 2\n", u32 UIDVALIDITY, u32 count,
//   the date table: count times (u32 UID, i64 sent), UIDs strictly ascending,
//   u64 checksum of everything before (checksum(): 64-bit words, multiply and xorshift),
//   the strings, per entry in the date table's order: u8 reply flag, 7 strings (subject, from,
//   to, cc, display_from, display_to, message_id) as u32 length + octets, u16 reference count
//   and that many strings; then the u64 checksum of the strings part.
// A file that fails any check (magic, checksums, lengths, counts, order, UIDVALIDITY) is
// ignored as a whole; entries of UIDs no longer present are never asked for (and dropped from
// memory). Version 1 files (one FNV-1a sum, no date table) are ignored and rewritten.
// Does not: lock: it is used from the thread that runs the folder's sessions.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace splitmail::home::imap {

class folder;
struct message_entry;

struct sort_fields {
    static constexpr std::int64_t no_date = INT64_MIN;
    std::int64_t sent = no_date;          // Date: in UTC seconds; no_date: use INTERNALDATE
    std::string subject;                  // base subject, i;ascii-casemap
    std::string from, to, cc;             // addr-mailbox of the first address, i;ascii-casemap
    std::string display_from, display_to; // RFC 5957 display values
    bool subject_reply = false; // "Re:", "Fwd:" ... were removed (THREAD, RFC 5256 REFERENCES 5)
    // THREAD=REFERENCES: the Message-ID, and the parents: References (its last
    // max_references ids), or the first id of In-Reply-To when there is no References.
    std::string message_id;
    std::vector<std::string> references;
};

class header_cache {
public:
    static constexpr std::size_t max_header = 256 * 1024;
    static constexpr std::size_t max_references = 64;

    static constexpr std::size_t persist_after = 1000;
    static constexpr const char* file_name = "splitmail-headercache";

    const sort_fields& get(const folder& f, const message_entry& m);
    // The sent date alone (sort_fields::sent): from an entry in memory, else from the file's
    // date table (loaded on its own), else from the message's header (then kept as get()
    // would). Never loads the strings of the file.
    std::int64_t sent(const folder& f, const message_entry& m);
    // Writes the cache file when persist_after entries were read since the last write (or
    // load); errors are logged, never reported (it is a cache).
    void persist(const folder& f);

    // The file format (see above), for persist/load and the fuzz target.
    std::string serialize() const;
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
    std::size_t size() const { return by_uid_.size(); }
    std::size_t reads() const { return reads_; } // headers read from files so far

private:
    void prune(const folder& f);
    void reset_if_stale(const folder& f);
    void load(const folder& f);
    void load_dates(const folder& f);
    sort_fields& read(const folder& f, const message_entry& m);

    std::unordered_map<std::uint32_t, sort_fields> by_uid_;
    std::uint32_t uidvalidity_ = 0;
    std::size_t reads_ = 0;
    std::size_t unsaved_ = 0; // entries read from files since the last persist()/load
    bool loaded_ = false;     // the cache file was looked at (and its entries merged)
    // Until then, the file's date table alone (sent()), when it was looked at: ascending UIDs.
    dates dates_;
    bool dates_looked_ = false;
};

} // namespace splitmail::home::imap
