// `splitmail alias add|del|list`; see user.hpp.
#include "commands/user.hpp"
#include "commands/user_files.hpp"

#include "splitmail/users/database.hpp"
#include "splitmail/users/file_edit.hpp"

#include <algorithm>
#include <cstdio>

namespace splitmail::provision {
namespace {

void alias_usage(std::FILE* to = stderr) {
    std::fputs("usage: splitmail alias add ALIAS TARGET... [--config FILE] [--users FILE] "
               "[--aliases FILE]\n"
               "       splitmail alias del ALIAS [TARGET...]\n"
               "       splitmail alias list\n"
               "ALIAS \"@domain\" is the domain's catch-all.\n",
               to);
}

// The parsed entry of one aliases-file line, if it is one.
std::optional<users::alias_entry> parse_line(const std::string& line) {
    auto a = users::parse_aliases(line + "\n", "-");
    if (!a || a->size() != 1) return std::nullopt;
    return (*a)[0];
}

std::string format_entry(const users::alias_entry& e) {
    std::string out = e.address + ":";
    for (std::size_t i = 0; i < e.targets.size(); ++i) out += (i ? ", " : " ") + e.targets[i];
    return out;
}

std::optional<std::string> normalize_alias(const std::string& a) {
    if (a.starts_with('@')) {
        auto probe = users::normalize_address("x" + a);
        if (!probe) return std::nullopt;
        return probe->substr(1);
    }
    return users::normalize_address(a);
}

} // namespace

int run_alias(std::span<const std::string> args) {
    for (const auto& a : args)
        if (a == "--help" || a == "-h") { // every subcommand answers --help (issue 16 bug 9)
            alias_usage(stdout);
            return 0;
        }
    auto f = parse_user_options(args);
    if (!f) {
        std::fprintf(stderr, "splitmail alias: %s\n", f.error().c_str());
        alias_usage();
        return 2;
    }
    if (f->words.empty()) {
        alias_usage();
        return 2;
    }
    if (f->aliases.empty()) {
        std::fprintf(stderr, "splitmail alias: no aliases file (set users.aliases in the "
                             "config or pass --aliases FILE)\n");
        return 1;
    }
    const auto& cmd = f->words[0];
    if (cmd == "list") {
        auto a = users::parse_aliases(read_text(f->aliases), f->aliases.string());
        if (!a) {
            std::fprintf(stderr, "splitmail alias: %s\n", a.error().message().c_str());
            return 1;
        }
        for (const auto& e : *a) std::printf("%s\n", format_entry(e).c_str());
        return 0;
    }
    if ((cmd != "add" && cmd != "del") || f->words.size() < 2 ||
        (cmd == "add" && f->words.size() < 3)) {
        alias_usage();
        return 2;
    }
    auto alias = normalize_alias(f->words[1]);
    if (!alias) {
        std::fprintf(stderr, "splitmail alias: \"%s\" is not a usable alias\n",
                     f->words[1].c_str());
        return 1;
    }
    std::vector<std::string> targets;
    for (std::size_t i = 2; i < f->words.size(); ++i) {
        auto t = users::normalize_address(f->words[i]);
        if (!t) {
            std::fprintf(stderr, "splitmail alias: \"%s\" is not a usable address\n",
                         f->words[i].c_str());
            return 1;
        }
        targets.push_back(*t);
    }
    if (auto why = needs_config_for_writing(*f); !why.empty()) {
        std::fprintf(stderr, "splitmail alias: %s\n", why.c_str());
        return 1;
    }
    if (auto why = users_file_missing(*f); !why.empty()) {
        std::fprintf(stderr, "splitmail alias: %s\n", why.c_str());
        return 1;
    }
    auto users_text = read_text(f->users);
    auto r = users::rewrite_file(
        f->aliases,
        [&](std::string_view current) -> std::expected<std::string, std::string> {
            auto lines = split_lines(current);
            long at = -1;
            std::optional<users::alias_entry> entry;
            for (std::size_t i = 0; i < lines.size() && at < 0; ++i) {
                auto e = parse_line(lines[i]);
                if (e && e->address == *alias) {
                    at = static_cast<long>(i);
                    entry = e;
                }
            }
            if (cmd == "add") {
                if (!entry) entry = users::alias_entry{*alias, {}, 0};
                for (const auto& t : targets)
                    if (std::ranges::find(entry->targets, t) == entry->targets.end())
                        entry->targets.push_back(t);
                if (at >= 0)
                    lines[static_cast<std::size_t>(at)] = format_entry(*entry);
                else
                    lines.push_back(format_entry(*entry));
            } else {
                if (!entry) return std::unexpected(*alias + " does not exist");
                if (targets.empty()) {
                    lines.erase(lines.begin() + at);
                } else {
                    for (const auto& t : targets) {
                        auto it = std::ranges::find(entry->targets, t);
                        if (it == entry->targets.end())
                            return std::unexpected(t + " is not a target of " + *alias);
                        entry->targets.erase(it);
                    }
                    if (entry->targets.empty())
                        lines.erase(lines.begin() + at);
                    else
                        lines[static_cast<std::size_t>(at)] = format_entry(*entry);
                }
            }
            auto next = join_lines(lines);
            if (auto ok = check_database(*f, users_text, next); !ok)
                return std::unexpected("refused: the result would be invalid: " + ok.error());
            return next;
        },
        0644);
    if (!r) {
        std::fprintf(stderr, "splitmail alias: %s\n", r.error().c_str());
        return 1;
    }
    std::printf("%s: %s\n", alias->c_str(), cmd == "add" ? "updated" : "removed");
    return 0;
}

} // namespace splitmail::provision
