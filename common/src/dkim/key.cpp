// DKIM key files and names; see dkim/key.hpp.
#include "splitmail/dkim/key.hpp"
#include "splitmail/durable/file.hpp"
#include "splitmail/net/openssl_error.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <system_error>

namespace splitmail::dkim {

namespace fs = std::filesystem;

namespace {
using splitmail::net::openssl_error;

// RFC 6376 3.5: d= and s= are domain names. LDH labels of 1..63 (plus '_', which selectors
// and some signing domains use), 253 at most, no empty label, no '-' at a label's ends: this
// also keeps them safe as path components ("..", "/" and leading dots are impossible).
bool valid_labels(std::string_view s, bool allow_underscore) {
    if (s.empty() || s.size() > 253) return false;
    std::size_t label = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') return false;
            label = 0;
            continue;
        }
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || (c == '-' && label > 0) ||
                        (c == '_' && allow_underscore);
        if (!ok || ++label > 63) return false;
    }
    return label > 0 && s.back() != '-';
}
} // namespace

std::string_view algorithm_name(algorithm a) {
    return a == algorithm::rsa_sha256 ? "rsa-sha256" : "ed25519-sha256";
}

bool valid_domain(std::string_view d) { return valid_labels(d, true); }
bool valid_selector(std::string_view s) { return valid_labels(s, true); }

fs::path key_file(const fs::path& dir, std::string_view domain, std::string_view selector) {
    return dir / std::string(domain) / (std::string(selector) + ".key");
}

std::expected<signing_key, std::string> key_from_pem(std::string_view pem, std::string domain,
                                                     std::string selector) {
    if (!valid_domain(domain)) return std::unexpected("invalid signing domain \"" + domain + "\"");
    if (!valid_selector(selector)) return std::unexpected("invalid selector \"" + selector + "\"");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    if (!bio) return std::unexpected("out of memory");
    EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (raw == nullptr) return std::unexpected("not a PEM private key (" + openssl_error() + ")");
    std::shared_ptr<EVP_PKEY> pkey(raw, &EVP_PKEY_free);
    signing_key k{std::move(domain), std::move(selector), algorithm::rsa_sha256, pkey, {}};
    if (EVP_PKEY_is_a(raw, "RSA")) {
        // RFC 8301 3.2: keys below 1024 bits must not be used (and verifiers reject them).
        if (EVP_PKEY_get_bits(raw) < 1024)
            return std::unexpected("RSA key of " + std::to_string(EVP_PKEY_get_bits(raw)) +
                                   " bits is too short (at least 1024, 2048 recommended)");
        k.alg = algorithm::rsa_sha256;
    } else if (EVP_PKEY_is_a(raw, "ED25519")) {
        k.alg = algorithm::ed25519_sha256;
    } else {
        return std::unexpected(std::string("unsupported key type ") + EVP_PKEY_get0_type_name(raw) +
                               " (need RSA or Ed25519)");
    }
    return k;
}

std::expected<signing_key, std::string> load_key(const fs::path& pem, std::string domain,
                                                 std::string selector) {
    // A PEM key is a few KiB; 1 MiB is a clear "wrong file".
    auto text = durable::read_file(pem, {1 << 20});
    if (!text) {
        const bool missing = text.error().code == std::errc::no_such_file_or_directory;
        return std::unexpected(
            "DKIM key " + pem.string() +
            (missing ? ": no such file" : ": cannot be read (" + text.error().text() + ")"));
    }
    auto k = key_from_pem(*text, std::move(domain), std::move(selector));
    if (!k) return std::unexpected("DKIM key " + pem.string() + ": " + k.error());
    k->file = pem;
    return k;
}

std::expected<std::vector<signing_key>, std::string>
load_keys(const fs::path& dir, std::string_view domain, const std::vector<std::string>& selectors) {
    std::vector<signing_key> keys;
    for (const auto& s : selectors) {
        if (!valid_selector(s)) return std::unexpected("invalid DKIM selector \"" + s + "\"");
        if (!valid_domain(domain))
            return std::unexpected("invalid DKIM domain \"" + std::string(domain) + "\"");
        auto k = load_key(key_file(dir, domain, s), std::string(domain), s);
        if (!k) return std::unexpected(k.error());
        keys.push_back(std::move(*k));
    }
    return keys;
}

std::expected<std::vector<std::string>, std::string> selectors_in(const fs::path& dir,
                                                                  std::string_view domain) {
    if (!valid_domain(domain))
        return std::unexpected("invalid DKIM domain \"" + std::string(domain) + "\"");
    const fs::path d = dir / std::string(domain);
    std::error_code ec;
    std::vector<std::string> selectors;
    for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path& p = it->path();
        if (p.extension() == ".key") selectors.push_back(p.stem().string());
    }
    if (ec) return std::unexpected("DKIM key directory " + d.string() + ": " + ec.message());
    std::sort(selectors.begin(), selectors.end());
    return selectors;
}

std::expected<std::vector<signing_key>, std::string> load_domain_keys(const fs::path& dir,
                                                                      std::string_view domain) {
    auto selectors = selectors_in(dir, domain);
    if (!selectors) return std::unexpected(selectors.error());
    if (selectors->empty())
        return std::unexpected("DKIM key directory " + (dir / std::string(domain)).string() +
                               ": no <selector>.key file");
    return load_keys(dir, domain, *selectors);
}

std::expected<std::string, std::string> new_key_pem(std::string_view algorithm) {
    if (algorithm != "rsa" && algorithm != "ed25519")
        return std::unexpected("unknown DKIM algorithm \"" + std::string(algorithm) +
                               "\" (rsa or ed25519)");
    // RFC 8301 3.2: 2048 bits; RFC 8463: Ed25519.
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> k(
        algorithm == "rsa" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})
                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"),
        &EVP_PKEY_free);
    if (!k) return std::unexpected("key generation failed: " + openssl_error());
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio ||
        PEM_write_bio_PrivateKey(bio.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return std::unexpected("cannot encode the private key: " + openssl_error());
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

} // namespace splitmail::dkim
