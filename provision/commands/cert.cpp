// `splitmail cert`: see cert.hpp.
#include "commands/cert.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "check/dns_query.hpp"
#include "splitmail/address/address.hpp"
#include "check/context.hpp"
#include "check/program.hpp"
#include "setup/keys.hpp"
#include "setup/rollover.hpp"
#include "splitmail/acme/client.hpp"
#include "splitmail/acme/desec_dns01.hpp"
#include "splitmail/acme/http01.hpp"
#include "splitmail/acme/renewal.hpp"
#include "splitmail/config/relay.hpp"
#include "splitmail/desec/client.hpp"
#include "splitmail/desec/token.hpp"
#include "splitmail/dns/context.hpp"
#include "splitmail/durable/file.hpp"
#include "splitmail/queue/control.hpp"
#include "splitmail/text/json_integer.hpp"
#include "splitmail/sys/clock.hpp"

namespace splitmail::provision {

namespace fs = std::filesystem;

namespace {

constexpr const char* usage =
    "usage: splitmail cert obtain|renew --name N [--name N]... --cert FILE --key FILE\n"
    "                  --account-key FILE [--directory URL|--staging] [--ca-file FILE]\n"
    "                  [--contact mailto:ADDR] [--relay-spool DIR]\n"
    "                  [--http-listen ADDR:PORT | --http-webroot DIR]   (http-01; the webroot\n"
    "                   is the running relay's http.challenge_dir, its port 80 answers)\n"
    "                  [--key-type p256|rsa2048]\n"
    "                  [--config relay.toml] [--reload-unit UNIT]...\n"
    "                  [--challenge dns-01 --desec-domain D --desec-token-file F\n"
    "                   [--desec-api URL] [--desec-ca-file F] [--dns-server IP:PORT]...]\n"
    "       splitmail cert renew --all [--dir DIR]   (what the splitmail-cert.timer runs)\n"
    "       splitmail cert status --cert FILE [--name N]...\n"
    "       splitmail cert rollover --config relay.toml [--force]   (a new key, TLSA kept valid:\n"
    "                  run, `splitmail dns apply`, run again after 2 x TTL, `dns apply`)\n";

// Where `renew --all` looks for the renewal files `obtain` leaves next to each certificate.
constexpr const char* default_renewal_dir = "/etc/splitmail/tls";
constexpr std::string_view renewal_suffix = ".acme.json";

constexpr int ex_tempfail = 75;

struct options {
    std::string action;
    std::vector<std::string> names;
    fs::path cert, key, account_key, ca_file, relay_spool, config;
    std::string directory{acme::letsencrypt_directory};
    bool directory_given = false, staging = false;
    std::vector<std::string> contact;
    std::string http_address = "0.0.0.0";
    std::uint16_t http_port = 80;
    bool http_listen_given = false;
    fs::path http_webroot; // set: files for the relay's port 80 instead of a listener
    std::string challenge = "http-01";
    std::string desec_domain, desec_api{desec::default_base_url};
    fs::path desec_token_file, desec_ca_file;
    std::vector<std::string> dns_servers;  // authoritative servers to ask, "ip:port"
    std::vector<std::string> reload_units; // `systemctl reload UNIT` after a new certificate
    std::string systemctl = "systemctl";   // tests point it at a stand-in
    bool all = false;                      // renew --all
    fs::path dir{default_renewal_dir};     // renew --all: where the renewal files are
    acme::key_type key_type = acme::key_type::p256; // for a new key (an existing one is kept)
    bool force = false;                             // rollover: switch without waiting for 2 x TTL
    fs::path key_source; // rollover: the key to certify (KEY.next), then KEY
};

// A certificate's failure history, kept in its renewal file (acme/renewal.hpp's backoff).
struct renewal_state {
    int failures = 0;
    std::int64_t last_attempt = 0; // unix seconds; 0: never failed
    std::int64_t retry_after = 0;  // seconds the CA asked for after the last failure
    std::string last_error;
};

std::optional<std::string> parse(std::span<const std::string> args, options& o) {
    if (args.empty()) return "missing action";
    o.action = args[0];
    if (o.action != "obtain" && o.action != "renew" && o.action != "status" &&
        o.action != "rollover")
        return "unknown action \"" + o.action + "\"";
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--all") {
            if (o.action != "renew") return "--all goes with renew";
            o.all = true;
            continue;
        }
        if (a == "--staging") { // Let's Encrypt's staging CA: untrusted, for trying out
            if (o.directory_given) return "--staging and --directory both name the CA: give one";
            o.directory = acme::letsencrypt_staging_directory;
            o.staging = true;
            continue;
        }
        if (a == "--force") {
            if (o.action != "rollover") return "--force goes with rollover";
            o.force = true;
            continue;
        }
        if (i + 1 >= args.size()) return a + " needs a value";
        const std::string& v = args[++i];
        if (a == "--name") {
            o.names.push_back(address::lower_ascii(v));
        } else if (a == "--cert")
            o.cert = v;
        else if (a == "--key")
            o.key = v;
        else if (a == "--account-key")
            o.account_key = v;
        else if (a == "--ca-file")
            o.ca_file = v;
        else if (a == "--relay-spool")
            o.relay_spool = v;
        else if (a == "--config")
            o.config = v;
        else if (a == "--directory") {
            if (o.staging) return "--staging and --directory both name the CA: give one";
            o.directory = v;
            o.directory_given = true;
        } else if (a == "--challenge") {
            if (v != "http-01" && v != "dns-01") return "--challenge is http-01 or dns-01";
            o.challenge = v;
        } else if (a == "--desec-domain")
            o.desec_domain = v;
        else if (a == "--desec-api")
            o.desec_api = v;
        else if (a == "--desec-token-file")
            o.desec_token_file = v;
        else if (a == "--desec-ca-file")
            o.desec_ca_file = v;
        else if (a == "--dns-server")
            o.dns_servers.push_back(v);
        else if (a == "--reload-unit")
            o.reload_units.push_back(v);
        else if (a == "--systemctl")
            o.systemctl = v;
        else if (a == "--dir")
            o.dir = v;
        else if (a == "--key-type") {
            auto t = acme::parse_key_type(v);
            if (!t) return "--key-type is p256 or rsa2048";
            o.key_type = *t;
        } else if (a == "--contact")
            o.contact.push_back(v.starts_with("mailto:") ? v : "mailto:" + v);
        else if (a == "--http-webroot") {
            if (v.empty()) return "--http-webroot wants a directory";
            o.http_webroot = v;
        } else if (a == "--http-listen") {
            o.http_listen_given = true;
            auto colon = v.rfind(':');
            if (colon == std::string::npos) return "--http-listen wants ADDR:PORT";
            o.http_address = v.substr(0, colon);
            if (o.http_address.starts_with('[') && o.http_address.ends_with(']'))
                o.http_address = o.http_address.substr(1, o.http_address.size() - 2);
            int port = 0;
            try {
                port = std::stoi(v.substr(colon + 1));
            } catch (...) {}
            if (port <= 0 || port > 65535) return "--http-listen: bad port in \"" + v + "\"";
            o.http_port = static_cast<std::uint16_t>(port);
        } else {
            return "unknown option \"" + a + "\"";
        }
    }
    if (o.http_listen_given && !o.http_webroot.empty())
        return "--http-listen and --http-webroot exclude each other (a listener of our own, or "
               "files for the relay's port 80)";
    return std::nullopt;
}

