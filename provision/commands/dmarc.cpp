// `splitmail dmarc`: see dmarc.hpp.
#include "commands/dmarc.hpp"
#include "commands/dmarc_report_in.hpp"

#include "splitmail/config/relay.hpp"
#include "splitmail/dmarc/records.hpp"

#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>

namespace splitmail::provision {

namespace fs = std::filesystem;

namespace {

constexpr const char* usage =
    "usage: splitmail dmarc recorded [--config FILE | --dir DIR] [--day YYYY-MM-DD]\n"
    "       splitmail dmarc report [--json] PATH...   (reports sent to our rua address)\n";
constexpr const char* default_config = "/etc/splitmail/relay.toml";

// Midnight UTC of "YYYY-MM-DD" as unix seconds.
std::optional<std::int64_t> parse_day(const std::string& s) {
    std::tm tm{};
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
    const char* end = strptime(s.c_str(), "%Y-%m-%d", &tm);
    if (!end || *end != '\0') return std::nullopt;
    return static_cast<std::int64_t>(timegm(&tm));
}

std::string day_text(std::int64_t t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

} // namespace

int run_dmarc(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        (args.empty() ? err : out) << usage;
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "report") return run_dmarc_report(args, out, err);
    if (args[0] != "recorded") {
        err << "splitmail dmarc: unknown subcommand \"" << args[0] << "\"\n" << usage;
        return 2;
    }
    std::optional<fs::path> config, dir;
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    std::int64_t day = now / 86400 * 86400;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const auto& a = args[i];
        if ((a == "--config" || a == "--dir" || a == "--day") && i + 1 < args.size()) {
            const auto& v = args[++i];
            if (a == "--config")
                config = fs::path(v);
            else if (a == "--dir")
                dir = fs::path(v);
            else if (auto d = parse_day(v))
                day = *d;
            else {
                err << "splitmail dmarc: --day wants YYYY-MM-DD, not \"" << v << "\"\n";
                return 2;
            }
        } else {
            err << "splitmail dmarc: unexpected argument \"" << a << "\"\n" << usage;
            return 2;
        }
    }
    if (config && dir) {
        err << "splitmail dmarc: give --config or --dir, not both\n";
        return 2;
    }
    if (!dir) {
        const fs::path file = config.value_or(default_config);
        // dmarc_reports.dir through the relay's own table (its default: <spool.dir>/dmarc).
        auto s = relay::load_settings(file, config::referenced_files::names_only);
        if (!s) {
            err << "splitmail dmarc: " << s.error() << "\n";
            return 1;
        }
        dir = s->dmarc_reports.dir;
    }
    struct counts {
        std::uint64_t pass = 0, fail = 0;
    };
    std::map<std::string, std::map<std::string, counts>> per_domain;
    std::size_t periods = 0, sent = 0, bad = 0;
    for (const auto& sp : dmarc::list_periods(*dir)) {
        if (sp.p.begin < day || sp.p.begin >= day + 86400) continue;
        auto r = dmarc::read_period(sp.log);
        if (!r) {
            err << "splitmail dmarc: " << r.error() << "\n";
            return 1;
        }
        ++periods;
        sent += sp.sent;
        bad += r->bad_lines;
        for (const auto& o : r->records) {
            auto& c = per_domain[o.policy_domain][o.source_ip];
            // RFC 7489 4.2: DMARC passes on an aligned SPF or DKIM pass.
            (o.dkim_aligned || o.spf_aligned ? c.pass : c.fail) += 1;
        }
    }
    out << "DMARC records of " << day_text(day) << " (UTC) in " << dir->string() << ": " << periods
        << " period(s), " << sent << " reported\n";
    if (per_domain.empty()) out << "nothing recorded\n";
    for (const auto& [domain, sources] : per_domain) {
        std::uint64_t total = 0;
        for (const auto& [ip, c] : sources) total += c.pass + c.fail;
        out << domain << ": " << total << (total == 1 ? " message" : " messages") << "\n";
        for (const auto& [ip, c] : sources)
            out << "    " << std::left << std::setw(40) << ip << " pass " << c.pass << "  fail "
                << c.fail << "\n";
    }
    if (bad != 0) err << "splitmail dmarc: " << bad << " unreadable record line(s) skipped\n";
    return 0;
}

int run_dmarc(std::span<const std::string> args) { return run_dmarc(args, std::cout, std::cerr); }

} // namespace splitmail::provision
