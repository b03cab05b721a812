// The local checks of `splitmail check`: tls, tunnel, queue, listeners (see checks.hpp).
#include "check/cert.hpp"
#include "splitmail/durable/file.hpp"
#include "check/checks.hpp"
#include "check/program.hpp"
#include "check/wireguard.hpp"
#include "commands/cert.hpp"
#include "commands/user_files.hpp"
#include "setup/keys.hpp"
#include "setup/render.hpp"
#include "setup/wg_sync.hpp"

#include "splitmail/durable/committer.hpp"
#include "splitmail/queue/spool.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace splitmail::provision::check {

namespace fs = std::filesystem;

namespace {

// WireGuard re-handshakes every 2 minutes while packets flow, and keepalive (25 s) keeps them
// flowing: a handshake older than this means the peer is gone.
constexpr long long handshake_max_age = 180;
// A message older than this in the relay's queue is worth a look.
constexpr long long queue_warn_age = 24 * 3600;

struct tls_target {
    std::string what; // "relay certificate"
    fs::path cert, key;
    std::string hostname;          // "" = not checked
    std::string cert_key, key_key; // config keys, for fixes
    fs::path config;
    std::string service; // splitmail-relay / splitmail-home
};

findings check_one_cert(const context& c, const tls_target& t) {
    // Both daemons re-read their certificate on SIGHUP (the units' ExecReload).
    const std::string restart = "systemctl reload " + t.service;
    // How to get a trusted certificate: `splitmail cert obtain` (renewed automatically after).
    // The relay answers http-01 on port 80; home (often behind CGNAT) proves its name with
    // dns-01 through deSEC.
    const bool is_relay = t.service == "splitmail-relay";
    const std::string zone = zone_of(c.s, t.hostname);
    const std::string obtain =
        is_relay ? "splitmail cert obtain --config " + t.config.string() +
                       " --account-key /etc/splitmail/acme/account.key --contact postmaster@" +
                       (c.s.domains.empty() ? std::string("DOMAIN") : c.s.domains[0]) +
                       " (port 80 must be reachable; renewed automatically after)"
                 : "splitmail cert obtain --name " +
                       (t.hostname.empty() ? std::string("HOST") : t.hostname) + " --cert " +
                       t.cert.string() + " --key " + t.key.string() +
                       " --account-key /etc/splitmail/acme/account.key --challenge dns-01 "
                       "--desec-domain " +
                       (zone.empty() ? std::string("DOMAIN") : zone) + " --desec-token-file " +
                       (c.s.desec_token_file.empty() ? std::string("/etc/splitmail/desec.token")
                                                     : c.s.desec_token_file.string()) +
                       " --reload-unit " + t.service + " (renewed automatically after)";
    if (t.cert.empty() || t.key.empty())
        return {fail("tls",
                     t.what + ": " + t.cert_key + " / " + t.key_key + " not set in " +
                         t.config.string(),
                     "set " + t.cert_key + " and " + t.key_key + " in " + t.config.string() +
                         ", then " + restart)};
    auto cert_pem = durable::read_file(t.cert);
    if (!cert_pem)
        return {fail("tls", t.what + ": " + cert_pem.error().text(),
                     "fix " + t.cert_key + " in " + t.config.string())};
    auto key_pem = durable::read_file(t.key);
    if (!key_pem)
        return {fail("tls", t.what + ": " + key_pem.error().text(),
                     key_pem.error().code == std::errc::permission_denied
                         ? std::string("run splitmail check as root")
                         : "fix " + t.key_key + " in " + t.config.string())};
    auto f = inspect_cert(*cert_pem, *key_pem, t.hostname, c.now);
    if (!f)
        return {fail("tls", t.what + " " + t.cert.string() + ": " + f.error(),
                     "fix " + t.cert_key + " in " + t.config.string())};
    findings out;
    const bool automatic = fs::exists(fs::path(t.cert.string() + ".acme.json"));
    const std::string renew =
        automatic ? "splitmail cert status --cert " + t.cert.string() + " says why renewal " +
                        "failed; splitmail cert renew --all --dir " +
                        t.cert.parent_path().string() + " tries again"
                  : "renew " + t.cert.string() + " keeping its key (the TLSA record stays " +
                        "valid), then " + restart + "; or " + obtain;
    const std::string label = t.what + " " + t.cert.string();
    if (f->not_yet_valid)
        out.push_back(fail(
            "tls", label + " is not valid before " + utc_text(f->not_before) + " (check the clock)",
            "fix the system clock or the certificate"));
    if (f->seconds_left <= 0)
        out.push_back(fail("tls", label + " expired on " + utc_text(f->not_after), renew));
    else if (f->seconds_left < static_cast<long long>(c.s.cert_warn_days) * 86400)
        out.push_back(warn(
            "tls",
            label + " expires in " + age_text(f->seconds_left) + " (" + utc_text(f->not_after) +
                "; check.cert_warn_days = " + std::to_string(c.s.cert_warn_days) + ")",
            renew));
    if (!t.hostname.empty() && !f->host_matches)
        out.push_back(fail("tls", label + " is for " + f->subject + ", not " + t.hostname,
                           "get a certificate for " + t.hostname + ", set " + t.cert_key +
                               ", then " + restart));
    if (!f->key_error.empty())
        out.push_back(fail("tls", t.what + " key " + t.key.string() + ": " + f->key_error,
                           "fix " + t.key_key + " in " + t.config.string()));
    else if (!f->key_matches)
        out.push_back(
            fail("tls", t.key.string() + " is not the private key of " + t.cert.string(),
                 "point " + t.key_key + " at the key of " + t.cert_key + ", then " + restart));
    if (f->self_signed) {
        // Port 25 has DANE (the TLSA record pins the key); IMAP clients have nothing like it.
        const bool mx = t.service == "splitmail-relay";
        out.push_back(warn("tls",
                           label + (mx ? " is self-signed: fine for MX traffic on port 25 (the "
                                         "TLSA record pins its key) but mail clients will not "
                                         "trust it"
                                       : " is self-signed: mail clients will not trust it (each "
                                         "must accept it by hand, many refuse to connect)"),
                           obtain));
    } else if (f->seconds_left > 0) {
        if (auto why = verify_chain(*f, "", c.now); !why.empty())
            out.push_back(fail("tls",
                               label + " does not verify against the system CA store: " + why,
                               "put the whole chain (leaf and intermediates) into " + t.cert_key +
                                   ", then " + restart));
    }
    if (auto r = read_renewal_status(t.cert)) {
        if (!*r)
            out.push_back(fail("tls", "automatic renewal of " + t.cert.string() + ": " + r->error(),
                               "run " + obtain.substr(0, obtain.find(" (")) +
                                   " again (it rewrites the renewal file)"));
        else if ((*r)->failures > 0)
            out.push_back(warn("tls",
                               "automatic renewal of " + t.cert.string() + " failed " +
                                   std::to_string((*r)->failures) + " time(s) in a row, last " +
                                   utc_text((*r)->last_attempt) + ": " + (*r)->last_error,
                               "splitmail cert status --cert " + t.cert.string() +
                                   "; fix the cause (the certificate in service stays until a "
                                   "renewal succeeds)"));
        else
            out.push_back(ok("tls", t.cert.string() + " is renewed automatically "
                                                      "(splitmail-cert.timer)"));
    }
    if (std::none_of(out.begin(), out.end(), [](auto& x) { return x.state == status::fail; }) &&
        std::none_of(out.begin(), out.end(),
                     [](auto& x) { return x.detail.find("expires in") != std::string::npos; }))
        out.insert(out.begin(), ok("tls", label + ": valid until " + utc_text(f->not_after) + " (" +
                                              age_text(f->seconds_left) + ")" +
                                              (t.hostname.empty() ? "" : ", for " + t.hostname) +
                                              ", key matches"));
    return out;
}

// "0.0.0.0:25" -> 127.0.0.1:25, "[::]:25" -> [::1]:25, others as given.
struct endpoint {
    std::string host;
    std::uint16_t port = 0;
};

std::optional<endpoint> connect_target(const std::string& listen) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    std::string host = listen.substr(0, colon), port = listen.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    const int p = std::stoi(port);
    if (p <= 0 || p > 65535) return std::nullopt;
    if (host == "0.0.0.0" || host.empty() || host == "*") host = "127.0.0.1";
    if (host == "::") host = "::1";
    return endpoint{host, static_cast<std::uint16_t>(p)};
}

