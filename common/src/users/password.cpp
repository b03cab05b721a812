// Password hashing and verification; see users/password.hpp.
#include "splitmail/users/password.hpp"

#include "splitmail/smtp/base64.hpp"

#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

namespace splitmail::users {
namespace {

struct split {
    std::string name; // upper-cased scheme name, without braces
    std::string_view data;
};

std::optional<split> split_stored(std::string_view stored) {
    if (stored.empty() || stored.front() != '{') return std::nullopt;
    auto close = stored.find('}');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    split s;
    for (char c : stored.substr(1, close - 1))
        s.name.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    s.data = stored.substr(close + 1);
    return s;
}

enum class encoding { b64, hex };

struct scheme_info {
    scheme s = scheme::unknown;
    encoding enc = encoding::b64;
};

scheme_info lookup_scheme(const std::string& name) {
    if (name == "ARGON2ID") return {scheme::argon2id};
    if (name == "ARGON2I") return {scheme::argon2i};
    if (name == "SHA512-CRYPT") return {scheme::sha512_crypt};
    if (name == "SHA256-CRYPT") return {scheme::sha256_crypt};
    if (name == "BLF-CRYPT") return {scheme::blf_crypt};
    if (name == "PLAIN" || name == "CLEARTEXT") return {scheme::plain};
    if (name == "SSHA512" || name == "SSHA512.B64") return {scheme::ssha512, encoding::b64};
    if (name == "SSHA512.HEX") return {scheme::ssha512, encoding::hex};
    if (name == "SHA512" || name == "SHA512.B64") return {scheme::sha512, encoding::b64};
    if (name == "SHA512.HEX") return {scheme::sha512, encoding::hex};
    return {};
}

// Standard base64 (RFC 4648 4), padding optional; nullopt on any other character.
std::optional<std::string> b64_decode(std::string_view in) {
    while (!in.empty() && in.back() == '=') in.remove_suffix(1);
    std::string out;
    unsigned acc = 0;
    int bits = 0;
    for (char c : in) {
        int v = smtp::base64_digit(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    if (bits >= 6) return std::nullopt; // a lone trailing character cannot be valid
    return out;
}

std::optional<std::string> hex_decode(std::string_view in) {
    if (in.size() % 2 != 0) return std::nullopt;
    std::string out;
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < in.size(); i += 2) {
        int h = nib(in[i]), l = nib(in[i + 1]);
        if (h < 0 || l < 0) return std::nullopt;
        out.push_back(static_cast<char>(h * 16 + l));
    }
    return out;
}

std::string sha512(std::string_view a, std::string_view b) {
    std::array<unsigned char, 64> md{};
    unsigned len = 0;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestInit_ex(ctx.get(), EVP_sha512(), nullptr);
    EVP_DigestUpdate(ctx.get(), a.data(), a.size());
    EVP_DigestUpdate(ctx.get(), b.data(), b.size());
    EVP_DigestFinal_ex(ctx.get(), md.data(), &len);
    return std::string(reinterpret_cast<const char*>(md.data()), len);
}

verify_result verify_crypt(std::string_view password, std::string_view data,
                           std::string_view prefix) {
    if (data.substr(0, prefix.size()) != prefix) return verify_result::malformed;
    // crypt_r needs NUL-terminated strings; a NUL inside the password cannot be represented.
    if (password.find('\0') != std::string_view::npos) return verify_result::mismatch;
    std::string pw(password), setting(data);
    auto cd = std::make_unique<crypt_data>(); // ~32 KiB: not on the stack
    const char* out = ::crypt_r(pw.c_str(), setting.c_str(), cd.get());
    OPENSSL_cleanse(pw.data(), pw.size());
    // libxcrypt returns NULL or a string starting with '*' on failure (bad setting).
    if (out == nullptr || out[0] == '*') return verify_result::malformed;
    return constant_time_equal(out, data) ? verify_result::match : verify_result::mismatch;
}

// libsodium, set up once for the whole process: sodium_init() picks the AVX2/SSSE3 argon2 code
// for this CPU (without it libsodium runs its portable code). A function-local static is
// initialized exactly once even when both auth pool threads arrive at the same time.
bool sodium_ready() {
    static const bool ready = ::sodium_init() >= 0;
    return ready;
}

// libsodium's decoder reads "$argon2id$v=19$m=M,t=T,p=P$salt$hash" (and "$argon2i$...") for any
// T >= 1, P >= 1, M >= 8P, salt >= 8 and hash >= 16 bytes; it refuses the "v=16" and version-less
// forms that libargon2 still reads. Its verifier reports a failed allocation as a mismatch
// (libargon2: an error, so "malformed"); memory costs over 4 GiB, which no real hash has, are
// refused as malformed before either library runs (verify_argon2). An embedded NUL stays with
// libargon2 (both libraries stop at it anyway).
constexpr std::uint64_t sodium_max_memory_kib = std::uint64_t{1} << 22;

// The "m=" memory cost (KiB) of an argon2 string in any of its forms (UINT64_MAX when it has
// more digits than fit), nullopt when there is none.
std::optional<std::uint64_t> argon2_memory_kib(std::string_view encoded) {
    auto at = encoded.find("$m=");
    if (at == std::string_view::npos) return std::nullopt;
    std::uint64_t m = 0;
    std::size_t i = at + 3, digits = 0;
    for (; i < encoded.size() && encoded[i] >= '0' && encoded[i] <= '9'; ++i, ++digits) {
        if (digits == 19) return UINT64_MAX;
        m = m * 10 + static_cast<std::uint64_t>(encoded[i] - '0');
    }
    if (digits == 0) return std::nullopt;
    return m;
}

bool sodium_may_read(std::string_view encoded, bool id) {
    std::string_view head = id ? "$argon2id$v=19$m=" : "$argon2i$v=19$m=";
    if (!encoded.starts_with(head) || encoded.find('\0') != std::string_view::npos) return false;
    auto m = argon2_memory_kib(encoded);
    return m && *m <= sodium_max_memory_kib;
}

verify_result verify_argon2(std::string_view password, std::string_view data, bool id) {
    std::string_view want = id ? "$argon2id$" : "$argon2i$";
    if (data.substr(0, want.size()) != want) return verify_result::malformed;
    // A memory cost over 4 GiB is refused before either library tries to allocate it: no
    // real hash has one, and a users-file line with m=4294967295 would otherwise make every
    // login attempt ask for 4 TiB.
    if (auto m = argon2_memory_kib(data); m && *m > sodium_max_memory_kib)
        return verify_result::malformed;
    if (auto r = detail::verify_argon2_with_libsodium(password, data, id)) return *r;
    std::string encoded(data);
    int rc = id ? argon2id_verify(encoded.c_str(), password.data(), password.size())
                : argon2i_verify(encoded.c_str(), password.data(), password.size());
    if (rc == ARGON2_OK) return verify_result::match;
    if (rc == ARGON2_VERIFY_MISMATCH) return verify_result::mismatch;
    return verify_result::malformed;
}

std::expected<std::string, std::string>
hash_with_libargon2(std::string_view password, std::uint32_t t_cost, std::uint32_t m_cost) {
    constexpr std::uint32_t parallelism = 1;
    constexpr std::size_t salt_len = 16, hash_len = 32;
    std::array<unsigned char, salt_len> salt{};
    if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1)
        return std::unexpected("cannot get random bytes for the salt");
    std::size_t enc_len =
        argon2_encodedlen(t_cost, m_cost, parallelism, salt_len, hash_len, Argon2_id);
    std::vector<char> enc(enc_len + 1, '\0');
    int rc = argon2id_hash_encoded(t_cost, m_cost, parallelism, password.data(), password.size(),
                                   salt.data(), salt.size(), hash_len, enc.data(), enc.size());
    if (rc != ARGON2_OK) return std::unexpected(std::string("argon2: ") + argon2_error_message(rc));
    return std::string(enc.data());
}

} // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

scheme scheme_of(std::string_view stored) {
    auto s = split_stored(stored);
    return s ? lookup_scheme(s->name).s : scheme::unknown;
}

bool is_weak(std::string_view stored) {
    auto s = scheme_of(stored);
    return s == scheme::plain || s == scheme::sha512;
}

verify_result verify_password(std::string_view password, std::string_view stored) {
    auto s = split_stored(stored);
    if (!s) return verify_result::unsupported;
    auto info = lookup_scheme(s->name);
    auto decode = [&](std::string_view d) {
        return info.enc == encoding::hex ? hex_decode(d) : b64_decode(d);
    };
    switch (info.s) {
    case scheme::argon2id: return verify_argon2(password, s->data, true);
    case scheme::argon2i: return verify_argon2(password, s->data, false);
    case scheme::sha512_crypt: return verify_crypt(password, s->data, "$6$");
    case scheme::sha256_crypt: return verify_crypt(password, s->data, "$5$");
    case scheme::blf_crypt: {
        // Dovecot writes $2y$; libxcrypt also knows $2a$ and $2b$.
        auto d = s->data;
        if (d.starts_with("$2y$") || d.starts_with("$2b$") || d.starts_with("$2a$"))
            return verify_crypt(password, d, d.substr(0, 4));
        return verify_result::malformed;
    }
    case scheme::plain:
        return constant_time_equal(password, s->data) ? verify_result::match
                                                      : verify_result::mismatch;
    case scheme::sha512: {
        auto raw = decode(s->data);
        if (!raw || raw->size() != 64) return verify_result::malformed;
        return constant_time_equal(sha512(password, ""), *raw) ? verify_result::match
                                                               : verify_result::mismatch;
    }
    case scheme::ssha512: {
        auto raw = decode(s->data);
        if (!raw || raw->size() <= 64) return verify_result::malformed;
        std::string_view digest(raw->data(), 64), salt(raw->data() + 64, raw->size() - 64);
        return constant_time_equal(sha512(password, salt), digest) ? verify_result::match
                                                                   : verify_result::mismatch;
    }
    case scheme::unknown: break;
    }
    return verify_result::unsupported;
}

namespace detail {

std::optional<verify_result> verify_argon2_with_libsodium(std::string_view password,
                                                          std::string_view encoded, bool id) {
    if (!sodium_may_read(encoded, id) || !sodium_ready()) return std::nullopt;
    std::string str(encoded);
    errno = 0;
    int rc = id ? crypto_pwhash_argon2id_str_verify(str.c_str(), password.data(), password.size())
                : crypto_pwhash_argon2i_str_verify(str.c_str(), password.data(), password.size());
    if (rc == 0) return verify_result::match;
    // -1 with EINVAL: the string was read and the hash computed, and the digests differ
    // (compared in constant time). Any other -1 (libsodium cannot read the string): not ours.
    if (errno == EINVAL) return verify_result::mismatch;
    return std::nullopt;
}

} // namespace detail

std::expected<std::string, std::string> hash_password(std::string_view password) {
    // Dovecot's ARGON2ID defaults (doveadm pw -s ARGON2ID): m=64 MiB, t=3, p=1, 32-byte hash,
    // 16-byte salt -- exactly what crypto_pwhash_argon2id_str writes for these limits.
    constexpr std::uint32_t t_cost = 3, m_cost = 65536;
    std::string enc;
    if (sodium_ready()) {
        std::array<char, crypto_pwhash_argon2id_STRBYTES> out{};
        if (crypto_pwhash_argon2id_str(out.data(), password.data(), password.size(), t_cost,
                                       std::size_t{m_cost} * 1024) != 0)
            return std::unexpected("libsodium: cannot hash the password (out of memory?)");
        enc = out.data();
    } else {
        auto h = hash_with_libargon2(password, t_cost, m_cost);
        if (!h) return h;
        enc = std::move(*h);
    }
    return "{ARGON2ID}" + enc;
}

} // namespace splitmail::users
