#pragma once
// The two flows of `splitmail provision` (commands/provision_relay.cpp, provision_home.cpp) and
// the steps both take: the site file's values, the tunnel file with its running interface, the
// closing summary, and how a failed step ends the flow.
//
// Guarantees: a failed step throws step_error with the text to print after
// "splitmail provision relay|home: " (exit 1); write_wg() changes only the key lines of an
// existing tunnel file when the keys change (setup::rekey_wg_conf, .bak copy kept) and refuses a
// file that cannot take them; sync_wg() touches a running interface only for the real system
// (under --root only with --sync-tunnel) and never in a dry run; keep_site_edits() carries
// over every site value provision does not decide.
// Does not: parse the command line (provision_options.hpp) or print the usage text.
#include "commands/provision_options.hpp"
#include "setup/files.hpp"
#include "setup/render.hpp"
#include "site/site.hpp"

#include <expected>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace splitmail::provision::provisioning {

// Exit status as commands/provision.hpp says (0 done, 1 failure).
int provision_relay(const relay_options& o, std::ostream& out, std::ostream& err);
int provision_home(const home_options& o, std::ostream& out, std::ostream& err);

// Values of an existing site file that provision does not decide (people may edit them).
void keep_site_edits(const std::filesystem::path& file, site& s);
// The site file's values before the flow fills in its own.
site default_site(const setup::layout& L, const std::vector<std::string>& domains);

struct step_error {
    std::string text;
};

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        if (auto r_ = (expr); !r_) throw step_error{r_.error()};                                   \
    } while (0)

// Writes a tunnel file. When the file is there with other key material (a re-pairing), only
// its key lines are replaced (setup::rekey_wg_conf: every other line, edited or not, stays; the
// old file is kept as PATH.bak-TIME). Otherwise as any other file (unchanged / kept / created).
// A file that cannot take the new keys is an error: a tunnel left with old keys is broken, and
// exiting 0 would hide that (issue 16 bug 3).
std::expected<void, std::string> write_wg(setup::file_writer& w, const std::filesystem::path& conf,
                                          const std::optional<std::string>& existing,
                                          const std::string& desired, const std::string& priv,
                                          const std::string& peer_pub, const std::string& endpoint,
                                          const std::optional<setup::owner>& own);

// After the tunnel file is written: a running interface gets its keys (wg syncconf). Says what
// it did; an interface that is running but cannot be synced is an error.
// A --root tree is a staging copy, not this machine's tunnel: its keys never go into the running
// interface of the same name unless --sync-tunnel says so (tests in network namespaces).
std::expected<void, std::string> sync_wg(const setup::file_writer& w, const common_options& o,
                                         const std::string& iface,
                                         const std::filesystem::path& conf, const std::string& priv,
                                         const std::string& peer_pub, std::ostream& out);

// The closing lines: "nothing to do", or how many differing files were kept; in a dry run
// "dry run: nothing was written", and true (nothing else is to be said).
bool summary(const setup::file_writer& w, std::ostream& out);

} // namespace splitmail::provision::provisioning
