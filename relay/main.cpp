// splitmail-relay: the internet-facing MX. Everything but argument handling lives in relay_lib.
#include "service.hpp"
#include "splitmail/config/relay.hpp"

#include "splitmail/config/settings.hpp"
#include "splitmail/log/log.hpp"

#include <cstdio>
#include <cstring>
#include <string>

namespace {
constexpr int exit_config = 78; // EX_CONFIG (sysexits.h): systemd will not hot-loop on it

void usage(std::FILE* to = stderr) {
    std::fputs("usage: splitmail-relay --config FILE [--check-config]\n"
               "       splitmail-relay --print-config-doc\n",
               to);
}
} // namespace

int main(int argc, char** argv) {
    std::string config;
    bool check_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--config" && i + 1 < argc) config = argv[++i];
        else if (a == "--check-config") check_only = true;
        else if (a == "--print-config-doc") {
            auto md = splitmail::config::render_markdown("splitmail-relay",
                                                         "/etc/splitmail/relay.toml",
                                                         splitmail::relay::settings_table());
            std::fputs(md.c_str(), stdout);
            return 0;
        } else if (a == "--help" || a == "-h") {
            usage(stdout); // asked for: stdout, exit 0 (issue 16 bug 9)
            return 0;
        } else {
            std::fprintf(stderr, "splitmail-relay: unknown argument \"%s\"\n", argv[i]);
            usage();
            return 2;
        }
    }
    if (config.empty()) {
        usage();
        return 2;
    }
    auto s = splitmail::relay::load_settings(config);
    if (!s) {
        std::fprintf(stderr, "splitmail-relay: %s\n", s.error().c_str());
        return exit_config;
    }
    splitmail::log::level lvl;
    if (splitmail::log::parse_level(s->log_level, lvl)) splitmail::log::set_min_level(lvl);
    if (auto err = splitmail::relay::preflight(*s); !err.empty()) {
        std::fprintf(stderr, "splitmail-relay: %s\n", err.c_str());
        return exit_config;
    }
    if (check_only) {
        std::printf("%s: configuration ok\n", config.c_str());
        return 0;
    }
    return splitmail::relay::run(*s, config);
}
