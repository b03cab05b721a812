#pragma once
// `splitmail dns apply`: bring deSEC to the plan, one domain per bulk request.
//
// Per domain: GET /domains/D/ (minimum_ttl: the site TTL is raised to it), GET of all RRsets,
// compute_diff(), and when something differs one PATCH /domains/D/rrsets/ with only the changed
// RRsets (deSEC applies a bulk request atomically: all of it or nothing). Every diff is shown
// before anything is written; writing needs `yes` or a positive answer from `confirm`.
// Throttling (429) is waited out for as long as Retry-After says, within a bounded total wait
// and number of attempts; 5xx and network failures are retried a few times (every request is
// idempotent: the PATCH sets absolute state). A 400 is reported per RRset with deSEC's reason.
//
// Exit status: 0 up to date or applied, 1 failure or not confirmed.
// Does not: create domains at deSEC, touch RRsets outside the plan (unless prune; see diff.hpp).
#include <chrono>
#include <functional>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dns/plan.hpp"
#include "splitmail/desec/client.hpp"

namespace splitmail::provision::dns {

struct apply_options {
    bool prune = false;
    bool yes = false;
    // Asked when !yes and there is something to change; empty function: nobody can answer
    // (stdin is not a terminal), so nothing is written.
    std::function<bool(const std::string& question)> confirm;
    std::function<void(std::chrono::seconds)> sleep; // default: std::this_thread::sleep_for
    std::chrono::seconds max_wait{180};              // total throttling wait per run
    int max_attempts = 5;                            // per request
    // RRsets never pruned, per domain: (subname, type).
    std::function<std::vector<std::pair<std::string, std::string>>(const std::string& domain)> keep;
    std::string token_file; // named in 401 messages
    // Called for each plan deSEC holds exactly after the run (written now or already up to
    // date), with the TTL its RRsets carry there.
    std::function<void(const plan&, std::uint32_t ttl)> up_to_date;
};

int apply_plans(desec::client& api, std::span<const plan> plans, const apply_options& options,
                std::ostream& out, std::ostream& err);

} // namespace splitmail::provision::dns
