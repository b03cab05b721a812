// `splitmail check`: see check.hpp.
#include "commands/check.hpp"

#include "check/checks.hpp"
#include "check/context.hpp"
#include "check/finding.hpp"
#include "splitmail/dns/context.hpp"

#include <algorithm>
#include <iostream>
#include <set>

namespace splitmail::provision {

namespace fs = std::filesystem;
using namespace check;

namespace {

constexpr const char* usage =
    "usage: splitmail check [--site FILE] [--resolver IP:PORT] [--only CHECK,...] [--json]\n"
    "checks: dns spf dkim tlsa ptr tls tunnel lmtp queue users listeners scanners ddns\n"
    "Exit status: 0 all ok (warnings allowed), 1 something is wrong, 2 usage error.\n";

// The fix line for a configuration error "FILE: KEY: REASON (line N...)" or a TOML syntax error
// "FILE:LINE:COL: ...": name the key and the line, not just the file (issue 16 bug 9).
std::string config_fix(const std::string& error, const fs::path& file) {
    const std::string f = file.string();
    std::string line;
    if (auto at = error.find("(line "); at != std::string::npos) {
        auto end = error.find_first_not_of("0123456789", at + 6);
        line = error.substr(at + 6, end - (at + 6));
    }
    if (error.starts_with(f + ": ")) {
        const auto rest = error.substr(f.size() + 2);
        const auto key = rest.substr(0, rest.find(": "));
        if (!key.empty() && key.find(' ') == std::string::npos) {
            std::string hint;
            if (auto m = error.find("did you mean "); m != std::string::npos)
                hint = " (" + error.substr(m, error.find('?', m) + 1 - m) + ")";
            return "correct " + key + " in " + f + (line.empty() ? "" : " at line " + line) + hint +
                   ", then run splitmail check again";
        }
    }
    if (error.starts_with(f + ":")) {
        const auto rest = error.substr(f.size() + 1);
        const auto n = rest.substr(0, rest.find(':'));
        if (!n.empty() && n.find_first_not_of("0123456789") == std::string::npos)
            return "fix the TOML syntax at line " + n + " of " + f;
    }
    return "fix " + f;
}

void emit(const findings& f, bool json, std::ostream& out) {
    if (json)
        print_json(f, out);
    else
        print_text(f, out);
}

} // namespace

int run_check(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    fs::path site_file = "/etc/splitmail/site.toml";
    std::optional<std::string> resolver;
    std::set<std::string> only;
    bool json = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        const bool has_value = i + 1 < args.size();
        if (a == "--site" && has_value) {
            site_file = args[++i];
        } else if (a == "--resolver" && has_value) {
            resolver = args[++i];
        } else if (a == "--only" && has_value) {
            std::string list = args[++i];
            std::size_t pos = 0;
            while (pos <= list.size()) {
                auto comma = list.find(',', pos);
                std::string name = list.substr(pos, comma - pos);
                pos = comma == std::string::npos ? list.size() + 1 : comma + 1;
                if (name.empty()) continue;
                const auto& all = all_checks();
                if (std::none_of(all.begin(), all.end(), [&](auto& e) { return e.name == name; })) {
                    err << "splitmail check: unknown check \"" << name << "\"\n" << usage;
                    return 2;
                }
                only.insert(name);
            }
            if (only.empty()) {
                err << "splitmail check: --only needs a list of checks\n" << usage;
                return 2;
            }
        } else if (a == "--json") {
            json = true;
        } else if (a == "-h" || a == "--help") {
            out << usage;
            return 0;
        } else {
            err << "splitmail check: unknown or incomplete option \"" << a << "\"\n" << usage;
            return 2;
        }
    }
    if (resolver) {
        if (auto ok = splitmail::dns::to_unbound_address(*resolver); !ok) {
            err << "splitmail check: --resolver: " << ok.error() << "\n" << usage;
            return 2;
        }
    }

    context c;
    c.site_file = site_file;
    c.now = std::time(nullptr);
    auto s = load_site(site_file);
    if (!s) {
        emit({fail("site", s.error(),
                   !fs::exists(site_file)
                       ? "splitmail provision relay ... writes it (or give --site FILE)"
                       : config_fix(s.error(), site_file))},
             json, out);
        return 1;
    }
    c.s = std::move(*s);
    c.resolver = resolver.value_or(c.s.resolver);

    findings setup;
    for (const auto& w : c.s.warnings)
        setup.push_back(warn("site", w, "rename the key in " + site_file.string()));
    if (!c.s.relay_config.empty() && fs::exists(c.s.relay_config)) {
        auto r = read_relay_facts(c.s.relay_config);
        if (r)
            c.relay = std::move(*r);
        else
            setup.push_back(fail("config", r.error(), config_fix(r.error(), c.s.relay_config)));
    }
    if (!c.s.home_config.empty()) {
        if (!fs::exists(c.s.home_config)) {
            setup.push_back(fail("config",
                                 c.s.home_config.string() + " (site.home_config) "
                                                            "does not exist",
                                 "splitmail provision home --pairing FILE writes it, or fix "
                                 "site.home_config in " +
                                     site_file.string()));
        } else if (auto h = read_home_facts(c.s.home_config)) {
            c.home = std::move(*h);
            // splitmail-ddns's configuration, as `provision home` writes it next to home.toml.
            if (const auto ddns_file = ddns_config_of(c.s.home_config); fs::exists(ddns_file)) {
                if (auto d = read_ddns_facts(ddns_file))
                    c.ddns = std::move(*d);
                else
                    setup.push_back(fail("config", d.error(), config_fix(d.error(), ddns_file)));
            }
        } else {
            setup.push_back(fail("config", h.error(), config_fix(h.error(), c.s.home_config)));
        }
    }
    if (!c.relay && !c.home && setup.empty())
        setup.push_back(fail("config",
                             "neither site.relay_config (" + c.s.relay_config.string() +
                                 ") nor site.home_config exists: nothing to check",
                             "splitmail provision relay ... (or home ...) writes them, or fix " +
                                 site_file.string()));

    // Text: each finding as soon as its check is done (a slow resolver must not hide the rest
    // for minutes; issue 16 bug 6). JSON: one document at the end.
    std::size_t width = 6; // "config"
    for (const auto& e : all_checks()) width = std::max(width, e.name.size());
    findings all;
    auto add = [&](const findings& f) {
        all.insert(all.end(), f.begin(), f.end());
        if (json) return;
        for (const auto& x : f) print_text_line(x, out, width);
        out << std::flush;
    };
    add(setup);
    for (const auto& e : all_checks()) {
        if (!only.empty() && !only.contains(std::string(e.name))) continue;
        if (!((e.relay && c.relay) || (e.home && c.home))) {
            if (only.contains(std::string(e.name)) && (c.relay || c.home))
                add({warn(std::string(e.name), "does not apply on this machine (" +
                                                   std::string(c.home ? "home" : "relay") +
                                                   "): not checked")});
            continue;
        }
        add(e.run(c));
    }
    if (json)
        print_json(all, out);
    else
        print_text_summary(all, out);
    return exit_status(all);
}

int run_check(std::span<const std::string> args) { return run_check(args, std::cout, std::cerr); }

} // namespace splitmail::provision
