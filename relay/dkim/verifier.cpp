// DKIM verification state machine; see verifier.hpp.
#include "dkim/verifier.hpp"

#include "dkim/message.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <stdexcept>

#include <cstring>

namespace splitmail::relay::dkim {

namespace {

std::string lower_copy(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string b_prefix(std::string_view b_text) {
    std::string out;
    for (char c : b_text) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        out.push_back(c);
        if (out.size() == 8) break;
    }
    return out;
}

std::string_view auid_domain(std::string_view auid) { return auid.substr(auid.rfind('@') + 1); }

} // namespace

struct message_verifier::pending {
    dkim_signature sig;
    // SHA-256 of what b= signs (RFC 6376 3.7): both algorithms sign this digest, so the header
    // data need not be kept until the key arrives (32 octets per signature, not a header copy).
    sha256_digest header_hash;
    body_hasher hasher;
    bool body_matches = false;
    pending(dkim_signature s, std::string_view data)
        : sig(std::move(s)), header_hash(header_digest(data)), hasher(sig.body_canon, sig.length) {}
};

std::string_view to_string(result r) {
    switch (r) {
    case result::pass: return "pass";
    case result::fail: return "fail";
    case result::neutral: return "neutral";
    case result::temperror: return "temperror";
    case result::permerror: return "permerror";
    }
    return "neutral";
}

message_verifier::message_verifier(std::string_view header_block, const verify_options& opt) {
    const message_view m = split_message(header_block);
    const std::vector<header_field> fields = parse_header(m.header);
    for (const auto& f : fields) {
        if (!iequals(f.name, "dkim-signature")) continue;
        if (results_.size() == opt.max_signatures) {
            ++skipped_;
            continue;
        }
        const std::size_t value_at = f.raw.find(':') + 1;
        auto parsed = parse_signature(f.raw.substr(value_at));
        signature_result r;
        if (!parsed) {
            r.code = parsed.error().type == signature_error::kind::syntax ? result::neutral
                                                                          : result::permerror;
            r.reason = parsed.error().reason;
            results_.push_back(std::move(r));
            pending_.push_back(nullptr);
            continue;
        }
        const dkim_signature& s = *parsed;
        r.domain = s.domain;
        r.selector = s.selector;
        r.algorithm = std::string(s.a);
        r.b_prefix = b_prefix(s.b_text);
        r.auid = s.auid;
        r.length = s.length;
        results_.push_back(std::move(r));
        const std::size_t i = results_.size() - 1;
        if (s.alg == sig_algorithm::rsa_sha1) {
            pending_.push_back(nullptr);
            decide(i, result::fail, "rsa-sha1 is not accepted (RFC 8301 3.1)");
            continue;
        }
        if (s.expiry && *s.expiry < opt.now) {
            pending_.push_back(nullptr);
            decide(i, result::fail, "signature expired (x=" + std::to_string(*s.expiry) + ")");
            continue;
        }
        const std::string data = header_hash_input(
            fields, s.signed_headers, without_b_value(f.raw, value_at, s), s.header_canon);
        pending_.push_back(std::make_unique<pending>(std::move(*parsed), data));
    }
}

message_verifier::~message_verifier() = default;

void message_verifier::decide(std::size_t i, result code, std::string reason) {
    results_[i].code = code;
    results_[i].reason = std::move(reason);
    pending_[i].reset();
}

void message_verifier::body(std::string_view chunk) {
    for (auto& p : pending_)
        if (p) p->hasher.update(chunk);
}

void message_verifier::finish_body() {
    if (body_done_) return;
    body_done_ = true;
    for (std::size_t i = 0; i < pending_.size(); ++i) {
        auto& p = pending_[i];
        if (!p) continue;
        const sha256_digest d = p->hasher.finish();
        const std::uint64_t total = p->hasher.canonical_length();
        if (p->sig.length && *p->sig.length > total) {
            // RFC 6376 6.1.3: a body shorter than l= cannot verify.
            decide(i, result::fail,
                   "l=" + std::to_string(*p->sig.length) + " is longer than the body (" +
                       std::to_string(total) + " octets)");
            continue;
        }
        if (p->sig.bh.size() != d.size() ||
            std::memcmp(p->sig.bh.data(), d.data(), d.size()) != 0) {
            decide(i, result::fail, "body hash did not verify");
            continue;
        }
        p->body_matches = true;
        if (p->sig.length)
            results_[i].reason =
                "l=" + std::to_string(*p->sig.length) + " of " + std::to_string(total) + " octets";
    }
}

std::vector<key_query> message_verifier::key_queries() const {
    std::vector<key_query> out;
    if (!body_done_) return out;
    for (std::size_t i = 0; i < pending_.size(); ++i)
        if (pending_[i])
            out.push_back(
                {i, pending_[i]->sig.selector + "._domainkey." + pending_[i]->sig.domain});
    return out;
}

void message_verifier::key(std::size_t i, const key_answer& answer) {
    if (i >= pending_.size() || !pending_[i] || !body_done_) return;
    const pending& p = *pending_[i];
    using st = key_answer::status;
    if (answer.st == st::temp_error) return decide(i, result::temperror, "key lookup failed");
    if (answer.st != st::ok || answer.txt.empty())
        return decide(i, result::permerror, "no key record");
    // RFC 6376 6.1.2: more than one record: use the first that parses.
    std::expected<key_record, std::string> rec = std::unexpected("no key record");
    for (const auto& t : answer.txt) {
        rec = parse_key_record(t);
        if (rec) break;
    }
    if (!rec) return decide(i, result::permerror, rec.error());
    const bool ed = p.sig.alg == sig_algorithm::ed25519_sha256;
    if ((rec->type == key_type::ed25519) != ed)
        return decide(i, result::permerror, "key type k= does not match a=");
    auto key = load_public_key(*rec);
    if (!key) return decide(i, result::permerror, key.error());
    if (!ed && key->bits < 1024)
        return decide(i, result::fail,
                      "RSA key of " + std::to_string(key->bits) +
                          " bits is too short (RFC 8301 3.2)");
    // RFC 6376 3.6.1 t=s: the i= domain must be d= itself.
    if (rec->strict && lower_copy(auid_domain(p.sig.auid)) != p.sig.domain)
        return decide(i, result::permerror, "key is t=s and i= is a subdomain of d=");
    if (!verify_digest(*key, p.sig.alg, p.header_hash, p.sig.b))
        return decide(i, result::fail, "signature did not verify");
    std::string note = results_[i].reason; // l= coverage, if any
    if (rec->testing) note += std::string(note.empty() ? "" : ", ") + "key in test mode (t=y)";
    decide(i, result::pass, note.empty() ? "signature verified" : "signature verified, " + note);
}

void message_verifier::give_up(std::string_view why) {
    for (std::size_t i = 0; i < pending_.size(); ++i)
        if (pending_[i]) decide(i, result::temperror, std::string(why));
}

sha256_digest header_digest(std::string_view data) {
    sha256_digest d{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr) != 1 ||
        len != d.size())
        throw std::runtime_error("dkim: SHA-256 failed");
    return d;
}