std::string when(std::chrono::system_clock::time_point t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

struct current_cert {
    std::optional<acme::cert_times> times;
    std::vector<std::string> names;
};

current_cert read_current(const fs::path& cert) {
    current_cert c;
    auto pem = durable::read_file_if_exists(cert);
    if (!pem || !*pem) return c;
    if (auto t = acme::leaf_times(**pem)) c.times = *t;
    c.names = acme::leaf_dns_names(**pem);
    return c;
}

// The CA's renewal window for the certificate in service (RFC 9773), when it offers one.
struct ari_view {
    std::optional<acme::renewal_info> window;
    double fraction = 0.5; // where in the window: stable per certificate (FNV-1a of its id)
};

acme::renewal_decision decide(const current_cert& c, const std::vector<std::string>& names,
                              const renewal_state& st = {}, const ari_view& ari = {}) {
    acme::renewal_input in;
    if (ari.window) {
        in.ari_window = std::make_pair(ari.window->start, ari.window->end);
        in.ari_fraction = ari.fraction;
    }
    in.consecutive_failures = st.failures;
    if (st.last_attempt > 0) in.last_attempt = sys::from_time_t_clamped(st.last_attempt);
    // From the renewal file: a CA's Retry-After is capped at a week when it is read
    // (acme::parse_retry_after); an edited file gets at most a month.
    if (st.retry_after > 0)
        in.retry_after = std::chrono::seconds(std::min<std::int64_t>(st.retry_after, 30 * 86400));
    if (c.times) {
        in.not_before = c.times->not_before;
        in.not_after = c.times->not_after;
    }
    in.names_match = std::all_of(names.begin(), names.end(), [&](const std::string& n) {
        return std::find(c.names.begin(), c.names.end(), n) != c.names.end();
    });
    return acme::decide_renewal(in, std::chrono::system_clock::now());
}

struct renewal_entry {
    std::vector<std::string> args;
    renewal_state st;
};
fs::path renewal_file(const fs::path& cert);
std::expected<renewal_entry, std::string> read_renewal(const fs::path& path);

int status(const options& o, std::ostream& out, std::ostream& err) {
    auto c = read_current(o.cert);
    if (!c.times) {
        err << "splitmail cert: " << o.cert.string() << ": no readable certificate\n";
        return 1;
    }
    auto d = decide(c, o.names);
    out << "certificate " << o.cert.string() << "\n  names:";
    for (const auto& n : c.names) out << " " << n;
    out << "\n  valid from " << when(c.times->not_before) << " until " << when(c.times->not_after)
        << "\n  renewal " << (d.renew_now ? "due now" : "due " + when(d.due)) << "\n";
    const auto f = renewal_file(o.cert);
    if (auto e = read_renewal(f)) {
        out << "  automatic renewal: yes (" << f.string() << ", splitmail-cert.timer)\n";
        if (e->st.failures > 0)
            out << "  failed " << e->st.failures << " time(s) in a row, last: " << e->st.last_error
                << "\n  next attempt from " << when(decide(c, o.names, e->st).next_check) << "\n";
    } else {
        out << "  automatic renewal: no (`splitmail cert obtain` sets it up)\n";
    }
    if (!o.key.empty()) {
        auto next = setup::read_next_key(o.key);
        const auto st =
            next ? setup::rollover_of(*next, std::time(nullptr)) : setup::rollover_state{};
        if (!next)
            out << "  key rollover: " << next.error() << "\n";
        else if (st.step == setup::rollover_step::publish)
            out << "  key rollover: step 1 of 3, the next key waits for `splitmail dns apply`\n";
        else if (st.step == setup::rollover_step::wait)
            out << "  key rollover: step 2 of 3, switch from " << check::utc_text(st.switch_from)
                << " (`splitmail cert rollover`)\n";
        else if (st.step == setup::rollover_step::ready)
            out << "  key rollover: step 2 of 3, ready to switch (`splitmail cert rollover`)\n";
    }
    return 0;
}

// The certificate key: the existing one when it is usable (P-256 or RSA >= 2048), whatever
// --key-type says, because renewals keep TLSA records valid only with the same key; a new key
// of `want` otherwise.
acme::result<acme::cert_key> cert_key(const fs::path& path, acme::key_type want, bool& is_new,
                                      std::ostream& out) {
    is_new = false;
    auto pem = durable::read_file_if_exists(path);
    if (pem && *pem) {
        auto k = acme::cert_key::from_pem(**pem);
        if (k) {
            if (k->type() != want)
                out << "keeping the " << acme::key_type_name(k->type()) << " key in "
                    << path.string() << " (the TLSA record pins it); for a "
                    << acme::key_type_name(want)
                    << " key remove the file, run again, then `splitmail dns apply`\n";
            return k;
        }
        out << "the key in " << path.string() << " is not usable (" << k.error().message
            << "); making a new " << acme::key_type_name(want) << " key\n";
    }
    is_new = true;
    return acme::cert_key::generate(want);
}

// Replacing a file keeps its owner and group (the relay runs as its own user and must go on
// reading the key and certificate provision made for it); `mode` is the new file's mode.
durable::replace_options keep_owner(const fs::path& path, ::mode_t mode) {
    durable::replace_options r;
    r.mode = mode;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) r.owner = std::make_pair(st.st_uid, st.st_gid);
    return r;
}

