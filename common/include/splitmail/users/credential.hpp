#pragma once
// A user name and password on their way from a protocol session (IMAP LOGIN/AUTHENTICATE,
// LMTP XAUTH) to the thread that verifies the hash.
//
// Guarantees: the password bytes are overwritten when the credential is destroyed; move-only,
// so no stray copy outlives it.
// Does not: verify anything (users::verify_password does).
#include <string>

namespace splitmail::users {

struct credential {
    std::string user;
    std::string password;
    credential() = default;
    credential(std::string u, std::string p) : user(std::move(u)), password(std::move(p)) {}
    credential(credential&&) = default;
    credential& operator=(credential&&) = default;
    credential(const credential&) = delete;
    credential& operator=(const credential&) = delete;
    ~credential();
};

} // namespace splitmail::users
