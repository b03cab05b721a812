// `splitmail setup relay|home`: see setup.hpp. This file only dispatches: the command line is
// read in setup_options.cpp, the steps are the class in setup_guided.hpp.
#include "commands/setup.hpp"

#include "commands/setup_guided.hpp"
#include "commands/setup_options.hpp"

#include <iostream>
#include <utility>

namespace splitmail::provision {

using guided_setup::usage_text;

int run_setup(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    for (const auto& a : args)
        if (a == "--help" || a == "-h") {
            out << usage_text;
            return 0;
        }
    if (args.empty() || (args[0] != "relay" && args[0] != "home")) {
        err << "splitmail setup: which machine? `setup relay` (the VPS) or `setup home`\n"
            << usage_text;
        return 2;
    }
    guided_setup::options o;
    o.role = args[0];
    if (auto e = guided_setup::parse(args.subspan(1), o)) {
        err << "splitmail setup " << o.role << ": " << *e << "\n" << usage_text;
        return 2;
    }
    guided_setup::guided g(std::move(o), out, err);
    return g.run();
}

int run_setup(std::span<const std::string> args) { return run_setup(args, std::cout, std::cerr); }

} // namespace splitmail::provision
