// `splitmail provision relay|home`: see provision.hpp. This file only dispatches: the command
// line is read in provision_options.cpp, the flows are provision_relay.cpp and
// provision_home.cpp.
#include "commands/provision.hpp"

#include "commands/provision_flow.hpp"
#include "commands/provision_options.hpp"

#include <iostream>

namespace splitmail::provision {

using provisioning::usage_text;

int run_provision(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    if (args.empty()) {
        err << usage_text;
        return 2;
    }
    for (const auto& a : args)
        if (a == "--help" || a == "-h") {
            out << usage_text;
            return 0;
        }
    const std::string& sub = args[0];
    if (sub == "relay") {
        provisioning::relay_options o;
        if (auto e = provisioning::parse_relay(args.subspan(1), o)) {
            err << "splitmail provision relay: " << *e << "\n" << usage_text;
            return 2;
        }
        return provisioning::provision_relay(o, out, err);
    }
    if (sub == "home") {
        provisioning::home_options o;
        if (auto e = provisioning::parse_home(args.subspan(1), o)) {
            err << "splitmail provision home: " << *e << "\n" << usage_text;
            return 2;
        }
        return provisioning::provision_home(o, out, err);
    }
    err << "splitmail provision: unknown subcommand \"" << sub << "\" (relay or home)\n"
        << usage_text;
    return 2;
}

int run_provision(std::span<const std::string> args) {
    return run_provision(args, std::cout, std::cerr);
}

} // namespace splitmail::provision
