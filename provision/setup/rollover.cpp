// The state of a TLSA key rollover on disk; see rollover.hpp.
#include "setup/rollover.hpp"

#include "setup/keys.hpp"
#include "splitmail/durable/file.hpp"
#include "splitmail/text/json_integer.hpp"

#include <nlohmann/json.hpp>
#include <sys/stat.h>

namespace splitmail::provision::setup {

namespace fs = std::filesystem;

fs::path next_key_file(const fs::path& key) { return fs::path(key.string() + ".next"); }
fs::path next_state_file(const fs::path& key) { return fs::path(key.string() + ".next.json"); }

namespace {

durable::replace_options like(const fs::path& key) {
    durable::replace_options r;
    r.mode = 0600;
    struct stat st {};
    if (::stat(key.c_str(), &st) == 0) r.owner = std::make_pair(st.st_uid, st.st_gid);
    return r;
}

} // namespace

std::expected<std::optional<next_key>, std::string> read_next_key(const fs::path& key) {
    const fs::path file = next_key_file(key);
    auto pem = durable::read_file_if_exists(file);
    if (!pem) return std::unexpected(file.string() + ": " + pem.error().text());
    if (!*pem) return std::optional<next_key>{};
    if (!valid_private_key(**pem))
        return std::unexpected(file.string() + ": not a PEM private key (remove it to start the "
                                               "rollover again)");
    next_key k;
    k.pem = std::move(**pem);
    const fs::path state = next_state_file(key);
    auto text = durable::read_file_if_exists(state);
    if (!text) return std::unexpected(state.string() + ": " + text.error().text());
    if (*text) {
        try {
            auto j = nlohmann::json::parse(**text);
            k.published_at = text::integer_at<std::int64_t>(j, "published_at");
            k.ttl = text::integer_at<std::uint32_t>(j, "ttl");
        } catch (const std::exception& e) {
            return std::unexpected(state.string() + ": unreadable (" + std::string(e.what()) +
                                   "); remove it and run `splitmail dns apply` again");
        }
        if (k.published_at < 0)
            return std::unexpected(state.string() + ": published_at is negative");
    }
    return std::optional<next_key>{std::move(k)};
}

std::expected<bool, std::string> make_next_key(const fs::path& key) {
    auto have = read_next_key(key);
    if (!have) return std::unexpected(have.error());
    if (*have) return false;
    // make_self_signed makes a fresh P-256 key; only the key is kept.
    auto pair = make_self_signed("next.invalid", 1);
    if (!pair) return std::unexpected(pair.error());
    const fs::path file = next_key_file(key);
    if (auto w = durable::replace_file(file, pair->key_pem, like(key)); !w)
        return std::unexpected(file.string() + ": " + w.error().text());
    return true;
}

std::expected<bool, std::string> mark_next_published(const fs::path& key, std::uint32_t ttl,
                                                     std::int64_t now) {
    auto have = read_next_key(key);
    if (!have) return std::unexpected(have.error());
    if (!*have || (*have)->published_at != 0) return false;
    nlohmann::json j;
    j["comment"] = "splitmail dns apply published the TLSA record of the next key (" +
                   next_key_file(key).string() + ") at this time with this TTL";
    j["published_at"] = now;
    j["ttl"] = ttl;
    const fs::path state = next_state_file(key);
    if (auto w = durable::replace_file(state, j.dump(2) + "\n", like(key)); !w)
        return std::unexpected(state.string() + ": " + w.error().text());
    return true;
}

std::expected<void, std::string> forget_next_key(const fs::path& key) {
    for (const auto& f : {next_state_file(key), next_key_file(key)}) {
        std::error_code ec;
        fs::remove(f, ec);
        if (ec) return std::unexpected(f.string() + ": cannot remove: " + ec.message());
    }
    if (auto s = durable::fsync_dir(key.parent_path().empty() ? fs::path(".") : key.parent_path());
        !s)
        return std::unexpected(key.parent_path().string() + ": " + s.error().text());
    return {};
}

rollover_state rollover_of(const std::optional<next_key>& next, std::int64_t now) {
    if (!next) return {};
    if (next->published_at == 0) return {rollover_step::publish, 0};
    const std::int64_t from = next->published_at + 2 * static_cast<std::int64_t>(next->ttl);
    return {now >= from ? rollover_step::ready : rollover_step::wait, from};
}

} // namespace splitmail::provision::setup
