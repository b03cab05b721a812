#pragma once
// Password hashes of the user database: making new ones (argon2id) and checking a password
// against a stored hash in any of the schemes `doveadm pw` writes that we accept for migration.
//
// Stored form: "{SCHEME}data", the scheme name case-insensitive, exactly as Dovecot's
// passdb files write it:
//   {ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$<salt>$<hash>   (what hash_password makes)
//   {ARGON2I}$argon2i$...
//   (argon2: libsodium's optimized code for every "$v=19$" string it reads, any t/m/p;
//   libargon2 for the rest: "$v=16$", no "$v="; a memory cost over 4 GiB is malformed)
//   {SHA512-CRYPT}$6$...  {SHA256-CRYPT}$5$...  {BLF-CRYPT}$2y$...   (libxcrypt crypt_r)
//   {SSHA512}base64(sha512(pw . salt) . salt)   {SHA512}base64(sha512(pw))
//   (".HEX" / ".B64" suffixes of SHA512 and SSHA512 select the encoding, as in Dovecot)
//   {PLAIN}text  {CLEARTEXT}text     (accepted, but is_weak() says so: callers warn)
// Guarantees: digests are compared in constant time; a malformed stored hash never matches;
// nothing here logs or keeps the password.
// Does not: read files, rate-limit attempts, or decide what to do with weak schemes.
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace splitmail::users {

enum class scheme {
    argon2id,
    argon2i,
    sha512_crypt,
    sha256_crypt,
    blf_crypt,
    ssha512,
    sha512,
    plain,
    unknown
};

enum class verify_result {
    match,
    mismatch,
    unsupported, // scheme not known to us
    malformed    // known scheme, unusable data
};

// The scheme of "{SCHEME}data"; unknown when the braces are missing or the name is not ours.
scheme scheme_of(std::string_view stored);
// True for schemes that should be replaced ({PLAIN}, {CLEARTEXT}, unsalted {SHA512}).
bool is_weak(std::string_view stored);

verify_result verify_password(std::string_view password, std::string_view stored);

// A new "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$..." hash with a random 16-byte salt
// (libsodium; libargon2 if libsodium cannot start). Costs are Dovecot's defaults for ARGON2ID
// so hashes are interchangeable.
std::expected<std::string, std::string> hash_password(std::string_view password);

// Constant-time equality (length is not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

namespace detail {
// The libsodium half of {ARGON2ID}/{ARGON2I} verification, exposed for the tests: match or
// mismatch when libsodium read `encoded` (the data after "{SCHEME}", starting "$argon2id$" when
// id, else "$argon2i$"); nullopt when it is left to libargon2.
std::optional<verify_result> verify_argon2_with_libsodium(std::string_view password,
                                                          std::string_view encoded, bool id);
} // namespace detail

} // namespace splitmail::users