// "" when a TCP connection succeeds within the limit, else why not.
std::string try_connect(const endpoint& e, std::chrono::milliseconds limit) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    if (inet_pton(AF_INET, e.host.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(e.port);
        len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, e.host.c_str(),
                         &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(e.port);
        len = sizeof(sockaddr_in6);
        family = AF_INET6;
    } else {
        return "not an IP address";
    }
    const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::strerror(errno);
    std::string why;
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        if (errno != EINPROGRESS) {
            why = std::strerror(errno);
        } else {
            pollfd p{fd, POLLOUT, 0};
            const int n = poll(&p, 1, static_cast<int>(limit.count()));
            if (n == 0) {
                why = "no answer within " + std::to_string(limit.count()) + " ms";
            } else {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (n < 0)
                    why = std::strerror(errno);
                else if (soerr != 0)
                    why = std::strerror(soerr);
            }
        }
    }
    close(fd);
    return why;
}

// Whether `host` is an address of this machine: bind(2) to it (port 0) fails with
// EADDRNOTAVAIL otherwise, e.g. the tunnel address while the WireGuard interface is down.
bool address_is_local(const std::string& host) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    if (inet_pton(AF_INET, host.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
        reinterpret_cast<sockaddr_in*>(&ss)->sin_family = AF_INET;
        len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(),
                         &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1) {
        reinterpret_cast<sockaddr_in6*>(&ss)->sin6_family = AF_INET6;
        len = sizeof(sockaddr_in6);
        family = AF_INET6;
    } else {
        return true; // not ours to judge
    }
    const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return true;
    const bool local =
        ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 || errno != EADDRNOTAVAIL;
    close(fd);
    return local;
}

} // namespace

