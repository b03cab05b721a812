// The ACME driver against a scripted CA: badNonce retry with the nonce the error carried,
// rateLimited with Retry-After, a failed validation (problem reported, solver cleaned up,
// Retry-After honoured while polling), a challenge type the CA does not offer.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "splitmail/acme/client.hpp"
#include "unit/common/desec/scripted_transport.hpp"

namespace acme = splitmail::acme;
using splitmail::desec::testing::scripted_transport;
using namespace std::chrono_literals;

namespace {

const char* directory_json =
    R"({"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/acct",
    "newOrder":"https://ca.test/order","revokeCert":"https://ca.test/revoke","keyChange":"https://ca.test/kc"})";

// The JSON object a base64url JWS member (protected header or payload) carries.
nlohmann::json jws_member(const std::string& body, const char* member) {
    std::string p = nlohmann::json::parse(body)[member];
    for (char& c : p) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (p.size() % 4) p += '=';
    std::string out(p.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(p.data()),
                            static_cast<int>(p.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '\0') out.pop_back();
    return nlohmann::json::parse(out);
}

std::string protected_member(const std::string& body, const char* member) {
    auto h = jws_member(body, "protected");
    return h.contains(member) ? h[member].get<std::string>() : std::string();
}

struct recording_solver : acme::challenge_solver {
    std::string type() const override { return "http-01"; }
    acme::result<> present(std::span<const acme::challenge_task> t) override {
        presented.assign(t.begin(), t.end());
        return {};
    }
    void cleanup(std::span<const acme::challenge_task> t) override { cleaned += t.size(); }
    std::vector<acme::challenge_task> presented;
    std::size_t cleaned = 0;
};

struct fixture {
    std::shared_ptr<scripted_transport> ca = std::make_shared<scripted_transport>();
    std::vector<std::chrono::seconds> sleeps;
    acme::ec_key key = *acme::ec_key::generate();
    acme::client make() {
        acme::client_options o;
        o.directory_url = "https://ca.test/dir";
        o.sleep = [this](std::chrono::seconds s) { sleeps.push_back(s); };
        return acme::client(o, key, ca);
    }
    void directory_and_nonce() {
        ca->push(200, directory_json);
        ca->push(200, "", {{"replay-nonce", "n0"}});
    }
    void account(int status = 201) {
        ca->push(status, R"({"status":"valid"})",
                 {{"location", "https://ca.test/acct/1"}, {"replay-nonce", "n-acct"}});
    }
};

} // namespace

TEST(AcmeClient, BadNonceIsRetriedWithTheNonceItCarried) {
    fixture f;
    auto c = f.make();
    f.directory_and_nonce();
    f.ca->push(
        400,
        R"({"type":"urn:ietf:params:acme:error:badNonce","detail":"JWS has an invalid anti-replay nonce"})",
        {{"replay-nonce", "n1"}});
    f.account();
    auto url = c.ensure_account();
    ASSERT_TRUE(url) << url.error().text();
    EXPECT_EQ(*url, "https://ca.test/acct/1");
    EXPECT_TRUE(c.account_created());
    EXPECT_EQ(c.bad_nonce_retries(), 1u);
    ASSERT_EQ(f.ca->requests.size(), 4u);
    EXPECT_EQ(protected_member(f.ca->requests[2].body, "nonce"), "n0");
    EXPECT_EQ(protected_member(f.ca->requests[3].body, "nonce"), "n1");
    // newAccount carries the key itself, not a kid (RFC 8555 6.2).
    EXPECT_EQ(protected_member(f.ca->requests[3].body, "kid"), "");
    EXPECT_EQ(f.ca->requests[3].headers[0].second, "application/jose+json");
}

TEST(AcmeClient, EndlessBadNonceGivesUp) {
    fixture f;
    auto c = f.make();
    f.directory_and_nonce();
    f.ca->fallback = [](const splitmail::desec::http_request&) {
        splitmail::desec::http_response r;
        r.status = 400;
        r.body = R"({"type":"urn:ietf:params:acme:error:badNonce"})";
        r.headers["replay-nonce"] = "again";
        return r;
    };
    auto url = c.ensure_account();
    ASSERT_FALSE(url);
    EXPECT_EQ(url.error().kind, acme::error_kind::server);
    EXPECT_NE(url.error().message.find("badNonce"), std::string::npos);
    EXPECT_LE(f.ca->requests.size(), 10u);
}

