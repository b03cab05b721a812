// The "ddns" check (home): every name splitmail-ddns keeps current, as a resolver answers it,
// against what the agent last published (issue 16 bug 7). See checks.hpp, ddns_record.hpp.
#include "check/checks.hpp"
#include "check/ddns_record.hpp"

namespace splitmail::provision::check {

findings check_ddns(context& c) {
    if (!c.ddns) return {}; // no ddns.toml next to home.toml: the home's names are not dynamic
    const auto& d = *c.ddns;
    auto dns = c.dns();
    if (!dns) return {fail("ddns", dns.error(), resolver_fix(c))};
    ddns_record_input in;
    in.domain = d.domain;
    in.state_file = d.state_file;
    in.config = d.file;
    in.now = c.now;
    // A missing file is an empty state (nothing published yet); one this user may not read (the
    // state directory is 0700 splitmail-ddns) is an error, not "nothing published".
    auto st = ddns::load_state(d.state_file);
    if (st)
        in.state = &*st;
    else
        in.state_problem = st.error();

    findings out;
    for (const auto& sub : d.subnames) {
        for (auto [on, type] : {std::pair{d.ipv4, rr_type::a}, std::pair{d.ipv6, rr_type::aaaa}}) {
            if (!on) continue;
            const std::string name = ddns::display_name(sub, d.domain);
            if (!(*dns)->unreachable().empty()) {
                // One line for what was not asked, not one per record (issue 16 bug 6).
                out.push_back(fail("ddns", name + ": not looked up: " + (*dns)->unreachable(),
                                   resolver_fix(c)));
                return out;
            }
            in.subname = sub;
            in.type = type;
            in.answer = (*dns)->query(name, type);
            if (in.answer.status == dns_status::error) {
                out.push_back(fail("ddns",
                                   std::string(to_string(type)) + " " + name +
                                       ": lookup failed: " + in.answer.error,
                                   resolver_fix(c)));
                continue;
            }
            out.push_back(judge_ddns_record(in));
        }
    }
    return out;
}

} // namespace splitmail::provision::check
