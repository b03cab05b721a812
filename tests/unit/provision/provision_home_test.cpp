// `splitmail provision home --pairing FILE --root DIR`: files and modes, configs that load
// through splitmail-home's and splitmail-ddns's own settings code, a users database that
// `splitmail user add` accepts, a WireGuard config that dials the relay, idempotent re-runs and
// errors about the pairing file that say what to fix.
#include "provision_fixture.hpp"

#include "splitmail/config/ddns.hpp"
#include "../homeserver/service.hpp"
#include "../relay/service.hpp"
#include "commands/user.hpp"
#include "setup/keys.hpp"
#include "setup/pairing.hpp"
#include "setup/render.hpp"
#include "site/site.hpp"
#include "splitmail/config/settings.hpp"
#include "splitmail/users/database.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

using namespace provision_test;
namespace setup = splitmail::provision::setup;

namespace {

class ProvisionHome : public ::testing::Test {
protected:
    temp_root relay_root, root;
    fs::path pairing_file;
    result first;
    fs::path etc() const { return root / "etc/splitmail"; }
    std::vector<std::string> home_args() const {
        return {"home", "--pairing", pairing_file.string(), "--root", root.path.string()};
    }
    void SetUp() override {
        auto r = run(relay_args(relay_root.path));
        ASSERT_EQ(r.code, 0) << r.err;
        pairing_file = relay_root / "etc/splitmail/pairing-home.toml";
        first = run(home_args());
        ASSERT_EQ(first.code, 0) << first.err;
    }
};

TEST_F(ProvisionHome, WritesEveryFileWithItsMode) {
    const std::vector<std::pair<std::string, unsigned>> expected = {
        {"etc/splitmail/home.toml", 0644},
        {"etc/splitmail/site.toml", 0644},
        {"etc/splitmail/tls/home.crt", 0644},
        {"etc/splitmail/tls/home.key", 0640},
        {"etc/splitmail/users", 0640},
        {"etc/splitmail/aliases", 0640},
        {"etc/wireguard/wg-smhome.conf", 0600},
        {"etc/splitmail/ddns.toml", 0644},
        {"etc/systemd/system/splitmail-home.service", 0644},
        {"etc/systemd/system/splitmail-ddns.service", 0644},
        {"var/lib/splitmail/mail", 0700},
    };
    for (const auto& [rel, mode] : expected) {
        EXPECT_TRUE(fs::exists(root / rel)) << rel;
        EXPECT_EQ(mode_of(root / rel), mode) << rel;
        EXPECT_NE(first.out.find("created " + (root / rel).string()), std::string::npos) << rel;
    }
    EXPECT_FALSE(fs::exists(etc() / "desec.token")) << "the token is the admin's to add";
}

TEST_F(ProvisionHome, HomeTomlLoadsThroughTheHomeSettingsAndPreflight) {
    auto s = splitmail::home::load_settings(etc() / "home.toml");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->domains, (std::vector<std::string>{"example.com", "example.org"}));
    EXPECT_EQ(s->lmtp_listen, (std::vector<std::string>{"10.8.0.2:24"}));
    EXPECT_EQ(s->imap_listen, (std::vector<std::string>{"0.0.0.0:143"}));
    EXPECT_EQ(s->imaps_listen, (std::vector<std::string>{"0.0.0.0:993"}));
    EXPECT_EQ(s->hostname, "imap.example.com") << "--imap-host of the relay";
    EXPECT_EQ(s->users_file, etc() / "users");
    EXPECT_EQ(s->aliases_file, etc() / "aliases");
    EXPECT_EQ(s->maildir_root, root / "var/lib/splitmail/mail");
    EXPECT_EQ(s->imap_tls_cert, etc() / "tls/home.crt");
    // preflight: IMAP TLS pair loads, the empty user database loads, the Maildir is usable.
    EXPECT_EQ(splitmail::home::preflight(*s), "");
}

