// Verified-credential cache; see verified_cache.hpp.
#include "users/verified_cache.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace splitmail::home {

verified_cache::verified_cache(verified_cache_options opt) : opt_(opt) {
    if (RAND_bytes(secret_.data(), static_cast<int>(secret_.size())) != 1)
        throw std::runtime_error("RAND_bytes failed");
}

verified_cache::tag_t verified_cache::tag(std::string_view key, std::string_view password,
                                          std::string_view hash) const {
    // Length-prefixed parts, so ("ab", "c") and ("a", "bc") never share a tag. The buffer
    // holds the password: wiped before it is freed.
    std::string buf;
    buf.reserve(24 + key.size() + password.size() + hash.size());
    for (std::string_view part : {key, password, hash}) {
        std::uint64_t n = part.size();
        buf.append(reinterpret_cast<const char*>(&n), sizeof n);
        buf.append(part);
    }
    tag_t out{};
    unsigned int len = 0;
    unsigned char* ok =
        HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
             reinterpret_cast<const unsigned char*>(buf.data()), buf.size(), out.data(), &len);
    OPENSSL_cleanse(buf.data(), buf.size());
    if (!ok || len != out.size()) throw std::runtime_error("HMAC-SHA256 failed");
    return out;
}

void verified_cache::follow(const users::database* db) {
    if (db != db_) {
        entries_.clear();
        db_ = db;
    }
}

bool verified_cache::check(std::string_view key, std::string_view password,
                           const users::database* db, std::string_view hash,
                           clock::time_point now) {
    if (!enabled() || !db) return false;
    auto t = tag(key, password, hash); // outside the lock: the HMAC is the costly part
    std::lock_guard lk(mu_);
    follow(db);
    auto it = entries_.find(std::string(key));
    if (it == entries_.end()) return false;
    if (now >= it->second.expires) {
        entries_.erase(it);
        return false;
    }
    return CRYPTO_memcmp(t.data(), it->second.tag.data(), t.size()) == 0;
}

void verified_cache::remember(std::string_view key, std::string_view password,
                              const users::database* db, std::string_view hash,
                              clock::time_point now) {
    if (!enabled() || !db) return;
    entry e{tag(key, password, hash), now + opt_.ttl};
    std::lock_guard lk(mu_);
    follow(db);
    auto it = entries_.find(std::string(key));
    if (it == entries_.end() && entries_.size() >= opt_.max_entries) {
        std::erase_if(entries_, [&](const auto& kv) { return now >= kv.second.expires; });
        if (entries_.size() >= opt_.max_entries) {
            auto first = std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
                return a.second.expires < b.second.expires;
            });
            entries_.erase(first);
        }
    }
    entries_.insert_or_assign(std::string(key), e);
}

void verified_cache::clear() {
    std::lock_guard lk(mu_);
    entries_.clear();
}

std::size_t verified_cache::size() const {
    std::lock_guard lk(mu_);
    return entries_.size();
}

} // namespace splitmail::home
