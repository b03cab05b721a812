// Recipient list cache; see directory.hpp.
#include "recipients/directory.hpp"

#include "splitmail/address/address.hpp"
#include "splitmail/durable/file.hpp"
#include "splitmail/text/json_integer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace splitmail::relay {
namespace {

using address::lower_ascii;

} // namespace

std::expected<directory_snapshot, std::string>
parse_xdirectory(const std::vector<std::string>& lines) {
    directory_snapshot s;
    bool ended = false;
    for (const auto& raw : lines) {
        if (ended) return std::unexpected("XDIRECTORY: text after \"end\"");
        // Addresses are UTF-8 (RFC 6531 3.3) and recipients.json must be valid JSON text
        // (RFC 8259 8.1: UTF-8): a reply that is not would install a list the cache file can
        // never hold (found by relay_directory_fuzz).
        if (!address::valid_utf8(raw)) return std::unexpected("XDIRECTORY: line is not UTF-8");
        std::string_view line(raw);
        auto sp = line.find(' ');
        std::string_view word = line.substr(0, sp);
        std::string_view arg = sp == std::string_view::npos ? "" : line.substr(sp + 1);
        if (word == "end") {
            ended = true;
        } else if (word == "version") {
            s.version = std::string(arg);
        } else if (word == "delimiter") {
            s.delimiter = std::string(arg);
        } else if (word == "domain") {
            s.domains.insert(lower_ascii(arg));
        } else if (word == "catchall") {
            s.catchall.insert(lower_ascii(arg));
        } else if (word == "rcpt") {
            if (arg.find('@') == std::string_view::npos)
                return std::unexpected("XDIRECTORY: bad recipient \"" + std::string(arg) + "\"");
            s.recipients.insert(lower_ascii(arg));
        } else if (word.empty()) {
            continue;
        } else {
            // Unknown words are skipped so home can add information without breaking relays.
            continue;
        }
    }
    if (!ended) return std::unexpected("XDIRECTORY: reply incomplete (no \"end\")");
    if (s.version.empty()) return std::unexpected("XDIRECTORY: no version");
    s.fetched_at = static_cast<std::int64_t>(::time(nullptr));
    return s;
}

recipient_directory::recipient_directory(std::vector<std::string> relay_domains,
                                         std::filesystem::path cache_file)
    : cache_file_(std::move(cache_file)) {
    for (auto& d : relay_domains) relay_domains_.push_back(lower_ascii(d));
}

std::expected<bool, std::string> recipient_directory::load_cache() {
    // Far above any real list (a million addresses is ~40 MiB of JSON).
    auto text = durable::read_file_if_exists(cache_file_, {256u << 20});
    if (!text) return std::unexpected(text.error().text());
    if (!*text) return false;
    std::error_code ec;
    try {
        auto j = nlohmann::json::parse(**text);
        directory_snapshot s;
        s.version = j.at("version").get<std::string>();
        s.delimiter = j.at("delimiter").get<std::string>();
        s.fetched_at = text::integer_at<std::int64_t>(j, "fetched_at");
        for (auto& d : j.at("domains")) s.domains.insert(lower_ascii(d.get<std::string>()));
        for (auto& d : j.at("catchall")) s.catchall.insert(lower_ascii(d.get<std::string>()));
        for (auto& r : j.at("recipients")) s.recipients.insert(lower_ascii(r.get<std::string>()));
        snap_ = std::move(s);
        return true;
    } catch (const std::exception& e) {
        auto bad = cache_file_;
        bad += ".corrupt";
        std::filesystem::rename(cache_file_, bad, ec);
        return std::unexpected(cache_file_.string() + ": unreadable recipient cache (" + e.what() +
                               "); moved to " + bad.string());
    }
}

std::expected<void, std::string> recipient_directory::update(directory_snapshot snap) {
    bool same = snap_ && snap_->version == snap.version;
    snap_ = std::move(snap);
    if (same) return {}; // nothing new to persist
    nlohmann::json j;
    j["version"] = snap_->version;
    j["delimiter"] = snap_->delimiter;
    j["fetched_at"] = snap_->fetched_at;
    j["domains"] = snap_->domains;
    j["catchall"] = snap_->catchall;
    j["recipients"] = snap_->recipients;
    // Only the relay writes this file (one process per spool): a fixed temporary name.
    durable::replace_options opt;
    opt.locked = true;
    auto r = durable::replace_file(cache_file_, j.dump(1) + "\n", opt);
    if (!r) return std::unexpected(r.error().text());
    return {};
}

bool recipient_directory::is_relay_domain(std::string_view domain) const {
    auto d = lower_ascii(domain);
    return std::ranges::find(relay_domains_, d) != relay_domains_.end();
}

rcpt_verdict recipient_directory::check(std::string_view local, std::string_view domain) const {
    auto d = lower_ascii(domain);
    if (!is_relay_domain(d)) return rcpt_verdict::not_local;
    if (!snap_) return rcpt_verdict::tempfail;
    auto l = lower_ascii(local);
    if (snap_->recipients.count(l + "@" + d)) return rcpt_verdict::local_ok;
    // Plus-addressing: user+tag@ is user@ (the same rule home applies when delivering).
    if (!snap_->delimiter.empty()) {
        auto pos = l.find(snap_->delimiter);
        if (pos != std::string::npos && pos > 0 &&
            snap_->recipients.count(l.substr(0, pos) + "@" + d))
            return rcpt_verdict::local_ok;
    }
    if (snap_->catchall.count(d)) return rcpt_verdict::local_ok;
    return rcpt_verdict::unknown;
}

} // namespace splitmail::relay