// Issue 11 item 9: the relay authenticates itself to home's LMTP with one pairing secret that
// provision writes on both sides (its own file, 0640, not the world-readable configs).
TEST_F(ProvisionHome, RelayAndHomeShareTheLmtpPairingSecret) {
    auto h = splitmail::home::load_settings(etc() / "home.toml");
    ASSERT_TRUE(h) << h.error();
    auto r = splitmail::relay::load_settings(relay_root / "etc/splitmail/relay.toml");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(h->lmtp_relay_secret.size(), 64u);
    EXPECT_EQ(h->lmtp_relay_secret, r->home_lmtp_secret);
    EXPECT_EQ(mode_of(etc() / "lmtp-secret"), 0640u);
    EXPECT_EQ(mode_of(relay_root / "etc/splitmail/lmtp-secret"), 0640u);
    auto p = setup::parse_pairing(slurp(pairing_file), "pairing");
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(p->lmtp_secret, r->home_lmtp_secret);
    // A second relay run keeps the secret (home need not be provisioned again).
    ASSERT_EQ(run(relay_args(relay_root.path)).code, 0);
    auto r2 = splitmail::relay::load_settings(relay_root / "etc/splitmail/relay.toml");
    ASSERT_TRUE(r2) << r2.error();
    EXPECT_EQ(r2->home_lmtp_secret, r->home_lmtp_secret);
}

TEST_F(ProvisionHome, UserAddAcceptsTheGeneratedConfig) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    const std::string pw = "correct horse\n";
    ASSERT_EQ(::write(p[1], pw.data(), pw.size()), static_cast<ssize_t>(pw.size()));
    ::close(p[1]);
    const int saved = ::dup(STDIN_FILENO);
    ::dup2(p[0], STDIN_FILENO);
    ::close(p[0]);
    const std::vector<std::string> args = {"add", "alice@example.com", "--config",
                                           (etc() / "home.toml").string()};
    const int rc = splitmail::provision::run_user(args);
    ::dup2(saved, STDIN_FILENO);
    ::close(saved);
    ASSERT_EQ(rc, 0);
    auto db = splitmail::users::database::load(etc() / "users", etc() / "aliases", "+",
                                               {"example.com", "example.org"});
    ASSERT_TRUE(db) << db.error();
    EXPECT_NE(db->find_user("alice@example.com"), nullptr);
    // The users file is a database: a re-run leaves it alone.
    const std::string users = slurp(etc() / "users");
    auto again = run(home_args());
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(slurp(etc() / "users"), users);
    EXPECT_NE(again.out.find("unchanged " + (etc() / "users").string()), std::string::npos);
    EXPECT_NE(again.out.find("nothing to do"), std::string::npos) << again.out;
}

TEST_F(ProvisionHome, DdnsTomlLoadsThroughTheDdnsSettings) {
    auto s = splitmail::ddns::load_settings(etc() / "ddns.toml");
    ASSERT_TRUE(s) << s.error();
    // imap.example.com is inside example.com: zone example.com, name "imap".
    EXPECT_EQ(s->domain, "example.com");
    EXPECT_EQ(s->subnames, (std::vector<std::string>{"imap"}));
    EXPECT_EQ(s->token_file, etc() / "desec.token");
    EXPECT_EQ(s->state_file, root / "var/lib/splitmail-ddns/state.json");
}

TEST_F(ProvisionHome, SiteFileDescribesTheHome) {
    auto s = splitmail::provision::load_site(etc() / "site.toml");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->hostname, "mx.example.com");
    EXPECT_EQ(s->public_ipv4, "203.0.113.5");
    EXPECT_TRUE(s->relay_config.empty());
    EXPECT_EQ(s->home_config, etc() / "home.toml");
    EXPECT_EQ(s->wg_interface, "wg-smhome");
    EXPECT_EQ(s->wg_config, root / "etc/wireguard/wg-smhome.conf");
}

TEST_F(ProvisionHome, WireGuardDialsTheRelayWithTheRelaysKey) {
    const fs::path conf = root / "etc/wireguard/wg-smhome.conf";
    const std::string text = slurp(conf);
    const auto home = setup::read_wg_keys(text);
    const auto relay = setup::read_wg_keys(slurp(relay_root / "etc/wireguard/wg-smrelay.conf"));
    auto home_pub = setup::wg_public_key(home.private_key);
    auto relay_pub = setup::wg_public_key(relay.private_key);
    ASSERT_TRUE(home_pub && relay_pub);
    EXPECT_EQ(home.peer_public_key, *relay_pub) << "home trusts the relay's key";
    EXPECT_EQ(relay.peer_public_key, *home_pub) << "relay trusts home's key";
    for (const char* line : {"Address = 10.8.0.2/24\n", "Endpoint = 203.0.113.5:51820\n",
                             "AllowedIPs = 10.8.0.1/32\n", "PersistentKeepalive = 25\n"})
        EXPECT_NE(text.find(line), std::string::npos) << line;
    auto stripped = setup::run_program({"wg-quick", "strip", conf.string()}, "");
    ASSERT_TRUE(stripped) << stripped.error();
    EXPECT_NE(stripped->find("PersistentKeepalive = 25"), std::string::npos);
    EXPECT_EQ(stripped->find("Address"), std::string::npos);
}

