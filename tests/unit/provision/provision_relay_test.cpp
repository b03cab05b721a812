// `splitmail provision relay --root DIR`: the files and modes of docs/internal/provision.md,
// configs that load through splitmail-relay's own settings and preflight code, keys that belong
// together, idempotent re-runs, --force, and errors that say what to fix.
#include "provision_fixture.hpp"

#include "../relay/service.hpp"
#include "commands/dkim.hpp"
#include "setup/keys.hpp"
#include "setup/pairing.hpp"
#include "setup/render.hpp"
#include "site/site.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

using namespace provision_test;
namespace setup = splitmail::provision::setup;

namespace {

class ProvisionRelay : public ::testing::Test {
protected:
    temp_root root;
    fs::path etc() const { return root / "etc/splitmail"; }
    result first;
    void SetUp() override {
        first = run(relay_args(root.path));
        ASSERT_EQ(first.code, 0) << first.err;
    }
};

TEST_F(ProvisionRelay, WritesEveryFileWithItsMode) {
    const std::vector<std::pair<std::string, unsigned>> expected = {
        {"etc/splitmail/site.toml", 0644},
        {"etc/splitmail/relay.toml", 0644},
        {"etc/splitmail/tls/relay.crt", 0644},
        {"etc/splitmail/tls/relay.key", 0640},
        {"etc/splitmail/dkim/example.com", 0700},
        {"etc/splitmail/dkim/example.com/sm1-rsa.key", 0600},
        {"etc/splitmail/dkim/example.com/sm1-ed25519.key", 0600},
        {"etc/splitmail/dkim/example.org/sm1-rsa.key", 0600},
        {"etc/splitmail/dkim/example.org/sm1-ed25519.key", 0600},
        {"etc/wireguard/wg-smrelay.conf", 0600},
        {"etc/systemd/system/splitmail-relay.service", 0644},
        {"var/spool/splitmail", 0750},
        {"etc/splitmail/pairing-home.toml", 0600},
    };
    for (const auto& [rel, mode] : expected) {
        EXPECT_TRUE(fs::exists(root / rel)) << rel;
        EXPECT_EQ(mode_of(root / rel), mode) << rel;
        EXPECT_NE(first.out.find("created " + (root / rel).string()), std::string::npos) << rel;
    }
    EXPECT_NE(first.out.find("--root given: no system user is created"), std::string::npos);
    EXPECT_EQ(count_lines(first.out, "unchanged "), 0);
}

TEST_F(ProvisionRelay, RelayTomlLoadsThroughTheRelaysSettingsAndPreflight) {
    auto s = splitmail::relay::load_settings(etc() / "relay.toml");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->hostname, "mx.example.com");
    EXPECT_EQ(s->domains, (std::vector<std::string>{"example.com", "example.org"}));
    EXPECT_EQ(s->home_lmtp, "10.8.0.2:24");
    EXPECT_EQ(s->home_transport, "plain");
    EXPECT_EQ(s->smtp_listen, (std::vector<std::string>{"0.0.0.0:25", "[::]:25"}));
    EXPECT_EQ(s->submission_listen, (std::vector<std::string>{"0.0.0.0:587", "[::]:587"}));
    EXPECT_EQ(s->submissions_listen, (std::vector<std::string>{"0.0.0.0:465", "[::]:465"}));
    EXPECT_TRUE(s->is_trusted("10.8.0.2"));
    EXPECT_FALSE(s->is_trusted("10.8.0.3"));
    // Every path carries the --root prefix, so the tree runs as it is.
    EXPECT_EQ(s->spool_dir, root / "var/spool/splitmail");
    EXPECT_EQ(s->dkim_dir, etc() / "dkim");
    EXPECT_EQ(s->tls_cert, etc() / "tls/relay.crt");
    EXPECT_EQ(s->tls_key, etc() / "tls/relay.key");
    // preflight loads the TLS pair and the DKIM keyring exactly as the daemon does at start.
    EXPECT_EQ(splitmail::relay::preflight(*s), "");
}

