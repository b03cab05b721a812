// The DDNS record judged against the agent's state; see ddns_record.hpp.
#include "check/ddns_record.hpp"

#include "check/context.hpp" // age_text, utc_text
#include "splitmail/config/ddns.hpp"

namespace splitmail::provision::check {

namespace {

constexpr const char* service_fix =
    "systemctl status splitmail-ddns; journalctl -u splitmail-ddns says why";

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
    return out;
}

std::string answered(const dns_answer& a) {
    if (!a.records.empty()) return join(a.records);
    return a.status == dns_status::nxdomain ? "NXDOMAIN" : "no data";
}

// What the state says about the agent: its last error, a Retry-After, flap damping ("" when
// nothing is pending).
std::string agent_notes(const ddns::state& st, std::time_t now) {
    std::string out;
    if (!st.last_error.empty()) {
        const auto at = std::chrono::system_clock::to_time_t(st.last_error_at);
        out += "; splitmail-ddns's last error (" + age_text(now - at) + " ago): " + st.last_error;
    }
    if (st.not_before) {
        const auto until = std::chrono::system_clock::to_time_t(*st.not_before);
        if (until > now)
            out += "; deSEC asked splitmail-ddns to wait until " + utc_text(until) + " (in " +
                   age_text(until - now) + ")";
    }
    if (st.damping.suppressed)
        out += "; splitmail-ddns holds changes back (the address changed too often: flap damping)";
    return out;
}

} // namespace

finding judge_ddns_record(const ddns_record_input& in) {
    const std::string type(to_string(in.type));
    const std::string label = type + " " + ddns::display_name(in.subname, in.domain);
    const std::string state_file = in.state_file.string();
    if (!in.state)
        return warn("ddns",
                    label + " answers " + answered(in.answer) +
                        "; what splitmail-ddns last published is unknown: " + in.state_problem,
                    "run splitmail check as root (the state file " + state_file +
                        " belongs to splitmail-ddns; a damaged one is moved aside when the agent "
                        "starts); " +
                        service_fix);
    const ddns::state& st = *in.state;
    // The agent starts afresh when ddns.domain changed: another domain's state says nothing.
    const bool ours = st.domain == in.domain;
    const std::vector<std::string>* published = nullptr;
    if (ours) {
        auto it = st.published.find(ddns::published_key(in.subname, type));
        if (it != st.published.end() && !it->second.empty()) published = &it->second;
    }
    if (!published) {
        const bool any = ours && !st.published.empty();
        if (!any)
            return fail("ddns",
                        label + ": not published yet by splitmail-ddns (nothing in " + state_file +
                            "); DNS answers " + answered(in.answer) + agent_notes(st, in.now),
                        "put a deSEC token into desec.token_file of " + in.config.string() +
                            " and start the agent: systemctl enable --now splitmail-ddns; " +
                            service_fix);
        // Others are published: this family was never detected (a home without public IPv6).
        const bool v6 = in.type == rr_type::aaaa;
        return warn("ddns",
                    label + ": splitmail-ddns has not published one (DNS answers " +
                        answered(in.answer) + ")" + agent_notes(st, in.now),
                    std::string("journalctl -u splitmail-ddns says why (no public ") +
                        (v6 ? "IPv6" : "IPv4") + " address at home? then set ddns.families = \"" +
                        (v6 ? "ipv4" : "ipv6") + "\" in " + in.config.string() + ")");
    }
    const auto diff = compare_rrset(in.type, *published, in.answer.records);
    if (diff.same())
        return ok("ddns", label + " is " + join(*published) + ", as splitmail-ddns last published");
    if (in.answer.records.empty())
        return fail("ddns",
                    label + " does not resolve (" + answered(in.answer) +
                        "); splitmail-ddns last published " + join(*published) +
                        agent_notes(st, in.now),
                    std::string(service_fix) +
                        " (was the record deleted at deSEC? the agent writes it again after its "
                        "next refresh, ddns.refresh_interval)");
    return fail("ddns",
                label + " resolves to " + join(in.answer.records) +
                    ", but splitmail-ddns last published " + join(*published) +
                    agent_notes(st, in.now),
                "if it was published less than the record's TTL ago, resolvers still hold the old "
                "address: check again later; otherwise " +
                    std::string(service_fix));
}

} // namespace splitmail::provision::check