TEST_F(ProvisionHome, HomeCertificateIsForTheHomeName) {
    auto info = setup::inspect_cert(slurp(etc() / "tls/home.crt"), slurp(etc() / "tls/home.key"),
                                    "home.crt");
    ASSERT_TRUE(info) << info.error();
    auto text = setup::run_program({"openssl", "x509", "-in", (etc() / "tls/home.crt").string(),
                                    "-noout", "-ext", "subjectAltName"},
                                   "");
    ASSERT_TRUE(text) << text.error();
    EXPECT_NE(text->find("DNS:imap.example.com"), std::string::npos) << *text;
}

TEST_F(ProvisionHome, UnitsAreHardened) {
    const std::string home = slurp(root / "etc/systemd/system/splitmail-home.service");
    const std::string ddns = slurp(root / "etc/systemd/system/splitmail-ddns.service");
    for (const auto* u : {&home, &ddns})
        for (const char* line :
             {"NoNewPrivileges=yes\n", "ProtectSystem=strict\n", "ProtectHome=yes\n",
              "PrivateTmp=yes\n", "SystemCallFilter=@system-service\n"})
            EXPECT_NE(u->find(line), std::string::npos) << line;
    EXPECT_NE(home.find("User=splitmail\n"), std::string::npos);
    EXPECT_NE(home.find("AmbientCapabilities=CAP_NET_BIND_SERVICE\n"), std::string::npos);
    EXPECT_NE(home.find("Requires=wg-quick@wg-smhome.service\n"), std::string::npos);
    EXPECT_NE(home.find("ReadWritePaths=" + (root / "var/lib/splitmail").string() + "\n"),
              std::string::npos);
    EXPECT_NE(ddns.find("User=splitmail-ddns\n"), std::string::npos);
    EXPECT_NE(ddns.find("CapabilityBoundingSet=\n"), std::string::npos);
    EXPECT_NE(ddns.find("--config " + (etc() / "ddns.toml").string()), std::string::npos);
}

TEST_F(ProvisionHome, SecondRunChangesNothing) {
    auto again = run(home_args());
    ASSERT_EQ(again.code, 0) << again.err;
    for (const auto& l : lines_without(again.out, "unchanged "))
        EXPECT_TRUE(l.rfind("note:", 0) == 0 || l.rfind("nothing to do", 0) == 0) << l;
    EXPECT_EQ(count_lines(again.out, "unchanged "), count_lines(first.out, "created "));
}

TEST_F(ProvisionHome, HostnameOutsideTheMailDomainsIsItsOwnDdnsZone) {
    temp_root other;
    auto r = run({"home", "--pairing", pairing_file.string(), "--hostname", "me.dedyn.io", "--root",
                  other.path.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    auto s = splitmail::ddns::load_settings(other / "etc/splitmail/ddns.toml");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->domain, "me.dedyn.io");
    EXPECT_EQ(s->subnames, (std::vector<std::string>{""}));
}

// Issue 16, a home behind CGNAT: `provision relay --imap-pass-through yes` turns on the relay's
// IMAP pass-through (imap.<domain> at the relay, port 993) and hands home's end of it to
// `provision home` in the pairing file; home listens for it on the tunnel only, from the relay
// only, and its certificate names imap.<domain> too (TLS ends at home).
std::vector<std::string> pass_through_relay_args(const fs::path& root, const char* yes_no) {
    auto a = relay_args(root);
    for (auto& x : a)
        if (x == "imap.example.com") x = "home.example.com"; // imap.* is now the relay's name
    if (yes_no != nullptr) a.insert(a.end(), {"--imap-pass-through", yes_no});
    return a;
}

TEST(ProvisionPassThrough, RelayForwardsImapClientsToHomeThroughTheTunnel) {
    temp_root relay_root, home_root;
    auto r = run(pass_through_relay_args(relay_root.path, "yes"));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("mail clients use imap.example.com, port 993"), std::string::npos)
        << r.out;
    auto rs = splitmail::relay::load_settings(relay_root / "etc/splitmail/relay.toml");
    ASSERT_TRUE(rs) << rs.error();
    EXPECT_EQ(rs->imap_proxy_listen, (std::vector<std::string>{"0.0.0.0:993", "[::]:993"}));
    EXPECT_EQ(rs->imap_proxy_home, "10.8.0.2:10993");
    const fs::path pf = relay_root / "etc/splitmail/pairing-home.toml";
    auto p = setup::parse_pairing(slurp(pf), "pairing");
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(p->imap_pass_through, "imap.example.com");
    EXPECT_EQ(p->imap_proxy_listen, "10.8.0.2:10993");
    EXPECT_EQ(p->imap_host, "home.example.com");
    // A re-run without the option keeps the pass-through and changes nothing.
    auto again = run(pass_through_relay_args(relay_root.path, nullptr));
    ASSERT_EQ(again.code, 0) << again.err;
    for (const auto& l : lines_without(again.out, "unchanged "))
        EXPECT_TRUE(l.rfind("note:", 0) == 0 || l.rfind("nothing to do", 0) == 0) << l;

    auto h = run({"home", "--pairing", pf.string(), "--root", home_root.path.string()});
    ASSERT_EQ(h.code, 0) << h.err;
    auto hs = splitmail::home::load_settings(home_root / "etc/splitmail/home.toml");
    ASSERT_TRUE(hs) << hs.error();
    EXPECT_EQ(hs->imaps_proxy_listen, (std::vector<std::string>{"10.8.0.2:10993"}));
    ASSERT_EQ(hs->imap_proxy_from.size(), 1u);
    EXPECT_TRUE(hs->imap_proxy_from[0].contains("10.8.0.1"));
    EXPECT_FALSE(hs->imap_proxy_from[0].contains("10.8.0.2"));
    EXPECT_EQ(hs->imaps_listen, (std::vector<std::string>{"0.0.0.0:993"}))
        << "direct IMAPS (LAN, port forwarding) stays";
    EXPECT_EQ(hs->hostname, "home.example.com");
    EXPECT_EQ(splitmail::home::preflight(*hs), "");
    const std::string crt = slurp(home_root / "etc/splitmail/tls/home.crt");
    EXPECT_TRUE(setup::cert_covers_host(crt, "home.example.com"));
    EXPECT_TRUE(setup::cert_covers_host(crt, "imap.example.com"));
    EXPECT_FALSE(setup::cert_covers_host(crt, "mx.example.com"));
}

