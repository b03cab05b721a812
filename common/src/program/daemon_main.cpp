// The daemons' shared command line; see daemon_main.hpp.
#include "splitmail/program/daemon_main.hpp"

#include <algorithm>

namespace splitmail::program {

bool command_line::has(std::string_view flag) const {
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

void complain(const daemon_info& info, std::string_view message) {
    std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(info.name.size()), info.name.data(),
                 static_cast<int>(message.size()), message.data());
}

std::variant<command_line, int> parse_command_line(const daemon_info& info, int argc, char** argv) {
    command_line cl;
    const std::string usage(info.usage);
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--config") {
            if (i + 1 >= argc) {
                complain(info, "--config needs a file name");
                std::fputs(usage.c_str(), stderr);
                return exit_usage;
            }
            cl.config = argv[++i];
        } else if (a.starts_with("--config=")) {
            cl.config = std::string(a.substr(9));
        } else if (a == "--check-config") {
            cl.check_only = true;
        } else if (a == "--print-config-doc") {
            auto md = config::render_markdown(info.name, info.config_hint, info.table);
            std::fputs(md.c_str(), stdout);
            return exit_ok;
        } else if (a == "--help" || a == "-h") {
            std::fputs(usage.c_str(), stdout);
            return exit_ok;
        } else if (std::find(info.flags.begin(), info.flags.end(), a) != info.flags.end()) {
            cl.flags.emplace_back(a);
        } else {
            complain(info, "unknown argument \"" + std::string(a) + "\"");
            std::fputs(usage.c_str(), stderr);
            return exit_usage;
        }
    }
    return cl;
}

void apply_log_level(const std::string& level) {
    log::level lvl;
    if (log::parse_level(level, lvl)) log::set_min_level(lvl);
}

} // namespace splitmail::program