// Puts a certificate and (when `key_pem` is not empty) its new key in place: the key first,
// then the certificate; when the certificate cannot be written the old key goes back, so the
// files never hold a pair that does not belong together (a reload or restart would fail).
std::optional<std::string> install_pair(const fs::path& key, const std::string& key_pem,
                                        const fs::path& cert, const std::string& cert_pem) {
    std::optional<std::string> old_key;
    if (!key_pem.empty()) {
        auto before = durable::read_file_if_exists(key);
        if (!before) return key.string() + ": " + before.error().text();
        if (*before) old_key = std::move(**before);
        if (auto w = durable::replace_file(key, key_pem, keep_owner(key, 0600)); !w)
            return w.error().text();
    }
    if (auto w = durable::replace_file(cert, cert_pem, keep_owner(cert, 0644)); !w) {
        std::string why = w.error().text();
        if (old_key) {
            if (auto r = durable::replace_file(key, *old_key, keep_owner(key, 0600)); !r)
                why += "; and the old key could not be put back (" + r.error().text() +
                       "): " + key.string() + " does not match " + cert.string();
            else
                why += " (the old key was put back)";
        }
        return why;
    }
    return std::nullopt;
}

// deSEC's authoritative name servers (https://desec.io: ns1.desec.io, ns2.desec.org), by
// address, so the check asks them and not a cache.
std::vector<std::string> desec_name_servers(std::ostream& err) {
    std::vector<std::string> out;
    auto system = check::dns_query::create("");
    if (!system) {
        err << "splitmail cert: " << system.error() << "\n";
        return out;
    }
    for (const char* ns : {"ns1.desec.io", "ns2.desec.org"}) {
        auto a = (*system)->query(ns, check::rr_type::a);
        for (const auto& ip : a.records) out.push_back(ip + ":53");
    }
    return out;
}