TEST(AcmeClient, RateLimitedComesBackWithRetryAfter) {
    fixture f;
    auto c = f.make();
    f.directory_and_nonce();
    f.account(200);
    f.ca->push(
        429,
        R"({"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many new orders recently"})",
        {{"retry-after", "3600"}, {"replay-nonce", "n2"}});
    recording_solver s;
    auto k = acme::ec_key::generate();
    std::vector<std::string> names{"mx.example.org"};
    auto r = c.obtain(names, *k, s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, acme::error_kind::rate_limited);
    EXPECT_EQ(r.error().retry_after, 3600s);
    EXPECT_NE(r.error().message.find("too many new orders recently"), std::string::npos);
    EXPECT_FALSE(c.account_created()); // 200: the account existed
    // Later requests name the account by kid.
    EXPECT_EQ(protected_member(f.ca->requests.back().body, "kid"), "https://ca.test/acct/1");
    EXPECT_TRUE(f.sleeps.empty()) << "a rate limit is the caller's to wait out";
}

TEST(AcmeClient, FailedValidationReportsTheProblemAndCleansUp) {
    fixture f;
    auto c = f.make();
    f.directory_and_nonce();
    f.account();
    f.ca->push(201, R"({"status":"pending","identifiers":[{"type":"dns","value":"mx.example.org"}],
        "authorizations":["https://ca.test/authz/1"],"finalize":"https://ca.test/fin/1"})",
               {{"location", "https://ca.test/order/1"}, {"replay-nonce", "n3"}});
    f.ca->push(200, R"({"status":"pending","identifier":{"type":"dns","value":"mx.example.org"},
        "challenges":[{"type":"dns-01","url":"https://ca.test/ch/d","token":"tokD"},
                      {"type":"http-01","url":"https://ca.test/ch/h","token":"tokH"}]})",
               {{"replay-nonce", "n4"}});
    f.ca->push(
        200,
        R"({"type":"http-01","url":"https://ca.test/ch/h","token":"tokH","status":"processing"})",
        {{"replay-nonce", "n5"}});
    f.ca->push(
        200,
        R"({"status":"pending","identifier":{"type":"dns","value":"mx.example.org"},"challenges":[]})",
        {{"replay-nonce", "n6"}, {"retry-after", "3"}});
    f.ca->push(200, R"({"status":"invalid","identifier":{"type":"dns","value":"mx.example.org"},
        "challenges":[{"type":"http-01","url":"https://ca.test/ch/h","token":"tokH","status":"invalid",
          "error":{"type":"urn:ietf:params:acme:error:unauthorized","detail":"The key authorization file from the server did not match"}}]})",
               {{"replay-nonce", "n7"}});
    recording_solver s;
    auto k = acme::ec_key::generate();
    std::vector<std::string> names{"mx.example.org"};
    auto r = c.obtain(names, *k, s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, acme::error_kind::validation);
    EXPECT_NE(r.error().message.find("http-01 validation of mx.example.org failed"),
              std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("unauthorized: The key authorization file"),
              std::string::npos);
    ASSERT_EQ(s.presented.size(), 1u);
    EXPECT_EQ(s.presented[0].token, "tokH");
    EXPECT_EQ(s.presented[0].key_authorization, "tokH." + f.key.thumbprint());
    EXPECT_EQ(s.cleaned, 1u);
    EXPECT_EQ(f.sleeps, std::vector<std::chrono::seconds>{3s});
    // The challenge was answered with "{}" (RFC 8555 7.5.1) at its URL.
    EXPECT_EQ(f.ca->requests[5].url, "https://ca.test/ch/h");
    EXPECT_EQ(nlohmann::json::parse(f.ca->requests[5].body)["payload"], "e30"); // base64url("{}")
}

TEST(AcmeClient, MissingChallengeTypeIsNamed) {
    fixture f;
    auto c = f.make();
    f.directory_and_nonce();
    f.account();
    f.ca->push(
        201, R"({"status":"pending","authorizations":["https://ca.test/authz/1"],"finalize":"f"})",
        {{"location", "https://ca.test/order/1"}, {"replay-nonce", "n3"}});
    f.ca->push(
        200,
        R"({"status":"pending","identifier":{"type":"dns","value":"example.org"},"wildcard":true,
        "challenges":[{"type":"dns-01","url":"https://ca.test/ch/d","token":"tokD"}]})",
        {{"replay-nonce", "n4"}});
    recording_solver s;
    std::vector<std::string> names{"*.example.org"};
    auto r = c.obtain(names, *acme::ec_key::generate(), s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "the CA offers no http-01 challenge for example.org (wildcards "
                                 "need dns-01); offered: dns-01");
    EXPECT_EQ(s.cleaned, 0u);
}

