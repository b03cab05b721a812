#pragma once
// `splitmail queue list|show ID|flush|delete ID...`: the relay's spool for administrators,
// like Postfix's mailq / postqueue -f / postsuper -d.
//
//   --spool DIR       the relay's spool directory, or
//   --config FILE     relay.toml; its spool.dir is used (default /etc/splitmail/relay.toml)
//   list              every queued message: id, size, arrival, sender, recipients with their
//                     state, next attempt, last error; then a totals line
//   show ID           one envelope in full and the header of its message
//   flush             ask the running relay (pid file, SIGUSR1) to retry everything now
//   delete ID...      move envelope and message to deleted/ (a running relay sees it at once)
//
// Exit status: 0 success, 1 operation failed (unknown id, no relay running), 2 usage error.
// Does not: modify envelopes in place or talk to the relay other than by signal.
#include <ostream>
#include <span>
#include <string>

namespace splitmail::provision {

int run_queue(std::span<const std::string> args);
int run_queue(std::span<const std::string> args, std::ostream& out, std::ostream& err);

} // namespace splitmail::provision
