// The home server's settings table and its conversion into the typed struct; see home.hpp.
#include "splitmail/config/home.hpp"

#include "splitmail/address/address.hpp"
#include "splitmail/auth/settings.hpp"
#include "splitmail/net/tls.hpp"

#include <algorithm>
#include <array>

namespace splitmail::home {
namespace {
using config::kind;

constexpr std::array table{
    config::setting_spec{"home.domains", kind::string_list, "",
                         "Mail domains delivered here. Empty: every domain named in the users "
                         "and aliases files. A user outside these domains is a start-up error."},
    config::setting_spec{"home.hostname", kind::string, "",
                         "Name in the LMTP greeting and in Maildir file names. Empty: the "
                         "system host name."},
    config::setting_spec{"lmtp.listen", kind::string_list, "[\"127.0.0.1:2424\"]",
                         "LMTP listener addresses (`ip:port`, IPv6 in brackets). In production "
                         "the tunnel address only, with `lmtp.relay_secret_file` set so that only "
                         "the relay may use it."},
    config::setting_spec{"lmtp.transport", kind::string, "\"plain\"",
                         "`plain` (TCP, inside WireGuard) or `mtls` (TLS from the first byte; "
                         "the relay must present the certificate pinned in "
                         "`lmtp.client_pin_sha256`)."},
    config::setting_spec{"lmtp.tls_cert", kind::path, "",
                         "PEM certificate chain of the LMTP listener (`mtls`)."},
    config::setting_spec{"lmtp.tls_key", kind::path, "", "Private key of `lmtp.tls_cert`."},
    config::setting_spec{"lmtp.client_pin_sha256", kind::string, "",
                         "SHA-256 (64 hex digits, colons allowed) of the relay's client "
                         "certificate; any other certificate is refused (`mtls`)."},
    config::setting_spec{"lmtp.relay_secret_file", kind::path, "",
                         "File holding the pairing secret (32 to 200 characters, no white "
                         "space) the relay must present (`XSECRET`) before XAUTH, XDIRECTORY "
                         "or MAIL; `splitmail provision` writes it (0640 root:splitmail) and "
                         "the same value on the relay (`home.lmtp_secret_file`). Empty: not "
                         "required, and a start-up warning with `plain` transport (any local "
                         "process could read the address list, check passwords, inject mail)."},
    config::setting_spec{"lmtp.max_message_size", kind::size, "\"64M\"",
                         "Largest message accepted (advertised as SIZE, RFC 1870); keep it at "
                         "least the relay's `smtp.max_message_size`."},
    config::setting_spec{"lmtp.max_recipients", kind::integer, "1000",
                         "Recipients per LMTP transaction; more get `452 4.5.3`."},
    config::setting_spec{"lmtp.max_connections", kind::integer, "100",
                         "Simultaneous LMTP connections; more get `421`."},
    config::setting_spec{"lmtp.idle_timeout", kind::duration, "\"5m\"",
                         "A silent LMTP client is disconnected after this long."},
    config::setting_spec{"users.file", kind::path, "\"/etc/splitmail/users\"",
                         "The users file: `address:{SCHEME}hash` per line (argon2id; "
                         "`doveadm pw` schemes accepted). Reloaded on SIGHUP and when it "
                         "changes on disk."},
    config::setting_spec{"users.aliases", kind::path, "",
                         "The aliases file: `alias@dom: a@dom, b@dom`; catch-all `@dom: "
                         "a@dom`. Empty: no aliases. Reloaded like `users.file`."},
    config::setting_spec{"users.min_password_length", kind::integer, "12",
                         "Shortest password `splitmail user add|passwd` accepts (characters). "
                         "Passwords made only of one repeated character, or equal to the "
                         "address or its local part, are refused at any length."},
    config::setting_spec{"users.auth_cache_ttl", kind::duration, "\"5m\"",
                         "A successful login is remembered this long (IMAP and submission "
                         "alike): the same user with the same password is then accepted "
                         "without verifying the hash again (a webmail logs in on every "
                         "request; argon2id costs 0.1-0.5 s of CPU each time). Kept per user: "
                         "HMAC-SHA256 of name, password and stored hash under a random "
                         "per-process key, never the password; a password change or any "
                         "reload of the users file drops it; failures are never cached and "
                         "the login brake applies first. Trade-off: while an entry lives, "
                         "someone who can read the process memory can test guesses at HMAC "
                         "speed instead of argon2id speed (docs/operations.md). `0s` "
                         "disables it."},
    config::setting_spec{"users.auth_cache_size", kind::integer, "10000",
                         "Most users remembered by `users.auth_cache_ttl` at once (about 100 "
                         "bytes each); when full, the entry expiring first goes. `0` disables "
                         "the cache."},
    config::setting_spec{"maildir.root", kind::path, "\"/var/lib/splitmail/mail\"",
                         "Mailboxes live in `<root>/<domain>/<local>/` (Maildir: cur new tmp)."},
    config::setting_spec{"maildir.recipient_delimiter", kind::string, "\"+\"",
                         "Plus-addressing: `user+tag@dom` is delivered to `user@dom`. Empty "
                         "disables it."},
    config::setting_spec{"maildir.junk_folder", kind::string, "\"Junk\"",
                         "Where mail the relay marked as junk is delivered: `X-Spam: Yes` "
                         "(rspamd's `add header` action) or a DMARC failure with "
                         "`policy.dmarc=quarantine`, read only from the fields the relay put "
                         "above its own `Received:` (a sender's own `X-Spam` is ignored). The "
                         "folder (the one IMAP shows with `\\Junk`) is created when needed. "
                         "Empty: such mail goes to INBOX like any other."},
    config::setting_spec{"learn.rspamd_controller", kind::string, "\"\"",
                         "rspamd's controller (`host:port`, e.g. the relay's tunnel address "
                         "`10.8.0.1:11334`): when a user moves mail into the junk folder over "
                         "IMAP, home has rspamd learn it as spam (`/learnspam`); moved out of it "
                         "(not into Trash), as ham (`/learnham`). One request at a time, queued "
                         "(at most 1000), never holding up IMAP; each outcome is logged. Empty: "
                         "no learning."},
    config::setting_spec{"learn.rspamd_password_file", kind::path, "",
                         "A file holding the controller's password (rspamd's `password` or "
                         "`enable_password` in worker-controller.inc), sent as `Password:`. "
                         "Readable by splitmail-home only (e.g. mode 0640, group splitmail). "
                         "Empty: no password is sent (rspamd then "
                         "allows learning only from its `secure_ip` addresses)."},
    config::setting_spec{"learn.timeout", kind::duration, "\"10s\"",
                         "Deadline of each step of a learn request (connect, send, answer)."},
    config::setting_spec{"log.level", kind::string, "\"info\"",
                         "`debug`, `info`, `warn` or `error`."},
    config::setting_spec{"imap.listen", kind::string_list, "",
                         "IMAP listener addresses with STARTTLS (port 143). Empty: no IMAP."},
    config::setting_spec{"imaps.listen", kind::string_list, "",
                         "IMAP listener addresses with implicit TLS (port 993)."},
    config::setting_spec{"imaps.proxy_listen", kind::string_list, "[]",
                         "Implicit-TLS IMAP listener for the relay's IMAP pass-through "
                         "(`imap_proxy.*` in relay.toml), on the tunnel address: only clients "
                         "in `imap.proxy_from` may connect, and each connection must start with "
                         "a PROXY protocol v2 header naming the real client (others are closed "
                         "at once). Connection limits, the login brake and the logs then see "
                         "the real client."},
    config::setting_spec{"imap.proxy_from", kind::string_list, "[]",
                         "Addresses or CIDR blocks of the relay's tunnel side (e.g. "
                         "`10.8.0.1/32`) allowed to send PROXY protocol v2 headers. On "
                         "`imaps.proxy_listen` only they are accepted; on `imap.listen` and "
                         "`imaps.listen` a connection from them must start with a header (a "
                         "missing or invalid header closes it), while everyone else is served "
                         "as an ordinary client. Keep it to the tunnel peer: a listed address "
                         "can claim to be any client."},
    config::setting_spec{"imap.tls_cert", kind::path, "",
                         "PEM certificate chain for IMAP (STARTTLS and implicit TLS); needed "
                         "when any IMAP listener is set."},
    config::setting_spec{"imap.tls_key", kind::path, "", "Private key of `imap.tls_cert`."},
    config::setting_spec{"imap.tls_ciphers", kind::string,
                         "\"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                         "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                         "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305\"",
                         "OpenSSL cipher list offered with TLS 1.2 on the IMAP ports (TLS 1.3 "
                         "suites are OpenSSL's, all AEAD). The default is the AEAD suites of "
                         "Mozilla's \"intermediate\" profile; `\"\"` means OpenSSL's defaults "
                         "(with CBC suites)."},
    config::setting_spec{"imap.plaintext_login_on_loopback", kind::boolean, "false",
                         "Allow LOGIN/AUTHENTICATE without TLS from 127.0.0.1/::1 (otherwise "
                         "LOGINDISABLED until STARTTLS)."},
    config::setting_spec{"imap.idle_timeout", kind::duration, "\"30m\"",
                         "A silent IMAP client (also in IDLE) is logged out after this long "
                         "(RFC 3501 5.4: at least 30 minutes)."},
    config::setting_spec{"imap.login_failure_delay", kind::duration, "\"0s\"",
                         "Extra fixed wait before answering a failed LOGIN/AUTHENTICATE, on "
                         "top of the login brake's exponential `auth.failure_delay`."},
    config::setting_spec{"imap.login_timeout", kind::duration, "\"60s\"",
                         "A client must have logged in within this long of connecting (TLS "
                         "handshakes included), however it trickles its bytes; otherwise "
                         "`* BYE` and close. After login `imap.idle_timeout` applies."},
    config::setting_spec{"imap.overload_timeout", kind::duration, "\"10s\"",
                         "While the IMAP listeners hold 3/4 of `imap.max_connections` or of "
                         "`imap.max_unauthenticated`, `imap.login_timeout` shrinks to this "
                         "(logged-in sessions keep theirs)."},
    config::setting_spec{"imap.max_connections", kind::integer, "1000",
                         "Simultaneous IMAP connections, ports 143 and 993 together; more are "
                         "refused with `* BYE` (on port 993: closed without a byte)."},
    config::setting_spec{"imap.max_connections_per_ip", kind::integer, "10",
                         "Simultaneous IMAP connections from one address that have not logged "
                         "in (logged-in sessions are limited per user)."},
    config::setting_spec{"imap.max_connections_per_network", kind::integer, "50",
                         "The same, for all addresses of one /24 (IPv4) or /64 (IPv6) "
                         "network together."},
    config::setting_spec{"imap.max_unauthenticated", kind::integer, "0",
                         "Connections that have not logged in may hold at most this many of "
                         "the `imap.max_connections` slots, so logged-in users always find "
                         "room; `0` means half of `imap.max_connections`. When it is full, a "
                         "client from a network holding fewer slots takes the place of the "
                         "oldest not-logged-in connection of the network holding the most."},
    config::setting_spec{"imap.max_connections_per_user", kind::integer, "20",
                         "Simultaneous logged-in IMAP sessions of one user (all devices "
                         "together); a further LOGIN/AUTHENTICATE gets `NO [LIMIT]`."},
    config::setting_spec{"imap.store_threads", kind::integer, "4",
                         "Threads for mailbox work (IMAP commands on a user's folders, the "
                         "Maildir links of LMTP deliveries). Each user's work runs on one of "
                         "them at a time, so a user's heavy command (a 25 MB FETCH, the first "
                         "SELECT of a large folder) delays only that user; this many users can "
                         "be busy at once before others wait. Mostly waiting for the disk, not "
                         "CPU: more than the cores is fine. As many again run 10 nice levels "
                         "lower for users whose commands used 25 ms of CPU or more in the last "
                         "10 s (a SELECT of a huge folder, a big SORT), so the others' "
                         "commands and deliveries get the CPU first."},
};

// maildir.junk_folder: one top-level Maildir++ folder (".NAME"), a name every client shows
// as it is (no hierarchy, no modified UTF-7).
bool valid_junk_folder(const std::string& s) {
    if (s.empty() || s.size() > 64 || s.front() == ' ' || s.back() == ' ') return false;
    std::string upper = s;
    for (auto& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    if (upper == "INBOX") return false;
    return std::ranges::all_of(s, [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == ' ' || c == '_' || c == '-';
    });
}

bool is_hex64(const std::string& s) {
    return s.size() == 64 && std::ranges::all_of(s, [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}
} // namespace

std::span<const config::setting_spec> settings_table() {
    static const auto all = auth::with_brake_settings(table);
    return all;
}

std::expected<settings, std::string> settings_from(const config::values& v, std::string_view name,
                                                   config::referenced_files files) {
    settings s;
    auto bad = [&](std::string_view key, std::string_view why) {
        return std::unexpected(std::string(name) + ": " + std::string(key) + ": " +
                               std::string(why));
    };
    for (auto& d : v.get_list("home.domains")) {
        if (!address::valid_domain(d) || d.find('.') == std::string::npos)
            return bad("home.domains", "\"" + d + "\" is not a domain name");
        s.domains.push_back(address::lower_ascii(d));
    }
    s.hostname = v.get_string("home.hostname");
    s.lmtp_listen = v.get_list("lmtp.listen");
    if (s.lmtp_listen.empty()) return bad("lmtp.listen", "list at least one address");
    s.lmtp_transport = v.get_string("lmtp.transport");
    if (s.lmtp_transport != "plain" && s.lmtp_transport != "mtls")
        return bad("lmtp.transport", "must be \"plain\" or \"mtls\"");
    s.lmtp_tls_cert = v.get_path("lmtp.tls_cert");
    s.lmtp_tls_key = v.get_path("lmtp.tls_key");
    s.lmtp_client_pin_sha256 = address::lower_ascii(v.get_string("lmtp.client_pin_sha256"));
    s.lmtp_relay_secret_file = v.get_path("lmtp.relay_secret_file");
    if (auto f = s.lmtp_relay_secret_file; !f.empty() && files == config::referenced_files::read) {
        auto secret = auth::read_secret_file(f);
        if (!secret) return bad("lmtp.relay_secret_file", secret.error());
        s.lmtp_relay_secret = std::move(*secret);
    }
    std::erase(s.lmtp_client_pin_sha256, ':');
    if (s.lmtp_transport == "mtls") {
        if (s.lmtp_tls_cert.empty() || s.lmtp_tls_key.empty())
            return bad("lmtp.tls_cert", "mtls needs lmtp.tls_cert and lmtp.tls_key");
        if (!is_hex64(s.lmtp_client_pin_sha256))
            return bad("lmtp.client_pin_sha256",
                       "mtls needs the SHA-256 of the relay's client certificate (64 hex "
                       "digits; `openssl x509 -noout -fingerprint -sha256`)");
    }
    s.max_message_size = v.get_size("lmtp.max_message_size");
    if (s.max_message_size < 1024) return bad("lmtp.max_message_size", "must be at least 1k");
    auto mr = v.get_int("lmtp.max_recipients");
    if (mr < 1 || mr > 100000) return bad("lmtp.max_recipients", "must be between 1 and 100000");
    s.max_recipients = static_cast<std::size_t>(mr);
    auto mc = v.get_int("lmtp.max_connections");
    if (mc < 1) return bad("lmtp.max_connections", "must be at least 1");
    s.max_connections = static_cast<std::size_t>(mc);
    s.idle_timeout = v.get_duration("lmtp.idle_timeout");
    if (s.idle_timeout.count() < 1) return bad("lmtp.idle_timeout", "must be at least 1s");
    s.users_file = v.get_path("users.file");
    if (s.users_file.empty()) return bad("users.file", "must be set");
    s.aliases_file = v.get_path("users.aliases");
    auto mpl = v.get_int("users.min_password_length");
    if (mpl < 1 || mpl > 1024) return bad("users.min_password_length", "must be 1 to 1024");
    s.min_password_length = static_cast<std::size_t>(mpl);
    s.auth_cache_ttl = v.get_duration("users.auth_cache_ttl");
    if (s.auth_cache_ttl.count() < 0 || s.auth_cache_ttl > std::chrono::hours(24))
        return bad("users.auth_cache_ttl", "must be between 0s and 24h");
    auto acs = v.get_int("users.auth_cache_size");
    if (acs < 0 || acs > 10'000'000) return bad("users.auth_cache_size", "must be 0 to 10000000");
    s.auth_cache_size = static_cast<std::size_t>(acs);
    s.maildir_root = v.get_path("maildir.root");
    if (s.maildir_root.empty()) return bad("maildir.root", "must be set");
    s.recipient_delimiter = v.get_string("maildir.recipient_delimiter");
    if (s.recipient_delimiter.find_first_of("@ \t/") != std::string::npos)
        return bad("maildir.recipient_delimiter", "must not contain '@', '/' or spaces");
    s.junk_folder = v.get_string("maildir.junk_folder");
    if (!s.junk_folder.empty() && !valid_junk_folder(s.junk_folder))
        return bad("maildir.junk_folder",
                   "must be a top-level folder name of letters, digits, ' ', '_' or '-' "
                   "(not INBOX), e.g. \"Junk\" or \"Spam\"");
    s.learn_controller = v.get_string("learn.rspamd_controller");
    if (!s.learn_controller.empty()) {
        auto colon = s.learn_controller.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == s.learn_controller.size())
            return bad("learn.rspamd_controller", "expected host:port, e.g. \"10.8.0.1:11334\"");
    }
    s.learn_password_file = v.get_path("learn.rspamd_password_file");
    if (auto f = s.learn_password_file; !f.empty() && files == config::referenced_files::read) {
        auto pw = auth::read_secret_file(f, 1); // rspamd's own password: any length
        if (!pw) return bad("learn.rspamd_password_file", pw.error());
        s.learn_password = *pw;
    }
    s.learn_timeout = v.get_duration("learn.timeout");
    if (s.learn_timeout < std::chrono::seconds(1) || s.learn_timeout > std::chrono::minutes(5))
        return bad("learn.timeout", "must be between 1s and 5m");
    s.log_level = v.get_string("log.level");
    if (s.log_level != "debug" && s.log_level != "info" && s.log_level != "warn" &&
        s.log_level != "error")
        return bad("log.level", "must be debug, info, warn or error");
    s.imap_listen = v.get_list("imap.listen");
    s.imaps_listen = v.get_list("imaps.listen");
    s.imaps_proxy_listen = v.get_list("imaps.proxy_listen");
    for (const auto& t : v.get_list("imap.proxy_from")) {
        auto n = relay::parse_network(t);
        if (!n) return bad("imap.proxy_from", "\"" + t + "\" is not an address or CIDR block");
        s.imap_proxy_from.push_back(*n);
    }
    if (!s.imaps_proxy_listen.empty() && s.imap_proxy_from.empty())
        return bad("imaps.proxy_listen", "set imap.proxy_from to the relay's tunnel address "
                                         "(only it may connect to this listener)");
    s.imap_tls_cert = v.get_path("imap.tls_cert");
    s.imap_tls_key = v.get_path("imap.tls_key");
    if ((!s.imap_listen.empty() || !s.imaps_listen.empty() || !s.imaps_proxy_listen.empty()) &&
        (s.imap_tls_cert.empty() || s.imap_tls_key.empty()))
        return bad("imap.tls_cert", "IMAP listeners need imap.tls_cert and imap.tls_key");
    s.imap_plaintext_on_loopback = v.get_bool("imap.plaintext_login_on_loopback");
    s.imap_idle_timeout = v.get_duration("imap.idle_timeout");
    if (s.imap_idle_timeout.count() < 1) return bad("imap.idle_timeout", "must be at least 1s");
    s.imap_login_failure_delay = v.get_duration("imap.login_failure_delay");
    auto brake = auth::brake_policy_from(v, name);
    if (!brake) return std::unexpected(brake.error());
    s.login_brake = *brake;
    auto ic = v.get_int("imap.max_connections");
    if (ic < 1) return bad("imap.max_connections", "must be at least 1");
    s.imap_max_connections = static_cast<std::size_t>(ic);
    auto ip = v.get_int("imap.max_connections_per_ip");
    if (ip < 1) return bad("imap.max_connections_per_ip", "must be at least 1");
    s.imap_max_connections_per_ip = static_cast<std::size_t>(ip);
    auto inet = v.get_int("imap.max_connections_per_network");
    if (inet < 1) return bad("imap.max_connections_per_network", "must be at least 1");
    s.imap_max_connections_per_network = static_cast<std::size_t>(inet);
    auto iun = v.get_int("imap.max_unauthenticated");
    if (iun < 0 || iun > ic)
        return bad("imap.max_unauthenticated", "must be between 0 and imap.max_connections");
    s.imap_max_unauthenticated = iun == 0 ? std::max<std::size_t>(1, s.imap_max_connections / 2)
                                          : static_cast<std::size_t>(iun);
    s.imap_login_timeout = v.get_duration("imap.login_timeout");
    if (s.imap_login_timeout.count() < 1) return bad("imap.login_timeout", "must be at least 1s");
    s.imap_overload_timeout = v.get_duration("imap.overload_timeout");
    if (s.imap_overload_timeout.count() < 1)
        return bad("imap.overload_timeout", "must be at least 1s");
    s.imap_tls_ciphers = v.get_string("imap.tls_ciphers");
    if (auto why = net::check_cipher_list(s.imap_tls_ciphers); !why.empty())
        return bad("imap.tls_ciphers", why);
    auto iu = v.get_int("imap.max_connections_per_user");
    if (iu < 1) return bad("imap.max_connections_per_user", "must be at least 1");
    s.imap_max_connections_per_user = static_cast<std::size_t>(iu);
    auto st = v.get_int("imap.store_threads");
    if (st < 1 || st > 256) return bad("imap.store_threads", "must be between 1 and 256");
    s.imap_store_threads = static_cast<std::size_t>(st);
    return s;
}

std::expected<settings, std::string> load_settings(const std::filesystem::path& file,
                                                   config::referenced_files files) {
    auto v = config::load(file, settings_table());
    if (!v) return std::unexpected(v.error());
    return settings_from(*v, file.string(), files);
}

} // namespace splitmail::home
