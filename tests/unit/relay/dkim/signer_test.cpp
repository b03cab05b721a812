// DKIM signer: the RFC 8463 A.3 Ed25519 test vector, a checked-in known-answer test for both
// algorithms (verified by dkimpy and OpenDKIM when it was made, and by the integration test on
// every run), folding, streaming, key loading errors.
#include "dkim/signer.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace splitmail::relay::dkim;
namespace fs = std::filesystem;

namespace {

const fs::path data_dir = fs::path(SPLITMAIL_TEST_DATA) / "dkim";

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    EXPECT_TRUE(in) << p;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string unbase64(std::string_view b64) {
    std::string out(b64.size(), '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(b64.data()),
                                  static_cast<int>(b64.size()));
    EXPECT_GT(n, 0);
    out.resize(static_cast<std::size_t>(n));
    while (!b64.empty() && b64.back() == '=') {
        out.pop_back();
        b64.remove_suffix(1);
    }
    return out;
}

signing_key kat_key(const std::string& selector) {
    auto k = load_key(data_dir / "keys" / "example.test" / (selector + ".key"), "example.test",
                      selector);
    EXPECT_TRUE(k) << (k ? "" : k.error());
    return *k;
}

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string t = (fs::temp_directory_path() / "dkim-test-XXXXXX").string();
        path = ::mkdtemp(t.data());
    }
    ~temp_dir() { fs::remove_all(path); }
};

void write(const fs::path& p, std::string_view s) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << s;
}

std::string pem_of(EVP_PKEY* k) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
    char* d = nullptr;
    const long n = BIO_get_mem_data(bio, &d);
    std::string s(d, static_cast<std::size_t>(n));
    BIO_free(bio);
    return s;
}

} // namespace

TEST(dkim_signer, rfc8463_a3_ed25519_test_vector) {
    // RFC 8463 A.2: the RFC 8032 7.1 test key; A.3: the signed example message.
    const std::string seed = unbase64("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
    ASSERT_EQ(seed.size(), 32u);
    EVP_PKEY* raw = EVP_PKEY_new_raw_private_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), 32);
    ASSERT_NE(raw, nullptr);
    signing_key key{"football.example.com",
                    "brisbane",
                    algorithm::ed25519_sha256,
                    std::shared_ptr<EVP_PKEY>(raw, &EVP_PKEY_free),
                    {}};

    const std::string message = "From: Joe SixPack <joe@football.example.com>\r\n"
                                "To: Suzie Q <suzie@shopping.example.net>\r\n"
                                "Subject: Is dinner ready?\r\n"
                                "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
                                "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
                                "\r\n"
                                "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n";
    const std::string sig_without_b =
        "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
        " d=football.example.com; i=@football.example.com;\r\n"
        " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
        " subject : date : message-id : from : subject : date;\r\n"
        " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
        " b=";
    const message_view m = split_message(message);
    const auto fields = parse_header(m.header);
    const std::vector<std::string> h = {"from",       "to",   "subject", "date",
                                        "message-id", "from", "subject", "date"};
    auto sig = sign_data(key, header_hash_input(fields, h, sig_without_b));
    ASSERT_TRUE(sig) << sig.error();
    EXPECT_EQ(base64(*sig), "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5O"
                            "sU7ZbnKELq+eXdp1Q1Dw==");
}

TEST(dkim_signer, known_answer_both_algorithms) {
    // kat_01_simple.expected was made by this signer and then verified with dkimpy 1.1.4 and
    // OpenDKIM 2.11.0~beta2 (both signatures pass); any change in canonicalization, header
    // choice, folding or crypto shows here.
    signer s({kat_key("kat-ed25519"), kat_key("kat-rsa")});
    const std::string msg = read_file(data_dir / "corpus" / "01_simple.eml");
    auto prefix = s.sign(msg, 1700000000);
    ASSERT_TRUE(prefix) << prefix.error();
    EXPECT_EQ(*prefix, read_file(data_dir / "kat_01_simple.expected"));
}

TEST(dkim_signer, rsa_comes_first_and_tags_are_complete) {
    signer s({kat_key("kat-ed25519"), kat_key("kat-rsa")});
    auto prefix = s.sign("From: a@example.test\r\nTo: b@example.org\r\n\r\nhi\r\n", 42);
    ASSERT_TRUE(prefix);
    const auto second = prefix->find("\r\nDKIM-Signature:");
    ASSERT_NE(second, std::string::npos);
    const std::string rsa = prefix->substr(0, second + 2);
    const std::string ed = prefix->substr(second + 2);
    EXPECT_EQ(rsa.rfind("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;", 0), 0u) << rsa;
    EXPECT_EQ(ed.rfind("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;", 0), 0u);
    for (const auto& f : {rsa, ed}) {
        const std::string flat = relaxed_header(f);
        EXPECT_NE(flat.find(" d=example.test;"), std::string::npos) << flat;
        EXPECT_NE(flat.find(" t=42;"), std::string::npos);
        EXPECT_NE(flat.find(" h=from:from:to;"), std::string::npos);
        EXPECT_NE(flat.find(" bh=RHI91NDg1Go8f6isolS2HCe2tXiflhd+gsgHAECfFTU=;"),
                  std::string::npos); // sha256("hi\r\n")
        EXPECT_NE(flat.find(" b="), std::string::npos);
    }
    EXPECT_NE(relaxed_header(rsa).find("s=kat-rsa;"), std::string::npos);
    EXPECT_NE(relaxed_header(ed).find("s=kat-ed25519;"), std::string::npos);
}

