#pragma once
// The steps of `splitmail setup relay|home` (commands/setup.hpp lists them) as one object per
// run: setup_guided.cpp gathers the values, shows the plan, runs provision, the token file, dns
// apply or the first mailbox, and says what is left; setup_services.cpp starts the units and
// waits until they work; setup_certificate.cpp gets a trusted certificate.
//
// Guarantees: a failed step throws step_failed with the text to print after
// "splitmail setup relay|home: " (run() returns 1); nothing is changed before the plan is
// shown, and a plan that changes something goes on only when confirmed (--yes, or "y" on a
// terminal); without a terminal nothing is asked (a missing value is an error naming its flag).
// Does not: parse the command line (setup_options.hpp).
#include "commands/setup_options.hpp"
#include "setup/pairing.hpp"
#include "setup/render.hpp"
#include "splitmail/text/trim.hpp"

#include <unistd.h>

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace splitmail::provision::guided_setup {

inline std::string trim(const std::string& s) { return std::string(text::trim(s)); }

struct step_failed {
    std::string text;
};

class guided {
public:
    guided(options o, std::ostream& out, std::ostream& err)
        : o_(std::move(o)), out_(out), err_(err), L_(o_.root.empty() ? "/" : o_.root),
          tty_(::isatty(0) == 1) {}

    int run();

private:
    void gather();
    std::vector<std::string> provision_args() const;
    int provision_plan();
    std::string token_plan();
    std::vector<std::string> units() const;
    void start_services(bool config_changed);
    bool systemctl(const std::vector<std::string>& args, bool quiet_failure = false);
    void wait_relay();
    void wait_home();
    void add_user();
    void certificate();
    void left_to_do(int check_rc);
    bool wait_for(const std::string& what, const std::function<bool()>& cond);

    options o_;
    std::ostream& out_;
    std::ostream& err_;
    setup::layout L_;
    bool tty_;
    std::string token_; // "" = keep the file as it is
    std::optional<setup::pairing> pairing_;
    bool restarted_ = false; // a daemon was (re)started by this run
};

} // namespace splitmail::provision::guided_setup