TEST(ProvisionPassThrough, ImapHostCannotBeThePassThroughName) {
    temp_root relay_root;
    auto a = relay_args(relay_root.path); // --imap-host imap.example.com
    a.insert(a.end(), {"--imap-pass-through", "yes"});
    auto r = run(a);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("--imap-host imap.example.com is the name the IMAP pass-through"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(fs::exists(relay_root / "etc/splitmail/relay.toml"));
    auto bad = run(pass_through_relay_args(relay_root.path, "maybe"));
    EXPECT_EQ(bad.code, 2);
    EXPECT_NE(bad.err.find("--imap-pass-through \"maybe\" must be yes or no"), std::string::npos)
        << bad.err;
}

// Turned on later: home's own placeholder is made again for both names with the same key
// (what pins it stays valid); home.toml is the admin's once written (kept, as any file).
TEST(ProvisionPassThrough, TurnedOnLaterTheHomePlaceholderGetsTheNameWithTheSameKey) {
    temp_root relay_root, home_root;
    ASSERT_EQ(run(pass_through_relay_args(relay_root.path, nullptr)).code, 0);
    const fs::path pf = relay_root / "etc/splitmail/pairing-home.toml";
    const std::vector<std::string> home = {"home", "--pairing", pf.string(), "--root",
                                           home_root.path.string()};
    ASSERT_EQ(run(home).code, 0);
    const fs::path crt = home_root / "etc/splitmail/tls/home.crt";
    const std::string key_before = slurp(home_root / "etc/splitmail/tls/home.key");
    EXPECT_FALSE(setup::cert_covers_host(slurp(crt), "imap.example.com"));

    auto on = run(pass_through_relay_args(relay_root.path, "yes"));
    ASSERT_EQ(on.code, 0) << on.err;
    EXPECT_NE(on.out.find("kept " + (relay_root / "etc/splitmail/relay.toml").string()),
              std::string::npos)
        << "an existing relay.toml is kept without --force\n"
        << on.out;
    EXPECT_NE(on.err.find("the IMAP pass-through is off until"), std::string::npos) << on.err;
    auto forced = run([&] {
        auto a = pass_through_relay_args(relay_root.path, "yes");
        a.push_back("--force");
        return a;
    }());
    ASSERT_EQ(forced.code, 0) << forced.err;
    auto p = setup::parse_pairing(slurp(pf), "pairing");
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(p->imap_pass_through, "imap.example.com");

    auto h = run(home);
    ASSERT_EQ(h.code, 0) << h.err;
    EXPECT_NE(h.out.find("made for imap.example.com too"), std::string::npos) << h.out;
    EXPECT_NE(h.err.find("imaps.proxy_listen: IMAP clients the relay forwards are not served"),
              std::string::npos)
        << h.err;
    EXPECT_TRUE(setup::cert_covers_host(slurp(crt), "imap.example.com"));
    EXPECT_TRUE(setup::cert_covers_host(slurp(crt), "home.example.com"));
    EXPECT_EQ(slurp(home_root / "etc/splitmail/tls/home.key"), key_before);
}

class ProvisionHomeErrors : public ::testing::Test {
protected:
    temp_root relay_root, root;
    std::string pairing_text;
    void SetUp() override {
        auto r = run(relay_args(relay_root.path));
        ASSERT_EQ(r.code, 0) << r.err;
        pairing_text = slurp(relay_root / "etc/splitmail/pairing-home.toml");
    }
    result home_with(const std::string& text) {
        const fs::path f = relay_root / "copy.toml";
        spit(f, text);
        return run({"home", "--pairing", f.string(), "--root", root.path.string()});
    }
    static std::string replace(std::string s, const std::string& from, const std::string& to) {
        auto at = s.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        if (at != std::string::npos) s.replace(at, from.size(), to);
        return s;
    }
};

TEST_F(ProvisionHomeErrors, MissingPairingFileSaysWhereItComesFrom) {
    auto r = run(
        {"home", "--pairing", (relay_root / "nope.toml").string(), "--root", root.path.string()});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("nope.toml: no such file; copy /etc/splitmail/pairing-home.toml from "
                         "the relay"),
              std::string::npos)
        << r.err;
    EXPECT_TRUE(fs::is_empty(root.path));
}

