// splitmail-home: LMTP delivery into Maildirs. Everything but argument handling lives in
// homeserver_lib.
#include "service.hpp"
#include "splitmail/config/home.hpp"

#include "splitmail/config/settings.hpp"
#include "splitmail/log/log.hpp"

#include <cstdio>
#include <string>

namespace {
constexpr int exit_config = 78; // EX_CONFIG (sysexits.h): systemd will not hot-loop on it

void usage(std::FILE* to = stderr) {
    std::fputs("usage: splitmail-home --config FILE [--check-config]\n"
               "       splitmail-home --print-config-doc\n",
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
            auto md = splitmail::config::render_markdown(
                "splitmail-home", "/etc/splitmail/home.toml", splitmail::home::settings_table());
            std::fputs(md.c_str(), stdout);
            return 0;
        } else if (a == "--help" || a == "-h") {
            usage(stdout); // asked for: stdout, exit 0 (issue 16 bug 9)
            return 0;
        } else {
            std::fprintf(stderr, "splitmail-home: unknown argument \"%s\"\n", argv[i]);
            usage();
            return 2;
        }
    }
    if (config.empty()) {
        usage();
        return 2;
    }
    auto s = splitmail::home::load_settings(config);
    if (!s) {
        std::fprintf(stderr, "splitmail-home: %s\n", s.error().c_str());
        return exit_config;
    }
    splitmail::log::level lvl;
    if (splitmail::log::parse_level(s->log_level, lvl)) splitmail::log::set_min_level(lvl);
    if (auto err = splitmail::home::preflight(*s); !err.empty()) {
        std::fprintf(stderr, "splitmail-home: %s: %s\n", config.c_str(), err.c_str());
        return exit_config;
    }
    if (check_only) {
        std::printf("%s: configuration ok\n", config.c_str());
        return 0;
    }
    return splitmail::home::run(*s, config);
}