TEST_F(ProvisionRelay, SiteFileNamesTheRelayFilesUnderTheRoot) {
    auto s = splitmail::provision::load_site(etc() / "site.toml");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->domains, (std::vector<std::string>{"example.com", "example.org"}));
    EXPECT_EQ(s->hostname, "mx.example.com");
    EXPECT_EQ(s->public_ipv4, "203.0.113.5");
    EXPECT_EQ(s->public_ipv6, "2001:db8::5");
    EXPECT_EQ(s->imap_host, "imap.example.com");
    EXPECT_EQ(s->relay_config, etc() / "relay.toml");
    EXPECT_TRUE(s->home_config.empty());
    EXPECT_EQ(s->wg_interface, "wg-smrelay");
    EXPECT_EQ(s->wg_config, root / "etc/wireguard/wg-smrelay.conf");
    EXPECT_EQ(s->desec_token_file, etc() / "desec.token");
    EXPECT_EQ(s->dmarc_rua, "mailto:postmaster@example.com");
}

TEST_F(ProvisionRelay, DkimKeysAreOneRsaAndOneEd25519PerDomain) {
    for (const char* d : {"example.com", "example.org"}) {
        auto rsa = splitmail::provision::dkim_txt_value(etc() / "dkim" / d / "sm1-rsa.key");
        auto ed = splitmail::provision::dkim_txt_value(etc() / "dkim" / d / "sm1-ed25519.key");
        ASSERT_TRUE(rsa) << rsa.error();
        ASSERT_TRUE(ed) << ed.error();
        EXPECT_EQ(rsa->rfind("v=DKIM1; k=rsa; p=", 0), 0u);
        EXPECT_GT(rsa->size(), 380u) << "RSA-2048 SubjectPublicKeyInfo";
        EXPECT_EQ(ed->rfind("v=DKIM1; k=ed25519; p=", 0), 0u);
        EXPECT_EQ(ed->size(), std::string("v=DKIM1; k=ed25519; p=").size() + 44);
    }
    EXPECT_NE(slurp(etc() / "dkim/example.com/sm1-rsa.key"),
              slurp(etc() / "dkim/example.org/sm1-rsa.key"));
}

TEST_F(ProvisionRelay, PairingFileHoldsKeysThatBelongToTheTunnel) {
    auto p = setup::parse_pairing(slurp(etc() / "pairing-home.toml"), "pairing");
    ASSERT_TRUE(p) << p.error();
    const auto wg = setup::read_wg_keys(slurp(root / "etc/wireguard/wg-smrelay.conf"));
    auto relay_pub = setup::wg_public_key(wg.private_key);
    ASSERT_TRUE(relay_pub) << relay_pub.error();
    EXPECT_EQ(p->relay_public_key, *relay_pub);
    EXPECT_EQ(wg.peer_public_key, p->home_public_key);
    auto home_pub = setup::wg_public_key(p->home_private_key);
    ASSERT_TRUE(home_pub) << home_pub.error();
    EXPECT_EQ(*home_pub, p->home_public_key);
    EXPECT_NE(p->home_private_key, wg.private_key);
    EXPECT_EQ(p->relay_endpoint, "203.0.113.5:51820");
    EXPECT_EQ(p->relay_hostname, "mx.example.com");
    EXPECT_EQ(p->domains, (std::vector<std::string>{"example.com", "example.org"}));
    EXPECT_EQ(p->imap_host, "imap.example.com");
    EXPECT_EQ(p->tunnel_relay, "10.8.0.1");
    EXPECT_EQ(p->tunnel_home, "10.8.0.2");
    auto cert = setup::inspect_cert(slurp(etc() / "tls/relay.crt"), "", "relay.crt");
    ASSERT_TRUE(cert) << cert.error();
    EXPECT_EQ(p->relay_tls_sha256, cert->sha256_hex);
}

