// provision/setup: the pairing file codec, the idempotent file writer, WireGuard key checks and
// the wg-quick key reader.
#include "provision_fixture.hpp"

#include "commands/setup_options.hpp"
#include "setup/files.hpp"
#include "setup/keys.hpp"
#include "setup/pairing.hpp"
#include "setup/public_address.hpp"
#include "setup/render.hpp"
#include "splitmail/acme/types.hpp"
#include "splitmail/config/ddns.hpp"

#include <gtest/gtest.h>

using namespace provision_test;
namespace setup = splitmail::provision::setup;

namespace {

setup::pairing sample() {
    setup::pairing p;
    p.domains = {"example.com", "example.org"};
    p.relay_hostname = "mx.example.com";
    p.relay_endpoint = "[2001:db8::5]:51820";
    p.relay_public_key = "dSV8Jc99F9ZxxSTK9+NLieM/NAYKahk2an53J5xEwgA=";
    p.home_private_key = "WEs9xqS3NDlRVbfWVBSRqP1dF9h5KMOhIal9R/qLjVo=";
    p.home_public_key = "h1Elz8Q+KvGMuTcOE2tvb2jVDshmjZ8UZtJUESBgF3Q=";
    p.relay_tls_sha256 = std::string(64, 'a');
    p.imap_host = "imap.example.com";
    return p;
}

TEST(Pairing, RoundTrip) {
    const auto p = sample();
    auto back = setup::parse_pairing(setup::render_pairing(p), "p.toml");
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->domains, p.domains);
    EXPECT_EQ(back->relay_hostname, p.relay_hostname);
    EXPECT_EQ(back->relay_endpoint, p.relay_endpoint);
    EXPECT_EQ(back->relay_public_key, p.relay_public_key);
    EXPECT_EQ(back->home_private_key, p.home_private_key);
    EXPECT_EQ(back->home_public_key, p.home_public_key);
    EXPECT_EQ(back->tunnel_relay, "10.8.0.1");
    EXPECT_EQ(back->tunnel_home, "10.8.0.2");
    EXPECT_EQ(back->tunnel_prefix, 24);
    EXPECT_EQ(back->lmtp_port, 24);
    EXPECT_EQ(back->relay_tls_sha256, p.relay_tls_sha256);
    EXPECT_EQ(back->imap_host, p.imap_host);
    EXPECT_EQ(setup::render_pairing(*back), setup::render_pairing(p));
}

// Issue 18: the rspamd controller travels in the pairing file, both keys or none.
TEST(Pairing, RspamdControllerRoundTripAndChecks) {
    auto p = sample();
    p.rspamd_controller = "10.8.0.1:11334";
    p.rspamd_password = std::string(48, 'f');
    auto back = setup::parse_pairing(setup::render_pairing(p), "p.toml");
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->rspamd_controller, p.rspamd_controller);
    EXPECT_EQ(back->rspamd_password, p.rspamd_password);
    EXPECT_EQ(setup::render_pairing(sample()).find("rspamd"), std::string::npos);
    auto bad = p;
    bad.rspamd_password = "short";
    auto e = setup::parse_pairing(setup::render_pairing(bad), "p.toml");
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().find("pairing.rspamd_password"), std::string::npos) << e.error();
    bad = p;
    bad.rspamd_controller = "10.8.0.1";
    e = setup::parse_pairing(setup::render_pairing(bad), "p.toml");
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().find("pairing.rspamd_controller"), std::string::npos) << e.error();
}

TEST(ScannerWiring, ClamdAddressFromClamdConf) {
    EXPECT_EQ(setup::clamd_address(""), "/run/clamav/clamd.ctl");
    EXPECT_EQ(setup::clamd_address("# LocalSocket /x\nLocalSocket /run/clamav/clamd.ctl\n"),
              "/run/clamav/clamd.ctl");
    EXPECT_EQ(setup::clamd_address("  LocalSocket\t/var/run/c.sock  \r\n"), "/var/run/c.sock");
    EXPECT_EQ(setup::clamd_address("TCPSocket 3310\nTCPAddr 127.0.0.1\n"), "127.0.0.1:3310");
    EXPECT_EQ(setup::clamd_address("TCPSocket 3310\n"), "127.0.0.1:3310");
}

