#pragma once
// Keys and the TLS placeholder on disk for `splitmail provision`: a usable key file is kept (and
// reported "unchanged"), a missing one is made; the TLS certificate is a self-signed placeholder
// until someone installs a real one.
//
// Guarantees: a usable key is never regenerated; an unusable one is an error naming the file
// unless --force (file_writer::force), which replaces it (with a .bak copy). A new TLS key
// comes with a new certificate. The placeholder (CN/SAN = host name and `also`, 90 days) is
// renewed with the same key, so TLSA 3 1 1 stays valid, when it expires within 21 days or
// lacks a name of `also`; a certificate that is not self-signed is never replaced, and one
// that is not valid for the names is reported as kept. A certificate without its key is an
// error unless --force.
// Does not: decide where keys live or which owner they get (callers pass both), or make key
// material itself (setup/keys.hpp).
#include "setup/files.hpp"
#include "setup/keys.hpp"
#include "setup/owners.hpp"

#include <sys/types.h>

#include <cstddef>
#include <expected>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision::setup {

// Keeps a usable existing secret, makes one when absent (or unusable with --force). Returns the
// file's content. `what` names the kind of key in errors ("DKIM private key").
std::expected<std::string, std::string> ensure_secret(
    file_writer& w, const std::filesystem::path& path, mode_t mode, const std::optional<owner>& own,
    const std::function<bool(const std::string&)>& usable,
    const std::function<std::expected<std::string, std::string>()>& make, std::string_view what);

// A new secret file's content: `octets` random bytes (OpenSSL's RAND_bytes) in lower-case hex
// and a newline. `what` names the secret in the error ("no random bytes for the LMTP secret").
std::expected<std::string, std::string> random_hex_secret(std::size_t octets,
                                                          std::string_view what);

// The TLS key (mode 0640, root:splitmail) and certificate (0644, root:root): an existing usable
// pair (also a real certificate that replaced the placeholder) is kept; otherwise a self-signed
// placeholder for `hostname` (and the names in `also`) is made.
std::expected<cert_info, std::string> ensure_tls(file_writer& w, const std::filesystem::path& cert,
                                                 const std::filesystem::path& key,
                                                 const std::string& hostname, const owners& own,
                                                 const std::vector<std::string>& also = {});

} // namespace splitmail::provision::setup