TEST_F(ProvisionRelay, TlsPlaceholderIsSelfSignedForTheHostname) {
    // Checked with the openssl program, independent of the code that made it.
    const fs::path crt = etc() / "tls/relay.crt";
    auto text =
        setup::run_program({"openssl", "x509", "-in", crt.string(), "-noout", "-subject", "-ext",
                            "subjectAltName", "-enddate", "-checkend", std::to_string(80 * 86400)},
                           "");
    ASSERT_TRUE(text) << text.error();
    EXPECT_NE(text->find("CN = mx.example.com"), std::string::npos) << *text;
    EXPECT_NE(text->find("DNS:mx.example.com"), std::string::npos) << *text;
    EXPECT_NE(text->find("will not expire"), std::string::npos) << *text;
    auto info = setup::inspect_cert(slurp(crt), slurp(etc() / "tls/relay.key"), "relay.crt");
    ASSERT_TRUE(info) << info.error();
    EXPECT_TRUE(info->self_signed);
    const auto days = std::chrono::duration_cast<std::chrono::hours>(
                          info->not_after - std::chrono::system_clock::now())
                          .count() /
                      24;
    EXPECT_GE(days, 88);
    EXPECT_LE(days, 90);
}

TEST_F(ProvisionRelay, WireGuardConfigIsAcceptedByWgQuick) {
    // wg-quick strip parses the wg-quick keys and prints what `wg setconf` would be given.
    const fs::path conf = root / "etc/wireguard/wg-smrelay.conf";
    auto stripped = setup::run_program({"wg-quick", "strip", conf.string()}, "");
    ASSERT_TRUE(stripped) << stripped.error();
    EXPECT_EQ(stripped->find("Address"), std::string::npos) << *stripped;
    EXPECT_NE(stripped->find("ListenPort = 51820"), std::string::npos) << *stripped;
    EXPECT_NE(stripped->find("AllowedIPs = 10.8.0.2/32"), std::string::npos) << *stripped;
    const std::string text = slurp(conf);
    EXPECT_NE(text.find("Address = 10.8.0.1/24"), std::string::npos);
}

TEST_F(ProvisionRelay, UnitIsHardenedAndPointsIntoTheRoot) {
    const std::string u = slurp(root / "etc/systemd/system/splitmail-relay.service");
    for (const char* line :
         {"User=splitmail\n", "NoNewPrivileges=yes\n", "ProtectSystem=strict\n",
          "ProtectHome=yes\n", "PrivateTmp=yes\n", "AmbientCapabilities=CAP_NET_BIND_SERVICE\n",
          "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "SystemCallFilter=@system-service\n",
          "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n",
          "Requires=wg-quick@wg-smrelay.service\n"})
        EXPECT_NE(u.find(line), std::string::npos) << line;
    EXPECT_NE(u.find("ReadWritePaths=" + (root / "var/spool/splitmail").string() + "\n"),
              std::string::npos);
    EXPECT_NE(u.find("ExecStart=/usr/bin/splitmail-relay --config " +
                     (etc() / "relay.toml").string() + "\n"),
              std::string::npos)
        << u;
    EXPECT_EQ(u.find("User=root"), std::string::npos);
}

TEST_F(ProvisionRelay, SecondRunChangesNothingAndSaysSo) {
    std::map<std::string, std::string> before;
    for (const auto& e : fs::recursive_directory_iterator(root.path))
        if (e.is_regular_file()) before[e.path().string()] = slurp(e.path());
    auto again = run(relay_args(root.path));
    ASSERT_EQ(again.code, 0) << again.err;
    for (const auto& l : lines_without(again.out, "unchanged "))
        EXPECT_TRUE(l.rfind("note:", 0) == 0 || l.rfind("nothing to do", 0) == 0) << l;
    EXPECT_EQ(count_lines(again.out, "unchanged "), count_lines(first.out, "created "));
    EXPECT_NE(again.out.find("nothing to do"), std::string::npos);
    std::map<std::string, std::string> after;
    for (const auto& e : fs::recursive_directory_iterator(root.path))
        if (e.is_regular_file()) after[e.path().string()] = slurp(e.path());
    EXPECT_EQ(before, after);
}

