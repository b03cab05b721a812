// Test tool: the DMARC aggregate reports (relay/dmarc/report.hpp) built from a file of record
// lines (splitmail/dmarc/records.hpp). `dmarc_report_sample RECORDS [DOMAIN]` prints the XML
// report of DOMAIN (default: the first policy domain), for tests/dmarc/validate_report.py to
// check against RFC 7489's schema. Exit 1 when a line does not decode or there is no such report.
#include "dmarc/report.hpp"
#include "dmarc/store.hpp"

#include <cstdio>
#include <iostream>

using namespace splitmail::relay::dmarc;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: dmarc_report_sample RECORDS [DOMAIN]\n";
        return 2;
    }
    auto r = read_period(argv[1]);
    if (!r || r->bad_lines != 0) {
        std::cerr << "cannot read " << argv[1] << (r ? ": bad lines" : ": " + r.error()) << "\n";
        return 1;
    }
    auto reps = build_reports(r->records, {"Example Org <reports>", "dmarc-noreply@mx.example.test",
                                           "mx.example.test", 1764979200, 1765065599});
    for (const auto& rep : reps)
        if (argc < 3 || rep.policy_domain == argv[2]) {
            std::cout << rep.xml;
            return 0;
        }
    std::cerr << "no report for that domain\n";
    return 1;
}
