// `splitmail dkim`: see dkim.hpp.
#include "commands/dkim.hpp"
#include "splitmail/durable/file.hpp"
#include "splitmail/net/openssl_error.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

namespace splitmail::provision {

namespace fs = std::filesystem;

namespace {

constexpr const char* usage =
    "usage: splitmail dkim keygen --domain D --selector S [--algorithm rsa|ed25519|both]\n"
    "                             [--dir DIR] [--force]\n"
    "       splitmail dkim txt --domain D [--selector S]... [--dir DIR]\n"
    "Keys are DIR/D/SELECTOR.key (DIR defaults to /etc/splitmail/dkim); with --algorithm both\n"
    "(the default) the selectors are S-rsa and S-ed25519.\n";
constexpr const char* default_dir = "/etc/splitmail/dkim";

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

using splitmail::net::openssl_error;

std::string b64(const unsigned char* p, std::size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    const int len =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
    out.resize(static_cast<std::size_t>(len));
    return out;
}

// Same rule as relay/dkim valid_domain: LDH labels (plus '_'), which also makes the names safe
// as path components.
bool valid_name(std::string_view s) {
    if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.' || s.back() == '-')
        return false;
    std::size_t label = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') return false;
            label = 0;
            continue;
        }
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || (c == '-' && label > 0);
        if (!ok || ++label > 63) return false;
    }
    return true;
}

std::expected<std::string, std::string> txt_value_of(EVP_PKEY* k) {
    if (EVP_PKEY_is_a(k, "RSA")) {
        // RFC 6376 3.6.1: p= for k=rsa is the base64 of the DER SubjectPublicKeyInfo.
        unsigned char* der = nullptr;
        const int n = i2d_PUBKEY(k, &der);
        if (n <= 0) return std::unexpected("cannot encode the public key: " + openssl_error());
        std::string v = "v=DKIM1; k=rsa; p=" + b64(der, static_cast<std::size_t>(n));
        OPENSSL_free(der);
        return v;
    }
    if (EVP_PKEY_is_a(k, "ED25519")) {
        // RFC 8463 4.2: p= for k=ed25519 is the base64 of the raw 32-octet public key.
        unsigned char raw[32];
        std::size_t n = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1 || n != 32)
            return std::unexpected("cannot read the Ed25519 public key: " + openssl_error());
        return "v=DKIM1; k=ed25519; p=" + b64(raw, n);
    }
    return std::unexpected(std::string("unsupported key type ") + EVP_PKEY_get0_type_name(k) +
                           " (need RSA or Ed25519)");
}

std::expected<std::string, std::string> pem_of(EVP_PKEY* k) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return std::unexpected("cannot encode the private key: " + openssl_error());
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::expected<pkey_ptr, std::string> new_key(std::string_view algorithm) {
    EVP_PKEY* raw = algorithm == "rsa"
                        ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (raw == nullptr) return std::unexpected("key generation failed: " + openssl_error());
    return pkey_ptr(raw, &EVP_PKEY_free);
}

// Writes `content` as `path` (mode 0600), durably (durable/file.hpp).
std::optional<std::string> write_key_file(const fs::path& path, const std::string& content) {
    auto r = durable::replace_file(path, content); // mode 0600
    if (!r) return r.error().text();
    return std::nullopt;
}

struct options {
    std::string domain;
    std::vector<std::string> selectors;
    std::string algorithm = "both";
    fs::path dir = default_dir;
    bool force = false;
};

// Parses --name VALUE options; returns an error text for a usage error.
std::optional<std::string> parse(std::span<const std::string> args, options& o, bool keygen) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--force" && keygen) {
            o.force = true;
            continue;
        }
        const bool known = a == "--domain" || a == "--selector" || a == "--dir" ||
                           (a == "--algorithm" && keygen);
        if (!known) return "unknown option \"" + a + "\"";
        if (i + 1 >= args.size()) return a + " needs a value";
        const std::string& v = args[++i];
        if (a == "--domain") o.domain = v;
        if (a == "--selector") o.selectors.push_back(v);
        if (a == "--dir") o.dir = v;
        if (a == "--algorithm") o.algorithm = v;
    }
    if (o.domain.empty()) return "--domain is required";
    if (!valid_name(o.domain)) return "invalid domain \"" + o.domain + "\"";
    for (const auto& s : o.selectors)
        if (!valid_name(s)) return "invalid selector \"" + s + "\"";
    if (keygen) {
        if (o.selectors.size() != 1) return "keygen needs exactly one --selector";
        if (o.algorithm != "rsa" && o.algorithm != "ed25519" && o.algorithm != "both")
            return "--algorithm must be rsa, ed25519 or both";
    }
    return std::nullopt;
}

std::string record_line(std::string_view selector, std::string_view domain,
                        std::string_view value) {
    std::string out(selector);
    out += "._domainkey.";
    out += domain;
    out += ". IN TXT ";
    out += txt_strings(value);
    return out;
}