TEST(ScannerWiring, ControllerFileKeepsItsHash) {
    setup::tunnel t;
    const std::string hash = "$2$abc$def";
    const auto text = setup::render_rspamd_controller(t, hash);
    EXPECT_NE(text.find("bind_socket = \"127.0.0.1:11334\";\nbind_socket = \"10.8.0.1:11334\";"),
              std::string::npos)
        << text;
    EXPECT_EQ(setup::rspamd_password_hash(text), hash);
    EXPECT_EQ(setup::rspamd_password_hash("bind_socket = \"x\";\n"), "");
    EXPECT_NE(setup::render_rspamd_dropin("wg-smrelay").find("After=wg-quick@wg-smrelay.service"),
              std::string::npos);
}

TEST(Pairing, ErrorsNameFileKeyAndReason) {
    auto text = setup::render_pairing(sample());
    auto with = [&](const std::string& from, const std::string& to) {
        std::string t = text;
        t.replace(t.find(from), from.size(), to);
        return setup::parse_pairing(t, "p.toml");
    };
    auto v = with("version = 1", "version = 7");
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error(), "p.toml: pairing.version: pairing version 7; this splitmail reads "
                         "version 1 (run the same splitmail version on relay and home)");
    auto k = with("home_private_key = \"WEs9", "home_private_key = \"WEs");
    ASSERT_FALSE(k);
    EXPECT_EQ(k.error(),
              "p.toml: pairing.home_private_key: not a WireGuard key (44 characters of base64)");
    auto d = with("\"example.org\"", "\"not a domain\"");
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().find("pairing.domains: \"not a domain\" is not a domain name"),
              std::string::npos);
    auto h = with("relay_tls_sha256 = \"aaaa", "relay_tls_sha256 = \"zzzz");
    ASSERT_FALSE(h);
    EXPECT_NE(h.error().find("pairing.relay_tls_sha256: must be 64 hex digits"), std::string::npos);
    auto m = with("relay_hostname = \"mx.example.com\"\n", "");
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error(), "p.toml: pairing.relay_hostname: missing");
    auto same = with("tunnel_home = \"10.8.0.2\"", "tunnel_home = \"10.8.0.1\"");
    ASSERT_FALSE(same);
    EXPECT_NE(same.error().find("must differ from tunnel_relay"), std::string::npos);
    EXPECT_FALSE(setup::parse_pairing("[pairing]\ndomains = []\n", "x"));
    EXPECT_FALSE(setup::parse_pairing("", "x"));
}

TEST(Pairing, Endpoints) {
    std::string host;
    std::uint16_t port = 0;
    EXPECT_TRUE(setup::split_endpoint("203.0.113.5:51820", host, port));
    EXPECT_EQ(host, "203.0.113.5");
    EXPECT_EQ(port, 51820);
    EXPECT_TRUE(setup::split_endpoint("[2001:db8::1]:1", host, port));
    EXPECT_EQ(host, "2001:db8::1");
    EXPECT_EQ(port, 1);
    for (const char* bad : {"", "203.0.113.5", "203.0.113.5:", "203.0.113.5:0", "203.0.113.5:65536",
                            "2001:db8::1:51820", "[203.0.113.5]:1", "[2001:db8::1]51820",
                            "host.example:51820", "203.0.113.5:12x"})
        EXPECT_FALSE(setup::split_endpoint(bad, host, port)) << bad;
}

TEST(WireGuardKeys, ShapeAndGeneration) {
    EXPECT_TRUE(setup::valid_wg_key("dSV8Jc99F9ZxxSTK9+NLieM/NAYKahk2an53J5xEwgA="));
    EXPECT_FALSE(setup::valid_wg_key("dSV8Jc99F9ZxxSTK9+NLieM/NAYKahk2an53J5xEwgA"));
    EXPECT_FALSE(setup::valid_wg_key("dSV8Jc99F9ZxxSTK9+NLieM/NAYKahk2an53J5xEwgB="))
        << "last digit has non-zero padding bits";
    EXPECT_FALSE(setup::valid_wg_key("dSV8Jc99F9ZxxSTK9+NLieM/NAYKahk2an53J5xEw!A="));
    auto a = setup::wg_generate();
    auto b = setup::wg_generate();
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->private_key, b->private_key);
    auto pub = setup::wg_public_key(a->private_key);
    ASSERT_TRUE(pub);
    EXPECT_EQ(*pub, a->public_key);
    EXPECT_FALSE(setup::wg_public_key("nonsense"));
}