// True when every server answers every value at `fqdn` (a fresh resolver each time, so no
// cached negative answer hides a new record).
acme::result<bool> answered_by_all(const std::vector<std::string>& servers, const std::string& fqdn,
                                   const std::vector<std::string>& values) {
    for (const auto& server : servers) {
        auto fwd = splitmail::dns::to_unbound_address(server);
        if (!fwd) return acme::fail(acme::error_kind::solver, "--dns-server: " + fwd.error());
        auto q = check::dns_query::create(server);
        if (!q) return acme::fail(acme::error_kind::solver, q.error());
        auto a = (*q)->query(fqdn, check::rr_type::txt);
        for (const auto& v : values) {
            // TXT in presentation format carries its quotes.
            if (std::find(a.records.begin(), a.records.end(), "\"" + v + "\"") == a.records.end())
                return false;
        }
    }
    return true;
}

struct issue_result {
    int code = 0;
    bool written = false; // a new certificate is in place
    std::string failure;  // why not (code != 0)
    std::optional<std::chrono::seconds> retry_after;
};

// After a new certificate: the relay of --relay-spool gets SIGHUP, each --reload-unit a
// `systemctl reload`. The reason when one failed.
std::optional<std::string> reload_daemons(const options& o, std::ostream& out) {
    if (!o.relay_spool.empty()) {
        auto r = queue::signal_reload(o.relay_spool);
        out << r.detail << "\n";
        if (r.result == queue::flush_result::error) return r.detail;
    }
    for (const auto& unit : o.reload_units) {
        // The daemon reads the new files on SIGHUP (the units' ExecReload).
        auto r = check::run_program({o.systemctl, "reload", unit}, std::chrono::seconds(60));
        if (r.exit_code != 0)
            return o.systemctl + " reload " + unit + " failed (exit " +
                   std::to_string(r.exit_code) + "): " + r.output +
                   "; the new certificate is in place, it is used after a reload";
        out << "reloaded " << unit << "\n";
    }
    return std::nullopt;
}