findings check_tls(context& c) {
    findings out;
    if (c.relay) {
        auto f = check_one_cert(c, {"relay certificate", c.relay->tls_cert, c.relay->tls_key,
                                    c.s.hostname, "tls.cert", "tls.key", c.relay->file,
                                    "splitmail-relay"});
        out.insert(out.end(), f.begin(), f.end());
    }
    if (c.home) {
        if (c.home->imap_listen.empty() && c.home->imaps_listen.empty()) {
            out.push_back(ok("tls", "no IMAP listener configured in " + c.home->file.string() +
                                        ": no IMAP certificate to check"));
        } else {
            const std::string host = !c.s.imap_host.empty() ? c.s.imap_host : c.home->hostname;
            auto f = check_one_cert(c, {"IMAP certificate", c.home->imap_tls_cert,
                                        c.home->imap_tls_key, host, "imap.tls_cert", "imap.tls_key",
                                        c.home->file, "splitmail-home"});
            out.insert(out.end(), f.begin(), f.end());
        }
    }
    return out;
}

findings check_users(context& c) {
    if (!c.home) return {};
    const auto& h = *c.home;
    user_files f;
    f.config = h.file;
    f.users = h.users_file;
    f.aliases = h.aliases_file;
    f.delimiter = h.recipient_delimiter;
    f.domains = h.domains;
    if (auto why = users_file_missing(f); !why.empty())
        return {fail("users", why, "splitmail user add ADDRESS --config " + h.file.string())};
    auto users_text = durable::read_file(h.users_file, {64u << 20});
    if (!users_text)
        return {fail("users", "users file: " + users_text.error().text(),
                     users_text.error().code == std::errc::permission_denied
                         ? std::string("run splitmail check as root")
                         : "fix users.file in " + h.file.string())};
    std::string aliases_text;
    if (!h.aliases_file.empty()) {
        std::error_code ec;
        if (fs::exists(h.aliases_file, ec)) {
            auto a = durable::read_file(h.aliases_file, {64u << 20});
            if (!a)
                return {fail("users", "aliases file: " + a.error().text(),
                             "fix users.aliases in " + h.file.string())};
            aliases_text = std::move(*a);
        }
    }
    if (auto ok_db = check_database(f, *users_text, aliases_text); !ok_db)
        return {fail("users",
                     "splitmail-home refuses its users/aliases files: " + ok_db.error() +
                         " (it keeps the previous database; a restart fails)",
                     "correct that line (`splitmail user del` / `splitmail alias del` with "
                     "--config " +
                         h.file.string() + "), then check again")};
    std::size_t n = 0;
    for (const auto& line : split_lines(*users_text)) {
        auto t = line.find_first_not_of(" \t");
        if (t != std::string::npos && line[t] != '#') ++n;
    }
    if (n == 0)
        return {warn("users",
                     h.users_file.string() + " has no users yet: mail for the domains "
                                             "is refused",
                     "splitmail user add ADDRESS --config " + h.file.string())};
    return {ok("users", h.users_file.string() + ": " + std::to_string(n) +
                            (n == 1 ? " user" : " users") + ", valid for splitmail-home")};
}

