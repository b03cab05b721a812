// `splitmail dmarc report`: see dmarc_report_in.hpp. The I/O half; the parsing and the summary
// are pure (report_in/).
#include "commands/dmarc_report_in.hpp"

#include "report_in/extract.hpp"
#include "report_in/summary.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <system_error>
#include <vector>

namespace splitmail::provision {

namespace fs = std::filesystem;

namespace {

constexpr const char* usage =
    "usage: splitmail dmarc report [--json] PATH...\n"
    "Summarises the DMARC aggregate reports received at your rua= address: per domain, who\n"
    "sends mail as you (source IPs) and whether it passes DMARC (aligned SPF or DKIM).\n"
    "PATH is a report mail, a .xml, .xml.gz or .zip file, or a Maildir folder (new/ and cur/\n"
    "are read). Files that hold no usable report are listed as skipped, with the reason.\n"
    "  --json   print the summary as JSON\n";

// The files of a Maildir folder (new/ and cur/), in name order for a stable output.
std::vector<fs::path> maildir_files(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const char* sub : {"new", "cur"}) {
        std::error_code ec;
        fs::directory_iterator it(dir / sub, ec), end;
        for (; !ec && it != end; it.increment(ec)) {
            const auto name = it->path().filename().string();
            if (name.empty() || name[0] == '.') continue;
            std::error_code ec2;
            if (it->is_regular_file(ec2)) out.push_back(it->path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

void read_one(const fs::path& p, std::vector<report_in::input_report>& reports,
              std::vector<report_in::skipped_input>& skipped) {
    const std::string name = p.string();
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    if (ec) return skipped.push_back({name, "cannot read: " + ec.message()});
    if (size > max_report_file)
        return skipped.push_back(
            {name, "larger than " + std::to_string(max_report_file) + " bytes, not read"});
    std::ifstream in(p, std::ios::binary);
    std::string bytes(static_cast<std::size_t>(size), '\0');
    if (!in || !in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
        return skipped.push_back({name, "cannot read"});
    auto found = report_in::extract_reports(bytes);
    for (auto& f : found.reports)
        reports.push_back({f.where.empty() ? name : name + ": " + f.where, std::move(f.report)});
    for (auto& why : found.problems) skipped.push_back({name, std::move(why)});
}

} // namespace

int run_dmarc_report(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    if (args.empty() || args[0] == "-h" || args[0] == "--help") {
        (args.empty() ? err : out) << usage;
        return args.empty() ? 2 : 0;
    }
    if (args[0] != "report") {
        err << "splitmail dmarc: unknown command \"" << args[0] << "\"\n" << usage;
        return 2;
    }
    bool json = false;
    std::vector<fs::path> paths;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help") {
            out << usage;
            return 0;
        }
        if (a == "--json")
            json = true;
        else if (a.starts_with("-") && a != "-") {
            err << "splitmail dmarc report: unknown option " << a << "\n" << usage;
            return 2;
        } else
            paths.emplace_back(a);
    }
    if (paths.empty()) {
        err << "splitmail dmarc report: give at least one PATH\n" << usage;
        return 2;
    }

    int status = 0;
    std::vector<report_in::input_report> reports;
    std::vector<report_in::skipped_input> skipped;
    for (const auto& p : paths) {
        std::error_code ec;
        auto st = fs::status(p, ec);
        if (fs::is_regular_file(st)) {
            read_one(p, reports, skipped);
        } else if (fs::is_directory(st) &&
                   (fs::is_directory(p / "cur", ec) || fs::is_directory(p / "new", ec))) {
            for (const auto& f : maildir_files(p)) read_one(f, reports, skipped);
        } else {
            err << "splitmail dmarc report: " << p.string()
                << (fs::exists(st) ? ": neither a file nor a Maildir folder (no cur/ or new/)\n"
                                   : ": no such file or directory\n");
            status = 1;
        }
    }
    auto s = report_in::summarise(std::move(reports), std::move(skipped));
    out << (json ? report_in::render_json(s) : report_in::render_text(s));
    return status;
}

int run_dmarc_report(std::span<const std::string> args) {
    return run_dmarc_report(args, std::cout, std::cerr);
}

} // namespace splitmail::provision
