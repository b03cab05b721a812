// splitmail-home: LMTP delivery into Maildirs and IMAP. Everything but the command line lives
// in homeserver_lib; the command line is the one every daemon shares
// (common program/daemon_main.hpp).
#include "service.hpp"
#include "splitmail/config/home.hpp"
#include "users/hash_worker.hpp"

#include <cstring>

#include "splitmail/program/daemon_main.hpp"

int main(int argc, char** argv) {
    namespace home = splitmail::home;
    // A password-hash worker the daemon started (users/hash_worker.hpp): stdin/stdout are its
    // socket to the daemon.
    if (argc == 2 && std::strcmp(argv[1], home::hash_worker_flag) == 0)
        return home::hash_worker_main(0, 1);
    const splitmail::program::daemon_info info{
        "splitmail-home",
        "usage: splitmail-home --config FILE [--check-config]\n"
        "       splitmail-home --print-config-doc\n",
        "/etc/splitmail/home.toml", home::settings_table()};
    return splitmail::program::daemon_main(
        info, argc, argv, [](const std::string& f) { return home::load_settings(f); },
        [](const home::settings& s) { return home::preflight(s); },
        [](const home::settings& s, const std::string& f) { return home::run(s, f); });
}
