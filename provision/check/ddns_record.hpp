#pragma once
// The home's DDNS records in `splitmail check` (issue 16 bug 7): what a resolver answers for a
// name splitmail-ddns keeps current, judged against what the agent last published (its state
// file, splitmail/ddns/state.hpp).
//
// Guarantees: judge_ddns_record() is pure. It says ✓ only when the answer holds exactly the
// published addresses (compared as addresses, so two spellings of one IPv6 address are equal);
// every ✗ and ! carries a fix naming what to look at (the service, its journal, the setting);
// the agent's last error, a pending Retry-After or flap damping recorded in the state is named
// in the detail of a ✗ or !.
// Does not: query DNS or read files (check_ddns.cpp does), or find the home's current public
// address itself (the agent does; asking the checkip service here would spend its rate limit).
#include <ctime>
#include <filesystem>
#include <string>

#include "check/dns_query.hpp"
#include "check/finding.hpp"
#include "splitmail/ddns/state.hpp"

namespace splitmail::provision::check {

struct ddns_record_input {
    std::string domain;  // ddns.domain
    std::string subname; // one of ddns.names ("" = the apex)
    rr_type type = rr_type::a;
    dns_answer answer; // answer, nodata or nxdomain (the caller reports lookup errors)
    // The agent's state; nullptr when the file could not be read (state_problem says why).
    const ddns::state* state = nullptr;
    std::string state_problem;
    std::filesystem::path state_file; // ddns.state_file
    std::filesystem::path config;     // ddns.toml
    std::time_t now = 0;
};

finding judge_ddns_record(const ddns_record_input& in);

} // namespace splitmail::provision::check
