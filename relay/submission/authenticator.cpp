// Submission credential checks via home's XAUTH, with a salted-hash cache; see authenticator.hpp.
#include "submission/authenticator.hpp"

#include "lmtp_out/client.hpp"

#include "splitmail/log/log.hpp"
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

std::string canonical_user(std::string_view user) {
    while (!user.empty() && user.front() == ' ') user.remove_prefix(1);
    while (!user.empty() && user.back() == ' ') user.remove_suffix(1);
    std::string out(user);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::vector<std::string> addresses_from_reply(const std::vector<std::string>& lines) {
    std::vector<std::string> out;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        auto a = canonical_user(lines[i]);
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

std::optional<std::vector<std::string>> credential_cache::check(std::string_view user,
                                                                std::string_view password,
                                                                sys_time now) const {
    auto it = entries_.find(user);
    if (it == entries_.end()) return std::nullopt;
    const auto& e = it->second;
    if (now < e.verified || now - e.verified > ttl_) return std::nullopt;
    if (!users::constant_time_equal(sha256(e.salt, password), e.digest)) return std::nullopt;
    return e.addresses;
}

bool auth_throttle::is_locked(table& t, std::string_view key, sys_time now) {
    auto it = t.find(key);
    if (it == t.end()) return false;
    if (it->second.locked_until > now) return true;
    if (it->second.locked_until != sys_time{} || now - it->second.first > p_.window)
        t.erase(it); // lockout over, or old failures: start afresh
    return false;
}

void auth_throttle::add_failure(table& t, std::string_view key, sys_time now) {
    auto& st = t[std::string(key)];
    if (st.failures == 0 || now - st.first > p_.window) {
        st.failures = 0;
        st.first = now;
    }
    if (++st.failures >= p_.max_failures) st.locked_until = now + p_.lockout;
    // Bound memory under a spray from many addresses or names.
    if (t.size() > 100000) t.clear();
}

bool auth_throttle::locked(std::string_view ip, sys_time now) { return is_locked(ips_, ip, now); }

void auth_throttle::failure(std::string_view ip, sys_time now) { add_failure(ips_, ip, now); }

void auth_throttle::success(std::string_view ip) {
    auto it = ips_.find(ip);
    if (it != ips_.end() && it->second.locked_until == sys_time{}) ips_.erase(it);
}

namespace {
std::string user_key(std::string_view user) {
    std::string k(user.substr(0, 320));
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return k;
}
} // namespace

bool auth_throttle::locked(std::string_view ip, std::string_view user, sys_time now) {
    if (is_locked(ips_, ip, now)) return true;
    auto key = user_key(user);
    if (!is_locked(users_, key, now)) return false;
    auto k = known_.find(key);
    return k == known_.end() || std::find(k->second.begin(), k->second.end(), ip) == k->second.end();
}

void auth_throttle::failure(std::string_view ip, std::string_view user, sys_time now) {
    add_failure(ips_, ip, now);
    add_failure(users_, user_key(user), now);
}

void auth_throttle::success(std::string_view ip, std::string_view user) {
    success(ip);
    auto key = user_key(user);
    auto& ips = known_[key];
    if (std::find(ips.begin(), ips.end(), ip) == ips.end()) {
        ips.emplace_back(ip);
        if (ips.size() > 16) ips.erase(ips.begin()); // the most recent addresses only
    }
    // A success does not clear the user's failure count: guesses from elsewhere still count.
    if (known_.size() > 100000) known_.clear();
}

home_authenticator::home_authenticator(const settings& s, const net::tls_context& home_tls,
                                       std::chrono::seconds cache_ttl)
    : s_(s), home_tls_(home_tls), cache_(cache_ttl) {}

net::asio::awaitable<auth_outcome> home_authenticator::check(std::string user,
                                                             std::string password,
                                                             std::string conn_id) {
    auth_outcome out;
    std::string login = canonical_user(user);
    lmtp_options o;
    o.address = s_.home_lmtp;
    o.mtls = s_.home_transport == "mtls";
    o.tls = home_tls_;
    o.pin_sha256 = s_.home_pin_sha256;
    o.lhlo_name = s_.hostname;
    o.timeout = std::chrono::seconds(20);
    std::optional<smtp::reply> answer;
    std::string why;
    try {
        auto c = co_await lmtp_client::open(o);
        std::string cred = login;
        cred += '\0';
        cred += password;
        auto r = co_await c->command("XAUTH " + encode_base64(cred));
        std::fill(cred.begin(), cred.end(), '\0');
        co_await c->quit();
        answer = std::move(r);
    } catch (const std::exception& e) {
        why = e.what();
    }
    auto now = std::chrono::system_clock::now();
    if (answer && answer->code == 235) {
        out.st = auth_outcome::status::ok;
        out.user = login;
        out.addresses = addresses_from_reply(answer->lines);
        if (std::find(out.addresses.begin(), out.addresses.end(), login) == out.addresses.end())
            out.addresses.push_back(login);
        cache_.remember(login, password, out.addresses, now);
        co_return out;
    }
    if (answer && answer->code == 535) {
        cache_.forget(login); // home's word is final: a changed password ends the cache entry
        out.st = auth_outcome::status::bad;
        co_return out;
    }
    if (answer) why = std::to_string(answer->code) + " " + answer->text();
    if (auto cached = cache_.check(login, password, now)) {
        log::warn("submission", conn_id, "home cannot check credentials; accepted from cache",
                  {{"user", login}, {"error", why}});
        out.st = auth_outcome::status::ok;
        out.user = login;
        out.addresses = std::move(*cached);
        co_return out;
    }
    log::warn("submission", conn_id, "home cannot check credentials",
              {{"user", login}, {"error", why}});
    out.st = auth_outcome::status::temporary;
    co_return out;
}

} // namespace splitmail::relay