TEST(WireGuardKeys, ReadFromWgQuickConfig) {
    const std::string conf = "[Interface]\n# PrivateKey = commented\nprivatekey=ABC \n"
                             "Address = 10.8.0.1/24\n\n[Peer]\nPublicKey = P1 # first\n"
                             "[Peer]\nPublicKey = P2\n";
    auto k = setup::read_wg_keys(conf);
    EXPECT_EQ(k.private_key, "ABC");
    EXPECT_EQ(k.peer_public_key, "P1");
}

TEST(RunProgram, ReportsFailureWithStderr) {
    auto ok = setup::run_program({"cat"}, "hello");
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, "hello");
    auto fail = setup::run_program({"sh", "-c", "echo oops >&2; exit 3"}, "");
    ASSERT_FALSE(fail);
    EXPECT_EQ(fail.error(), "sh failed (exit status 3: oops)");
    auto missing = setup::run_program({"no-such-program-here"}, "");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().find("cannot run no-such-program-here"), std::string::npos);
}

TEST(FileWriter, CreatesComparesKeepsAndReplaces) {
    temp_root root;
    std::ostringstream out;
    setup::file_writer w(out, false);
    const fs::path f = root / "a/b/c.conf";
    ASSERT_TRUE(w.file(f, "one\n", 0600));
    EXPECT_EQ(slurp(f), "one\n");
    EXPECT_EQ(mode_of(f), 0600u);
    EXPECT_EQ(mode_of(root / "a/b"), 0755u);
    EXPECT_EQ(*w.file(f, "one\n", 0600), setup::outcome::unchanged);
    EXPECT_EQ(*w.file(f, "two\n", 0600), setup::outcome::kept);
    EXPECT_EQ(slurp(f), "one\n");
    EXPECT_EQ(*w.initial_file(f, "two\n", 0600), setup::outcome::unchanged);
    EXPECT_EQ(w.changes(), 1);
    EXPECT_EQ(w.kept(), 1);
    EXPECT_EQ(out.str(), "created " + f.string() + "\nunchanged " + f.string() + "\nkept " +
                             f.string() + " (differs; --force to replace)\nunchanged " +
                             f.string() + "\n");
    std::ostringstream out2;
    setup::file_writer forced(out2, true);
    EXPECT_EQ(*forced.file(f, "two\n", 0640), setup::outcome::replaced);
    EXPECT_EQ(slurp(f), "two\n");
    EXPECT_EQ(mode_of(f), 0640u);
    // The replaced content is kept as c.conf.bak-TIME with the old mode, named in the line
    // (issue 16 bug 3: --force never drops an edit silently); no temporary files are left.
    std::vector<fs::path> entries;
    for (const auto& e : fs::directory_iterator(root / "a/b")) entries.push_back(e.path());
    ASSERT_EQ(entries.size(), 2u);
    const fs::path bak = entries[0] == f ? entries[1] : entries[0];
    EXPECT_TRUE(bak.filename().string().starts_with("c.conf.bak-")) << bak;
    EXPECT_EQ(slurp(bak), "one\n");
    EXPECT_EQ(mode_of(bak), 0600u);
    EXPECT_EQ(out2.str(), "replaced " + f.string() + " (previous copy " + bak.string() + ")\n");
}

TEST(FileWriter, DryRunWritesNothingAndSaysWhatWouldChange) {
    temp_root root;
    const fs::path f = root / "etc/x.conf", d = root / "spool";
    spit(root / "same", "same\n");
    ::chmod((root / "same").c_str(), 0644);
    std::ostringstream out;
    setup::file_writer w(out, true, true);
    EXPECT_EQ(*w.file(f, "new\n", 0600), setup::outcome::created);
    EXPECT_EQ(*w.directory(d, 0700), setup::outcome::created);
    EXPECT_EQ(*w.file(root / "same", "same\n", 0644), setup::outcome::unchanged);
    EXPECT_EQ(*w.file(root / "same", "other\n", 0644), setup::outcome::replaced);
    EXPECT_FALSE(fs::exists(f));
    EXPECT_FALSE(fs::exists(d));
    EXPECT_FALSE(fs::exists(root / "etc"));
    EXPECT_EQ(slurp(root / "same"), "same\n");
    EXPECT_EQ(w.changes(), 3);
    EXPECT_EQ(out.str(), "would create " + f.string() + "\nwould create " + d.string() +
                             "/\nunchanged " + (root / "same").string() + "\nwould replace " +
                             (root / "same").string() + " (a copy of the old one would be kept)\n");
    int entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(root.path)) ++entries;
    EXPECT_EQ(entries, 1);
}