issue_result issue(const options& o, std::ostream& out, std::ostream& err,
                   const renewal_state& st = {}) {
    issue_result res;
    auto failed = [&](int code, const std::string& why) {
        err << "splitmail cert: " << why << "\n";
        res.code = code;
        res.failure = why;
        return res;
    };
    // RFC 9773: the id of the certificate in service, for renewalInfo and newOrder's
    // "replaces" (none for a self-signed placeholder: it has no Authority Key Identifier).
    std::string cert_id;
    if (auto pem = durable::read_file_if_exists(o.cert); pem && *pem)
        if (auto id = acme::ari_cert_id(**pem)) cert_id = *id;
    if (o.action == "renew") {
        ari_view ari;
        if (!cert_id.empty()) {
            acme::client_options ao;
            ao.directory_url = o.directory;
            ao.ca_file = o.ca_file;
            // renewalInfo is a plain GET: no account is needed, so a throwaway key will do.
            auto throwaway = acme::ec_key::generate();
            if (throwaway) {
                acme::client probe(ao, std::move(*throwaway));
                auto info = probe.renewal_information(cert_id);
                if (!info)
                    out << "renewal information: " << info.error().text()
                        << " (renewing by the certificate's lifetime instead)\n";
                else if (*info) {
                    ari.window = **info;
                    std::uint32_t h = 2166136261u;
                    for (unsigned char ch : cert_id) h = (h ^ ch) * 16777619u;
                    ari.fraction = static_cast<double>(h) / 4294967296.0;
                    out << "renewal information: the CA suggests renewing between "
                        << when(ari.window->start) << " and " << when(ari.window->end) << "\n";
                }
            }
        }
        auto d = decide(read_current(o.cert), o.names, st, ari);
        if (!d.renew_now) {
            if (st.failures > 0 && d.next_check > d.due)
                out << "not yet: " << o.cert.string() << " failed " << st.failures
                    << " time(s) in a row (last: " << st.last_error << "); next attempt from "
                    << when(d.next_check) << "\n";
            else
                out << "not due: " << o.cert.string() << " is renewed from " << when(d.due) << "\n";
            return res;
        }
    }
    if (o.directory == acme::letsencrypt_staging_directory)
        out << "Let's Encrypt staging: the certificate will NOT be trusted by mail clients or "
               "MTAs; once this works, run again without --staging\n";
    bool account_new = false;
    // The account key's directory (/etc/splitmail/acme) is made on first use, private.
    if (const auto dir = o.account_key.parent_path(); !dir.empty()) {
        std::error_code ec;
        if (!fs::exists(dir, ec)) {
            fs::create_directories(dir, ec);
            if (ec) return failed(1, dir.string() + ": cannot create: " + ec.message());
            fs::permissions(dir, fs::perms::owner_all, ec);
        }
    }
    auto account = acme::load_or_create_key(o.account_key, &account_new);
    if (!account) return failed(1, "account key: " + account.error().message);
    bool key_new = false;
    auto key = o.key_source.empty() ? cert_key(o.key, o.key_type, key_new, out) : [&] {
        auto pem = durable::read_file(o.key_source);
        if (!pem)
            return acme::result<acme::cert_key>(
                acme::fail(acme::error_kind::local, pem.error().text()));
        return acme::cert_key::from_pem(*pem);
    }();
    if (!key) return failed(1, key.error().text());
    // A rollover's next key becomes the key file before the certificate for it is written.
    if (!o.key_source.empty()) key_new = true;
    std::unique_ptr<acme::challenge_solver> solver;
    std::optional<desec::client> api;
    std::vector<std::string> servers = o.dns_servers;
    if (o.challenge == "http-01") {
        if (!o.http_webroot.empty()) {
            std::error_code ec;
            if (!fs::is_directory(o.http_webroot, ec))
                return failed(1, "--http-webroot " + o.http_webroot.string() +
                                     " is not a directory (the relay's http.challenge_dir; "
                                     "its package makes it)");
            solver = std::make_unique<acme::http01_webroot_solver>(o.http_webroot);
        } else {
            auto h = acme::http01_solver::listen(o.http_address, o.http_port);
            if (!h) return failed(1, h.error().message);
            solver = std::move(*h);
        }
    } else {
        auto token = desec::read_token_file(o.desec_token_file);
        if (!token) return failed(1, token.error());
        if (servers.empty()) servers = desec_name_servers(err);
        if (servers.empty())
            return failed(1, "cannot find deSEC's name servers; give --dns-server");
        desec::client_options dopt;
        dopt.base_url = o.desec_api;
        dopt.token = *token;
        dopt.ca_file = o.desec_ca_file;
        api.emplace(dopt);
        acme::desec_dns01_solver::options so;
        so.zone = o.desec_domain;
        so.check_interval = std::chrono::seconds(2);
        solver = std::make_unique<acme::desec_dns01_solver>(
            *api,
            [&servers](const std::string& fqdn, const std::vector<std::string>& values) {
                return answered_by_all(servers, fqdn, values);
            },
            so);
    }
    acme::client_options co;
    co.directory_url = o.directory;
    co.ca_file = o.ca_file;
    co.contact = o.contact;
    co.log = [&out](std::string_view line) { out << "acme: " << line << "\n"; };
    acme::client client(co, std::move(*account));
    auto issued = client.obtain(o.names, *key, *solver, cert_id);
    if (auto* d = dynamic_cast<acme::desec_dns01_solver*>(solver.get());
        d && !d->cleanup_error().empty())
        err << "splitmail cert: warning: " << d->cleanup_error() << "\n";
    if (!issued) {
        const auto& e = issued.error();
        bool later =
            e.kind == acme::error_kind::rate_limited || e.kind == acme::error_kind::network;
        failed(later ? ex_tempfail : 1, e.text());
        res.retry_after = e.retry_after;
        if (later) err << "splitmail cert: the old certificate stays in service; try again later\n";
        return res;
    }
    out << "account " << (client.account_created() ? "created" : "reused") << "; "
        << client.bad_nonce_retries() << " badNonce retries\n";
    if (auto why = install_pair(o.key, key_new ? key->private_pem() : std::string(), o.cert,
                                issued->chain_pem))
        return failed(1, *why);
    res.written = true;
    auto t = acme::leaf_times(issued->chain_pem);
    out << "certificate written to " << o.cert.string()
        << (t ? " (valid until " + when(t->not_after) + ")" : std::string()) << "\n";
    if (auto why = reload_daemons(o, out)) return failed(1, *why);
    return res;
}

