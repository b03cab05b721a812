#pragma once
// The command line of `splitmail setup relay|home` (the usage text, the options); what the
// steps do with them: commands/setup.hpp.
//
// Guarantees: an option of the other role is refused by name ("--pairing is for `setup home`"),
// every option takes `--name VALUE` or `--name=VALUE`, --imap-pass-through, --certificate and
// --wait are checked here (yes|no, acme|self-signed, 1 to 3600 seconds).
// Does not: check names, addresses or paths (`splitmail provision`, which setup runs, does and
// its errors are shown as they are), or ask for missing values (setup_guided.hpp does).
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace splitmail::provision::guided_setup {

// Printed with --help, and after a usage error.
extern const char* const usage_text;

struct options {
    std::string role;
    std::vector<std::string> domains;
    std::string hostname, ipv4, ipv6, imap_host;
    std::string imap_pass_through; // relay: "yes" | "no" | "" (as provision decides)
    std::string pairing, user;
    std::string token_from; // --desec-token-file: a path, or "-" for stdin
    std::string desec_api, desec_ca;
    std::string root, bindir, resolver;
    std::string systemctl = "systemctl";
    bool systemctl_given = false;
    bool dry_run = false, yes = false, no_systemd = false;
    int wait_s = 90;
    std::string certificate = "acme"; // or "self-signed"
    std::string acme_directory, acme_ca;
    std::vector<std::string> acme_dns_servers; // authoritative servers to wait for (tests)
};

// `args` follow the role (`o.role` is set already); a usage error (exit 2) is the text returned.
std::optional<std::string> parse(std::span<const std::string> args, options& o);

} // namespace splitmail::provision::guided_setup
