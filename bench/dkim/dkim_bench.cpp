// bench/dkim: signatures per second of relay/dkim on one core, per algorithm, plus the body
// hash rate (relaxed canonicalization + SHA-256). Not a test; see run.
#include "dkim/signer.hpp"

#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace splitmail::relay::dkim;
using clock_type = std::chrono::steady_clock;

namespace {
signing_key make_key(const char* type, algorithm alg, const char* selector) {
    EVP_PKEY* k = std::string_view(type) == "RSA"
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (k == nullptr) std::abort();
    return {"example.test", selector, alg, std::shared_ptr<EVP_PKEY>(k, &EVP_PKEY_free), {}};
}

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

void bench_sign(const char* what, const signer& s, const std::string& msg, double budget) {
    int n = 0;
    const auto t0 = clock_type::now();
    while (seconds_since(t0) < budget) {
        for (int i = 0; i < 50; ++i)
            if (!s.sign(msg, 1700000000 + n++)) std::abort();
    }
    std::printf("%-28s %10.0f messages/s\n", what, n / seconds_since(t0));
}
} // namespace

int main(int argc, char** argv) {
    const double budget = argc > 1 ? std::atof(argv[1]) : 3.0;
    std::string msg = "From: Alice <alice@example.test>\r\nTo: bob@example.org\r\n"
                      "Subject: benchmark\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
                      "Message-ID: <bench@example.test>\r\nMIME-Version: 1.0\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\n\r\n";
    for (int i = 0; i < 60; ++i)
        msg += "A line of body text, about seventy octets long, for hashing.\r\n";

    const signing_key rsa = make_key("RSA", algorithm::rsa_sha256, "rsa");
    const signing_key ed = make_key("ED25519", algorithm::ed25519_sha256, "ed");
    std::printf("message of %zu octets\n", msg.size());
    bench_sign("rsa-sha256 (2048)", signer({rsa}), msg, budget);
    bench_sign("ed25519-sha256", signer({ed}), msg, budget);
    bench_sign("both (as the relay signs)", signer({rsa, ed}), msg, budget);

    std::string big;
    while (big.size() < 25u * 1024 * 1024) big += "Body  text with\t some   runs of spaces   \r\n";
    const auto t0 = clock_type::now();
    body_hasher h;
    for (std::size_t at = 0; at < big.size(); at += 64 * 1024)
        h.update(std::string_view(big).substr(at, 64 * 1024));
    h.finish();
    std::printf("%-28s %10.0f MB/s (25 MB body, 64 KiB chunks)\n", "body hash",
                big.size() / 1e6 / seconds_since(t0));
}