findings check_tunnel(context& c) {
    const bool mtls = (c.relay && c.relay->home_transport == "mtls") ||
                      (c.home && c.home->lmtp_transport == "mtls");
    if (mtls)
        return {ok("tunnel", "relay and home talk mutual TLS (transport = \"mtls\"): no "
                             "WireGuard tunnel to check")};
    const std::string& iface = c.s.wg_interface;
    const std::string up = "systemctl restart wg-quick@" + iface;
    auto r = run_program({"wg", "show", iface, "latest-handshakes"}, std::chrono::seconds(5));
    if (r.not_found)
        return {fail("tunnel",
                     "wg (wireguard-tools) is not installed, so the tunnel " + iface +
                         " cannot be checked",
                     "apt install wireguard-tools")};
    if (r.timed_out) return {fail("tunnel", "wg show " + iface + " did not answer in 5 s", up)};
    // wireguard-go's control socket answers from every network namespace: an interface of
    // this name that runs elsewhere (a container, another instance) is not this machine's.
    if (r.exit_code == 0 && !setup::interface_here(iface))
        return {
            fail("tunnel",
                 "WireGuard interface " + iface +
                     " is not up in this network namespace "
                     "(`wg show` answers for one of that name elsewhere, through wireguard-go's "
                     "shared control socket): the relay and home cannot reach each other",
                 "systemctl start wg-quick@" + iface + " (config " + c.s.wg_config.string() + ")")};
    if (r.exit_code != 0) {
        std::string out = r.output;
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        if (out.find("No such device") != std::string::npos ||
            out.find("Unable to access interface") != std::string::npos)
            return {fail("tunnel",
                         "WireGuard interface " + iface +
                             " is not up: the relay "
                             "and home cannot reach each other (" +
                             out + ")",
                         "systemctl start wg-quick@" + iface + " (config " +
                             c.s.wg_config.string() + ")")};
        if (out.find("Operation not permitted") != std::string::npos)
            return {fail("tunnel", "wg show " + iface + ": " + out, "run splitmail check as root")};
        return {fail("tunnel", "wg show " + iface + " failed: " + out, up)};
    }
    auto hs = parse_latest_handshakes(r.output);
    if (!hs) return {fail("tunnel", "wg show " + iface + ": unexpected output: " + r.output, up)};
    if (hs->empty())
        return {fail("tunnel", iface + " has no peer",
                     "add the [Peer] section to " + c.s.wg_config.string() + ", then " + up)};
    findings out;
    const std::string other = c.relay ? "home" : "relay";
    const std::string reach =
        c.relay ? "is the home machine up (splitmail-home, wg-quick@wg-smhome)? It must reach "
                  "this relay's WireGuard UDP port (firewall)"
                : "check that the relay's WireGuard UDP port (Endpoint in " +
                      c.s.wg_config.string() + ") is reachable from here, then " + up;
    // Issue 16 bug 7: after a re-pairing the running interface may still use the old keys;
    // compare it with the configuration file (when this user may read it).
    auto conf = durable::read_file(c.s.wg_config);
    if (conf) {
        const auto keys = setup::read_wg_keys(*conf);
        const std::string sync = "wg syncconf " + iface + " <(wg-quick strip " +
                                 c.s.wg_config.string() + ") (or systemctl restart wg-quick@" +
                                 iface + ")";
        if (!keys.peer_public_key.empty() &&
            std::none_of(hs->begin(), hs->end(),
                         [&](const wg_handshake& h) { return h.peer == keys.peer_public_key; }))
            out.push_back(fail("tunnel",
                               iface + " runs with peer " + hs->front().peer.substr(0, 8) +
                                   "..., but " + c.s.wg_config.string() + " names peer " +
                                   keys.peer_public_key.substr(0, 8) + "... (" + other +
                                   " re-paired?): the running interface has "
                                   "old keys",
                               sync));
        if (!keys.private_key.empty()) {
            auto mine = run_program({"wg", "show", iface, "public-key"}, std::chrono::seconds(5));
            auto want = setup::wg_public_key(keys.private_key);
            std::string running = mine.output;
            while (!running.empty() && (running.back() == '\n' || running.back() == ' '))
                running.pop_back();
            if (mine.exit_code == 0 && want && !running.empty() && running != *want)
                out.push_back(fail("tunnel",
                                   iface + " runs with the key " + running.substr(0, 8) +
                                       "..., but the PrivateKey of " + c.s.wg_config.string() +
                                       " is that of " + want->substr(0, 8) +
                                       "...: the running interface has old keys",
                                   sync));
        }
    }
    for (const auto& h : *hs) {
        const std::string peer = "peer " + h.peer.substr(0, 8) + "... (" + other + ")";
        if (h.when == 0) {
            out.push_back(fail("tunnel", iface + ": no handshake with " + peer + " yet", reach));
            continue;
        }
        const long long age = static_cast<long long>(c.now) - static_cast<long long>(h.when);
        if (age > handshake_max_age)
            out.push_back(fail("tunnel",
                               iface + ": last handshake with " + peer + " " + age_text(age) +
                                   " ago (expected within " + std::to_string(handshake_max_age) +
                                   " s with keepalive 25 s)",
                               reach));
        else
            out.push_back(ok("tunnel", iface + ": last handshake with " + peer + " " +
                                           age_text(age) + " ago"));
    }
    // A recent handshake says the tunnel worked up to two minutes ago; a TCP probe through it
    // says whether it carries packets now (issue 16 bug 7: ✓ stayed for 3 minutes after the
    // tunnel dropped). A refused connection counts: the reset came back through the tunnel.
    std::string target;
    if (c.relay) {
        target = c.relay->home_lmtp;
    } else if (conf) {
        for (const auto& line : split_lines(*conf)) {
            auto eq = line.find('=');
            if (eq == std::string::npos || line.rfind("AllowedIPs", 0) != 0) continue;
            auto v = line.substr(eq + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            v = v.substr(0, v.find_first_of("/, \t"));
            if (!v.empty()) target = (v.find(':') != std::string::npos ? "[" + v + "]" : v) + ":25";
            break;
        }
    }
    auto e = target.empty() ? std::nullopt : connect_target(target);
    if (e) {
        const auto why = try_connect(*e, c.connect_timeout);
        if (why.empty() || why == std::strerror(ECONNREFUSED))
            out.push_back(ok("tunnel", iface + " carries traffic now: " + target + " (" + other +
                                           ") answered" +
                                           (why.empty() ? "" : " (connection refused)")));
        else
            out.push_back(fail("tunnel",
                               iface + " does not carry traffic now: " + target + " (" + other +
                                   ", through the tunnel): " + why,
                               reach));
    }
    return out;
}

findings check_queue(context& c) {
    if (!c.relay) return {};
    const fs::path dir = c.relay->spool_dir;
    const std::string list_cmd = "splitmail queue list --spool " + dir.string();
    durable::committer committer({.threads = 1, .dir_threads = 1, .dir_fsyncs_in_flight = 1});
    auto s = queue::spool::open(dir, committer, false);
    if (!s)
        return {fail("queue", "cannot open the spool " + dir.string() + ": " + s.error().message(),
                     s.error() == std::errc::permission_denied
                         ? std::string("run splitmail check as root")
                         : "check spool.dir in " + c.relay->file.string() +
                               " (splitmail-relay creates it at start)")};
    auto l = s->list();
    findings out;
    if (!l.errors.empty())
        out.push_back(warn("queue",
                           std::to_string(l.errors.size()) + " unreadable envelope(s) in " +
                               dir.string() + ", e.g. " + l.errors.front(),
                           list_cmd + "; move broken ones away after a look"));
    if (l.envelopes.empty()) {
        out.push_back(ok("queue", "the queue " + dir.string() + " is empty"));
        return out;
    }
    std::size_t deferred = 0, hold = 0;
    const queue::envelope* oldest = &l.envelopes.front();
    for (const auto& e : l.envelopes) {
        deferred += e.queue == queue::queue_name::deferred;
        hold += e.queue == queue::queue_name::hold;
        if (e.arrival < oldest->arrival) oldest = &e;
    }
    const std::time_t t = std::chrono::system_clock::to_time_t(oldest->arrival);
    const long long age = static_cast<long long>(c.now) - static_cast<long long>(t);
    std::string detail = std::to_string(l.envelopes.size()) + " message(s) queued (" +
                         std::to_string(deferred) + " deferred, " + std::to_string(hold) +
                         " on hold), the oldest since " + utc_text(t) + " (" + age_text(age) + ")";
    // Issue 16 bug 7: say why the oldest waits; a failed attempt is worth a look at any age.
    const bool failing = oldest->attempts > 0 && !oldest->last_error.empty();
    if (failing)
        detail += "; its last attempt (" + std::to_string(oldest->attempts) +
                  " so far) failed: " + oldest->last_error;
    else if (!oldest->last_error.empty())
        detail += "; last error: " + oldest->last_error;
    if (age > queue_warn_age || failing)
        out.push_back(warn("queue", detail,
                           list_cmd + " shows why each waits (last error); home down? see the "
                                      "tunnel check"));
    else
        out.push_back(ok("queue", detail));
    return out;
}

findings check_listeners(context& c) {
    findings out;
    auto probe = [&](const std::string& what, const std::vector<std::string>& addrs,
                     const std::string& service, const fs::path& config) {
        for (const auto& a : addrs) {
            auto e = connect_target(a);
            if (!e) {
                out.push_back(fail("listeners", what + " " + a + ": not an ip:port address",
                                   "fix " + what + " in " + config.string()));
                continue;
            }
            const std::string shown = e->host.find(':') != std::string::npos
                                          ? "[" + e->host + "]:" + std::to_string(e->port)
                                          : e->host + ":" + std::to_string(e->port);
            auto why = try_connect(*e, c.connect_timeout);
            if (why.empty())
                out.push_back(ok("listeners", what + " " + a + " answers (" + shown + ")"));
            else if (!address_is_local(e->host))
                // Restarting the service cannot help: the address is missing, usually because
                // the tunnel interface that carries it is down (issue 16 bug 9).
                out.push_back(fail(
                    "listeners",
                    what + " " + a + ": " + e->host +
                        " is not an address of this machine: the tunnel "
                        "interface " +
                        c.s.wg_interface + " that carries it is not up (or the address is wrong)",
                    "bring the tunnel up first: systemctl start wg-quick@" + c.s.wg_interface +
                        " (see the tunnel check); else fix " + what + " in " + config.string()));
            else
                out.push_back(
                    fail("listeners",
                         what + " " + a + ": nothing answers on " + shown + " (" + why + ")",
                         "systemctl restart " + service + " (journalctl -u " + service +
                             " says why it does not listen)"));
        }
    };
    if (c.relay) {
        probe("smtp.listen", c.relay->smtp_listen, "splitmail-relay", c.relay->file);
        probe("submission.listen", c.relay->submission_listen, "splitmail-relay", c.relay->file);
        probe("submissions.listen", c.relay->submissions_listen, "splitmail-relay", c.relay->file);
    }
    if (c.home) {
        probe("lmtp.listen", c.home->lmtp_listen, "splitmail-home", c.home->file);
        probe("imap.listen", c.home->imap_listen, "splitmail-home", c.home->file);
        probe("imaps.listen", c.home->imaps_listen, "splitmail-home", c.home->file);
    }
    return out;
}

} // namespace splitmail::provision::check