TEST_F(ProvisionRelay, EditedConfigIsKeptUnlessForceAndKeysSurviveForce) {
    const fs::path relay_toml = etc() / "relay.toml";
    const std::string generated = slurp(relay_toml);
    const std::string edited = generated + "\n[log]\nlevel = \"debug\"\n";
    spit(relay_toml, edited);
    const std::string dkim = slurp(etc() / "dkim/example.com/sm1-rsa.key");
    const std::string wg = slurp(root / "etc/wireguard/wg-smrelay.conf");
    const std::string tls_key = slurp(etc() / "tls/relay.key");

    auto kept = run(relay_args(root.path));
    ASSERT_EQ(kept.code, 0) << kept.err;
    EXPECT_NE(kept.out.find("kept " + relay_toml.string() + " (differs; --force to replace)"),
              std::string::npos)
        << kept.out;
    EXPECT_EQ(slurp(relay_toml), edited);

    auto args = relay_args(root.path);
    args.push_back("--force");
    auto forced = run(args);
    ASSERT_EQ(forced.code, 0) << forced.err;
    EXPECT_NE(forced.out.find("replaced " + relay_toml.string()), std::string::npos);
    EXPECT_EQ(slurp(relay_toml), generated);
    EXPECT_EQ(count_lines(forced.out, "replaced "), 1) << forced.out;
    EXPECT_EQ(slurp(etc() / "dkim/example.com/sm1-rsa.key"), dkim);
    EXPECT_EQ(slurp(root / "etc/wireguard/wg-smrelay.conf"), wg);
    EXPECT_EQ(slurp(etc() / "tls/relay.key"), tls_key);
}

TEST_F(ProvisionRelay, WrongModeIsReportedAndFixedOnlyWithForce) {
    const fs::path key = etc() / "tls/relay.key";
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                             fs::perms::others_read);
    auto kept = run(relay_args(root.path));
    ASSERT_EQ(kept.code, 0) << kept.err;
    EXPECT_NE(kept.out.find("kept " + key.string() + " (mode 0644, expected 0640"),
              std::string::npos)
        << kept.out;
    EXPECT_EQ(mode_of(key), 0644u);
    auto args = relay_args(root.path);
    args.push_back("--force");
    auto forced = run(args);
    ASSERT_EQ(forced.code, 0) << forced.err;
    EXPECT_NE(forced.out.find("fixed " + key.string() + " (mode 0640)"), std::string::npos)
        << forced.out;
    EXPECT_EQ(mode_of(key), 0640u);
}

TEST_F(ProvisionRelay, DamagedKeyIsAnErrorWithoutForceAndReplacedWithIt) {
    const fs::path key = etc() / "dkim/example.org/sm1-ed25519.key";
    spit(key, "not a key\n");
    auto refused = run(relay_args(root.path));
    EXPECT_EQ(refused.code, 1);
    EXPECT_NE(refused.err.find(key.string() + ": not a usable DKIM private key"), std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("--force"), std::string::npos);
    EXPECT_EQ(slurp(key), "not a key\n");

    auto args = relay_args(root.path);
    args.push_back("--force");
    auto forced = run(args);
    ASSERT_EQ(forced.code, 0) << forced.err;
    EXPECT_NE(forced.out.find("replaced " + key.string()), std::string::npos) << forced.out;
    EXPECT_TRUE(splitmail::provision::dkim_txt_value(key));
}