bool verify_digest(const public_key& key, sig_algorithm alg, const sha256_digest& digest,
                   std::string_view signature) {
    if (!key.pkey) return false;
    const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
    bool ok = false;
    if (alg == sig_algorithm::ed25519_sha256) {
        // RFC 8463 3: PureEdDSA over the SHA-256 hash of the header data.
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    &EVP_MD_CTX_free);
        ok = ctx &&
             EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.pkey.get()) == 1 &&
             EVP_DigestVerify(ctx.get(), sig, signature.size(), digest.data(), digest.size()) == 1;
    } else if (alg == sig_algorithm::rsa_sha256) {
        // RFC 6376 3.3.1: RSASSA-PKCS1-v1_5 with SHA-256, checked against the digest.
        std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
            EVP_PKEY_CTX_new(key.pkey.get(), nullptr), &EVP_PKEY_CTX_free);
        ok = ctx && EVP_PKEY_verify_init(ctx.get()) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1 &&
             EVP_PKEY_verify(ctx.get(), sig, signature.size(), digest.data(), digest.size()) == 1;
    } // RFC 8301 3.1: rsa-sha1 never verifies
    // A bad signature is an expected outcome here: leave no error behind for other callers.
    if (!ok) ERR_clear_error();
    return ok;
}

bool verify_data(const public_key& key, sig_algorithm alg, std::string_view data,
                 std::string_view signature) {
    return verify_digest(key, alg, header_digest(data), signature);
}

} // namespace splitmail::relay::dkim
