// Fuzz target: stored password hashes of the user database (common users/password.hpp), read
// from the users file on disk. Input: password, a NUL byte, then the stored "{SCHEME}data".
// Invariants (abort on violation):
// - verify_password says `unsupported` exactly when scheme_of says `unknown`;
// - is_weak is true exactly for {PLAIN}/{CLEARTEXT} and unsalted {SHA512};
// - hashes made here from the fuzzed password ({PLAIN}, {SHA512}, {SHA512.HEX}, {SSHA512} and
//   {SSHA512.HEX} with a salt taken from the input) match that password and no other one;
// - the verdict on the fuzzed stored string is the same when asked twice.
// Hash strings whose work factor would make one run take seconds (argon2 m/t/p, bcrypt cost,
// sha-crypt rounds) are not verified, only classified: the cost parsing is what matters here,
// and a 4 GiB memory cost must be refused as malformed before any library allocates it.
#include "splitmail/smtp/base64.hpp"
#include "splitmail/text/hex.hpp"
#include "splitmail/users/password.hpp"

#include <openssl/evp.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace splitmail::users;

namespace {
std::string sha512(std::string_view a, std::string_view b) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr);
    EVP_DigestUpdate(ctx, a.data(), a.size());
    EVP_DigestUpdate(ctx, b.data(), b.size());
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    return std::string(reinterpret_cast<char*>(md), len);
}

// The largest number written after `key` anywhere in s (0 when none).
std::uint64_t max_after(std::string_view s, std::string_view key) {
    std::uint64_t best = 0;
    for (auto at = s.find(key); at != std::string_view::npos; at = s.find(key, at + 1)) {
        std::uint64_t v = 0;
        for (std::size_t i = at + key.size(); i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i)
            v = v > (UINT64_MAX / 100) ? UINT64_MAX / 10 : v * 10 + (s[i] - '0');
        best = std::max(best, v);
    }
    return best;
}

bool too_costly(std::string_view stored, scheme s) {
    switch (s) {
    case scheme::argon2id:
    case scheme::argon2i: {
        // Over 4 GiB is refused by the parser itself: let those through.
        auto m = max_after(stored, "m=");
        return (m > 256 && m <= (std::uint64_t{1} << 22)) || max_after(stored, "t=") > 2 ||
               max_after(stored, "p=") > 4;
    }
    case scheme::blf_crypt: {
        // "$2y$NN$": cost 2^NN rounds.
        auto d = stored.substr(stored.find('}') + 1);
        if (d.size() < 6) return false;
        return !(d[4] == '0' && d[5] >= '0' && d[5] <= '5');
    }
    case scheme::sha512_crypt:
    case scheme::sha256_crypt: return max_after(stored, "rounds=") > 5000;
    default: return false;
    }
}

void expect(verify_result got, verify_result want) {
    if (got != want) std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto nul = in.find('\0');
    std::string_view password = in.substr(0, nul);
    std::string_view stored =
        nul == std::string_view::npos ? std::string_view{} : in.substr(nul + 1);

    auto s = scheme_of(stored);
    if (is_weak(stored) != (s == scheme::plain || s == scheme::sha512)) std::abort();
    if (!too_costly(stored, s)) {
        auto r = verify_password(password, stored);
        if ((r == verify_result::unsupported) != (s == scheme::unknown)) std::abort();
        if (s != scheme::argon2id && s != scheme::argon2i && verify_password(password, stored) != r)
            std::abort();
    }

    // Hashes of the fuzzed password must match it, and only it.
    std::string other = std::string(password) + "x";
    std::string salt = stored.empty() ? std::string("salt") : std::string(stored.substr(0, 32));
    const std::string made[] = {
        "{PLAIN}" + std::string(password),
        "{SHA512}" + splitmail::smtp::encode_base64(sha512(password, "")),
        "{sha512.hex}" + splitmail::text::hex(sha512(password, "")),
        "{SSHA512}" + splitmail::smtp::encode_base64(sha512(password, salt) + salt),
        "{SSHA512.HEX}" + splitmail::text::hex(sha512(password, salt) + salt),
    };
    for (const auto& h : made) {
        expect(verify_password(password, h), verify_result::match);
        expect(verify_password(other, h), verify_result::mismatch);
    }
    return 0;
}
