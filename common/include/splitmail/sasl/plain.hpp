#pragma once
// SASL credentials as clients send them, decoded in one place for every login path (issue 13):
// the relay's AUTH PLAIN/LOGIN (RFC 4954), IMAP AUTHENTICATE PLAIN (RFC 3501 6.2.2, RFC 4959)
// and the relay->home LMTP XAUTH (contracts.md: base64(user NUL password)).
//
// Guarantees: PLAIN follows RFC 4616 2: message = [authzid] NUL authcid NUL passwd, none of
// them containing NUL, authcid and passwd not empty; anything else is `malformed`. Lengths are
// capped (authcid and authzid 320 octets, an address's limit; password 1024) so no caller ever
// hashes or copies an unbounded secret: `too_long`. Every buffer that held a password (the
// decoded response, the credentials) is wiped with explicit_bzero before it is freed, also on
// every error path. One authzid rule for all (authzid_acceptable).
// Does not: verify anything, or know about the protocol's replies.
#include <cstddef>
#include <expected>
#include <string>
#include <string_view>

namespace splitmail::sasl {

inline constexpr std::size_t max_user = 320;
inline constexpr std::size_t max_password = 1024;

// Overwrites the string's bytes (not optimised away), then clears it.
void wipe(std::string& s) noexcept;

// A string holding a secret: wiped when destroyed or reassigned.
class secret {
public:
    secret() = default;
    explicit secret(std::string s) : s_(std::move(s)) {}
    secret(secret&& o) noexcept : s_(std::move(o.s_)) { wipe(o.s_); }
    secret& operator=(secret&& o) noexcept {
        if (this != &o) {
            wipe(s_);
            s_ = std::move(o.s_);
            wipe(o.s_);
        }
        return *this;
    }
    secret(const secret&) = delete;
    secret& operator=(const secret&) = delete;
    ~secret() { wipe(s_); }

    std::string_view view() const { return s_; }
    const std::string& str() const { return s_; }
    bool empty() const { return s_.empty(); }
    std::size_t size() const { return s_.size(); }

private:
    std::string s_;
};

struct credentials {
    std::string authzid; // "" when none was given
    std::string authcid; // the login name
    secret password;
};

enum class error {
    bad_base64, // not base64 (RFC 4648), or "=" where a value is required
    malformed,  // not the mechanism's syntax
    too_long,   // over max_user / max_password
};

// RFC 4616 PLAIN, from the already decoded message.
std::expected<credentials, error> parse_plain(std::string_view message);
// PLAIN from the client's base64 line (RFC 4954 4 / RFC 4959: "=" is an empty response, which
// is malformed for PLAIN). The decoded bytes are wiped before returning.
std::expected<credentials, error> decode_plain(std::string_view base64);
// XAUTH: base64(user NUL password), no authzid.
std::expected<credentials, error> decode_user_password(std::string_view base64);
// One step of LOGIN (the user name or the password), base64; "=" is an empty value. The result
// is a secret either way; the caller checks emptiness (an empty user name is refused).
std::expected<secret, error> decode_login_step(std::string_view base64);

// The one authzid rule: acting as someone else is never allowed, so an authzid must be empty,
// equal the authcid ignoring ASCII case, or (once known) equal the canonical name the
// authcid logged in as (an alias logging in as its user).
bool authzid_acceptable(std::string_view authzid, std::string_view authcid,
                        std::string_view canonical_user = {});

} // namespace splitmail::sasl