TEST_F(ProvisionHomeErrors, UnreadablePairingFile) {
    if (::geteuid() == 0) {
        // root reads anything: a directory stands in for an unreadable file.
        fs::create_directories(relay_root / "dir.toml");
        auto r = run({"home", "--pairing", (relay_root / "dir.toml").string(), "--root",
                      root.path.string()});
        EXPECT_EQ(r.code, 1);
        EXPECT_NE(r.err.find("cannot read the pairing file"), std::string::npos) << r.err;
        return;
    }
    const fs::path f = relay_root / "locked.toml";
    spit(f, pairing_text);
    fs::permissions(f, fs::perms::none);
    auto r = run({"home", "--pairing", f.string(), "--root", root.path.string()});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("cannot read the pairing file"), std::string::npos) << r.err;
}

TEST_F(ProvisionHomeErrors, VersionMismatchIsNamed) {
    auto r = home_with(replace(pairing_text, "version = 1", "version = 2\nfuture_key = 1"));
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("pairing version 2; this splitmail reads version 1"), std::string::npos)
        << r.err;
    EXPECT_TRUE(fs::is_empty(root.path)) << "nothing written";
}

TEST_F(ProvisionHomeErrors, DamagedPairingFilesAreRefused) {
    const auto pr = setup::parse_pairing(pairing_text, "p");
    ASSERT_TRUE(pr);
    struct bad_case {
        std::string text, says;
    };
    const std::vector<bad_case> cases = {
        {"hello", "(not a pairing file written by `splitmail provision relay`)"},
        {"[other]\nx = 1\n", "no [pairing] table"},
        {replace(pairing_text, "relay_endpoint = \"203.0.113.5:51820\"",
                 "relay_endpoint = \"mx.example.com:51820\""),
         "pairing.relay_endpoint: must be IPv4:port or [IPv6]:port"},
        {replace(pairing_text, "home_public_key = \"" + pr->home_public_key,
                 "home_public_key = \"" + pr->relay_public_key),
         "home_public_key does not belong to home_private_key"},
        {replace(pairing_text, "tunnel_prefix = 24", "tunnel_prefix = 40"),
         "pairing.tunnel_prefix: must be 8..30"},
        {replace(pairing_text, "lmtp_port = 24", "lmtp_port = \"24\""),
         "pairing.lmtp_port: must be an integer"},
        {replace(pairing_text, "imap_host = \"imap.example.com\"",
                 "imap_host = \"imap.example.com\"\nextra = 1"),
         "pairing.extra: unknown key"},
    };
    for (const auto& c : cases) {
        auto r = home_with(c.text);
        EXPECT_EQ(r.code, 1) << c.says;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    }
    EXPECT_TRUE(fs::is_empty(root.path));
    auto usage = run({"home", "--root", root.path.string()});
    EXPECT_EQ(usage.code, 2);
    EXPECT_NE(usage.err.find("--pairing is required"), std::string::npos);
}

} // namespace
