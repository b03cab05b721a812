#pragma once
// A relay file tree for the DNS plan tests: relay.toml naming a DKIM key directory and a
// self-signed certificate, DKIM keys made by `splitmail dkim keygen`, and a site struct.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>

#include "commands/dkim.hpp"
#include "site/site.hpp"

namespace splitmail::provision::testing {

namespace fs = std::filesystem;

inline std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct dns_fixture {
    fs::path dir;
    site s;
    std::string spki_sha256; // hex, computed from the key (not from the certificate)

    // What every relay.toml needs (the plan reads it through the relay's own table).
    static constexpr const char* required_relay_keys =
        "[relay]\nhostname = \"mx.example.com\"\ndomains = [\"example.com\"]\n"
        "[home]\nlmtp = \"10.8.0.2:2424\"\n";

    dns_fixture() {
        std::string t = (fs::temp_directory_path() / "dns-plan-XXXXXX").string();
        dir = ::mkdtemp(t.data());
        fs::create_directories(dir / "dkim");
        fs::create_directories(dir / "tls");
        std::ofstream(dir / "relay.toml")
            << required_relay_keys << "[dkim]\ndir = \"" << (dir / "dkim").string()
            << "\"\n[tls]\ncert = \"" << (dir / "tls/relay.crt").string() << "\"\nkey = \""
            << (dir / "tls/relay.key").string() << "\"\n";
        make_cert("mx.example.com");
        keygen("example.com");
        s.domains = {"example.com"};
        s.hostname = "mx.example.com";
        s.public_ipv4 = "192.0.2.10";
        s.public_ipv6 = "2001:DB8:0:0::10"; // not canonical on purpose
        s.relay_config = dir / "relay.toml";
        s.dmarc_rua = "mailto:postmaster@example.com";
        s.tlsrpt_rua = "mailto:postmaster@example.com";
        s.ttl = 3600;
    }
    ~dns_fixture() { fs::remove_all(dir); }

    void keygen(const std::string& domain, bool force = false) {
        std::vector<std::string> args{
            "keygen", "--domain", domain, "--selector", "sm1", "--dir", (dir / "dkim").string()};
        if (force) args.push_back("--force");
        std::ostringstream out, err;
        ASSERT_EQ(run_dkim(args, out, err), 0) << err.str();
    }

    void make_cert(const std::string& cn) {
        EVP_PKEY* k = EVP_EC_gen("P-256");
        ASSERT_NE(k, nullptr);
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, k);
        X509_NAME* n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        X509_set_issuer_name(x, n);
        ASSERT_GT(X509_sign(x, k, EVP_sha256()), 0);
        FILE* f = std::fopen((dir / "tls/relay.crt").c_str(), "w");
        PEM_write_X509(f, x);
        std::fclose(f);
        // The SPKI the TLSA record must hash: DER of the public key alone (RFC 6698 2.1.3).
        unsigned char* der = nullptr;
        const int len = i2d_PUBKEY(k, &der);
        unsigned char md[32];
        unsigned int mdlen = 0;
        EVP_Digest(der, static_cast<std::size_t>(len), md, &mdlen, EVP_sha256(), nullptr);
        OPENSSL_free(der);
        spki_sha256.clear();
        char buf[3];
        for (unsigned i = 0; i < mdlen; ++i) {
            std::snprintf(buf, sizeof buf, "%02x", md[i]);
            spki_sha256 += buf;
        }
        X509_free(x);
        EVP_PKEY_free(k);
    }
};

} // namespace splitmail::provision::testing