// The options as arguments again: what a renewal file keeps, so `renew --all` renews the
// certificate exactly as it was obtained.
std::vector<std::string> as_args(const options& o) {
    std::vector<std::string> a;
    auto add = [&a](std::string k, std::string v) {
        a.push_back(std::move(k));
        a.push_back(std::move(v));
    };
    for (const auto& n : o.names) add("--name", n);
    add("--cert", o.cert.string());
    add("--key", o.key.string());
    add("--account-key", o.account_key.string());
    add("--directory", o.directory);
    if (!o.ca_file.empty()) add("--ca-file", o.ca_file.string());
    for (const auto& c : o.contact) add("--contact", c);
    if (o.key_type != acme::key_type::p256)
        add("--key-type", std::string(acme::key_type_name(o.key_type)));
    add("--challenge", o.challenge);
    if (o.challenge == "http-01" && !o.http_webroot.empty()) {
        add("--http-webroot", o.http_webroot.string());
    } else if (o.challenge == "http-01") {
        const bool v6 = o.http_address.find(':') != std::string::npos;
        add("--http-listen",
            (v6 ? "[" + o.http_address + "]" : o.http_address) + ":" + std::to_string(o.http_port));
    } else {
        add("--desec-domain", o.desec_domain);
        add("--desec-token-file", o.desec_token_file.string());
        add("--desec-api", o.desec_api);
        if (!o.desec_ca_file.empty()) add("--desec-ca-file", o.desec_ca_file.string());
        for (const auto& s : o.dns_servers) add("--dns-server", s);
    }
    if (!o.relay_spool.empty()) add("--relay-spool", o.relay_spool.string());
    for (const auto& u : o.reload_units) add("--reload-unit", u);
    if (o.systemctl != "systemctl") add("--systemctl", o.systemctl);
    return a;
}

fs::path renewal_file(const fs::path& cert) {
    return fs::path(cert.string() + std::string(renewal_suffix));
}

std::expected<void, std::string>
write_renewal(const fs::path& path, const std::vector<std::string>& args, const renewal_state& st) {
    nlohmann::json j;
    j["comment"] = "splitmail cert renew --all renews this certificate with these arguments";
    j["args"] = args;
    j["failures"] = st.failures;
    j["last_attempt"] = st.last_attempt;
    j["retry_after"] = st.retry_after;
    j["last_error"] = st.last_error;
    durable::replace_options ro;
    ro.mode = 0600;
    if (auto w = durable::replace_file(path, j.dump(2) + "\n", ro); !w)
        return std::unexpected(path.string() + ": " + w.error().text());
    return {};
}

std::expected<renewal_entry, std::string> read_renewal(const fs::path& path) {
    auto text = durable::read_file_if_exists(path);
    if (!text || !*text) return std::unexpected(path.string() + ": cannot be read");
    try {
        auto j = nlohmann::json::parse(**text);
        renewal_entry e;
        for (const auto& a : j.at("args")) e.args.push_back(a.get<std::string>());
        e.st.failures = text::integer_or(j, "failures", 0);
        e.st.last_attempt = text::integer_or(j, "last_attempt", std::int64_t{0});
        e.st.retry_after = text::integer_or(j, "retry_after", std::int64_t{0});
        e.st.last_error = j.value("last_error", std::string());
        if (e.st.failures < 0 || e.st.last_attempt < 0 || e.st.retry_after < 0)
            return std::unexpected(path.string() + ": negative numbers");
        return e;
    } catch (const std::exception& ex) {
        return std::unexpected(path.string() + ": not a renewal file (" + ex.what() + ")");
    }
}

// `renew --all`: every certificate that has a renewal file in `o.dir`, each with its own
// failure history and backoff. Exit: 0 when every one is fine or not due, 75 when one could
// not be renewed for now (CA rate limit or unreachable), 1 when one failed otherwise.
int renew_all(const options& all, std::ostream& out, std::ostream& err) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (fs::directory_iterator it(all.dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->path().filename().string().ends_with(renewal_suffix)) files.push_back(it->path());
    if (ec && ec != std::errc::no_such_file_or_directory) {
        err << "splitmail cert: " << all.dir.string() << ": " << ec.message() << "\n";
        return 1;
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
        out << "no certificate to renew: no *" << renewal_suffix << " file in " << all.dir.string()
            << " (`splitmail cert obtain` leaves one)\n";
        return 0;
    }
    int worst = 0;
    auto note = [&worst](int code) {
        if (code == 1 || (code == ex_tempfail && worst == 0)) worst = code;
    };
    for (const auto& f : files) {
        auto e = read_renewal(f);
        if (!e) {
            err << "splitmail cert: " << e.error() << "\n";
            note(1);
            continue;
        }
        std::vector<std::string> args{"renew"};
        args.insert(args.end(), e->args.begin(), e->args.end());
        options o;
        if (auto bad = parse(args, o)) {
            err << "splitmail cert: " << f.string() << ": " << *bad << "\n";
            note(1);
            continue;
        }
        if (o.names.empty() || o.cert.empty() || o.key.empty() || o.account_key.empty()) {
            err << "splitmail cert: " << f.string() << ": --name, --cert, --key and "
                << "--account-key are required\n";
            note(1);
            continue;
        }
        out << "== " << o.cert.string() << "\n";
        auto r = issue(o, out, err, e->st);
        renewal_state next = e->st;
        if (r.code == 0 && r.written) {
            next = {};
        } else if (r.code != 0) {
            next.failures = e->st.failures + 1;
            next.last_attempt = static_cast<std::int64_t>(std::time(nullptr));
            next.retry_after = r.retry_after ? r.retry_after->count() : 0;
            next.last_error = r.failure;
            const auto d = decide(read_current(o.cert), o.names, next);
            err << "splitmail cert: " << o.cert.string() << ": failure " << next.failures
                << " in a row; the certificate in service stays; next attempt from "
                << when(d.next_check) << "\n";
        }
        if (next.failures != e->st.failures || next.last_attempt != e->st.last_attempt ||
            next.last_error != e->st.last_error)
            if (auto w = write_renewal(f, e->args, next); !w) {
                err << "splitmail cert: " << w.error() << "\n";
                note(1);
            }
        note(r.code);
    }
    return worst;
}

