// splitmail: the admin CLI. Each subcommand lives in commands/<name>.cpp; this file only
// dispatches.
#include "commands/cert.hpp"
#include "commands/check.hpp"
#include "commands/dkim.hpp"
#include "commands/dmarc.hpp"
#include "commands/dns.hpp"
#include "commands/provision.hpp"
#include "commands/queue.hpp"
#include "commands/setup.hpp"
#include "commands/user.hpp"
#include "site/site.hpp"

#include "splitmail/config/settings.hpp"

#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace {
void usage(std::FILE* to) {
    std::fputs(
        "usage: splitmail COMMAND [ARGS]\n"
        "\n"
        "commands:\n"
        "  queue list|show ID|flush|delete ID   inspect and manage the relay's queue\n"
        "  user add|del|passwd|list ...         manage mail users (home)\n"
        "  alias add|del|list ...               manage aliases and catch-alls (home)\n"
        "  dkim keygen --domain D --selector S  make DKIM keys and print their DNS records\n"
        "  dmarc recorded [--day YYYY-MM-DD]    what the relay recorded for DMARC reports\n"
        "  cert obtain|renew|status ...         TLS certificate from an ACME CA (Let's Encrypt)\n"
        "  dns plan|apply|export [--domain D]   DNS records: show, publish at deSEC, zone file\n"
        "  dmarc report [--json] PATH...        summarise DMARC aggregate reports (rua= mail)\n"
        "  check [--site F] [--json]            is everything set up right? (DNS, TLS, tunnel...)\n"
        "  provision relay|home ...             set up relay or home (configs, keys, units)\n"
        "  setup relay|home ...                 guided: provision, token, DNS, tunnel, services,\n"
        "                                       check, and what is left to do\n"
        "\n"
        "Run `splitmail COMMAND --help` for the options of one command.\n"
        "`splitmail --print-config-doc` prints the reference of the site file (Markdown).\n",
        to);
}
} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    std::string cmd = argv[1];
    std::vector<std::string> args(argv + 2, argv + argc);
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        usage(stdout);
        return 0;
    }
    using namespace splitmail::provision;
    if (cmd == "--print-config-doc") {
        auto md = splitmail::config::render_markdown("splitmail (site file)",
                                                     "/etc/splitmail/site.toml", site_table());
        std::fputs(md.c_str(), stdout);
        return 0;
    }
    if (cmd == "queue") return run_queue(args);
    if (cmd == "user") return run_user(args);
    if (cmd == "alias") return run_alias(args);
    if (cmd == "dkim") return run_dkim(args);
    if (cmd == "dmarc") return run_dmarc(args);
    if (cmd == "cert") return run_cert(args);
    if (cmd == "dns") return run_dns(args);
    if (cmd == "check") return run_check(args);
    if (cmd == "provision") return run_provision(args);
    if (cmd == "setup") return run_setup(args);
    std::fprintf(stderr, "splitmail: unknown command \"%s\"\n\n", cmd.c_str());
    usage(stderr);
    return 2;
}
