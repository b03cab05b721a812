// Fuzz target: from the bytes of a file (a mail, XML, gzip or zip) to the summary of
// `splitmail dmarc report` (provision/report_in/: extract, mail_parts, unpack, summary).
// Invariants checked: no crash; every input gives a report or a problem; gzip and zip output
// never exceeds the cap they are given; the summary's JSON parses and its totals add up.
#include "report_in/extract.hpp"
#include "report_in/summary.hpp"
#include "report_in/unpack.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace splitmail::provision::report_in;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);

    constexpr std::size_t small_cap = 1 << 20; // keeps each run fast; the cap is what is tested
    if (auto g = gunzip(bytes, small_cap); g && g->size() > small_cap) std::abort();
    std::string name;
    if (auto z = unzip_report(bytes, name, small_cap); z && z->size() > small_cap) std::abort();

    auto f = extract_reports(bytes);
    if (f.reports.empty() && f.problems.empty()) std::abort();
    std::vector<input_report> in;
    std::vector<skipped_input> skipped;
    for (auto& r : f.reports) in.push_back({"fuzz: " + r.where, std::move(r.report)});
    for (auto& p : f.problems) skipped.push_back({"fuzz", std::move(p)});
    const std::size_t n = in.size();
    auto s = summarise(std::move(in), std::move(skipped));
    if (s.reports + s.duplicates != n) std::abort();
    (void)render_text(s);
    auto j = nlohmann::json::parse(render_json(s), nullptr, false);
    if (j.is_discarded()) std::abort();
    for (const auto& d : s.domains) {
        std::uint64_t pass = 0, fail = 0;
        for (const auto& src : d.sources) {
            pass += src.pass;
            fail += src.fail;
        }
        if (pass != d.pass || fail != d.fail) std::abort();
    }
    return 0;
}
