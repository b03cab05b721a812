#pragma once
// rspamd's wiring on the relay for `splitmail provision relay` (issue 18): the controller
// password, the local.d files (controller, normal worker, redis) and the systemd drop-in that
// orders rspamd after the tunnel. The texts come from setup/render.hpp.
//
// Guarantees: the controller password (0600, at least 16 characters) is made once and kept;
// rspamd's file gets its hash, made by `rspamadm pw` only when the password is new or the file
// has none, so a re-run changes nothing. The plain password never reaches a file other than
// ours (it is on rspamadm's command line for a moment). Errors name the program or file.
// Does not: install, start or reload rspamd, or decide whether it is wanted (--scanners).
#include "setup/files.hpp"
#include "setup/owners.hpp"
#include "setup/render.hpp"

#include <expected>
#include <string>

namespace splitmail::provision::setup {

// Returns the plain controller password (for the pairing file).
std::expected<std::string, std::string> ensure_rspamd_wiring(file_writer& w, const layout& L,
                                                             const tunnel& tun, const owners& own);

} // namespace splitmail::provision::setup