// `cert rollover`: one step of a TLSA key rollover each run (setup/rollover.hpp). Exit 0 when
// a step was done, 75 when it must wait (dns apply first, or twice the TTL), 1 on failure.
int rollover(const options& o, std::ostream& out, std::ostream& err) {
    const std::string me = "splitmail cert rollover: ";
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    const fs::path next_file = setup::next_key_file(o.key);
    auto next = setup::read_next_key(o.key);
    if (!next) {
        err << me << next.error() << "\n";
        return 1;
    }
    if (!*next) {
        auto made = setup::make_next_key(o.key);
        if (!made) {
            err << me << made.error() << "\n";
            return 1;
        }
        out << "key rollover step 1 of 3: the next key is " << next_file.string()
            << " (ECDSA P-256)\n"
            << "next: `splitmail dns apply` publishes its TLSA record beside the current one; "
               "then run `splitmail cert rollover` again, twice the TTL later (dns apply says "
               "when)\n";
        return 0;
    }
    const auto st = setup::rollover_of(*next, now);
    if (st.step == setup::rollover_step::publish) {
        err << me << "step 1 of 3: the TLSA record of the next key " << next_file.string()
            << " is not published yet: run `splitmail dns apply` first\n";
        return ex_tempfail;
    }
    if (st.step == setup::rollover_step::wait && !o.force) {
        err << me << "step 2 of 3: the next key's TLSA record was published at "
            << check::utc_text((*next)->published_at) << " with TTL " << (*next)->ttl
            << " s; switch from " << check::utc_text(st.switch_from)
            << " (twice the TTL: until then a resolver may still hold the record set without "
               "it, and DANE senders would refuse the new key); --force switches now\n";
        return ex_tempfail;
    }

    // Step 2: a certificate for the next key, in place of the current one.
    const fs::path rf = renewal_file(o.cert);
    std::error_code ec;
    if (fs::exists(rf, ec)) {
        auto e = read_renewal(rf);
        if (!e) {
            err << me << e.error() << "\n";
            return 1;
        }
        std::vector<std::string> args{"obtain"};
        args.insert(args.end(), e->args.begin(), e->args.end());
        options a;
        if (auto bad = parse(args, a)) {
            err << me << rf.string() << ": " << *bad << "\n";
            return 1;
        }
        a.key_source = next_file;
        out << "asking the CA for a certificate for the next key (as " << rf.string() << " says)\n";
        auto r = issue(a, out, err);
        if (r.code != 0) {
            err << me << "the current key and certificate stay in service; run again later\n";
            return r.code;
        }
        if (auto w = write_renewal(rf, e->args, {}); !w) err << me << w.error() << "\n";
    } else {
        auto pem = durable::read_file(o.cert);
        if (!pem) {
            err << me << pem.error().text() << "\n";
            return 1;
        }
        auto info = setup::inspect_cert(*pem, "", o.cert.string());
        if (!info) {
            err << me << info.error() << "\n";
            return 1;
        }
        if (!info->self_signed && (o.names.empty() || o.account_key.empty())) {
            err << me << o.cert.string() << " comes from a CA but has no renewal file ("
                << rf.string()
                << "): give --name and --account-key (and the other options of "
                   "`splitmail cert obtain`) so the CA certifies the next key\n";
            return 2;
        }
        if (!info->self_signed) {
            options a = o;
            a.key_source = next_file;
            auto r = issue(a, out, err);
            if (r.code != 0) return r.code;
        } else {
            // A self-signed certificate (provision's placeholder): the same names, the next key.
            auto names = acme::leaf_dns_names(*pem);
            if (names.empty()) names = o.names;
            if (names.empty()) {
                err << me << o.cert.string() << " names no host: give --name\n";
                return 2;
            }
            const std::vector<std::string> also(names.begin() + 1, names.end());
            auto cert = setup::self_signed_for_key((*next)->pem, names.front(), 90, also);
            if (!cert) {
                err << me << cert.error() << "\n";
                return 1;
            }
            if (auto why = install_pair(o.key, (*next)->pem, o.cert, *cert)) {
                err << me << *why << "\n";
                return 1;
            }
            out << "self-signed certificate for the next key written to " << o.cert.string()
                << "\n";
            if (auto why = reload_daemons(o, out)) {
                err << me << *why << "\n";
                return 1;
            }
        }
    }
    if (auto f = setup::forget_next_key(o.key); !f) {
        err << me << f.error() << "\n";
        return 1;
    }
    out << "key rollover step 3 of 3: " << o.key.string()
        << " is the next key now and the relay presents it; `splitmail dns apply` retires the "
           "old key's TLSA record\n";
    return 0;
}

} // namespace