int keygen(const options& o, std::ostream& out, std::ostream& err) {
    struct job {
        std::string selector;
        const char* type; // OpenSSL key type
        std::string what;
        fs::path file;
    };
    std::vector<job> jobs;
    const std::string& s = o.selectors.front();
    if (o.algorithm == "rsa") jobs.push_back({s, "RSA", "RSA-2048", {}});
    if (o.algorithm == "ed25519") jobs.push_back({s, "ED25519", "Ed25519", {}});
    if (o.algorithm == "both") {
        jobs.push_back({s + "-rsa", "RSA", "RSA-2048", {}});
        jobs.push_back({s + "-ed25519", "ED25519", "Ed25519", {}});
    }
    const fs::path ddir = o.dir / o.domain;
    for (auto& j : jobs) {
        j.file = ddir / (j.selector + ".key");
        std::error_code ec;
        if (fs::symlink_status(j.file, ec).type() != fs::file_type::not_found && !o.force) {
            err << "splitmail dkim: " << j.file.string()
                << " exists; not replacing a key without --force\n";
            return 1;
        }
    }
    std::error_code ec;
    const bool created = !fs::exists(ddir, ec);
    fs::create_directories(ddir, ec);
    if (ec) {
        err << "splitmail dkim: cannot create " << ddir.string() << ": " << ec.message() << "\n";
        return 1;
    }
    if (created) fs::permissions(ddir, fs::perms::owner_all, ec);

    // Generate everything first, then write: a failure leaves no half-made pair behind.
    std::vector<std::pair<std::string, std::string>> made; // pem, txt value
    for (const auto& j : jobs) {
        auto k = new_key(std::string_view(j.type) == "RSA" ? "rsa" : "ed25519");
        if (!k) {
            err << "splitmail dkim: " << k.error() << "\n";
            return 1;
        }
        auto pem = pem_of(k->get());
        auto txt = txt_value_of(k->get());
        if (!pem || !txt) {
            err << "splitmail dkim: " << (pem ? txt.error() : pem.error()) << "\n";
            return 1;
        }
        made.emplace_back(std::move(*pem), std::move(*txt));
    }
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        if (auto e = write_key_file(jobs[i].file, made[i].first)) {
            err << "splitmail dkim: cannot write " << *e << "\n";
            return 1;
        }
    }
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        out << "; " << jobs[i].what << " key " << jobs[i].file.string() << " (s="
            << jobs[i].selector << ")\n";
        out << record_line(jobs[i].selector, o.domain, made[i].second) << "\n";
    }
    return 0;
}

int txt(options o, std::ostream& out, std::ostream& err) {
    const fs::path ddir = o.dir / o.domain;
    if (o.selectors.empty()) {
        std::error_code ec;
        for (fs::directory_iterator it(ddir, ec), end; !ec && it != end; it.increment(ec))
            if (it->path().extension() == ".key") o.selectors.push_back(it->path().stem());
        if (ec) {
            err << "splitmail dkim: " << ddir.string() << ": " << ec.message() << "\n";
            return 1;
        }
        if (o.selectors.empty()) {
            err << "splitmail dkim: no key in " << ddir.string() << "\n";
            return 1;
        }
        std::sort(o.selectors.begin(), o.selectors.end());
    }
    for (const auto& s : o.selectors) {
        auto v = dkim_txt_value(ddir / (s + ".key"));
        if (!v) {
            err << "splitmail dkim: " << v.error() << "\n";
            return 1;
        }
        out << record_line(s, o.domain, *v) << "\n";
    }
    return 0;
}

} // namespace

std::string txt_strings(std::string_view value) {
    // RFC 1035 3.3.14: a TXT record is a sequence of <character-string>s of at most 255
    // octets; verifiers concatenate them (RFC 6376 3.6.2.2). The values we make hold no '"'
    // or '\\', so no escaping is needed.
    if (value.empty()) return "\"\"";
    std::string out;
    for (std::size_t at = 0; at < value.size(); at += 255) {
        if (!out.empty()) out += ' ';
        out += '"';
        out += value.substr(at, 255);
        out += '"';
    }
    return out;
}

std::expected<std::string, std::string> dkim_new_key_pem(std::string_view algorithm) {
    if (algorithm != "rsa" && algorithm != "ed25519")
        return std::unexpected("unknown DKIM algorithm \"" + std::string(algorithm) +
                               "\" (rsa or ed25519)");
    auto k = new_key(algorithm);
    if (!k) return std::unexpected(k.error());
    return pem_of(k->get());
}

std::expected<std::string, std::string> dkim_txt_value(const fs::path& key_file) {
    auto read = durable::read_file(key_file, {64 << 10});
    if (!read) return std::unexpected(read.error().text());
    const std::string& text = *read;
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
    EVP_PKEY* raw = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (raw == nullptr)
        return std::unexpected(key_file.string() + ": not a PEM private key (" +
                               openssl_error() + ")");
    pkey_ptr k(raw, &EVP_PKEY_free);
    auto v = txt_value_of(k.get());
    if (!v) return std::unexpected(key_file.string() + ": " + v.error());
    return v;
}

int run_dkim(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        (args.empty() ? err : out) << usage;
        return args.empty() ? 2 : 0;
    }
    for (const auto& a : args)
        if (a == "--help" || a == "-h") {
            out << usage;
            return 0;
        }
    const std::string& sub = args[0];
    if (sub != "keygen" && sub != "txt") {
        err << "splitmail dkim: unknown subcommand \"" << sub << "\"\n" << usage;
        return 2;
    }
    options o;
    if (auto e = parse(args.subspan(1), o, sub == "keygen")) {
        err << "splitmail dkim " << sub << ": " << *e << "\n" << usage;
        return 2;
    }
    return sub == "keygen" ? keygen(o, out, err) : txt(std::move(o), out, err);
}

int run_dkim(std::span<const std::string> args) { return run_dkim(args, std::cout, std::cerr); }

} // namespace splitmail::provision
