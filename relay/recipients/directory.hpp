#pragma once
// The relay's copy of home's recipient list, so RCPT TO is answered correctly even while home
// is offline (no backscatter: unknown users are refused at RCPT time, never bounced later).
//
// Design: home answers the private LMTP command XDIRECTORY (docs/internal/contracts.md) with
// every deliverable address, its catch-all domains and its recipient delimiter. The relay
// fetches it at start and every `home.recipient_refresh`, and writes each new copy atomically
// to <spool>/recipients.json, which it reads back at start. So:
//   - home offline, copy on disk  -> recipients are validated against the last copy;
//   - home offline, no copy ever  -> `451 4.3.0` (never accept-and-bounce);
//   - a user added at home is known to the relay after the next refresh (<= refresh period).
// Not thread-safe: used from the relay's io thread only.
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay {

struct directory_snapshot {
    std::string version;              // digest computed by home; unchanged list, same digest
    std::string delimiter;            // recipient delimiter for plus-addressing ("" = none)
    std::set<std::string> domains;    // domains home delivers for
    std::set<std::string> catchall;   // domains with a catch-all
    std::set<std::string> recipients; // lower-case local@domain
    std::int64_t fetched_at = 0;      // unix seconds
};

enum class rcpt_verdict { local_ok, unknown, not_local, tempfail };

// Parses the lines of a XDIRECTORY reply (without the "250-" prefixes).
std::expected<directory_snapshot, std::string>
parse_xdirectory(const std::vector<std::string>& lines);

class recipient_directory {
public:
    recipient_directory(std::vector<std::string> relay_domains, std::filesystem::path cache_file);

    // Reads the on-disk copy, if any. Returns an error text for a corrupt file (the file is
    // then ignored, and renamed *.corrupt so an operator can look at it).
    std::expected<bool, std::string> load_cache();
    // Installs a fresh copy and writes it to disk (write temp, fsync, rename).
    std::expected<void, std::string> update(directory_snapshot snap);

    bool is_relay_domain(std::string_view domain) const;
    // domain and local part as received; comparison is case-insensitive.
    rcpt_verdict check(std::string_view local, std::string_view domain) const;
    const std::optional<directory_snapshot>& snapshot() const { return snap_; }

private:
    std::vector<std::string> relay_domains_;
    std::filesystem::path cache_file_;
    std::optional<directory_snapshot> snap_;
};

} // namespace splitmail::relay