std::optional<std::expected<renewal_status, std::string>>
read_renewal_status(const fs::path& cert) {
    const auto f = renewal_file(cert);
    std::error_code ec;
    if (!fs::exists(f, ec)) return std::nullopt;
    auto e = read_renewal(f);
    if (!e) return std::unexpected(e.error());
    return renewal_status{e->st.failures, e->st.last_attempt, e->st.last_error};
}

int run_cert(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    for (const auto& a : args)
        if (a == "--help" || a == "-h") {
            out << usage;
            return 0;
        }
    options o;
    if (auto e = parse(args, o)) {
        err << "splitmail cert: " << *e << "\n" << usage;
        return 2;
    }
    if (!o.config.empty()) {
        auto s = relay::load_settings(o.config, config::referenced_files::names_only);
        if (!s) {
            err << "splitmail cert: " << s.error() << "\n";
            return 1;
        }
        if (o.names.empty() && !s->hostname.empty()) o.names.push_back(s->hostname);
        if (o.cert.empty()) o.cert = s->tls_cert;
        if (o.key.empty()) o.key = s->tls_key;
        if (o.relay_spool.empty()) o.relay_spool = s->spool_dir;
    }
    if (o.all) {
        if (!o.names.empty() || !o.cert.empty() || !o.config.empty()) {
            err << "splitmail cert: renew --all takes only --dir (each renewal file holds the "
                   "rest)\n"
                << usage;
            return 2;
        }
        return renew_all(o, out, err);
    }
    if (o.cert.empty()) {
        err << "splitmail cert: --cert is required\n" << usage;
        return 2;
    }
    if (o.action == "status") return status(o, out, err);
    if (o.action == "rollover") {
        if (o.key.empty()) {
            err << "splitmail cert: rollover needs --key (or --config)\n" << usage;
            return 2;
        }
        return rollover(o, out, err);
    }
    if (o.challenge == "dns-01" && (o.desec_domain.empty() || o.desec_token_file.empty())) {
        err << "splitmail cert: dns-01 needs --desec-domain and --desec-token-file\n" << usage;
        return 2;
    }
    if (o.names.empty() || o.key.empty() || o.account_key.empty()) {
        err << "splitmail cert: --name, --key and --account-key are required\n" << usage;
        return 2;
    }
    auto r = issue(o, out, err);
    if (r.code == 0 && r.written) {
        // From now on the splitmail-cert.timer renews it (`renew --all`).
        const auto f = renewal_file(o.cert);
        if (auto w = write_renewal(f, as_args(o), {}); !w) {
            err << "splitmail cert: " << w.error() << "\n";
            return 1;
        }
        out << "renewal: " << f.string() << " written; `splitmail cert renew --all` (the "
            << "splitmail-cert.timer, twice a day) renews the certificate when a third of its "
            << "lifetime is left\n";
        std::error_code ec;
        if (fs::is_directory("/run/systemd/system", ec)) {
            auto t = check::run_program({o.systemctl, "enable", "--now", "splitmail-cert.timer"},
                                        std::chrono::seconds(60));
            if (t.exit_code == 0)
                out << "automatic renewal: splitmail-cert.timer enabled\n";
            else
                err << "splitmail cert: warning: systemctl enable --now splitmail-cert.timer "
                       "failed: "
                    << t.output << " (without it nothing renews the certificate)\n";
        } else {
            out << "automatic renewal: run `splitmail cert renew --all --dir "
                << o.cert.parent_path().string() << "` twice a day (systemd: "
                << "systemctl enable --now splitmail-cert.timer)\n";
        }
    }
    return r.code;
}

int run_cert(std::span<const std::string> args) { return run_cert(args, std::cout, std::cerr); }

} // namespace splitmail::provision