TEST(dkim_signer, folding_keeps_lines_below_78_columns) {
    signature_tags t;
    t.alg = algorithm::ed25519_sha256;
    t.domain = "a-rather-long-subdomain-name.of-a-signing-domain.example.test";
    t.selector = "2026-ed25519";
    t.timestamp = 1700000000;
    for (int i = 0; i < 12; ++i) {
        t.signed_headers.emplace_back("content-transfer-encoding");
        t.signed_headers.emplace_back("list-unsubscribe-post");
    }
    const std::string without_b = signature_field_without_b(t);
    EXPECT_TRUE(without_b.ends_with("\r\n b=")) << without_b;
    const std::string field = complete_signature_field(without_b, std::string(344, 'Q'));
    ASSERT_TRUE(field.ends_with("\r\n"));
    std::istringstream lines(field);
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
        ASSERT_TRUE(line.ends_with("\r")) << line;
        line.pop_back();
        EXPECT_LE(line.size(), 76u) << line;
        EXPECT_TRUE(n == 0 ? line.starts_with("DKIM-Signature:") : line.starts_with(" ")) << line;
        ++n;
    }
    EXPECT_GT(n, 8);
    // Folding is only FWS: unfolded, the h= list and the b= value are intact.
    const std::string flat = relaxed_header(field);
    std::string h = "h=";
    for (std::size_t i = 0; i < t.signed_headers.size(); ++i)
        h += (i ? ":" : "") + t.signed_headers[i];
    std::string flat_no_sp;
    for (char c : flat)
        if (c != ' ') flat_no_sp += c;
    EXPECT_NE(flat_no_sp.find(h + ";"), std::string::npos) << flat;
    EXPECT_NE(flat_no_sp.find("b=" + std::string(344, 'Q') + "\r\n"), std::string::npos);
}

TEST(dkim_signer, streaming_sign_header_equals_whole_message_sign) {
    signer s({kat_key("kat-rsa"), kat_key("kat-ed25519")});
    const std::string msg =
        read_file(data_dir / "corpus" / "08_multipart_alternative_attachment.eml");
    const auto body_at = find_body_offset(msg);
    ASSERT_TRUE(body_at);
    body_hasher bh;
    for (std::size_t at = *body_at; at < msg.size(); at += 1000)
        bh.update(std::string_view(msg).substr(at, 1000));
    auto streamed = s.sign_header(split_message(msg).header, bh.finish(), 1700000001);
    auto whole = s.sign(msg, 1700000001);
    ASSERT_TRUE(streamed && whole);
    EXPECT_EQ(*streamed, *whole);
}

TEST(dkim_signer, message_without_from_is_an_error) {
    signer s({kat_key("kat-rsa")});
    auto r = s.sign("To: a@b\r\n\r\nx\r\n", 1);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("From"), std::string::npos);
    EXPECT_FALSE(signer({}).sign("From: a@b\r\n\r\n", 1));
}

TEST(dkim_key, layout_and_name_checks) {
    EXPECT_EQ(key_file("/etc/splitmail/dkim", "example.test", "2026-rsa"),
              fs::path("/etc/splitmail/dkim/example.test/2026-rsa.key"));
    for (std::string_view ok : {"example.test", "a.b-c.d", "x_y.example", "2026-ed25519"})
        EXPECT_TRUE(valid_domain(ok) && valid_selector(ok)) << ok;
    for (std::string_view bad :
         {"", "..", "../etc", "a/b", "a..b", ".a", "a.", "-a", "a-", "a b", "a;b", "a=b"})
        EXPECT_FALSE(valid_selector(bad)) << bad;
}

TEST(dkim_key, load_errors_name_the_file) {
    temp_dir d;
    auto missing = load_key(d.path / "nope.key", "example.test", "nope");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().find((d.path / "nope.key").string()), std::string::npos);
    EXPECT_NE(missing.error().find("no such file"), std::string::npos);

    write(d.path / "garbage.key", "not a key\n");
    auto garbage = load_key(d.path / "garbage.key", "example.test", "garbage");
    ASSERT_FALSE(garbage);
    EXPECT_NE(garbage.error().find("garbage.key: not a PEM private key"), std::string::npos)
        << garbage.error();

    EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    ASSERT_NE(ec, nullptr);
    write(d.path / "ec.key", pem_of(ec));
    EVP_PKEY_free(ec);
    auto wrong = load_key(d.path / "ec.key", "example.test", "ec");
    ASSERT_FALSE(wrong);
    EXPECT_NE(wrong.error().find("ec.key: unsupported key type EC"), std::string::npos)
        << wrong.error();

    EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{512});
    ASSERT_NE(small, nullptr);
    write(d.path / "small.key", pem_of(small));
    EVP_PKEY_free(small);
    auto shorty = load_key(d.path / "small.key", "example.test", "small");
    ASSERT_FALSE(shorty);
    EXPECT_NE(shorty.error().find("small.key: RSA key of 512 bits is too short"), std::string::npos)
        << shorty.error();

    auto bad_sel =
        load_key(data_dir / "keys" / "example.test" / "kat-rsa.key", "example.test", "../x");
    EXPECT_FALSE(bad_sel);
}

TEST(dkim_key, load_domain_keys_reads_every_selector_in_order) {
    auto keys = load_domain_keys(data_dir / "keys", "example.test");
    ASSERT_TRUE(keys) << keys.error();
    ASSERT_EQ(keys->size(), 2u);
    EXPECT_EQ((*keys)[0].selector, "kat-ed25519");
    EXPECT_EQ((*keys)[0].alg, algorithm::ed25519_sha256);
    EXPECT_EQ((*keys)[1].selector, "kat-rsa");
    EXPECT_EQ((*keys)[1].alg, algorithm::rsa_sha256);
    EXPECT_EQ((*keys)[1].file, data_dir / "keys" / "example.test" / "kat-rsa.key");
    auto none = load_domain_keys(data_dir / "keys", "absent.example");
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().find("absent.example"), std::string::npos);
}
