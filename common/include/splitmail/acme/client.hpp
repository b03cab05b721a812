#pragma once
// ACME client (RFC 8555): account, order, challenges, finalize, certificate download.
//
// One `obtain()` call runs a whole issuance: new order for the names -> for every pending
// authorization pick the challenge type the solver handles, hand all of them to the solver at
// once (so a DNS solver writes every TXT record in one request), tell the CA to validate,
// poll the authorizations, clean up through the solver (also on failure), finalize with a CSR
// of the certificate key, poll the order, download the PEM chain.
//
// Guarantees: every POST is a JWS signed with the account key (ES256) carrying a fresh nonce
// (RFC 8555 6.5); a badNonce answer is retried with the nonce it carried
// (6.5), at most 6 times; polls wait for the CA's Retry-After (clamped to [poll_interval, max_poll_wait]) and
// give up after poll_timeout; rateLimited and other problem documents come back as errors that
// name the request and the problem (with retry_after when the CA said when). The account key is
// kept in a file of mode 0600 written durably (load_or_create_key); the account is found again
// from the key on later runs (newAccount answers 200 for an existing one, 7.3.1).
// Does not: schedule renewals (renewal.hpp decides), write the certificate files, or sleep
// through a rate limit (the caller gets the error and reschedules). Blocking: run it on a
// thread of its own, never on an event loop. Not thread-safe.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "splitmail/acme/crypto.hpp"
#include "splitmail/acme/parse.hpp"
#include "splitmail/acme/types.hpp"
#include "splitmail/desec/transport.hpp"

namespace splitmail::acme {

// One challenge to answer: what the solver must make visible to the CA.
struct challenge_task {
    std::string domain; // the identifier without "*." (dns-01 for a wildcard goes here too)
    bool wildcard = false;
    std::string type;              // "http-01" or "dns-01"
    std::string token;             // http-01: serve at http01_path(token)
    std::string key_authorization; // http-01: the body to serve
    std::string txt_value;         // dns-01: TXT at _acme-challenge.<domain>
};

// Provided by the caller: makes challenge responses visible (http-01 listener, deSEC TXT, ...).
class challenge_solver {
public:
    virtual ~challenge_solver() = default;
    // "http-01" or "dns-01": the type this solver answers.
    virtual std::string type() const = 0;
    // Make all responses visible; return only when the CA can see them (a DNS solver waits
    // for the authoritative servers). An error stops the issuance with error_kind::solver.
    virtual result<> present(std::span<const challenge_task> tasks) = 0;
    // Remove what present() made visible; called once after validation, success or not.
    virtual void cleanup(std::span<const challenge_task> tasks) = 0;
};

struct client_options {
    std::string directory_url;
    std::filesystem::path ca_file;    // empty: the system trust store (a test CA replaces it)
    std::vector<std::string> contact; // "mailto:admin@example.org"
    bool agree_to_terms = true;       // RFC 8555 7.3 termsOfServiceAgreed
    std::chrono::milliseconds http_timeout{30000};
    std::chrono::seconds poll_interval{1};
    std::chrono::seconds max_poll_wait{60}; // upper bound for one Retry-After during polls
    std::chrono::seconds poll_timeout{300}; // per authorization / order
    // Sleeps between polls; tests replace it. Default: std::this_thread::sleep_for.
    std::function<void(std::chrono::seconds)> sleep;
    // Progress lines ("order created", "authorization valid", ...); may be empty.
    std::function<void(std::string_view)> log;
};

struct issued_certificate {
    std::string chain_pem; // leaf first, then the intermediates, as the CA sent them
    std::string order_url;
};

class client {
public:
    client(client_options options, ec_key account_key); // libcurl transport
    client(client_options options, ec_key account_key, std::shared_ptr<desec::transport> transport);

    // Fetches the directory (once; later calls reuse it).
    result<directory> load_directory();
    // Finds or creates the account of the key (RFC 8555 7.3); the account URL.
    result<std::string> ensure_account();
    // True when ensure_account() created the account rather than finding it.
    bool account_created() const noexcept { return created_; }

    // A whole issuance for `names` (see the top of this file). `replaces`: the ARI identifier
    // (ari_cert_id) of the certificate this one renews, sent in newOrder when the CA offers
    // renewal information (RFC 9773 5).
    result<issued_certificate> obtain(std::span<const std::string> names, const cert_key& key,
                                      challenge_solver& solver, std::string_view replaces = {});

    // RFC 9773 4: the CA's suggested renewal window for the certificate `cert_id`
    // (ari_cert_id). nullopt when the CA offers no renewal information (its directory has no
    // renewalInfo); an error when it does but the answer is unusable.
    result<std::optional<renewal_info>> renewal_information(std::string_view cert_id);

    std::size_t requests_made() const noexcept { return requests_; }
    std::size_t bad_nonce_retries() const noexcept { return bad_nonce_retries_; }

private:
    struct answer {
        int status = 0;
        std::string body;
        std::string location;
        std::optional<std::chrono::seconds> retry_after;
    };
    result<answer> get(const std::string& url);
    result<answer> post(std::string_view what, const std::string& url, std::string_view payload,
                        std::string_view accept = {});
    result<std::string> fresh_nonce();
    void note(std::string_view line) const;
    void wait(std::optional<std::chrono::seconds> retry_after) const;
    result<authorization> poll_authorization(const std::string& url);
    result<order> poll_order(const std::string& url, status until);

    client_options options_;
    ec_key key_;
    std::shared_ptr<desec::transport> transport_;
    std::optional<directory> directory_;
    std::string nonce_;
    std::string account_url_;
    bool created_ = false;
    std::size_t requests_ = 0;
    std::size_t bad_nonce_retries_ = 0;
};

// The key at `path`, or a new P-256 key written there (mode 0600, durably) when the file does
// not exist. `created` tells which. A file that is not a P-256 private key is an error (never
// overwritten).
result<ec_key> load_or_create_key(const std::filesystem::path& path, bool* created = nullptr);

} // namespace splitmail::acme
