#pragma once
// Test helpers for DKIM verification: a signature made with any tags we like (the signer only
// makes relaxed/relaxed without l=/x=/i=), keys and their DNS records, and a verifier run.
#include "dkim/signer.hpp"
#include "dkim/verifier.hpp"

#include "splitmail/dkim/record.hpp"

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

namespace splitmail::relay::dkim::test {

inline signing_key kat_key(const std::string& selector) {
    const auto dir = std::filesystem::path(SPLITMAIL_TEST_DATA) / "dkim" / "keys" / "example.test";
    auto k = load_key(dir / (selector + ".key"), "example.test", selector);
    EXPECT_TRUE(k) << (k ? "" : k.error());
    return *k;
}

// An RSA key of any size (load_key refuses < 1024 bits; we need them to test RFC 8301).
inline signing_key rsa_key_of(int bits, const std::string& selector) {
    EVP_PKEY* p = EVP_RSA_gen(static_cast<unsigned>(bits));
    EXPECT_NE(p, nullptr);
    signing_key k;
    k.domain = "example.test";
    k.selector = selector;
    k.alg = algorithm::rsa_sha256;
    k.pkey = std::shared_ptr<EVP_PKEY>(p, &EVP_PKEY_free);
    return k;
}

inline std::string record_of(const signing_key& k, const std::string& extra = "") {
    auto v = splitmail::dkim::txt_value(k.pkey.get());
    EXPECT_TRUE(v);
    return *v + extra;
}

inline const std::string sample = "From: Alice <alice@example.test>\r\n"
                                  "To: bob@example.org\r\n"
                                  "Subject:  Hello   world \r\n"
                                  "Date: Sun, 06 Dec 2026 01:00:00 +0000\r\n"
                                  "\r\n"
                                  "Hi Bob,  \r\n"
                                  "\tthis is  a test.\r\n"
                                  "\r\n"
                                  "\r\n";

struct sig_spec {
    std::string a = "rsa-sha256";
    std::string c = "relaxed/relaxed";
    std::string h = "from:to:subject:date";
    std::string extra;              // more tags, "; l=10; x=..."
    std::optional<std::uint64_t> l; // hash only this much body (and write l=)
    canon hc = canon::relaxed, bc = canon::relaxed;
};

// A DKIM-Signature field (with CRLF) for `message` signed by `key` with `spec`'s tags.
inline std::string make_signature(const signing_key& key, const std::string& message,
                                  const sig_spec& spec) {
    const message_view m = split_message(message);
    body_hasher bh(spec.bc, spec.l);
    bh.update(m.body);
    const auto d = bh.finish();
    std::string field =
        "DKIM-Signature: v=1; a=" + spec.a + "; c=" + spec.c + "; d=" + key.domain +
        "; s=" + key.selector + "; h=" + spec.h + (spec.l ? "; l=" + std::to_string(*spec.l) : "") +
        spec.extra +
        ";\r\n\tbh=" + base64(std::string_view(reinterpret_cast<const char*>(d.data()), d.size())) +
        ";\r\n\tb=";
    const auto fields = parse_header(m.header);
    std::vector<std::string> h;
    for (std::size_t at = 0; at <= spec.h.size();) {
        auto colon = spec.h.find(':', at);
        if (colon == std::string::npos) colon = spec.h.size();
        h.push_back(spec.h.substr(at, colon - at));
        at = colon + 1;
    }
    auto sig = sign_data(key, header_hash_input(fields, h, field, spec.hc));
    EXPECT_TRUE(sig);
    return field + base64(*sig) + "\r\n";
}

struct run_result {
    std::vector<signature_result> results;
    std::size_t skipped = 0;
    std::vector<std::string> queried;
};

// Verifies `message` (header block + body fed in chunks of `chunk` octets) with key records
// from `zone` (name -> TXT; absent names are NXDOMAIN).
inline run_result verify(const std::string& message, const std::map<std::string, std::string>& zone,
                         std::int64_t now = 0, std::size_t chunk = 7,
                         std::size_t max_signatures = 5) {
    const auto at = find_body_offset(message);
    const std::string_view header_block =
        at ? std::string_view(message).substr(0, *at) : std::string_view(message);
    const std::string_view body = at ? std::string_view(message).substr(*at) : std::string_view();
    verify_options opt;
    opt.now = now;
    opt.max_signatures = max_signatures;
    message_verifier v(header_block, opt);
    for (std::size_t i = 0; i < body.size(); i += chunk) v.body(body.substr(i, chunk));
    v.finish_body();
    run_result out;
    for (const auto& q : v.key_queries()) {
        out.queried.push_back(q.name);
        key_answer a;
        auto it = zone.find(q.name);
        if (it == zone.end()) {
            a.st = key_answer::status::nxdomain;
        } else if (it->second == "SERVFAIL") {
            a.st = key_answer::status::temp_error;
        } else {
            a.st = key_answer::status::ok;
            a.txt.push_back(it->second);
        }
        v.key(q.index, a);
    }
    v.give_up("timed out");
    out.results = v.results();
    out.skipped = v.skipped();
    return out;
}

} // namespace splitmail::relay::dkim::test
