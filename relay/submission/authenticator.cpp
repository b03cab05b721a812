// Submission credential checks via home's XAUTH, with a salted-hash cache; see authenticator.hpp.
#include "submission/authenticator.hpp"

#include "lmtp_out/client.hpp"

#include "splitmail/address/address.hpp"
#include "splitmail/log/log.hpp"
#include "splitmail/smtp/base64.hpp"
#include "splitmail/users/database.hpp"
#include "splitmail/users/password.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>

namespace splitmail::relay {

namespace {

std::string sha256(std::string_view salt, std::string_view password) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
              EVP_DigestUpdate(ctx, salt.data(), salt.size()) == 1 &&
              EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
              EVP_DigestFinal_ex(ctx, md, &len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) throw std::runtime_error("SHA-256 failed");
    return std::string(reinterpret_cast<char*>(md), len);
}

} // namespace

std::vector<std::string> addresses_from_reply(const std::vector<std::string>& lines) {
    std::vector<std::string> out;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        auto a = address::lower_ascii(lines[i]);
        while (!a.empty() && a.back() == ' ') a.pop_back();
        while (!a.empty() && a.front() == ' ') a.erase(a.begin());
        if (!a.empty() && a.find('@') != std::string::npos && a.find(' ') == std::string::npos)
            out.push_back(std::move(a));
    }
    return out;
}

void credential_cache::remember(std::string_view user, std::string_view password,
                                std::vector<std::string> addresses, sys_time now) {
    entry e;
    e.salt.resize(16);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(e.salt.data()), 16) != 1)
        throw std::runtime_error("RAND_bytes failed");
    e.digest = sha256(e.salt, password);
    e.addresses = std::move(addresses);
    e.verified = now;
    entries_.insert_or_assign(std::string(user), std::move(e));
}

void credential_cache::forget(std::string_view user) {
    auto it = entries_.find(user);
    if (it != entries_.end()) entries_.erase(it);
}

std::optional<std::vector<std::string>>
credential_cache::check(std::string_view user, std::string_view password, sys_time now) const {
    auto it = entries_.find(user);
    if (it == entries_.end()) return std::nullopt;
    const auto& e = it->second;
    if (now < e.verified || now - e.verified > ttl_) return std::nullopt;
    if (!users::constant_time_equal(sha256(e.salt, password), e.digest)) return std::nullopt;
    return e.addresses;
}

home_authenticator::home_authenticator(const settings& s, const net::tls_context& home_tls,
                                       std::chrono::seconds cache_ttl)
    : s_(s), home_tls_(home_tls), cache_(cache_ttl) {}

