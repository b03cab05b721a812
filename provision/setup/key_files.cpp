// Keys and the TLS placeholder on disk: see key_files.hpp.
#include "setup/key_files.hpp"
#include "splitmail/text/hex.hpp"

#include <openssl/rand.h>

#include <chrono>

namespace splitmail::provision::setup {

namespace fs = std::filesystem;

std::expected<std::string, std::string> random_hex_secret(std::size_t octets,
                                                          std::string_view what) {
    std::vector<unsigned char> raw(octets);
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1)
        return std::unexpected("no random bytes for the " + std::string(what));
    return text::hex(raw.data(), raw.size()) + "\n";
}

std::expected<std::string, std::string>
ensure_secret(file_writer& w, const fs::path& path, mode_t mode, const std::optional<owner>& own,
              const std::function<bool(const std::string&)>& usable,
              const std::function<std::expected<std::string, std::string>()>& make,
              std::string_view what) {
    auto existing = setup::read_if_exists(path);
    if (!existing) return std::unexpected(existing.error());
    if (*existing && usable(**existing)) {
        auto r = w.file(path, **existing, mode, own);
        if (!r) return std::unexpected(r.error());
        return **existing;
    }
    if (*existing && !w.force())
        return std::unexpected(path.string() + ": not a usable " + std::string(what) +
                               "; fix or remove it, or run with --force to replace it with a "
                               "new one");
    auto made = make();
    if (!made) return std::unexpected(made.error());
    auto r = w.file(path, *made, mode, own);
    if (!r) return std::unexpected(r.error());
    return *made;
}

std::expected<setup::cert_info, std::string>
ensure_tls(file_writer& w, const fs::path& cert, const fs::path& key, const std::string& hostname,
           const owners& own, const std::vector<std::string>& also) {
    std::string missing_names; // of hostname and `also`, those the certificate is not valid for
    const auto covers_all = [&](const std::string& pem) {
        missing_names.clear();
        for (const auto& n : [&] {
                 std::vector<std::string> all{hostname};
                 all.insert(all.end(), also.begin(), also.end());
                 return all;
             }())
            if (!setup::cert_covers_host(pem, n))
                missing_names += (missing_names.empty() ? "" : ", ") + n;
        return missing_names.empty();
    };
    {
        std::error_code ec;
        if (!w.force() && fs::exists(cert, ec) && !fs::exists(key, ec))
            return std::unexpected(cert.string() + " exists but its key " + key.string() +
                                   " does not; put the key back, or run with --force for a new "
                                   "self-signed pair");
    }
    auto key_pem = ensure_secret(
        w, key, 0640, own.root_service,
        [](const std::string& t) { return setup::valid_private_key(t); },
        [&]() -> std::expected<std::string, std::string> {
            // A new key invalidates whatever certificate is there: make the pair now.
            auto p = setup::make_self_signed(hostname, 90, also);
            if (!p) return std::unexpected(p.error());
            return p->key_pem;
        },
        "PEM private key");
    if (!key_pem) return std::unexpected(key_pem.error());
    auto cert_pem = setup::read_if_exists(cert);
    if (!cert_pem) return std::unexpected(cert_pem.error());
    if (*cert_pem) {
        auto info = setup::inspect_cert(**cert_pem, *key_pem, cert.string());
        const bool covers = info && covers_all(**cert_pem);
        // Our placeholder for this host that lacks a name asked for now (the IMAP
        // pass-through's name at home): made again with the same key (TLSA stays valid).
        if (info && !covers && info->self_signed && !also.empty() &&
            setup::cert_covers_host(**cert_pem, hostname)) {
            auto made = setup::self_signed_for_key(*key_pem, hostname, 90, also);
            if (!made) return std::unexpected(key.string() + ": " + made.error());
            if (auto e =
                    w.replace_file(cert, *made, 0644, own.root,
                                   "self-signed placeholder made for " + missing_names + " too");
                !e)
                return std::unexpected(e.error());
            return setup::inspect_cert(*made, *key_pem, cert.string());
        }
        // A certificate someone installed (not self-signed) is never replaced by a
        // placeholder; a placeholder for another name is, with --force.
        if (info && (covers || !info->self_signed || !w.force())) {
            if (!covers) {
                w.report_kept(cert, "certificate is not valid for " + missing_names +
                                        (info->self_signed ? "; --force for a new self-signed one"
                                                           : "; install one that is"));
                return *info;
            }
            // The placeholder is renewed (same key, so TLSA 3 1 1 stays valid) before it runs
            // out; a certificate someone installed is theirs to renew.
            const auto soon = std::chrono::system_clock::now() + std::chrono::days(21);
            if (info->self_signed && info->not_after < soon) {
                auto made = setup::self_signed_for_key(*key_pem, hostname, 90, also);
                if (!made) return std::unexpected(key.string() + ": " + made.error());
                if (auto e = w.replace_file(cert, *made, 0644, own.root,
                                            "self-signed placeholder expires within 21 days");
                    !e)
                    return std::unexpected(e.error());
                return setup::inspect_cert(*made, *key_pem, cert.string());
            }
            auto r = w.file(cert, **cert_pem, 0644, own.root);
            if (!r) return std::unexpected(r.error());
            return *info;
        }
        if (!info && !w.force())
            return std::unexpected(info.error() + "; install the matching certificate, or run "
                                                  "with --force for a new self-signed one");
    }
    auto made = setup::self_signed_for_key(*key_pem, hostname, 90, also);
    if (!made) return std::unexpected(key.string() + ": " + made.error());
    auto r = w.file(cert, *made, 0644, own.root);
    if (!r) return std::unexpected(r.error());
    return setup::inspect_cert(*made, *key_pem, cert.string());
}

} // namespace splitmail::provision::setup
