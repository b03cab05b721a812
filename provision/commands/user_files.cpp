// Options and checks shared by the user and alias commands; see user_files.hpp.
#include "commands/user_files.hpp"
#include "splitmail/durable/file.hpp"

#include "splitmail/config/home.hpp"

#include <fstream>
#include <sstream>

namespace splitmail::provision {

std::string read_text(const std::filesystem::path& p) {
    // The users and aliases files; a missing or unreadable one reads as empty, as before.
    auto r = durable::read_file(p, {64u << 20});
    return r ? std::move(*r) : std::string();
}

std::vector<std::string> split_lines(std::string_view text) {
    std::vector<std::string> out;
    while (!text.empty()) {
        auto nl = text.find('\n');
        out.emplace_back(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

std::expected<user_files, std::string> parse_user_options(std::span<const std::string> args) {
    user_files f;
    std::filesystem::path config, users, aliases;
    bool have_aliases = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        auto value = [&](std::filesystem::path& out) -> bool {
            if (i + 1 >= args.size()) return false;
            out = args[++i];
            return true;
        };
        if (a == "--config") {
            if (!value(config)) return std::unexpected("--config needs a file");
        } else if (a == "--users") {
            if (!value(users)) return std::unexpected("--users needs a file");
        } else if (a == "--aliases") {
            if (!value(aliases)) return std::unexpected("--aliases needs a file");
            have_aliases = true;
        } else if (a.starts_with("--")) {
            return std::unexpected("unknown option " + a);
        } else {
            f.words.push_back(a);
        }
    }
    namespace fs = std::filesystem;
    std::error_code ec;
    // Same file, also when it does not exist yet (absolute, normalised).
    auto same = [](const fs::path& a, const fs::path& b) {
        std::error_code e1, e2;
        auto x = fs::weakly_canonical(fs::absolute(a, e1), e1);
        auto y = fs::weakly_canonical(fs::absolute(b, e2), e2);
        return !e1 && !e2 && x == y;
    };
    const fs::path system_config = "/etc/splitmail/home.toml";
    if (config.empty() && users.empty() && fs::exists(system_config, ec)) config = system_config;
    if (config.empty() && !users.empty()) {
        std::vector<fs::path> candidates{fs::absolute(users, ec).parent_path() / "home.toml",
                                         system_config};
        for (const auto& c : candidates) {
            if (!fs::exists(c, ec)) continue;
            auto s = home::load_settings(c, splitmail::config::referenced_files::names_only);
            if (s && same(s->users_file, users)) {
                config = c;
                break;
            }
        }
    }
    if (!config.empty()) {
        // Through home's own table: the same defaults and checks as splitmail-home.
        auto s = home::load_settings(config, splitmail::config::referenced_files::names_only);
        if (!s) return std::unexpected(s.error());
        f.config = config;
        f.users = s->users_file;
        f.aliases = s->aliases_file;
        f.delimiter = s->recipient_delimiter;
        f.min_password_length = s->min_password_length;
        f.domains = s->domains;
    }
    if (!users.empty()) f.users = users;
    if (have_aliases) f.aliases = aliases;
    if (f.users.empty()) f.users = "/etc/splitmail/users";
    return f;
}

std::string needs_config_for_writing(const user_files& f) {
    if (!f.config.empty()) return "";
    return "no home configuration names " + f.users.string() +
           ": give --config HOME.TOML (e.g. /etc/splitmail/home.toml) so the change is checked "
           "as splitmail-home checks it (home.domains, users.recipient_delimiter); nothing "
           "written";
}

std::string users_file_missing(const user_files& f) {
    std::error_code ec;
    if (std::filesystem::exists(f.users, ec)) return "";
    const auto dir = f.users.parent_path();
    if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
        return "the users file " + f.users.string() + " cannot exist: its directory " +
               dir.string() + " does not exist (users.file in " +
               (f.config.empty() ? std::string("home.toml") : f.config.string()) + ", or --users)";
    return "the users file " + f.users.string() + " does not exist (users.file in " +
           (f.config.empty() ? std::string("home.toml") : f.config.string()) +
           ", or --users; `splitmail user add` creates it)";
}

std::expected<void, std::string> check_database(const user_files& f, std::string_view users_text,
                                                std::string_view aliases_text) {
    auto u = users::parse_users(users_text, f.users.string());
    if (!u) return std::unexpected(u.error().message());
    std::vector<users::alias_entry> a;
    if (!f.aliases.empty()) {
        auto pa = users::parse_aliases(aliases_text, f.aliases.string());
        if (!pa) return std::unexpected(pa.error().message());
        a = std::move(*pa);
    }
    auto db = users::database::build(std::move(*u), std::move(a), f.delimiter, f.domains,
                                     f.aliases.empty() ? "aliases" : f.aliases.string());
    if (!db) return std::unexpected(db.error());
    return {};
}

} // namespace splitmail::provision