net::asio::awaitable<home_authenticator::checked>
home_authenticator::check(std::string user, std::string password, std::string client_ip,
                          std::string conn_id, auth::brake* brake) {
    checked out;
    // One normalisation, at the edge: the brake, the cache and home all see this key.
    const std::string login = users::normalize_login(user).key;
    auto fail_log = [&](std::string_view reason) {
        log::warn("auth", conn_id, "login failed",
                  {{"service", "submission"},
                   {"client", client_ip},
                   {"user", login},
                   {"reason", reason}});
    };
    auth::brake::attempt attempt;
    if (brake) {
        attempt = brake->begin(login, client_ip, auth::clock::now());
        if (!attempt.admitted) {
            log::warn("auth", conn_id, "login refused",
                      {{"service", "submission"},
                       {"client", client_ip},
                       {"user", login},
                       {"reason", auth::brake::reason(attempt.why)}});
            std::fill(password.begin(), password.end(), '\0');
            out.outcome.st = auth_outcome::status::temporary;
            out.delay = attempt.delay;
            co_return out;
        }
    }
    auto finish = [&](auth::brake::outcome o) {
        if (brake) out.delay = brake->end(attempt, o, auth::clock::now());
    };
    lmtp_options o;
    o.address = s_.home_lmtp;
    o.mtls = s_.home_transport == "mtls";
    o.tls = home_tls_;
    o.pin_sha256 = s_.home_pin_sha256;
    o.lhlo_name = s_.hostname;
    o.secret = s_.home_lmtp_secret;
    o.timeout = std::chrono::seconds(20);
    std::optional<smtp::reply> answer;
    std::string why;
    const auto asked = std::chrono::steady_clock::now();
    try {
        auto c = co_await lmtp_client::open(o);
        std::string cred = login;
        cred += '\0';
        cred += password;
        // contracts.md: CLIENT= lets home's brake count this failure with IMAP's.
        std::string line = "XAUTH " + smtp::encode_base64(cred);
        if (!client_ip.empty() && client_ip.size() <= 64) line += " CLIENT=" + client_ip;
        auto r = co_await c->command(line);
        std::fill(cred.begin(), cred.end(), '\0');
        co_await c->quit();
        answer = std::move(r);
    } catch (const std::exception& e) {
        why = e.what();
    }
    // Home's brake already waited before its 535 or 454: wait only what our delay has left, so
    // a client sees the longer of the two delays, not their sum.
    auto deduct_home_wait = [&] {
        auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - asked);
        out.delay = out.delay > spent ? out.delay - spent : std::chrono::milliseconds(0);
    };
    auto now = std::chrono::system_clock::now();
    if (answer && answer->code == 235) {
        out.outcome.st = auth_outcome::status::ok;
        out.outcome.user = login;
        out.outcome.addresses = addresses_from_reply(answer->lines);
        if (std::find(out.outcome.addresses.begin(), out.outcome.addresses.end(), login) ==
            out.outcome.addresses.end())
            out.outcome.addresses.push_back(login);
        cache_.remember(login, password, out.outcome.addresses, now);
        std::fill(password.begin(), password.end(), '\0');
        finish(auth::brake::outcome::success);
        co_return out;
    }
    if (answer && answer->code == 535) {
        cache_.forget(login); // home's word is final: a changed password ends the cache entry
        std::fill(password.begin(), password.end(), '\0');
        out.outcome.st = auth_outcome::status::bad;
        finish(auth::brake::outcome::failure);
        deduct_home_wait();
        fail_log("password");
        co_return out;
    }
    if (answer && answer->code == 454 && answer->text().rfind("Locked", 0) == 0) {
        // Home's brake refused (IMAP or other relays' failures): not a reason to trust the
        // cache. Counted here too, so the relay stops asking.
        std::fill(password.begin(), password.end(), '\0');
        out.outcome.st = auth_outcome::status::temporary;
        finish(auth::brake::outcome::failure);
        deduct_home_wait();
        fail_log("locked at home");
        co_return out;
    }
    if (answer) why = std::to_string(answer->code) + " " + answer->text();
    auto cached = cache_.check(login, password, now);
    std::fill(password.begin(), password.end(), '\0');
    if (cached) {
        log::warn("submission", conn_id, "home cannot check credentials; accepted from cache",
                  {{"user", login}, {"error", why}});
        log::info(
            "auth", conn_id, "login",
            {{"service", "submission"}, {"client", client_ip}, {"user", login}, {"via", "cache"}});
        out.outcome.st = auth_outcome::status::ok;
        out.outcome.user = login;
        out.outcome.addresses = std::move(*cached);
        finish(auth::brake::outcome::success);
        co_return out;
    }
    // Home cannot answer and the cache does not confirm the credential: braked like a wrong
    // password (issue 11 item 2: otherwise the cache is a fast password oracle), answered
    // 454 because home may know a newer password.
    log::warn("submission", conn_id, "home cannot check credentials",
              {{"user", login}, {"error", why}});
    out.outcome.st = auth_outcome::status::temporary;
    finish(auth::brake::outcome::failure);
    fail_log("home unreachable, not confirmed by cache");
    co_return out;
}

} // namespace splitmail::relay