TEST_F(ProvisionRelay, DeletedPairingFileIsNotRemadeWithoutForce) {
    const fs::path pairing = etc() / "pairing-home.toml";
    auto old = setup::parse_pairing(slurp(pairing), "pairing");
    ASSERT_TRUE(old);
    fs::remove(pairing);
    const std::string wg = slurp(root / "etc/wireguard/wg-smrelay.conf");

    auto again = run(relay_args(root.path));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_NE(again.out.find("absent " + pairing.string()), std::string::npos) << again.out;
    EXPECT_FALSE(fs::exists(pairing));
    EXPECT_EQ(slurp(root / "etc/wireguard/wg-smrelay.conf"), wg) << "tunnel to home kept";

    auto args = relay_args(root.path);
    args.push_back("--force");
    auto forced = run(args);
    ASSERT_EQ(forced.code, 0) << forced.err;
    auto made = setup::parse_pairing(slurp(pairing), "pairing");
    ASSERT_TRUE(made) << made.error();
    EXPECT_NE(made->home_public_key, old->home_public_key);
    EXPECT_EQ(made->relay_public_key, old->relay_public_key);
    EXPECT_EQ(setup::read_wg_keys(slurp(root / "etc/wireguard/wg-smrelay.conf")).peer_public_key,
              made->home_public_key);
}

TEST_F(ProvisionRelay, CertificateRenewedByAcmeKeepsThePairingFile) {
    // `splitmail cert` renewed the certificate (same key, a renewal file next to it): the
    // pairing file is not rewritten for it on the next provision run (nothing pins the
    // certificate; the TLSA record pins the key, which did not change).
    const std::string pairing_before = slurp(etc() / "pairing-home.toml");
    auto renewed = setup::self_signed_for_key(slurp(etc() / "tls/relay.key"), "mx.example.com", 45);
    ASSERT_TRUE(renewed) << renewed.error();
    spit(etc() / "tls/relay.crt", *renewed);
    spit(etc() / "tls/relay.crt.acme.json", "{\"args\": [], \"failures\": 0}\n");
    auto again = run(relay_args(root.path));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(slurp(etc() / "tls/relay.crt"), *renewed) << "the renewed certificate is kept";
    EXPECT_EQ(slurp(etc() / "pairing-home.toml"), pairing_before) << again.out;
    EXPECT_NE(again.out.find("unchanged " + (etc() / "pairing-home.toml").string()),
              std::string::npos)
        << again.out;
}

TEST_F(ProvisionRelay, RealCertificateThatReplacedThePlaceholderIsKept) {
    // An admin installs another certificate + key (here: another self-signed one).
    auto other = setup::make_self_signed("mx.example.com", 30);
    ASSERT_TRUE(other) << other.error();
    spit(etc() / "tls/relay.crt", other->cert_pem);
    spit(etc() / "tls/relay.key", other->key_pem);
    auto again = run(relay_args(root.path));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(slurp(etc() / "tls/relay.crt"), other->cert_pem);
    // The pairing file names the certificate; it is made from keys and certificate, never
    // edited, so it is rewritten (old copy kept) rather than left stale (issue 16 bug 3).
    auto p = setup::parse_pairing(slurp(etc() / "pairing-home.toml"), "pairing");
    ASSERT_TRUE(p);
    auto info = setup::inspect_cert(other->cert_pem, "", "x");
    ASSERT_TRUE(info);
    EXPECT_NE(again.out.find("renewed " + (etc() / "pairing-home.toml").string() +
                             " (new tunnel keys or relay settings; previous copy "),
              std::string::npos)
        << again.out;
    EXPECT_EQ(p->relay_tls_sha256, info->sha256_hex);
    // A certificate that does not match its key is an error naming the file.
    auto third = setup::make_self_signed("mx.example.com", 30);
    ASSERT_TRUE(third);
    spit(etc() / "tls/relay.crt", third->cert_pem);
    auto bad = run(relay_args(root.path));
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("relay.crt: the certificate does not belong to its key file"),
              std::string::npos)
        << bad.err;
}

