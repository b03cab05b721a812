#pragma once
// TLS certificate facts for `splitmail check`: expiry, host name, key pair, and the DANE
// association data a TLSA record must carry for it (RFC 6698 2.1, RFC 7672 3.1).
//
// Guarantees: inspect_cert() takes PEM text and a clock value (no file or wall-clock access),
// so expiry is tested with any "now"; the first certificate of the PEM is the server's, the
// rest is its chain. tlsa_matches() computes the association data for the record's selector
// (0 full certificate, 1 SubjectPublicKeyInfo) and matching type (0 exact, 1 SHA-256,
// 2 SHA-512) and compares it; usages 1 and 3 (end entity) are checked, 0 and 2 (trust anchor)
// are reported as not checkable.
// Does not: verify the chain against a CA store (the TLS check does that separately).
#include <cstdint>
#include <ctime>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision::check {

struct cert_facts {
    std::string subject; // one line, e.g. "CN=mx.example.com"
    std::time_t not_before = 0;
    std::time_t not_after = 0;
    long long seconds_left = 0; // not_after - now (negative: expired)
    bool not_yet_valid = false;
    bool host_matches = false; // X509_check_host (SAN dNSName, else CN; RFC 6125)
    bool key_matches = false;  // the private key belongs to the certificate
    std::string key_error;     // why the key could not be read ("" when it could)
    bool self_signed = false;  // issuer == subject and signed by its own key
    std::vector<std::uint8_t> cert_der;
    std::vector<std::uint8_t> spki_der;
    std::vector<std::vector<std::uint8_t>> chain_der; // further certificates of the PEM
};

// hostname "" skips the host name test (host_matches stays false). key_pem "" skips the key.
std::expected<cert_facts, std::string> inspect_cert(std::string_view cert_pem,
                                                    std::string_view key_pem,
                                                    std::string_view hostname, std::time_t now);

// "3 1 1 <hex>" for the certificate (the record `splitmail dns plan` publishes).
std::string tlsa_record_for(const cert_facts& c);

// The facts a TLSA record can be checked against for a key that has no certificate yet (the
// next key of a rollover): only spki_der is set, so "3 1 1"/"3 1 2" records match it and
// full-certificate selectors do not. Error when `key_pem` holds no private key.
std::expected<cert_facts, std::string> key_facts(std::string_view key_pem);

enum class tlsa_result { match, no_match, not_checkable, malformed };

tlsa_result tlsa_matches(std::string_view tlsa_text, const cert_facts& c);

// Verifies the chain of `c` against the system CA store; "" when it verifies, else the
// reason (OpenSSL's verify error string).
std::string verify_chain(const cert_facts& c, std::string_view hostname, std::time_t now);

} // namespace splitmail::provision::check
