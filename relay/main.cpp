// splitmail-relay: the internet-facing MX. Everything but the command line lives in relay_lib;
// the command line is the one every daemon shares (common program/daemon_main.hpp).
#include "service.hpp"
#include "splitmail/config/relay.hpp"

#include "splitmail/program/daemon_main.hpp"

int main(int argc, char** argv) {
    namespace relay = splitmail::relay;
    const splitmail::program::daemon_info info{
        "splitmail-relay",
        "usage: splitmail-relay --config FILE [--check-config]\n"
        "       splitmail-relay --print-config-doc\n",
        "/etc/splitmail/relay.toml", relay::settings_table()};
    return splitmail::program::daemon_main(
        info, argc, argv, [](const std::string& f) { return relay::load_settings(f); },
        [](const relay::settings& s) { return relay::preflight(s); },
        [](const relay::settings& s, const std::string& f) { return relay::run(s, f); });
}
