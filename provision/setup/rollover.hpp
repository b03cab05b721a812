#pragma once
// A key rollover of the relay's certificate with its TLSA record kept valid throughout
// (RFC 7671 8.1, the "3 1 1 current + next" scheme), in three steps:
//   1. `splitmail cert rollover` makes the next key (KEY.next, beside tls.key); `splitmail dns
//      apply` then publishes its TLSA record next to the current one and notes when (KEY.next.json).
//   2. Once both records have been published for at least twice the TTL (every cache that held
//      the old RRset has dropped it), `splitmail cert rollover` again switches: a certificate for
//      the next key (from the CA as the certificate's renewal file says, or self-signed when the
//      current one is), the key file replaced, the relay reloaded; KEY.next* removed.
//   3. `splitmail dns apply` retires the old key's record (the plan holds the new key only).
// `splitmail check` says which step is pending.
//
// Guarantees: the next key is never replaced once made (re-running step 1 reuses it); the
// publication time is recorded once, by the first apply that left deSEC holding the record, and
// the wait counts from there; files are written atomically (key 0600, owner of tls.key kept).
// rollover_of() is pure (clock passed in).
// Does not: talk to deSEC or the CA (dns apply and cert do), decide the TTL (apply reports it).
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>

namespace splitmail::provision::setup {

// KEY.next and KEY.next.json for the certificate key file KEY.
std::filesystem::path next_key_file(const std::filesystem::path& key);
std::filesystem::path next_state_file(const std::filesystem::path& key);

struct next_key {
    std::string pem;               // the next private key (PEM)
    std::int64_t published_at = 0; // unix seconds of the first apply that published it; 0: not yet
    std::uint32_t ttl = 0;         // the TTL it was published with
};

// nullopt when no rollover is under way (no KEY.next). Errors name the file.
std::expected<std::optional<next_key>, std::string> read_next_key(const std::filesystem::path& key);

// Makes KEY.next (ECDSA P-256, mode 0600, owner and group of KEY) unless it exists. Returns
// whether it was made now.
std::expected<bool, std::string> make_next_key(const std::filesystem::path& key);

// Records that deSEC holds the next key's TLSA with `ttl` at `now`, unless already recorded.
// Returns whether it recorded now.
std::expected<bool, std::string> mark_next_published(const std::filesystem::path& key,
                                                     std::uint32_t ttl, std::int64_t now);

// Removes KEY.next and KEY.next.json (after the switch).
std::expected<void, std::string> forget_next_key(const std::filesystem::path& key);

enum class rollover_step {
    none,    // no next key
    publish, // step 1: the next key's TLSA is not published yet (run dns apply)
    wait,    // step 2: published, but not yet for twice the TTL
    ready,   // step 2: may switch now
};
struct rollover_state {
    rollover_step step = rollover_step::none;
    std::int64_t switch_from = 0; // unix seconds, for wait/ready
};
rollover_state rollover_of(const std::optional<next_key>& next, std::int64_t now);

} // namespace splitmail::provision::setup