TEST_F(ProvisionRelay, EditsOfSiteSettingsProvisionDoesNotDecideAreKept) {
    const fs::path site_file = etc() / "site.toml";
    auto s = splitmail::provision::load_site(site_file);
    ASSERT_TRUE(s);
    s->ttl = 300;
    s->desec_api = "https://127.0.0.1:8443/api/v1";
    spit(site_file, splitmail::provision::render_site(*s));
    auto again = run(relay_args(root.path));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_NE(again.out.find("unchanged " + site_file.string()), std::string::npos) << again.out;
    auto after = splitmail::provision::load_site(site_file);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->ttl, 300u);
    EXPECT_EQ(after->desec_api, "https://127.0.0.1:8443/api/v1");
}

// Issue 16 bug 10: one name for the API URL (desec.api_url, as in ddns.toml); the old
// desec.api is still read, with a warning naming the line; both at once is an error.
TEST_F(ProvisionRelay, OldDesecApiKeyReadWithWarning) {
    const fs::path site_file = etc() / "site.toml";
    auto text = slurp(site_file);
    ASSERT_NE(text.find("\napi_url = \"https://desec.io/api/v1\"\n"), std::string::npos) << text;
    auto old = text;
    old.replace(old.find("\napi_url = "), 11, "\napi = ");
    old.replace(old.find("desec.io/api/v1"), 15, "127.0.0.1:9/api/v1");
    spit(site_file, old);
    auto s = splitmail::provision::load_site(site_file);
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->desec_api, "https://127.0.0.1:9/api/v1");
    ASSERT_EQ(s->warnings.size(), 1u);
    EXPECT_NE(s->warnings[0].find("desec.api is deprecated (line "), std::string::npos)
        << s->warnings[0];
    EXPECT_NE(s->warnings[0].find("rename it to desec.api_url"), std::string::npos);
    auto twice = old;
    twice.replace(twice.find("\napi = "), 7, "\napi_url = \"https://desec.io/api/v1\"\napi = ");
    spit(site_file, twice);
    auto both = splitmail::provision::load_site(site_file);
    ASSERT_FALSE(both);
    EXPECT_NE(both.error().find("set only desec.api_url"), std::string::npos) << both.error();
}

TEST_F(ProvisionRelay, PlaceholderForAnotherHostnameIsReplacedOnlyWithForce) {
    auto args = relay_args(root.path);
    args[std::find(args.begin(), args.end(), "--hostname") - args.begin() + 1] = "mx2.example.com";
    const fs::path crt = etc() / "tls/relay.crt";
    const std::string old_cert = slurp(crt), old_key = slurp(etc() / "tls/relay.key");
    auto kept = run(args);
    ASSERT_EQ(kept.code, 0) << kept.err;
    EXPECT_NE(kept.out.find("kept " + crt.string() +
                            " (certificate is not valid for mx2.example.com; --force for a new "
                            "self-signed one)"),
              std::string::npos)
        << kept.out;
    EXPECT_EQ(slurp(crt), old_cert);
    args.push_back("--force");
    auto forced = run(args);
    ASSERT_EQ(forced.code, 0) << forced.err;
    EXPECT_NE(forced.out.find("replaced " + crt.string()), std::string::npos) << forced.out;
    EXPECT_TRUE(setup::cert_covers_host(slurp(crt), "mx2.example.com"));
    EXPECT_FALSE(setup::cert_covers_host(slurp(crt), "mx.example.com"));
    EXPECT_EQ(slurp(etc() / "tls/relay.key"), old_key) << "same key: TLSA 3 1 1 stays valid";
    auto s = splitmail::relay::load_settings(etc() / "relay.toml");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->hostname, "mx2.example.com");
}

TEST_F(ProvisionRelay, PlaceholderRunningOutIsRenewedWithTheSameKey) {
    const fs::path crt = etc() / "tls/relay.crt", key = etc() / "tls/relay.key";
    auto short_lived = setup::self_signed_for_key(slurp(key), "mx.example.com", 10);
    ASSERT_TRUE(short_lived) << short_lived.error();
    spit(crt, *short_lived);
    auto again = run(relay_args(root.path));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_NE(again.out.find("renewed " + crt.string() +
                             " (self-signed placeholder expires within 21 days; previous copy "),
              std::string::npos)
        << again.out;
    auto info = setup::inspect_cert(slurp(crt), slurp(key), "relay.crt");
    ASSERT_TRUE(info) << info.error();
    EXPECT_GT(info->not_after, std::chrono::system_clock::now() + std::chrono::days(80));
    // The renewed one is good for 90 days: the next run leaves it alone.
    auto third = run(relay_args(root.path));
    EXPECT_EQ(count_lines(third.out, "renewed "), 0) << third.out;
}

