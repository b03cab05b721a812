// `splitmail cert`: see cert.hpp.
#include "commands/cert.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <optional>
#include <vector>

#include "check/dns_query.hpp"
#include "splitmail/acme/client.hpp"
#include "splitmail/acme/desec_dns01.hpp"
#include "splitmail/acme/http01.hpp"
#include "splitmail/acme/renewal.hpp"
#include "splitmail/config/relay.hpp"
#include "splitmail/desec/client.hpp"
#include "splitmail/desec/token.hpp"
#include "splitmail/durable/file.hpp"
#include "splitmail/queue/control.hpp"

namespace splitmail::provision {

namespace fs = std::filesystem;

namespace {

constexpr const char* usage =
    "usage: splitmail cert obtain|renew --name N [--name N]... --cert FILE --key FILE\n"
    "                  --account-key FILE [--directory URL] [--ca-file FILE]\n"
    "                  [--contact mailto:ADDR] [--http-listen ADDR:PORT] [--relay-spool DIR]\n"
    "                  [--config relay.toml]\n"
    "                  [--challenge dns-01 --desec-domain D --desec-token-file F\n"
    "                   [--desec-api URL] [--desec-ca-file F] [--dns-server IP:PORT]...]\n"
    "       splitmail cert status --cert FILE [--name N]...\n";

constexpr std::string_view letsencrypt = "https://acme-v02.api.letsencrypt.org/directory";
constexpr int ex_tempfail = 75;

struct options {
    std::string action;
    std::vector<std::string> names;
    fs::path cert, key, account_key, ca_file, relay_spool, config;
    std::string directory{letsencrypt};
    std::vector<std::string> contact;
    std::string http_address = "0.0.0.0";
    std::uint16_t http_port = 80;
    std::string challenge = "http-01";
    std::string desec_domain, desec_api{desec::default_base_url};
    fs::path desec_token_file, desec_ca_file;
    std::vector<std::string> dns_servers; // authoritative servers to ask, "ip:port"
};

std::optional<std::string> parse(std::span<const std::string> args, options& o) {
    if (args.empty()) return "missing action";
    o.action = args[0];
    if (o.action != "obtain" && o.action != "renew" && o.action != "status")
        return "unknown action \"" + o.action + "\"";
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (i + 1 >= args.size()) return a + " needs a value";
        const std::string& v = args[++i];
        if (a == "--name") {
            std::string n = v;
            std::transform(n.begin(), n.end(), n.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            o.names.push_back(n);
        } else if (a == "--cert") o.cert = v;
        else if (a == "--key") o.key = v;
        else if (a == "--account-key") o.account_key = v;
        else if (a == "--ca-file") o.ca_file = v;
        else if (a == "--relay-spool") o.relay_spool = v;
        else if (a == "--config") o.config = v;
        else if (a == "--directory") o.directory = v;
        else if (a == "--challenge") {
            if (v != "http-01" && v != "dns-01") return "--challenge is http-01 or dns-01";
            o.challenge = v;
        } else if (a == "--desec-domain") o.desec_domain = v;
        else if (a == "--desec-api") o.desec_api = v;
        else if (a == "--desec-token-file") o.desec_token_file = v;
        else if (a == "--desec-ca-file") o.desec_ca_file = v;
        else if (a == "--dns-server") o.dns_servers.push_back(v);
        else if (a == "--contact") o.contact.push_back(v.starts_with("mailto:") ? v : "mailto:" + v);
        else if (a == "--http-listen") {
            auto colon = v.rfind(':');
            if (colon == std::string::npos) return "--http-listen wants ADDR:PORT";
            o.http_address = v.substr(0, colon);
            if (o.http_address.starts_with('[') && o.http_address.ends_with(']'))
                o.http_address = o.http_address.substr(1, o.http_address.size() - 2);
            int port = 0;
            try {
                port = std::stoi(v.substr(colon + 1));
            } catch (...) {
            }
            if (port <= 0 || port > 65535) return "--http-listen: bad port in \"" + v + "\"";
            o.http_port = static_cast<std::uint16_t>(port);
        } else {
            return "unknown option \"" + a + "\"";
        }
    }
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

acme::renewal_decision decide(const current_cert& c, const std::vector<std::string>& names) {
    acme::renewal_input in;
    if (c.times) {
        in.not_before = c.times->not_before;
        in.not_after = c.times->not_after;
    }
    in.names_match = std::all_of(names.begin(), names.end(), [&](const std::string& n) {
        return std::find(c.names.begin(), c.names.end(), n) != c.names.end();
    });
    return acme::decide_renewal(in, std::chrono::system_clock::now());
}

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
    return 0;
}

// The certificate key: the existing one when it is P-256 (renewals keep TLSA records valid).
acme::result<acme::ec_key> cert_key(const fs::path& path, bool& is_new, std::ostream& out) {
    is_new = false;
    auto pem = durable::read_file_if_exists(path);
    if (pem && *pem) {
        if (auto k = acme::ec_key::from_pem(**pem)) return k;
        out << "the key in " << path.string() << " is not ECDSA P-256; making a new key\n";
    }
    is_new = true;
    return acme::ec_key::generate();
}

// Replacing a file keeps its owner and group (the relay runs as its own user and must go on
// reading the key and certificate provision made for it); `mode` is the new file's mode.
durable::replace_options keep_owner(const fs::path& path, ::mode_t mode) {
    durable::replace_options r;
    r.mode = mode;
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0) r.owner = std::make_pair(st.st_uid, st.st_gid);
    return r;
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
        auto fwd = check::unbound_forwarder(server);
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

int issue(const options& o, std::ostream& out, std::ostream& err) {
    if (o.action == "renew") {
        auto d = decide(read_current(o.cert), o.names);
        if (!d.renew_now) {
            out << "not due: " << o.cert.string() << " is renewed from " << when(d.due) << "\n";
            return 0;
        }
    }
    bool account_new = false;
    auto account = acme::load_or_create_key(o.account_key, &account_new);
    if (!account) {
        err << "splitmail cert: account key: " << account.error().message << "\n";
        return 1;
    }
    bool key_new = false;
    auto key = cert_key(o.key, key_new, out);
    if (!key) {
        err << "splitmail cert: " << key.error().text() << "\n";
        return 1;
    }
    std::unique_ptr<acme::challenge_solver> solver;
    std::optional<desec::client> api;
    std::vector<std::string> servers = o.dns_servers;
    if (o.challenge == "http-01") {
        auto h = acme::http01_solver::listen(o.http_address, o.http_port);
        if (!h) {
            err << "splitmail cert: " << h.error().message << "\n";
            return 1;
        }
        solver = std::move(*h);
    } else {
        auto token = desec::read_token_file(o.desec_token_file);
        if (!token) {
            err << "splitmail cert: " << token.error() << "\n";
            return 1;
        }
        if (servers.empty()) servers = desec_name_servers(err);
        if (servers.empty()) {
            err << "splitmail cert: cannot find deSEC's name servers; give --dns-server\n";
            return 1;
        }
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
    auto issued = client.obtain(o.names, *key, *solver);
    if (auto* d = dynamic_cast<acme::desec_dns01_solver*>(solver.get()); d && !d->cleanup_error().empty())
        err << "splitmail cert: warning: " << d->cleanup_error() << "\n";
    if (!issued) {
        const auto& e = issued.error();
        err << "splitmail cert: " << e.text() << "\n";
        bool later = e.kind == acme::error_kind::rate_limited || e.kind == acme::error_kind::network;
        if (later) err << "splitmail cert: the old certificate stays in service; try again later\n";
        return later ? ex_tempfail : 1;
    }
    out << "account " << (client.account_created() ? "created" : "reused") << "; "
        << client.bad_nonce_retries() << " badNonce retries\n";
    if (key_new) {
        if (auto w = durable::replace_file(o.key, key->private_pem(), keep_owner(o.key, 0600)); !w) {
            err << "splitmail cert: " << w.error().text() << "\n";
            return 1;
        }
    }
    if (auto w = durable::replace_file(o.cert, issued->chain_pem, keep_owner(o.cert, 0644)); !w) {
        err << "splitmail cert: " << w.error().text() << "\n";
        return 1;
    }
    auto t = acme::leaf_times(issued->chain_pem);
    out << "certificate written to " << o.cert.string()
        << (t ? " (valid until " + when(t->not_after) + ")" : std::string()) << "\n";
    if (!o.relay_spool.empty()) {
        auto r = queue::signal_reload(o.relay_spool);
        out << r.detail << "\n";
        if (r.result == queue::flush_result::error) return 1;
    }
    return 0;
}

} // namespace

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
    if (o.cert.empty()) {
        err << "splitmail cert: --cert is required\n" << usage;
        return 2;
    }
    if (o.action == "status") return status(o, out, err);
    if (o.challenge == "dns-01" && (o.desec_domain.empty() || o.desec_token_file.empty())) {
        err << "splitmail cert: dns-01 needs --desec-domain and --desec-token-file\n" << usage;
        return 2;
    }
    if (o.names.empty() || o.key.empty() || o.account_key.empty()) {
        err << "splitmail cert: --name, --key and --account-key are required\n" << usage;
        return 2;
    }
    return issue(o, out, err);
}

int run_cert(std::span<const std::string> args) { return run_cert(args, std::cout, std::cerr); }

} // namespace splitmail::provision