TEST(WireGuardKeys, RekeyChangesOnlyTheKeyLines) {
    const std::string conf = "# written by provision, then edited\n[Interface]\nAddress = "
                             "10.8.0.2/24\nPrivateKey = OLDPRIV\nMTU = 1380\n\n# relay\n[Peer]\n"
                             "PublicKey = OLDPEER\nEndpoint = 192.0.2.1:51820\nAllowedIPs = "
                             "10.8.0.1/32, 10.9.0.0/24\nPersistentKeepalive = 25\n";
    auto r = setup::rekey_wg_conf(conf, "NEWPRIV", "NEWPEER", "192.0.2.7:4500");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "# written by provision, then edited\n[Interface]\nAddress = 10.8.0.2/24\n"
                  "PrivateKey = NEWPRIV\nMTU = 1380\n\n# relay\n[Peer]\nPublicKey = NEWPEER\n"
                  "Endpoint = 192.0.2.7:4500\nAllowedIPs = 10.8.0.1/32, 10.9.0.0/24\n"
                  "PersistentKeepalive = 25\n");
    // Same keys: the very same bytes (so provision can tell "no re-pairing").
    EXPECT_EQ(*setup::rekey_wg_conf(*r, "NEWPRIV", "NEWPEER", "192.0.2.7:4500"), *r);
    // No endpoint asked for (relay end): an Endpoint line is not needed and left alone.
    const std::string relay = "[Interface]\nprivatekey=A\n[Peer]\npublickey = B\n"
                              "[Peer]\nPublicKey = C\n";
    EXPECT_EQ(*setup::rekey_wg_conf(relay, "X", "Y", ""),
              "[Interface]\nPrivateKey = X\n[Peer]\nPublicKey = Y\n[Peer]\nPublicKey = C\n");
    // A line missing: not edited in place.
    EXPECT_FALSE(setup::rekey_wg_conf("[Interface]\nPrivateKey = A\n", "X", "Y", ""));
    EXPECT_FALSE(setup::rekey_wg_conf(relay, "X", "Y", "192.0.2.7:1"));
    EXPECT_FALSE(setup::rekey_wg_conf("# PrivateKey = A\n[Peer]\nPublicKey = B\n", "X", "Y", ""));
}

TEST(FileWriter, DirectoriesAndRefusals) {
    temp_root root;
    std::ostringstream out;
    setup::file_writer w(out, false);
    const fs::path d = root / "x/spool";
    ASSERT_TRUE(w.directory(d, 0750));
    EXPECT_EQ(mode_of(d), 0750u);
    EXPECT_EQ(*w.directory(d, 0750), setup::outcome::unchanged);
    EXPECT_EQ(*w.directory(d, 0700), setup::outcome::kept);
    EXPECT_NE(out.str().find("kept " + d.string() + "/ (mode 0750, expected 0700"),
              std::string::npos)
        << out.str();
    auto on_dir = w.file(d, "x", 0644);
    ASSERT_FALSE(on_dir);
    EXPECT_NE(on_dir.error().find("is a directory"), std::string::npos);
    spit(root / "plain", "x");
    auto on_file = w.directory(root / "plain", 0755);
    ASSERT_FALSE(on_file);
    EXPECT_NE(on_file.error().find("exists and is not a directory"), std::string::npos);
}

TEST(Render, TomlQuoting) { EXPECT_EQ(setup::toml_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\""); }

