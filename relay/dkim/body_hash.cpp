// Streaming DKIM body hash; see body_hash.hpp.
#include "dkim/body_hash.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace splitmail::relay::dkim {

struct body_hasher::impl {
    EVP_MD_CTX* ctx = nullptr;
    bool done = false;
    ~impl() { EVP_MD_CTX_free(ctx); }
    void add(std::string_view s) {
        if (EVP_DigestUpdate(ctx, s.data(), s.size()) != 1)
            throw std::runtime_error("dkim: SHA-256 update failed");
    }
};

body_hasher::body_hasher(canon mode, std::optional<std::uint64_t> limit)
    : impl_(std::make_unique<impl>()), left_(limit), canon_(mode) {
    impl_->ctx = EVP_MD_CTX_new();
    if (impl_->ctx == nullptr || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("dkim: cannot initialise SHA-256");
}

body_hasher::~body_hasher() = default;

void body_hasher::update(std::string_view chunk) {
    if (impl_->done) throw std::logic_error("dkim: body_hasher used after finish()");
    canon_.update(chunk, [this](std::string_view s) { add_limited(s); });
}

void body_hasher::add_limited(std::string_view s) {
    if (left_) {
        // RFC 6376 3.5 l=: only this many canonical octets are covered.
        if (s.size() > *left_) s = s.substr(0, static_cast<std::size_t>(*left_));
        *left_ -= s.size();
    }
    if (!s.empty()) impl_->add(s);
}

sha256_digest body_hasher::finish() {
    if (impl_->done) throw std::logic_error("dkim: body_hasher finished twice");
    canon_.finish([this](std::string_view s) { add_limited(s); });
    sha256_digest d{};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(impl_->ctx, d.data(), &len) != 1 || len != d.size())
        throw std::runtime_error("dkim: SHA-256 final failed");
    impl_->done = true;
    return d;
}

sha256_digest body_hash(std::string_view body) {
    body_hasher h;
    h.update(body);
    return h.finish();
}

} // namespace splitmail::relay::dkim
