// Prefix headers of outgoing mail (Date, Message-ID, DKIM-Signature); see outgoing.hpp.
#include "submission/outgoing.hpp"

#include "dkim/key.hpp"
#include "dkim/message.hpp"
#include "splitmail/smtp/date.hpp"

#include <openssl/rand.h>

#include <cctype>
#include <span>
#include <stdexcept>
#include <cstdio>
#include <ctime>

namespace splitmail::relay {

namespace {

struct header_facts {
    bool has_date = false, has_id = false, has_from = false;
    std::optional<std::string> from_domain; // of the first From: field
};

// Lower-case domain of the first address in a From: field's value; nullopt without one.
std::optional<std::string> domain_of(std::string_view v) {
    // The address is in angle brackets when a display name is present; otherwise the field is
    // the bare addr-spec (RFC 5322 3.4).
    auto lt = v.find('<');
    if (lt != std::string_view::npos) {
        auto gt = v.find('>', lt);
        v = v.substr(lt + 1, gt == std::string_view::npos ? gt : gt - lt - 1);
    }
    auto at = v.rfind('@');
    if (at == std::string_view::npos) return std::nullopt;
    std::string d;
    for (char c : v.substr(at + 1)) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';' || c == '>' ||
            c == '(')
            break;
        d += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (d.empty()) return std::nullopt;
    return d;
}

// The one header parse everything here is decided from.
header_facts facts_of(std::span<const dkim::header_field> fields) {
    header_facts f;
    for (const auto& h : fields) {
        f.has_date = f.has_date || dkim::iequals(h.name, "Date");
        f.has_id = f.has_id || dkim::iequals(h.name, "Message-ID");
        if (dkim::iequals(h.name, "From") && !f.has_from) {
            f.has_from = true;
            f.from_domain = domain_of(h.raw.substr(h.raw.find(':') + 1));
        }
    }
    return f;
}

std::string added_fields(const header_facts& f, std::string_view hostname,
                         std::chrono::system_clock::time_point now, std::string_view author) {
    std::string out;
    if (!f.has_from && !author.empty()) out += "From: <" + std::string(author) + ">\r\n";
    if (!f.has_date) out += "Date: " + smtp::rfc5322_date(now) + "\r\n";
    if (!f.has_id) {
        unsigned char rnd[12];
        if (RAND_bytes(rnd, sizeof rnd) != 1) throw std::runtime_error("RAND_bytes failed");
        std::string id;
        char hex[3];
        for (unsigned char c : rnd) {
            std::snprintf(hex, sizeof hex, "%02x", c);
            id += hex;
        }
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
        out += "Message-ID: <" + std::to_string(secs.count()) + "." + id + "@" +
               std::string(hostname) + ">\r\n";
    }
    return out;
}

} // namespace

std::string missing_headers(std::string_view message, std::string_view hostname,
                            std::chrono::system_clock::time_point now, std::string_view author) {
    const auto fields = dkim::parse_header(dkim::split_message(message).header);
    return added_fields(facts_of(fields), hostname, now, author);
}

std::optional<std::string> from_domain(std::string_view message) {
    const auto fields = dkim::parse_header(dkim::split_message(message).header);
    return facts_of(fields).from_domain;
}

outgoing_plan plan_outgoing(std::string_view header_block, const outgoing_request& r) {
    outgoing_plan p;
    const std::string_view section = dkim::split_message(header_block).header;
    const auto facts = facts_of(dkim::parse_header(section));
    if (r.submitted) p.added = added_fields(facts, r.hostname, r.now, r.author);
    p.domain = facts.from_domain;
    if (!facts.has_from && !r.author.empty() && r.submitted) p.domain = domain_of(r.author);
    if (r.keys && p.domain) p.signer = r.keys->for_domain(*p.domain);
    // The signature covers the added fields too: they are part of the header block the
    // receiver sees.
    if (p.signer) p.signed_header = p.added + std::string(section);
    return p;
}

std::expected<dkim_keyring, std::string> dkim_keyring::load(
    const std::filesystem::path& dir, const std::vector<std::string>& explicit_domains,
    const std::vector<std::string>& relay_domains, std::vector<std::string>* problems) {
    dkim_keyring k;
    if (dir.empty()) return k;
    const auto& domains = explicit_domains.empty() ? relay_domains : explicit_domains;
    for (const auto& d : domains) {
        auto keys = dkim::load_domain_keys(dir, d);
        if (!keys) {
            if (!explicit_domains.empty())
                return std::unexpected("dkim: " + d + ": " + keys.error());
            if (problems) problems->push_back(d + ": " + keys.error());
            continue;
        }
        k.signers_.emplace(d, std::make_shared<dkim::signer>(std::move(*keys)));
    }
    return k;
}

const dkim::signer* dkim_keyring::for_domain(std::string_view domain) const {
    auto it = signers_.find(domain);
    return it == signers_.end() ? nullptr : it->second.get();
}

std::vector<std::string> dkim_keyring::domains() const {
    std::vector<std::string> out;
    for (const auto& [d, s] : signers_) out.push_back(d);
    return out;
}

} // namespace splitmail::relay