TEST(AcmeClient, AccountKeyFileIsCreatedOnceWithMode0600) {
    auto dir = std::filesystem::temp_directory_path() / ("acme-key-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto path = dir / "account.key";
    bool created = false;
    auto k1 = acme::load_or_create_key(path, &created);
    ASSERT_TRUE(k1);
    EXPECT_TRUE(created);
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    auto k2 = acme::load_or_create_key(path, &created);
    ASSERT_TRUE(k2);
    EXPECT_FALSE(created);
    EXPECT_EQ(k1->thumbprint(), k2->thumbprint());
    std::filesystem::resize_file(path, 20); // damaged: an error, never overwritten
    auto k3 = acme::load_or_create_key(path, &created);
    ASSERT_FALSE(k3);
    EXPECT_NE(k3.error().message.find("remove or move the file"), std::string::npos);
    EXPECT_EQ(std::filesystem::file_size(path), 20u);
    std::filesystem::remove_all(dir);
}

namespace {
const char* directory_with_ari =
    R"({"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/acct",
    "newOrder":"https://ca.test/order","revokeCert":"https://ca.test/revoke","keyChange":"https://ca.test/kc",
    "renewalInfo":"https://ca.test/ari"})";

nlohmann::json payload_of(const std::string& body) { return jws_member(body, "payload"); }
} // namespace

// RFC 9773 4: GET renewalInfo/<certID>; no renewalInfo in the directory: nothing asked.
TEST(AcmeClient, RenewalInformationIsFetchedWhenTheCaOffersIt) {
    fixture f;
    auto c = f.make();
    f.ca->push(200, directory_with_ari);
    f.ca->push(
        200, R"({"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"}})",
        {{"retry-after", "21600"}});
    auto r = c.renewal_information("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    ASSERT_TRUE(r) << r.error().text();
    ASSERT_TRUE(*r);
    EXPECT_EQ((*r)->end - (*r)->start, std::chrono::hours(24));
    ASSERT_EQ(f.ca->requests.size(), 2u);
    EXPECT_EQ(f.ca->requests[1].url, "https://ca.test/ari/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");

    fixture g;
    auto d = g.make();
    g.ca->push(200, directory_json);
    auto none = d.renewal_information("x.y");
    ASSERT_TRUE(none) << none.error().text();
    EXPECT_FALSE(*none);
    EXPECT_EQ(g.ca->requests.size(), 1u);

    fixture h;
    auto e = h.make();
    h.ca->push(200, directory_with_ari);
    h.ca->push(200, R"({"suggestedWindow":{}})");
    auto bad = e.renewal_information("x.y");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("renewalInfo"), std::string::npos) << bad.error().message;
}

// RFC 9773 5: newOrder names the certificate it replaces; alreadyReplaced -> ordered again
// without it. A CA without renewalInfo never sees the member.
TEST(AcmeClient, NewOrderCarriesReplacesAndRetriesWithoutOnAlreadyReplaced) {
    fixture f;
    auto c = f.make();
    f.ca->push(200, directory_with_ari);
    f.ca->push(200, "", {{"replay-nonce", "n0"}});
    f.account(200);
    f.ca->push(
        409, R"({"type":"urn:ietf:params:acme:error:alreadyReplaced","detail":"already replaced"})",
        {{"replay-nonce", "n2"}});
    f.ca->push(429, R"({"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down"})",
               {{"replay-nonce", "n3"}});
    recording_solver s;
    auto k = acme::ec_key::generate();
    std::vector<std::string> names{"mx.example.org"};
    auto r = c.obtain(names, *k, s, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, acme::error_kind::rate_limited);
    ASSERT_EQ(f.ca->requests.size(), 5u);
    EXPECT_EQ(payload_of(f.ca->requests[3].body)["replaces"],
              "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    EXPECT_FALSE(payload_of(f.ca->requests[4].body).contains("replaces"));

    fixture g;
    auto d = g.make();
    g.directory_and_nonce();
    g.account(200);
    g.ca->push(429, R"({"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down"})",
               {{"replay-nonce", "n3"}});
    auto r2 = d.obtain(names, *k, s, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    ASSERT_FALSE(r2);
    ASSERT_EQ(g.ca->requests.size(), 4u);
    EXPECT_FALSE(payload_of(g.ca->requests[3].body).contains("replaces"));
}