TEST_F(ProvisionRelay, CertificateWithoutItsKeyIsAnErrorAndNothingIsWritten) {
    const fs::path key = etc() / "tls/relay.key";
    fs::remove(key);
    auto r = run(relay_args(root.path));
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("relay.crt exists but its key " + key.string() + " does not"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(fs::exists(key)) << "no new key next to the old certificate";
    auto args = relay_args(root.path);
    args.push_back("--force");
    auto forced = run(args);
    ASSERT_EQ(forced.code, 0) << forced.err;
    EXPECT_NE(forced.out.find("created " + key.string()), std::string::npos);
    EXPECT_NE(forced.out.find("replaced " + (etc() / "tls/relay.crt").string()), std::string::npos);
    EXPECT_TRUE(setup::inspect_cert(slurp(etc() / "tls/relay.crt"), slurp(key), "c"));
}

TEST(ProvisionUnits, SystemdAnalyzeVerifyAcceptsTheUnits) {
    // scripts/deps installs systemd (systemd-analyze); a missing tool is a failure, not a skip.
    ASSERT_TRUE(setup::run_program({"systemd-analyze", "--version"}, ""))
        << "systemd-analyze not installed: run ./scripts/deps";
    temp_root relay_root, home_root, bin;
    for (const char* prog : {"splitmail-relay", "splitmail-home", "splitmail-ddns"}) {
        spit(bin / prog, "#!/bin/sh\nexit 0\n");
        fs::permissions(bin / prog,
                        fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    }
    auto args = relay_args(relay_root.path);
    args.insert(args.end(), {"--bindir", bin.path.string()});
    auto r = run(args);
    ASSERT_EQ(r.code, 0) << r.err;
    auto h = run({"home", "--pairing", (relay_root / "etc/splitmail/pairing-home.toml").string(),
                  "--root", home_root.path.string(), "--bindir", bin.path.string()});
    ASSERT_EQ(h.code, 0) << h.err;
    for (const fs::path& unit : {relay_root / "etc/systemd/system/splitmail-relay.service",
                                 home_root / "etc/systemd/system/splitmail-home.service",
                                 home_root / "etc/systemd/system/splitmail-ddns.service"}) {
        auto v = setup::run_program(
            {"sh", "-c", "systemd-analyze verify \"$0\" 2>&1", unit.string()}, "");
        ASSERT_TRUE(v) << unit << ": " << v.error();
        EXPECT_EQ(*v, "") << unit;
    }
}

TEST(ProvisionRelayUsage, ErrorsSayWhatToFix) {
    temp_root root;
    struct bad_case {
        std::vector<std::string> args;
        std::string says;
    };
    const std::string r = root.path.string();
    const std::vector<bad_case> cases = {
        {{"relay", "--domain", "example.com", "--hostname", "mx.example.com", "--root", r},
         "--public-ipv4 is required"},
        {{"relay", "--domain", "exa mple.com", "--hostname", "mx.example.com", "--public-ipv4",
          "203.0.113.5", "--root", r},
         "--domain \"exa mple.com\" is not a domain name"},
        {{"relay", "--hostname", "mx.example.com", "--public-ipv4", "203.0.113.5", "--root", r},
         "--domain is required"},
        {{"relay", "--domain", "example.com", "--public-ipv4", "203.0.113.5", "--root", r},
         "--hostname is required"},
        {{"relay", "--domain", "example.com", "--hostname", "mx", "--public-ipv4", "203.0.113.5",
          "--root", r},
         "not a fully qualified host name"},
        {{"relay", "--domain", "example.com", "--hostname", "mx.example.com", "--public-ipv4",
          "203.0.113", "--root", r},
         "\"203.0.113\" is not an IPv4 address"},
        {{"relay", "--domain", "example.com", "--hostname", "mx.example.com", "--public-ipv4",
          "203.0.113.5", "--public-ipv6", "203.0.113.6", "--root", r},
         "is not an IPv6 address"},
        {{"relay", "--domain", "example.com", "--hostname", "mx.example.com", "--public-ipv4",
          "203.0.113.5", "--wg-port", "70000", "--root", r},
         "--wg-port \"70000\" is not a UDP port"},
        {{"relay", "--domain", "example.com", "--hostname", "mx.example.com", "--public-ipv4",
          "203.0.113.5", "--root", r + "/with space"},
         "use a path without spaces"},
        {{"relay", "--domain", "example.com", "--domain", "EXAMPLE.com", "--hostname",
          "mx.example.com", "--public-ipv4", "203.0.113.5", "--root", r},
         "is given twice"},
        {{"relay", "--bogus"}, "unknown option \"--bogus\""},
        {{"relay", "--domain"}, "--domain needs a value"},
        {{"nonsense"}, "unknown subcommand \"nonsense\""},
        {{}, "usage: splitmail provision relay"},
    };
    for (const auto& c : cases) {
        auto res = run(c.args);
        EXPECT_EQ(res.code, 2) << c.says;
        EXPECT_NE(res.err.find(c.says), std::string::npos) << res.err;
    }
    EXPECT_TRUE(fs::is_empty(root.path)) << "usage errors write nothing";
    auto help = run({"relay", "--help"});
    EXPECT_EQ(help.code, 0);
    EXPECT_NE(help.out.find("usage:"), std::string::npos);
}

TEST(ProvisionRelayOptions, WgPortAndEqualsFormAndIpv4Only) {
    temp_root root;
    auto res =
        run({"relay", "--domain=example.net", "--hostname", "mail.example.net.", "--public-ipv4",
             "198.51.100.7", "--wg-port", "51999", "--root", root.path.string()});
    ASSERT_EQ(res.code, 0) << res.err;
    auto p = setup::parse_pairing(slurp(root / "etc/splitmail/pairing-home.toml"), "p");
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(p->relay_endpoint, "198.51.100.7:51999");
    EXPECT_EQ(p->relay_hostname, "mail.example.net");
    EXPECT_NE(slurp(root / "etc/wireguard/wg-smrelay.conf").find("ListenPort = 51999\n"),
              std::string::npos);
    auto s = splitmail::provision::load_site(root / "etc/splitmail/site.toml");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->public_ipv6, "");
}

} // namespace

// Issue 16 bug 2: without --imap-host the relay names home's IMAP host home.<first domain>
// (what `provision home` takes and splitmail-ddns keeps), so DNS announces and keeps it; a
// re-run without the flag keeps what the site file says, even an empty name.
TEST(ProvisionRelayDefaults, ImapHostDefaultsToHomeOfTheFirstDomain) {
    temp_root root;
    auto args = relay_args(root.path);
    auto at = std::find(args.begin(), args.end(), "--imap-host");
    args.erase(at, at + 2);
    auto r = run(args);
    ASSERT_EQ(r.code, 0) << r.err;
    const fs::path site_file = root / "etc/splitmail/site.toml";
    auto s = splitmail::provision::load_site(site_file);
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->imap_host, "home.example.com");
    auto p = setup::parse_pairing(slurp(root / "etc/splitmail/pairing-home.toml"), "pairing");
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(p->imap_host, "home.example.com");
    s->imap_host = "";
    spit(site_file, splitmail::provision::render_site(*s));
    auto again = run(args);
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_NE(again.out.find("unchanged " + site_file.string()), std::string::npos) << again.out;
    EXPECT_EQ(splitmail::provision::load_site(site_file)->imap_host, "");
}