// The renderer's ddns.toml is read through splitmail-ddns's own table (common/config/ddns):
// every optional line, the apex, several names and a path that needs escaping (issue 13).
TEST(Render, DdnsTomlLoadsThroughTheDdnsTable) {
    setup::ddns_params p;
    p.domain = "example.dedyn.io";
    p.names = {"@", "home", "imap.home"};
    p.state_file = "/var/lib/splitmail-ddns/state \"1\".json";
    p.token_file = "/etc/splitmail/desec.token";
    for (bool options : {false, true}) {
        if (options) {
            p.api_url = "https://127.0.0.1:8443/api/v1/";
            p.ca_file = "/tmp/ca.pem";
        }
        const auto text = setup::render_ddns_toml(p);
        auto v =
            splitmail::config::load_string(text, "ddns.toml", splitmail::ddns::settings_table());
        ASSERT_TRUE(v) << v.error() << "\n" << text;
        auto s = splitmail::ddns::settings_from(*v, "ddns.toml");
        ASSERT_TRUE(s) << s.error() << "\n" << text;
        EXPECT_EQ(s->domain, "example.dedyn.io");
        EXPECT_EQ(s->subnames, (std::vector<std::string>{"", "home", "imap.home"}));
        EXPECT_EQ(s->state_file, p.state_file);
        EXPECT_EQ(s->token_file, p.token_file);
        EXPECT_EQ(s->api_url, options ? p.api_url : "https://desec.io/api/v1/");
        EXPECT_EQ(s->ca_file, p.ca_file);
    }
}

} // namespace

// Issue 16 bug 9: `provision relay --public-ipv4 10.250.1.5` warns; which ranges are not public.
TEST(PublicAddress, PrivateAndReservedRangesNamed) {
    using splitmail::provision::setup::not_public_reason;
    EXPECT_NE(not_public_reason("10.250.1.5").find("RFC 1918"), std::string::npos);
    EXPECT_NE(not_public_reason("172.31.255.1").find("RFC 1918"), std::string::npos);
    EXPECT_EQ(not_public_reason("172.32.0.1"), "");
    EXPECT_NE(not_public_reason("192.168.1.1").find("private"), std::string::npos);
    EXPECT_NE(not_public_reason("100.64.0.1").find("carrier-grade NAT"), std::string::npos);
    EXPECT_EQ(not_public_reason("100.128.0.1"), "");
    EXPECT_NE(not_public_reason("127.0.0.1"), "");
    EXPECT_NE(not_public_reason("203.0.113.5").find("documentation"), std::string::npos);
    EXPECT_NE(not_public_reason("240.0.0.1"), "");
    EXPECT_EQ(not_public_reason("93.184.216.34"), "");
    EXPECT_NE(not_public_reason("fd00::1").find("unique local"), std::string::npos);
    EXPECT_NE(not_public_reason("fe80::1"), "");
    EXPECT_NE(not_public_reason("::1"), "");
    EXPECT_NE(not_public_reason("2001:db8::25").find("RFC 3849"), std::string::npos);
    EXPECT_EQ(not_public_reason("2a01:4f8::1"), "");
}

// `setup --acme-staging`: Let's Encrypt's staging CA for a first try; it and --acme-directory
// both name the CA, so giving both is a usage error in either order.
TEST(GuidedSetupOptions, AcmeStagingPicksTheStagingDirectory) {
    using splitmail::provision::guided_setup::options;
    using splitmail::provision::guided_setup::parse;
    auto run = [](std::vector<std::string> args, options& o) {
        o.role = "relay";
        return parse(args, o);
    };
    options a;
    EXPECT_EQ(run({"--acme-staging", "--yes"}, a), std::nullopt);
    EXPECT_EQ(a.acme_directory, splitmail::acme::letsencrypt_staging_directory);
    options b;
    EXPECT_EQ(run({"--acme-directory", "https://ca.example/dir"}, b), std::nullopt);
    EXPECT_EQ(b.acme_directory, "https://ca.example/dir");
    options c;
    auto e1 = run({"--acme-staging", "--acme-directory", "https://ca.example/dir"}, c);
    ASSERT_TRUE(e1);
    EXPECT_NE(e1->find("give one"), std::string::npos) << *e1;
    options d;
    auto e2 = run({"--acme-directory=https://ca.example/dir", "--acme-staging"}, d);
    ASSERT_TRUE(e2);
    EXPECT_NE(e2->find("give one"), std::string::npos) << *e2;
    options e;
    auto e3 = run({"--acme-staging=yes"}, e);
    ASSERT_TRUE(e3);
    EXPECT_NE(e3->find("takes no value"), std::string::npos) << *e3;
}
